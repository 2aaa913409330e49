// SMS opt-out service: everything `azd up` provisions.
// - a resource group with the Function App (Flex Consumption, Python), its storage account
//   (shared keys off), Application Insights, Key Vault and a user-assigned identity;
// - in the existing ACS resource's resource group: the identity's ACS role, the Event Grid
//   system topic and the subscription delivering SMSReceived events to the `sms-inbound` queue
//   (undeliverable ones to a dead-letter container);
// - optionally (alertEmail), alerts for dead-lettered, dropped and poisoned events and failures.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; used in resource names and tags.')
param environmentName string

@minLength(1)
@description('Region for the Function App and its resources: one where Flex Consumption is available (the list of the Microsoft Flex Consumption azd templates; `az functionapp list-flexconsumption-locations` lists the current ones).')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'eastus2euap'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@minLength(1)
@description('Resource id of the existing Azure Communication Services resource whose inbound SMS this app handles: /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Communication/communicationServices/<name>.')
param acsResourceId string

@description('Name of the Event Grid system topic for the ACS resource. An ACS resource can have only one system topic: if it already has one, give its name (the template then adds its identity and the subscription to it). Empty: evgt-<acs name>.')
param acsSystemTopicName string = ''

@description('Resource group name for the app. Empty: rg-<environment name>.')
param resourceGroupName string = ''

@description('Brand name used in SMS replies (REPLY_BRAND).')
param replyBrand string = 'Our messages'

@description('Help contact used in SMS replies (REPLY_HELP_CONTACT).')
param replyHelpContact string = 'our support team'

@description('OPTOUT_ACCESS_KEYS: one or more base64 keys (at least 16 bytes each), comma-separated. Empty: the template derives one key from optoutAccessKeySeed.')
@secure()
param optoutAccessKeys string = ''

// azd substitutes environment values into main.parameters.json as plain text, so a raw JSON array
// (with its double quotes) would break that file: the array travels base64-encoded.
@description('OPTOUT_KEYS (named, scoped keys; docs/access.md): base64 of the JSON array. Empty: no scoped keys; the secret is not created and the app setting is empty.')
@secure()
param optoutKeys string = ''

// No default on purpose: `azd` generates it once and keeps it in the environment's config, so
// re-provisioning does not rotate the key. (A newGuid() default would change it on every run.)
@description('Seed for the initial access key when optoutAccessKeys is empty: the key is base64(seed), so the seed length is the key length in bytes.')
@secure()
@minLength(16)
@metadata({
  azd: {
    type: 'generate'
    config: {
      length: 32
      noSpecial: true
    }
  }
})
param optoutAccessKeySeed string

@description('Python version of the Function App.')
@allowed([
  '3.11'
  '3.12'
])
param pythonVersion string = '3.11'

@description('Flex Consumption: maximum number of instances (the plan allows 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Storage redundancy. Empty: Standard_ZRS in regions that support zone-redundant storage, else Standard_LRS.')
@allowed([
  ''
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGRS'
  'Standard_RAGZRS'
])
param storageSkuName string = ''

@description('E-mail address for operator alerts (dead-lettered, dropped or poisoned inbound events, function failures). Empty: no alerts are deployed.')
param alertEmail string = ''

// Contract with the app code (function_app.py, shared/platform/settings.py); do not rename.
var inboundQueueName = 'sms-inbound'
var mirrorQueueName = 'optout-mirror' // shared/feed/mirror.py MIRROR_QUEUE: drains into ACS
var tableNames = {
  optOuts: 'OptOuts'
  history: 'OptOutHistory'
  programs: 'SenderPrograms'
  groups: 'GroupOptOuts'
  mirror: 'OptOutMirror'
}
var accessKeysSecretName = 'optout-access-keys'
var keysSecretName = 'optout-keys'
var deadLetterContainerName = 'sms-inbound-deadletter' // shared/inbound/deadletter.py DEADLETTER_CONTAINER

var acsIdParts = split(acsResourceId, '/')
var acsSubscriptionId = acsIdParts[2]
var acsResourceGroupName = acsIdParts[4]
var acsName = last(acsIdParts)

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-api-${resourceToken}'
// Unique per azd environment: a second environment on the same ACS resource gets its own
// subscription instead of taking over the first one's.
var eventSubscriptionName = 'sms-inbound-${resourceToken}'
// Flex Consumption regions (above) that support zone-redundant storage (ZRS) for standard
// general-purpose v2 accounts (Microsoft's "Azure regions that support zone-redundant storage").
var zoneRedundantStorageRegions = [
  'australiaeast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'westeurope'
  'westus2'
  'westus3'
]
var defaultStorageSku = contains(zoneRedundantStorageRegions, location) ? 'Standard_ZRS' : 'Standard_LRS'
var storageSku = empty(storageSkuName) ? defaultStorageSku : storageSkuName
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identity 'identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-api-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    skuName: storageSku
    deploymentContainerName: deploymentContainerName
    inboundQueueName: inboundQueueName
    mirrorQueueName: mirrorQueueName
    deadLetterContainerName: deadLetterContainerName
    tableNames: [
      tableNames.optOuts
      tableNames.history
      tableNames.programs
      tableNames.groups
      tableNames.mirror
    ]
  }
}

module monitoring 'monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
  }
}

module keyVault 'keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    accessKeys: empty(optoutAccessKeys) ? base64(optoutAccessKeySeed) : optoutAccessKeys
    accessKeysSecretName: accessKeysSecretName
    storeKeys: !empty(optoutKeys)
    keys: empty(optoutKeys) ? '' : base64ToString(optoutKeys)
    keysSecretName: keysSecretName
  }
}

module rbac 'rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.name
    keyVaultName: keyVault.outputs.name
  }
}

module acs 'acs.bicep' = {
  name: 'acs-${resourceToken}'
  scope: resourceGroup(acsSubscriptionId, acsResourceGroupName)
  params: {
    acsName: acsName
    systemTopicName: empty(acsSystemTopicName) ? 'evgt-${acsName}' : acsSystemTopicName
    appPrincipalId: identity.outputs.principalId
    tags: tags
  }
}

module queueSenderRole 'queue-sender-role.bicep' = {
  name: 'queue-sender-role'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    queueName: inboundQueueName
    principalId: acs.outputs.systemTopicPrincipalId
  }
}

module deadLetterRole 'deadletter-role.bicep' = {
  name: 'deadletter-role'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    containerName: deadLetterContainerName
    principalId: acs.outputs.systemTopicPrincipalId
  }
}

module smsReceivedSubscription 'eventgrid-subscription.bicep' = {
  name: 'sms-received-${resourceToken}'
  scope: resourceGroup(acsSubscriptionId, acsResourceGroupName)
  params: {
    name: eventSubscriptionName
    systemTopicName: acs.outputs.systemTopicName
    storageAccountId: storage.outputs.id
    queueName: inboundQueueName
    deadLetterContainerName: deadLetterContainerName
  }
  dependsOn: [
    queueSenderRole
    deadLetterRole
  ]
}

module alerts 'alerts.bicep' = if (!empty(alertEmail)) {
  name: 'alerts'
  scope: rg
  params: {
    alertEmail: alertEmail
    actionGroupName: 'ag-${resourceToken}'
    namePrefix: 'alert-${resourceToken}'
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.id
    systemTopicId: acs.outputs.systemTopicId
    eventSubscriptionName: smsReceivedSubscription.outputs.name
    poisonQueueName: '${inboundQueueName}-poison'
  }
}

module functionApp 'function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    pythonVersion: pythonVersion
    maximumInstanceCount: maximumInstanceCount
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    accessKeysSecretUri: keyVault.outputs.accessKeysUri
    keysSecretUri: keyVault.outputs.keysUri
    acsEndpoint: acs.outputs.endpoint
    replyBrand: replyBrand
    replyHelpContact: replyHelpContact
    tableNames: tableNames
    eventsTopicEndpoint: events.outputs.topicEndpoint
  }
  // Start the app only once its identity can reach storage, Key Vault and App Insights.
  dependsOn: [
    rbac
  ]
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_API_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = functionApp.outputs.uri
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output ACS_SYSTEM_TOPIC_NAME string = acs.outputs.systemTopicName
output EVENT_SUBSCRIPTION_NAME string = smsReceivedSubscription.outputs.name
output AZURE_APP_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId

// -- Change feed (issue 11): the events queue and, when enabled, an Event Grid custom topic ----

@description('Publish opt-out change events to an Event Grid custom topic too (OPTOUT_EVENTS_TOPIC_ENDPOINT), with the app identity as EventGrid Data Sender. Off: the storage queue only.')
param enableEventGridTopic bool = false

module events 'events.bicep' = {
  name: 'optout-events'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    queueName: 'sms-optout-events'
    enableTopic: enableEventGridTopic
    topicName: 'evgt-optout-${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

output OPTOUT_EVENTS_TOPIC_ENDPOINT string = events.outputs.topicEndpoint
