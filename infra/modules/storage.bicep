// The one storage account: Functions host storage (AzureWebJobsStorage), the job and event queues,
// the state tables and the blob containers (docs/contracts.md §4).
// Shared-key access is off: every client (host and app) connects with the managed identity.

param name string
param location string = resourceGroup().location
param tags object = {}

@description('Blob container that holds the Flex Consumption deployment package.')
param deploymentContainerName string

@description('Queue the queue sink writes event envelopes to (RELAY_EVENTS_QUEUE).')
param eventsQueueName string = 'defender-events'

@description('Blob container of the archive sink (RELAY_ARCHIVE_CONTAINER).')
param archiveContainerName string = 'defender-archive'

@minValue(1)
@description('Days claim-check payload blobs are kept; consumers must fetch them sooner.')
param payloadRetentionDays int = 14

// Names fixed by docs/contracts.md §4. The host creates tenant-jobs-poison on demand; creating it
// here too lets an alert rule watch it from day one.
var queueNames = [
  'tenant-jobs'
  'tenant-jobs-poison'
  'hunt-jobs'
  'hunt-jobs-poison'
  eventsQueueName
  'indicator-jobs'
  'indicator-jobs-poison'
]
var tableNames = [
  'tenants'
  'checkpoints'
  'audit'
  'idempotency'
  'callers'
  'indicatorjobs'
  'hunts'
  'huntschedules'
]
var containerNames = [
  deploymentContainerName
  'defender-payloads'
  'hunt-results'
  archiveContainerName
  'indicator-sets'
]

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// Child resources are declared with `parent:` rather than nested, one per block, so each is plain to
// read (and the offline parser the tests use keeps every one of them).
resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for containerName in containerNames: {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queueName in queueNames: {
  parent: queueService
  name: queueName
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for tableName in tableNames: {
  parent: tableService
  name: tableName
}]

// Claim-check payloads only need to outlive the consumer's read of the envelope.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-claim-check-payloads'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                'defender-payloads/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: payloadRetentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
