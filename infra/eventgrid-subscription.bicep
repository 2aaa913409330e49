// Event subscription on the ACS system topic: SMSReceived events go to the inbound storage queue,
// delivered with the topic's system-assigned identity (the account has shared keys disabled).
// Deployed after the identity has its queue role, so that the first deliveries are authorized.

@description('Name of the ACS Event Grid system topic (in this resource group).')
param systemTopicName string

@description('Resource id of the storage account that holds the queue.')
param storageAccountId string

@description('Queue the events are delivered to.')
param queueName string

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource smsReceived 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: 'sms-received-to-queue'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Communication.SMSReceived'
      ]
    }
    deliveryWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      destination: {
        endpointType: 'StorageQueue'
        properties: {
          resourceId: storageAccountId
          queueName: queueName
          queueMessageTimeToLiveInSeconds: 604800
        }
      }
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}

output name string = smsReceived.name
