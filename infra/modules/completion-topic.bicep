// The custom Event Grid topic the app publishes one completion CloudEvent per finished job to
// (docs/after-ingestion.md). Keyless: local (key/SAS) auth is off, so the only way in is Entra ID,
// and the app identity gets exactly "EventGrid Data Sender" on this topic.

param name string
param location string
param tags object
@description('Principal id of the app\'s user-assigned identity (gets EventGrid Data Sender on the topic).')
param appPrincipalId string

var roles = loadJsonContent('../roles.json')

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  // Lets subscribers' deliveries (to queues, Service Bus, ...) use the topic's identity instead of keys.
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true
    minimumTlsVersionAllowed: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource sender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, appPrincipalId, roles.eventGridDataSender)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventGridDataSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output name string = topic.name
output id string = topic.id
output endpoint string = topic.properties.endpoint
