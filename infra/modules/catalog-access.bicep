// Everything on the catalog account (new or existing): the app identity's read-only data roles
// and the Event Grid system topic. Deployed into the catalog account's resource group. Nothing
// here creates or changes a service of the user's account: the blob trigger's poison queue lives
// on the app's own storage (CatalogStorage__queueServiceUri in main.bicep).

@description('Name of the (existing by now) catalog storage account.')
param accountName string
param tags object
@description('Containers the app reads: the watched container plus every container routing rules or assets use.')
param readableContainers array
@description('Principal id of the app\'s user-assigned identity.')
param appPrincipalId string
@description('Name of the Event Grid system topic on the account. An account can have only one system topic: pass the existing one\'s name if the account already has one.')
param systemTopicName string

var roles = loadJsonContent('../roles.json')

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: accountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: account
  name: 'default'
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for c in readableContainers: {
  parent: blobService
  name: c
}]

// Read + list on exactly the containers it ingests from (also bounds what its SAS can grant).
resource containerReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (c, i) in readableContainers: {
  name: guid(containers[i].id, appPrincipalId, roles.storageBlobDataReader)
  scope: containers[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataReader)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

// generateUserDelegationKey is an account-level action: the delegator role grants only that,
// no data access.
resource delegator 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, appPrincipalId, roles.storageBlobDelegator)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDelegator)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The topic's own (system-assigned) identity writes dead letters; it gets a role on the
// dead-letter container only (see deadletter-access.bicep), never on catalog data.
resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: systemTopicName
  location: account.location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: account.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

output accountName string = account.name
output systemTopicName string = systemTopic.name
output systemTopicPrincipalId string = systemTopic.identity.principalId
