// Phase 2 (needs the deployed code): Event Grid subscriptions on the catalog account's system topic.
//  - the watched container -> blob trigger webhook (Flex Consumption supports only the Event Grid
//    source; endpoint type must be WebHook, 'AzureFunction' accepts only Event Grid triggers);
//  - each additional watched container -> the Event Grid trigger.
// The blobs_extension system key and the webhook handshake exist only once the code is deployed,
// so main.bicep includes this module only when deployEventSubscription=true, and the azd postdeploy
// hook (infra/hooks/postdeploy.sh / postdeploy.ps1) deploys it on its own after the first code deployment.
// Deployed into the catalog account's resource group (where the system topic lives).

@description('Name of the Event Grid system topic on the catalog account.')
param systemTopicName string
@description('Resource id of the function app.')
param functionAppId string
@description('Default host name of the function app (<name>.azurewebsites.net).')
param functionAppHostName string
@description('The blob trigger\'s container (CATALOG_CONTAINER).')
param catalogContainer string
@description('File name suffix that marks a catalog root (CATALOG_SUFFIX).')
param catalogSuffix string
@description('Other containers on the same account whose catalogs go to the Event Grid trigger.')
param additionalWatchedContainers array = []
@description('Resource id of the storage account holding the dead-letter container.')
param deadLetterAccountId string
param deadLetterContainerName string
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

var contract = loadJsonContent('../contract.json')
// Subscription names carry a hash of the app's id: two environments (apps) on one catalog account
// get their own subscriptions instead of overwriting each other's webhook; the same app keeps
// the same names on every run.
var blobSubscriptionName = '${replace(contract.functions.blobTrigger, '_', '-')}-${uniqueString(functionAppId)}'
var eventSubscriptionPrefix = replace(contract.functions.eventGridTrigger, '_', '-')
var blobsExtensionKey = listKeys('${functionAppId}/host/default', '2024-04-01').systemKeys.blobs_extension
var blobWebhookUrl = 'https://${functionAppHostName}/runtime/webhooks/blobs?functionName=Host.Functions.${contract.functions.blobTrigger}&code=${blobsExtensionKey}'

// Only completed uploads (NEW_UPLOAD_APIS in ingest_core/events.py): on hierarchical-namespace
// accounts BlobCreated also fires for CreateFile, before any content is written.
var uploadApiFilter = [
  {
    operatorType: 'StringIn'
    key: 'data.api'
    values: contract.eventFilter.dataApis
  }
]
var retryPolicy = {
  maxDeliveryAttempts: maxDeliveryAttempts
  eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
}
// Written with the system topic's own identity (role on this container only).
var deadLetter = {
  identity: {
    type: 'SystemAssigned'
  }
  deadLetterDestination: {
    endpointType: 'StorageBlob'
    properties: {
      resourceId: deadLetterAccountId
      blobContainerName: deadLetterContainerName
    }
  }
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: systemTopicName
}

resource blobTriggerSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: systemTopic
  name: blobSubscriptionName
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: blobWebhookUrl
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        contract.eventFilter.eventType
      ]
      subjectBeginsWith: '/blobServices/default/containers/${catalogContainer}/'
      subjectEndsWith: catalogSuffix
      // The code matches the suffix case-sensitively too.
      isSubjectCaseSensitive: true
      advancedFilters: uploadApiFilter
    }
    retryPolicy: retryPolicy
    deadLetterWithResourceIdentity: deadLetter
  }
}

resource eventTriggerSubscriptions 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = [for c in additionalWatchedContainers: {
  parent: systemTopic
  // The hash covers app and container, so cutting a long container name at 64 keeps names apart.
  name: take('${eventSubscriptionPrefix}-${uniqueString(functionAppId, c)}-${c}', 64)
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${contract.functions.eventGridTrigger}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        contract.eventFilter.eventType
      ]
      subjectBeginsWith: '/blobServices/default/containers/${c}/'
      subjectEndsWith: catalogSuffix
      isSubjectCaseSensitive: true
      advancedFilters: uploadApiFilter
    }
    retryPolicy: retryPolicy
    deadLetterWithResourceIdentity: deadLetter
  }
}]

output blobTriggerSubscriptionName string = blobTriggerSubscription.name
