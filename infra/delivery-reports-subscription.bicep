// Event subscription on the ACS system topic: SMSDeliveryReportReceived events go to the
// `sms-delivery-reports` storage queue (function `sms_delivery_reports`: reports kept for
// GET /deliveryReports/{id}, keyword confirmations marked delivered or failed, 4007s added to the
// sender's list with source carrier; docs/delivery-reports.md). Delivered, and dead-lettered, with
// the topic's system-assigned identity, like the inbound subscription (eventgrid-subscription.bicep):
// what cannot be delivered within the retry policy goes to its own dead-letter container, never
// dropped silently (alerts.bicep watches both). Deployed after the identity has its roles
// (delivery-reports-roles.bicep).

@description('Event subscription name: unique per azd environment.')
@minLength(3)
@maxLength(64)
param name string

@description('Name of the ACS Event Grid system topic (in this resource group).')
param systemTopicName string

@description('Resource id of the storage account that holds the queue and the dead-letter container.')
param storageAccountId string

@description('Queue the delivery reports are delivered to.')
param queueName string

@description('Blob container that receives delivery reports Event Grid could not deliver.')
param deadLetterContainerName string

@description('Delivery attempts before a report is dead-lettered (Event Grid allows 1-30).')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes Event Grid keeps retrying a report before it is dead-lettered (1-1440).')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: systemTopicName
}

resource deliveryReports 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: systemTopic
  name: name
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Communication.SMSDeliveryReportReceived'
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
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
  }
}

output name string = deliveryReports.name
