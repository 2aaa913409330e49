// Event subscription on the ACS system topic: SMSReceived events go to the inbound storage queue,
// delivered with the topic's system-assigned identity (the account has shared keys disabled).
// Events that cannot be delivered within the retry policy are not dropped: Event Grid writes them
// to the dead-letter container, with the same identity, for `POST /sms/inbound/deadletter:replay`.
// Deployed after the identity has its queue and blob roles, so that the first deliveries are
// authorized.

@description('Event subscription name: unique per azd environment, so that two environments on the same ACS resource each get their own copy of the events.')
@minLength(3)
@maxLength(64)
param name string

@description('Name of the ACS Event Grid system topic (in this resource group).')
param systemTopicName string

@description('Resource id of the storage account that holds the queue and the dead-letter container.')
param storageAccountId string

@description('Queue the events are delivered to.')
param queueName string

@description('Blob container that receives events Event Grid could not deliver.')
param deadLetterContainerName string

@description('Delivery attempts before an event is dead-lettered (Event Grid allows 1-30).')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes Event Grid keeps retrying an event before it is dead-lettered (1-1440).')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: systemTopicName
}

resource smsReceived 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: systemTopic
  name: name
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
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: storageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
    // Explicit rather than implied: whichever limit is reached first dead-letters the event.
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
  }
}

output name string = smsReceived.name
