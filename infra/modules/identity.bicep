// The app's one identity: a user-assigned managed identity (UAMI).
// It reaches storage, Key Vault and App Insights (role assignments in rbac.bicep), and it can be the
// federated credential of the partner app registration, so the app needs no secret at all.
// Only a user-assigned identity can be a federated credential of an app
// (docs/microsoft-apis.md §Federated credential).

@description('Name of the user-assigned managed identity.')
param name string

param location string = resourceGroup().location
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
