// defender-relay: the whole deployment for `azd up` (subscription scope: it creates the resource group).
// Resources are written out directly (no `br/public:` registry modules) so the templates build offline.
//
//   resource group rg-<env>
//   ├── user-assigned managed identity   storage, Key Vault, App Insights, federated credential
//   ├── storage account                  shared-key access off; queues, tables, blob containers
//   ├── Key Vault (RBAC mode)            partner app credential(s), HMAC secrets (values added by you)
//   ├── Log Analytics + App Insights     Entra-only ingestion
//   ├── Flex Consumption plan + app      Python 3.11, every setting of docs/contracts.md §3
//   └── role assignments                 least data-plane roles (modules/rbac.bicep)
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; used for the resource group name and a unique suffix of every resource name.')
param environmentName string

@minLength(1)
@description('Azure region of every resource (must offer the Flex Consumption plan).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group name; empty for rg-<environmentName>.')
param resourceGroupName string = ''

@description('Object id of the person (or group / pipeline) running the deployment, granted Key Vault Secrets Officer and storage data roles to operate the relay; empty for none. azd fills in the signed-in user.')
param principalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param principalType string = 'User'

// --- the partner app registration(s) (docs/partner-setup.md) ---
@minLength(36)
@maxLength(36)
@description('Application (client) id of the multi-tenant partner app in the commercial cloud (commercial and GCC customer tenants).')
param commercialClientId string

@description('How the commercial app authenticates: federated (the managed identity is its federated credential, no secret at all), certificate:<key-vault-secret-name> or secret:<key-vault-secret-name>.')
param commercialCredential string = 'federated'

@description('Application (client) id of the partner app registered in the US Government cloud (GCC High / DoD customer tenants); empty when there are none.')
param usgovClientId string = ''

@description('How the US Government app authenticates: certificate:<key-vault-secret-name> or secret:<key-vault-secret-name>. A managed identity in commercial Azure cannot be its federated credential.')
param usgovCredential string = ''

// --- behaviour ---
@description('NCRONTAB (6 fields, UTC) of the sweep that enqueues one job per tenant and feed.')
param sweepSchedule string = '0 */5 * * * *'

@description('Where events go: comma list of queue, webhook, archive.')
param sinks string = 'queue'

@description('Queue of the queue sink.')
param eventsQueueName string = 'defender-events'

@description('Client-side limit of Microsoft Graph security calls per customer tenant per minute (Graph allows 150 per app per tenant on /security: docs/operations.md).')
param graphCallsPerMinute string = '150'

@description('1: hunting across tenants (routes, hunt-jobs, saved hunts) is on; the customers must have consented ThreatHunting.Read.All (docs/hunting.md).')
param huntingEnabled string = '0'

@description('NCRONTAB (6 fields, UTC) of the timer that starts saved hunts whose schedule is due.')
param huntTimerSchedule string = '0 * * * * *'

@description('Blob container of the archive sink.')
param archiveContainerName string = 'defender-archive'

@description('HTTPS URL of the webhook sink; empty when the webhook sink is not used.')
param webhookUrl string = ''

@description('Key Vault secret name of the webhook sink HMAC key.')
param webhookSecretName string = ''

@description('Key Vault secret name of the HMAC key SOAR callers sign HTTP requests with; empty for function-key auth only.')
param httpSigningSecretName string = 'http-signing-secret'

@description('Key Vault secret name of the previous HMAC key, accepted beside the current one while SOAR callers switch (docs/operations.md, rotating the signing secret); empty outside a rotation.')
param httpSigningPreviousSecretName string = ''

@allowed([
  'key'
  'entra'
  'either'
])
@description('How HTTP callers authenticate: key (function key), entra (Entra ID bearer token, no key) or either (function key, plus a bearer token that names the caller, its app roles and tenant scope).')
param httpAuth string = 'key'

@description('App ID URI of the relay API app registration (e.g. api://<its client id>): the audience of callers\' tokens; required unless httpAuth is key.')
param relayApiAppIdUri string = ''

@description('Client id of the relay API app registration: the audience of v2.0 tokens; empty when its tokens are v1.0.')
param relayApiClientId string = ''

@minValue(1)
@maxValue(36500)
@description('Audit records older than this many days are purged by the retention timer.')
param auditRetentionDays int = 400

@description('NCRONTAB (6 fields, UTC) of the retention purge (expired idempotency keys, replay records, old audit records).')
param purgeSchedule string = '0 7 * * * *'

@description('Comma list of response actions allowed for tenants that have no allow-list of their own; empty for the built-in default (offboard and triage are never allowed by default).')
param defaultAllowedActions string = ''

@description('More app settings, e.g. the tuning settings of docs/operations.md. Never put a secret value here.')
param extraAppSettings object = {}

// --- scale and retention ---
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@minValue(1)
param payloadRetentionDays int = 14

@description('Key Vault purge protection. Turn off only for throw-away environments (it blocks `azd down --purge`).')
param keyVaultPurgeProtection bool = true

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'defender-relay'
}
var functionAppName = 'func-relay-${resourceToken}'
var deploymentContainerName = 'app-package'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identity './modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-relay-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring './modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
    retentionInDays: logRetentionDays
  }
}

module storage './modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    eventsQueueName: eventsQueueName
    archiveContainerName: archiveContainerName
    payloadRetentionDays: payloadRetentionDays
  }
}

module keyVault './modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    enablePurgeProtection: keyVaultPurgeProtection
  }
}

module rbac './modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appPrincipalId: identity.outputs.principalId
    operatorPrincipalId: principalId
    operatorPrincipalType: principalType
  }
}

module functionApp './modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    planName: 'plan-${resourceToken}'
    name: functionAppName
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    keyVaultUri: keyVault.outputs.uri
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    commercialClientId: commercialClientId
    commercialCredential: commercialCredential
    usgovClientId: usgovClientId
    usgovCredential: usgovCredential
    sweepSchedule: sweepSchedule
    sinks: sinks
    eventsQueueName: eventsQueueName
    graphCallsPerMinute: graphCallsPerMinute
    huntingEnabled: huntingEnabled
    huntTimerSchedule: huntTimerSchedule
    archiveContainerName: archiveContainerName
    webhookUrl: webhookUrl
    webhookSecretName: webhookSecretName
    httpSigningSecretName: httpSigningSecretName
    httpSigningPreviousSecretName: httpSigningPreviousSecretName
    httpAuth: httpAuth
    // The partner's own tenant (where callers' tokens come from) is the tenant deployed into.
    partnerTenantId: tenant().tenantId
    relayApiAppIdUri: relayApiAppIdUri
    relayApiClientId: relayApiClientId
    auditRetentionDays: auditRetentionDays
    purgeSchedule: purgeSchedule
    defaultAllowedActions: defaultAllowedActions
    extraAppSettings: extraAppSettings
  }
  // The app starts before its first request; its identity must already hold its roles.
  dependsOn: [
    rbac
  ]
}

// azd stores these in .azure/<env>/.env; docs/partner-setup.md and docs/onboarding.md use them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output RELAY_API_BASE_URL string = 'https://${functionApp.outputs.defaultHostName}/api'
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output AZURE_STORAGE_QUEUE_ENDPOINT string = storage.outputs.queueEndpoint
output AZURE_STORAGE_TABLE_ENDPOINT string = storage.outputs.tableEndpoint
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
// The federated credential to add on the partner app registration (docs/microsoft-apis.md §Federated credential).
output FEDERATED_CREDENTIAL_ISSUER string = '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
output FEDERATED_CREDENTIAL_SUBJECT string = identity.outputs.principalId
output FEDERATED_CREDENTIAL_AUDIENCE string = 'api://AzureADTokenExchange'
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output LOG_ANALYTICS_WORKSPACE_ID string = monitoring.outputs.logAnalyticsWorkspaceId
