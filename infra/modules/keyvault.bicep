// Key Vault in RBAC mode (no access policies). It holds the partner app credential(s) and the HMAC
// signing secrets; the app reads them by NAME through its managed identity (Key Vault Secrets User).
// No secret value is created here: values never pass through a template or a parameter file.

param name string
param location string = resourceGroup().location
param tags object = {}

@description('Purge protection: a deleted vault cannot be purged before its retention ends. Turn off only for throw-away environments.')
param enablePurgeProtection bool = true

@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    // ARM rejects enablePurgeProtection=false; leaving it unset is how "off" is spelled.
    enablePurgeProtection: enablePurgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
