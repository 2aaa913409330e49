// Operator alerts (deployed when an alert e-mail is given): an e-mail action group and one rule
// for each way an inbound STOP (or a delivery report, which may carry a carrier opt-out) can be
// stuck or lost, so that operators learn of it in minutes:
// - an event dead-lettered by Event Grid (it never reached the queue; replay it), or dropped;
// - a message moved to the poison queue (the function failed on it 5 times; replay it);
// - any failed function execution.

@description('E-mail address that receives the alerts.')
param alertEmail string

@description('Name of the action group.')
param actionGroupName string

@description('Prefix of the alert rule names.')
param namePrefix string

@description('Region of the log alert (the Application Insights region).')
param location string

@description('Tags for the resources.')
param tags object = {}

@description('Resource id of the Application Insights component the app logs to.')
param applicationInsightsId string

@description('Resource id of the ACS Event Grid system topic.')
param systemTopicId string

@description('Name of the event subscription that delivers to the inbound queue.')
param eventSubscriptionName string

@description('Name of the poison queue of the inbound queue.')
param poisonQueueName string

@description('Name of the event subscription that delivers to the delivery-report queue.')
param deliveryReportSubscriptionName string

@description('Name of the poison queue of the delivery-report queue.')
param deliveryReportPoisonQueueName string

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'smsoptout'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// Event Grid reports event subscription names in upper case (as in dead-letter blob names).
var subscriptionDimension = [
  {
    name: 'EventSubscriptionName'
    operator: 'Include'
    values: [
      toUpper(eventSubscriptionName)
      toUpper(deliveryReportSubscriptionName)
    ]
  }
]

resource deadLettered 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-sms-deadlettered'
  location: 'global'
  tags: tags
  properties: {
    description: 'An inbound SMS event (or a delivery report) could not be delivered to its queue and was dead-lettered. Fix the cause, then POST /sms/inbound/deadletter:replay (delivery reports: docs/delivery-reports.md).'
    severity: 1
    enabled: true
    scopes: [
      systemTopicId
    ]
    evaluationFrequency: 'PT1M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLettered'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DeadLetteredCount'
          dimensions: subscriptionDimension
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

resource dropped 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-sms-dropped'
  location: 'global'
  tags: tags
  properties: {
    description: 'Event Grid dropped an inbound SMS event (not even dead-lettered, e.g. the dead-letter container was unreachable for 4 hours). The event is lost: check the ACS resource for the message.'
    severity: 0
    enabled: true
    scopes: [
      systemTopicId
    ]
    evaluationFrequency: 'PT1M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'Dropped'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DroppedEventCount'
          dimensions: subscriptionDimension
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

resource functionFailures 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-function-failures'
  location: 'global'
  tags: tags
  properties: {
    description: 'A function execution failed (an inbound message is retried, up to 5 times, then parked in the poison queue).'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT1M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'FailedExecutions'
          metricNamespace: 'microsoft.insights/components'
          metricName: 'requests/failed'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Count'
        }
      ]
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

// Azure Monitor has no per-queue depth metric (QueueMessageCount is per account, hourly), so
// this rule watches what makes the poison queue non-empty: the host's warning "Message has
// reached MaxDequeueCount of 5. Moving message to queue 'sms-inbound-poison'." for each message.
resource poisoned 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-sms-poisoned'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: '${namePrefix}-sms-poisoned'
    description: 'A message was moved to ${poisonQueueName} or ${deliveryReportPoisonQueueName} after 5 failed tries. Fix the cause, then POST /sms/inbound/poison:replay (delivery reports: docs/delivery-reports.md).'
    severity: 1
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: 'traces | where message has "MaxDequeueCount" and ( message contains "\'${poisonQueueName}\'" or message contains "\'${deliveryReportPoisonQueueName}\'" )'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

output actionGroupId string = actionGroup.id
