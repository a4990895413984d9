// Role assignments, data plane only, the least roles that cover what the app does
// (docs/microsoft-apis.md §Identity-based connections and RBAC). Management roles such as Owner would not
// be enough anyway.
//
// App identity (the UAMI):
//   Storage Blob Data Owner        host storage (keys, timer locks, deployment package), claim-check
//                                  payloads, the archive and indicator sets. Owner, not Contributor: the Functions host
//                                  manages blob leases and containers of its own.
//   Storage Queue Data Contributor tenant-jobs (timer enqueues, worker dequeues), the poison queue the
//                                  host creates on demand, the events queue sink, indicator-jobs
//   Storage Table Data Contributor tenants, checkpoints, audit, idempotency, indicatorjobs
//   Key Vault Secrets User         read the partner app credential and HMAC secrets by name
//   Monitoring Metrics Publisher   App Insights ingestion with Entra auth (local auth is off)
// Optional operator (the person running `azd up` and the defender-relay CLI):
//   Key Vault Secrets Officer      put the credential / signing secrets into the vault
//   Storage Table Data Contributor the CLI's tenant registry commands
//   Storage Queue Data Contributor peek and replay the poison queue, read the events queue
//   Storage Blob Data Reader       read claim-check payloads and the archive

param storageAccountName string
param keyVaultName string
param applicationInsightsName string

@description('Principal (object) id of the app\'s user-assigned managed identity.')
param appPrincipalId string

@description('Principal (object) id of an operator to grant data access to; empty for none.')
param operatorPrincipalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

var appStorageRoles = [
  roles.storageBlobDataOwner
  roles.storageQueueDataContributor
  roles.storageTableDataContributor
]

// Empty when there is no operator (a filtered loop `[for ...: if (...)]` would say the same, but the
// offline parser the tests use does not accept that form).
var operatorStorageRoles = empty(operatorPrincipalId) ? [] : [
  roles.storageBlobDataReader
  roles.storageQueueDataContributor
  roles.storageTableDataContributor
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource appStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in appStorageRoles: {
  name: guid(storage.id, appPrincipalId, roleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

resource appSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, appPrincipalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource operatorStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in operatorStorageRoles: {
  name: guid(storage.id, operatorPrincipalId, roleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}]

resource operatorSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(vault.id, operatorPrincipalId, roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}
