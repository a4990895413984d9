// The Function App on the Flex Consumption plan (FC1, Linux, Python 3.11), running as the
// user-assigned managed identity, and every app setting the code reads (docs/contracts.md §3).
// Settings hold Key Vault secret NAMES, never values: the code reads the secrets itself through the
// Key Vault client with the managed identity.

param planName string
param name string
param location string = resourceGroup().location
param tags object = {}

@description('Resource id of the user-assigned managed identity.')
param identityId string
@description('Client id of the user-assigned managed identity.')
param identityClientId string

param storageBlobEndpoint string
param storageQueueEndpoint string
param storageTableEndpoint string
@description('Blob container of the Flex Consumption deployment package.')
param deploymentContainerName string

param applicationInsightsConnectionString string
param keyVaultUri string

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048
@minValue(1)
@maxValue(1000)
@description('Upper bound of Flex Consumption instances (each function scales on its own up to this).')
param maximumInstanceCount int = 40

// --- defender-relay settings (docs/contracts.md §3) ---
param commercialClientId string
param commercialCredential string
param usgovClientId string = ''
param usgovCredential string = ''
param sweepSchedule string
param sinks string
param eventsQueueName string
param graphCallsPerMinute string = '150'
param huntingEnabled string = '0'
param huntTimerSchedule string = '0 * * * * *'
param archiveContainerName string
param webhookUrl string = ''
param webhookSecretName string = ''
param httpSigningSecretName string = ''
param httpSigningPreviousSecretName string = ''
@allowed([
  'key'
  'entra'
  'either'
])
param httpAuth string = 'key'
param partnerTenantId string
param relayApiAppIdUri string = ''
param relayApiClientId string = ''
param auditRetentionDays int = 400
param purgeSchedule string = '0 7 * * * *'
param defaultAllowedActions string = ''
@description('More app settings (e.g. tuning values from docs/operations.md); they override the ones above.')
param extraAppSettings object = {}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  // azd finds the deployment target of service `api` (azure.yaml) by this tag.
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Host storage through the identity, never a connection string (shared-key access is off on the
// account). Flex Consumption rejects FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION as app
// settings: the runtime is functionAppConfig.runtime above.
var hostSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storageBlobEndpoint
  AzureWebJobsStorage__queueServiceUri: storageQueueEndpoint
  AzureWebJobsStorage__tableServiceUri: storageTableEndpoint
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

var relaySettings = {
  RELAY_KEY_VAULT_URL: keyVaultUri
  RELAY_MANAGED_IDENTITY_CLIENT_ID: identityClientId
  RELAY_COMMERCIAL_CLIENT_ID: commercialClientId
  RELAY_COMMERCIAL_CREDENTIAL: commercialCredential
  RELAY_SWEEP_SCHEDULE: sweepSchedule
  RELAY_SINKS: sinks
  RELAY_EVENTS_QUEUE: eventsQueueName
  RELAY_ARCHIVE_CONTAINER: archiveContainerName
  RELAY_GRAPH_CALLS_PER_MINUTE: graphCallsPerMinute
  RELAY_HUNTING_ENABLED: huntingEnabled
  // The saved-hunts timer binds %RELAY_HUNT_TIMER_SCHEDULE%: the host needs the setting even with hunting off.
  RELAY_HUNT_TIMER_SCHEDULE: huntTimerSchedule
  RELAY_HTTP_AUTH: httpAuth
  RELAY_PARTNER_TENANT_ID: partnerTenantId
  RELAY_AUDIT_RETENTION_DAYS: string(auditRetentionDays)
  // The purge timer's schedule is a binding expression (%RELAY_PURGE_SCHEDULE%): it must always be set.
  RELAY_PURGE_SCHEDULE: purgeSchedule
}

// Optional settings are left out when empty, so the code's own defaults apply (an empty string would
// be a value, and a wrong one).
var usgovSettings = empty(usgovClientId) ? {} : {
  RELAY_USGOV_CLIENT_ID: usgovClientId
  RELAY_USGOV_CREDENTIAL: usgovCredential
}
var webhookSettings = empty(webhookUrl) ? {} : {
  RELAY_WEBHOOK_URL: webhookUrl
  RELAY_WEBHOOK_SECRET_NAME: webhookSecretName
}
var signingSettings = empty(httpSigningSecretName) ? {} : {
  RELAY_HTTP_SIGNING_SECRET_NAME: httpSigningSecretName
}
var previousSigningSettings = empty(httpSigningPreviousSecretName) ? {} : {
  RELAY_HTTP_SIGNING_PREVIOUS_SECRET_NAME: httpSigningPreviousSecretName
}
var relayApiSettings = empty(relayApiAppIdUri) ? {} : {
  RELAY_API_APP_ID_URI: relayApiAppIdUri
}
var relayApiClientSettings = empty(relayApiClientId) ? {} : {
  RELAY_API_CLIENT_ID: relayApiClientId
}
var actionSettings = empty(defaultAllowedActions) ? {} : {
  RELAY_DEFAULT_ALLOWED_ACTIONS: defaultAllowedActions
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(hostSettings, relaySettings, usgovSettings, webhookSettings, signingSettings, previousSigningSettings, relayApiSettings, relayApiClientSettings, actionSettings, extraAppSettings)
}

// No basic-auth publishing (FTP / SCM): azd deploys with Entra ID.
resource ftpPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
