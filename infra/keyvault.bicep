// Key Vault (Azure RBAC authorization) holding the app's secrets. The Function App reads them
// through Key Vault references resolved with its user-assigned identity.

@description('Key Vault name (3-24 characters).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags for the vault.')
param tags object = {}

@description('OPTOUT_ACCESS_KEYS: one or more base64 HMAC keys, comma-separated.')
@secure()
param accessKeys string

@description('Name of the secret that holds OPTOUT_ACCESS_KEYS.')
param accessKeysSecretName string

@description('Whether to store OPTOUT_KEYS (named, scoped keys). Off: no such secret, keysUri is empty.')
param storeKeys bool = false

@description('OPTOUT_KEYS: the JSON array of named, scoped keys (docs/access.md).')
@secure()
param keys string = ''

@description('Name of the secret that holds OPTOUT_KEYS.')
param keysSecretName string = 'optout-keys'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

resource accessKeysSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: accessKeysSecretName
  properties: {
    value: accessKeys
    contentType: 'Comma-separated base64 HMAC keys (OPTOUT_ACCESS_KEYS)'
  }
}

// Only when given: the app treats OPTOUT_KEYS as optional (an empty setting means no scoped
// keys), so a default deployment stores nothing here.
resource keysSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (storeKeys) {
  parent: vault
  name: keysSecretName
  properties: {
    value: keys
    contentType: 'JSON array of named, scoped access keys (OPTOUT_KEYS)'
  }
}

output name string = vault.name
// Versioned on purpose: a new secret value gives a new version, so re-provisioning changes the
// app setting and the app picks the new keys up at once instead of within 24 hours.
output accessKeysUri string = accessKeysSecret.properties.secretUriWithVersion
// Same for OPTOUT_KEYS; empty when it is not stored.
output keysUri string = storeKeys ? keysSecret!.properties.secretUriWithVersion : ''
