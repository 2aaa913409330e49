// Deployed into the resource group of the existing Azure Communication Services resource:
// - the app identity's role on the ACS resource (to send SMS replies with Entra ID tokens);
// - the Event Grid system topic for the ACS resource, with a system-assigned identity that
//   delivers events to the storage queue without keys.
// An ACS resource can have only one system topic: if it already has one, pass its name.

@description('Name of the existing Communication Services resource (in this resource group).')
param acsName string

@description('Name of the Event Grid system topic for the ACS resource (existing or new).')
param systemTopicName string

@description('Principal (object) id of the app identity.')
param appPrincipalId string

@description('Tags for the system topic.')
param tags object = {}

// Communication and Email Service Owner (built-in, 09976791-...). ACS authorizes Entra ID
// callers of its SMS API through Azure RBAC on the resource, and has no narrower built-in role
// that can send SMS (no SMS-sender or data-plane role exists). What the role allows, on this
// one ACS resource only (it is assigned nowhere else): read, write and delete the resource,
// list and regenerate its access keys, link a notification hub, manage its Event Grid filters,
// and the same on Email Communication Services resources; with those, send SMS with an Entra ID
// token. The app only sends SMS; the rest is unused. See infra/README.md ("Why this ACS role").
var communicationAndEmailServiceOwner = '09976791-48a7-449e-bb21-39d1a415f350'

resource acs 'Microsoft.Communication/communicationServices@2023-04-01' existing = {
  name: acsName
}

resource smsSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(acs.id, appPrincipalId, communicationAndEmailServiceOwner)
  scope: acs
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', communicationAndEmailServiceOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: systemTopicName
  // ACS is a global resource; its system topic is global too.
  location: 'global'
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: acs.id
    topicType: 'Microsoft.Communication.CommunicationServices'
  }
}

output endpoint string = 'https://${acs.properties.hostName}'
output systemTopicName string = systemTopic.name
output systemTopicId string = systemTopic.id
output systemTopicPrincipalId string = systemTopic.identity.principalId
