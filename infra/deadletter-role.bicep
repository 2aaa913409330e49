// Lets the Event Grid system topic's identity write dead-lettered events (and nothing else):
// Storage Blob Data Contributor, scoped to the one dead-letter container. Event Grid documents
// this role for dead-lettering with a managed identity ("deadLetterWithResourceIdentity").

@description('Storage account that holds the dead-letter container.')
param storageAccountName string

@description('Blob container Event Grid writes undeliverable events to.')
param containerName string

@description('Principal (object) id of the system topic identity.')
param principalId string

var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobServices 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobServices
  name: containerName
}

resource deadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(container.id, principalId, storageBlobDataContributor)
  scope: container
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
