// The opt-out change feed's destinations (README "Events"):
// - the storage queue `sms-optout-events` (always; the app also creates it if missing);
// - when enableTopic is true: an Event Grid custom topic (CloudEvents 1.0 input, local auth
//   off) and the EventGrid Data Sender role for the app's identity on that topic only.

@description('Storage account of the app.')
param storageAccountName string

@description('Queue the app publishes change events to (OPTOUT_EVENTS_QUEUE_NAME).')
param queueName string

@description('Also publish to an Event Grid custom topic.')
param enableTopic bool = false

@description('Name of the Event Grid custom topic.')
param topicName string

@description('Azure region of the topic.')
param location string

@description('Tags for the topic.')
param tags object = {}

@description('Principal (object) id of the app identity that publishes.')
param principalId string

var eventGridDataSender = 'd5a91429-5739-47e2-a06b-3470a27159e7'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource queueServices 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource eventsQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueServices
  name: queueName
}

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = if (enableTopic) {
  name: topicName
  location: location
  tags: tags
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource dataSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (enableTopic) {
  name: guid(resourceId('Microsoft.EventGrid/topics', topicName), principalId, eventGridDataSender)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output queueName string = eventsQueue.name
output topicEndpoint string = enableTopic ? topic!.properties.endpoint : ''
