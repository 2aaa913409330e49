// The Function App on the Flex Consumption plan (Linux, Python), running as the user-assigned
// identity. Storage is reached with identity-based connections (no connection string, no key);
// secrets come from Key Vault references resolved with the same identity.

@description('Function App name.')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Azure region.')
param location string

@description('Tags for the plan and the app.')
param tags object = {}

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of the user-assigned identity.')
param identityClientId string

@description('Storage account for the host, queue and tables.')
param storageAccountName string

@description('Blob container that holds the deployment package.')
param deploymentContainerName string

@description('Python version (Flex Consumption).')
@allowed([
  '3.11'
  '3.12'
])
param pythonVersion string = '3.11'

@description('Flex Consumption: maximum number of instances (the plan allows 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Flex Consumption: instance memory size in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Application Insights connection string.')
param applicationInsightsConnectionString string

@description('Event Grid topic endpoint for opt-out change events (OPTOUT_EVENTS_TOPIC_ENDPOINT); empty: queue only.')
param eventsTopicEndpoint string = ''

@description('Versioned URI of the Key Vault secret that holds OPTOUT_ACCESS_KEYS.')
param accessKeysSecretUri string

@description('Versioned URI of the Key Vault secret that holds OPTOUT_KEYS (named, scoped keys); empty: none, and OPTOUT_KEYS is set empty (the app then has no scoped keys).')
param keysSecretUri string = ''

@description('ACS endpoint, https://<resource>.<geo>.communication.azure.com.')
param acsEndpoint string

@description('Brand name used in SMS replies.')
param replyBrand string

@description('Help contact used in SMS replies.')
param replyHelpContact string

@description('Table names: optOuts, history, programs, groups.')
param tableNames object

var storageSuffix = environment().suffixes.storage

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: 'https://${storageAccountName}.blob.${storageSuffix}/${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// No basic (user name and password) publishing: FTP and the SCM site accept Entra ID only.
// `azd deploy` publishes to the deployment container with Entra ID, so nothing needs them.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

// Every name here is read by the app (shared/platform/settings.py, shared/platform/connections.py), by the
// Functions host or by azure-identity; tests/test_infra.py keeps the two sides in step.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: app
  name: 'appsettings'
  properties: {
    // Identity-based host storage connection (queue trigger, host state) and table client.
    AzureWebJobsStorage__accountName: storageAccountName
    AzureWebJobsStorage__blobServiceUri: 'https://${storageAccountName}.blob.${storageSuffix}'
    AzureWebJobsStorage__queueServiceUri: 'https://${storageAccountName}.queue.${storageSuffix}'
    AzureWebJobsStorage__tableServiceUri: 'https://${storageAccountName}.table.${storageSuffix}'
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    // DefaultAzureCredential (ACS SmsClient) picks the user-assigned identity by this id.
    AZURE_CLIENT_ID: identityClientId
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    OPTOUT_ACCESS_KEYS: '@Microsoft.KeyVault(SecretUri=${accessKeysSecretUri})'
    // Optional: a Key Vault reference when scoped keys are given, else empty (none). Always
    // present so that removing the keys clears the reference.
    OPTOUT_KEYS: empty(keysSecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${keysSecretUri})'
    ACS_ENDPOINT: acsEndpoint
    REPLY_BRAND: replyBrand
    REPLY_HELP_CONTACT: replyHelpContact
    OPTOUT_TABLE_NAME: tableNames.optOuts
    OPTOUT_HISTORY_TABLE_NAME: tableNames.history
    SENDER_PROGRAMS_TABLE_NAME: tableNames.programs
    GROUP_OPTOUTS_TABLE_NAME: tableNames.groups
    OPTOUT_MIRROR_TABLE_NAME: tableNames.mirror
    OPTOUT_EVENTS_TOPIC_ENDPOINT: eventsTopicEndpoint
    // The Python worker's thread pool: how many invocations run at once per instance (its
    // default is min(32, CPUs + 4)); host.json's batchSize 32 brings that many queue messages.
    PYTHON_THREADPOOL_THREAD_COUNT: '32'
  }
}

output name string = app.name
output uri string = 'https://${app.properties.defaultHostName}'
