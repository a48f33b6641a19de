// Deploys the catalog-ingest function app with `azd up`: Flex Consumption (Python), one
// user-assigned identity for everything, keyless storage, least-privilege roles, identity-based
// Application Insights, and the Event Grid system topic + subscription on the catalog account.
// Self-contained (no registry modules) so it builds offline. See docs/deploy.md.
targetScope = 'resourceGroup'

// ---------------------------------------------------------------- environment and naming
@minLength(1)
@maxLength(64)
@description('azd environment name; seeds the unique resource names.')
param environmentName string

@description('Region of the app resources (the system topic follows the catalog account\'s region).')
param location string = resourceGroup().location

@description('Function app name; empty derives func-<token>.')
param functionAppName string = ''

@description('Principal id of a person or group who reads job status and dead letters (azd passes the signed-in user). Empty: none.')
param operatorPrincipalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

// ---------------------------------------------------------------- GeoCatalog
@description('GeoCatalog data-plane endpoint, e.g. https://<name>.<id>.<region>.geocatalog.spatio.azure.com (GEOCATALOG_ENDPOINT).')
param geoCatalogEndpoint string

@description('Optional ARM id of the GeoCatalog: /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Orbital/geoCatalogs/<name>. When set, the identity gets "GeoCatalog Administrator" on it; when empty, assign that role yourself (output GEOCATALOG_ROLE).')
param geoCatalogResourceId string = ''

@description('GeoCatalog data-plane api-version (GEOCATALOG_API_VERSION).')
param geoCatalogApiVersion string = '2026-04-15'

@description('Entra ID scope of the GeoCatalog token (GEOCATALOG_SCOPE).')
param geoCatalogScope string = 'https://geocatalog.spatio.azure.com/.default'

// ---------------------------------------------------------------- catalog storage
@description('Existing catalog storage account to watch: kind StorageV2, BlockBlobStorage or BlobStorage (the kinds that emit blob events; see docs/deploy.md). Empty: create a new keyless account in this resource group, which `azd down` deletes.')
param existingCatalogAccountName string = ''

@description('Resource group of the existing catalog account: keep it out of the app\'s resource group, which `azd down` deletes whole (the preprovision hook refuses an empty or equal value).')
param existingCatalogAccountResourceGroup string = ''

@description('Name of the new catalog account when none is given; empty derives stcat<token>.')
param catalogAccountName string = ''

@description('The watched container: the blob trigger fires for catalogs uploaded here (CATALOG_CONTAINER).')
param catalogContainer string = 'catalogs'

@description('Only blobs whose name ends with this start an ingestion (CATALOG_SUFFIX).')
param catalogSuffix string = 'catalog.json'

@description('More containers on the catalog account whose catalogs are ingested (events go to the Event Grid trigger). They must exist on an existing account.')
param additionalWatchedContainers array = []

@description('Containers that are only read: the asset containers catalogs may reference (ASSET_CONTAINERS; assets in any other container of the account are refused). They must exist on an existing account.')
param additionalReadableContainers array = []

@description('Event Grid system topic name on the catalog account. An account has at most one: give the existing one\'s name if it has one. Empty derives evgt-<account>.')
param catalogSystemTopicName string = ''

// ---------------------------------------------------------------- ingestion behaviour
// An array, not a string: azd (1.23.4+) parses the value of an array/object parameter as JSON,
// while a string value is pasted raw into the parameters file, where any `"` breaks it. Any other
// structured setting follows the same pattern: array/object parameter, string() into the setting.
@description('Routing rules (ROUTING_RULES), e.g. [{"container": "catalogs", "prefix": "naip/", "collection": "naip"}]; [] means one rule for the watched container.')
param routingRules array = []

@allowed([
  'SasToken'
  'BlobManagedIdentity'
])
@description('How the GeoCatalog reads containers (SOURCE_KIND).')
param sourceKind string = 'SasToken'

@description('Object id of the identity attached to the GeoCatalog for BlobManagedIdentity sources; empty uses this app\'s identity (SOURCE_MANAGED_IDENTITY_OBJECT_ID).')
param sourceManagedIdentityObjectId string = ''

@minValue(1)
@description('Lifetime of minted SAS tokens in hours (SAS_LIFETIME_HOURS).')
param sasLifetimeHours int = 24

@minValue(1)
@description('Refresh a source\'s SAS when less than this many hours remain (SAS_REFRESH_MARGIN_HOURS).')
param sasRefreshMarginHours int = 6

@minValue(1)
@description('Sweep deletes idle sources this app owns after this many hours (STALE_SOURCE_TTL_HOURS).')
param staleSourceTtlHours int = 72

@minValue(1)
@maxValue(100)
@description('Concurrent ingestion runs before new ones are queued (MAX_CONCURRENT_RUNS).')
param maxConcurrentRuns int = 5

@minValue(1024)
@description('Largest catalog JSON accepted, in bytes (CATALOG_MAX_BYTES).')
param catalogMaxBytes int = 5242880

@minValue(1)
@description('Most links the preflight walks per catalog (PREFLIGHT_MAX_LINKS).')
param preflightMaxLinks int = 200000

@minValue(1)
@description('How long a claim on a job is held before another attempt may take over (CLAIM_LEASE_SECONDS).')
param claimLeaseSeconds int = 600

@minValue(1)
@description('How long a DEFERRED drop waits for its children before it fails (DEFER_TIMEOUT_MINUTES).')
param deferTimeoutMinutes int = 60

@minValue(0)
@maxValue(20)
@description('Retries of a transient GeoCatalog/storage error inside one call (HTTP_MAX_RETRIES).')
param httpMaxRetries int = 5

@minValue(1)
@description('Cap of the exponential backoff between retries, in seconds (HTTP_BACKOFF_CAP_SECONDS).')
param httpBackoffCapSeconds int = 30

@description('Table of the job ledger (LEDGER_TABLE).')
param ledgerTable string = 'ingestjobs'

@description('Blob container on the app storage for the job reports (REPORT_CONTAINER).')
param reportContainer string = 'ingest-reports'

@description('NCRONTAB schedule of the reconcile timer (RECONCILE_SCHEDULE).')
param reconcileSchedule string = '0 */1 * * * *'

@description('NCRONTAB schedule of the sweep timer (SWEEP_SCHEDULE).')
param sweepSchedule string = '0 */30 * * * *'

// ---------------------------------------------------------------- Event Grid
@description('Type prefix of the completion events: <prefix>.Ingestion.Succeeded and so on (COMPLETION_EVENT_TYPE_PREFIX).')
param completionEventTypePrefix string = 'CatalogIngest'

@description('Phase 2: create the event subscriptions. Needs the code deployed (the blobs_extension key); the postdeploy hook sets it after the first deploy.')
param deployEventSubscription bool = false

@description('Routing rules take stac-geoparquet drops (stacGeoparquet): deliver `.parquet` uploads too (STAC_GEOPARQUET_DROPS).')
param stacGeoparquetDrops bool = false

@minValue(1)
@maxValue(30)
param eventMaxDeliveryAttempts int = 30

@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

// ---------------------------------------------------------------- hosting
// Flex Consumption also offers 3.10 and 3.14; the code needs 3.11+ and 3.13 is the newest
// version this project allows (see docs/deploy.md).
@allowed([
  '3.11'
  '3.12'
  '3.13'
])
@description('Python version of the Flex Consumption runtime.')
param pythonVersion string = '3.13'

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// ---------------------------------------------------------------- derived names
// One file holds every name the code and infra share; tests/infra checks it against ingest_core.
var contract = loadJsonContent('contract.json')
var code = contract.code
var hostStorage = contract.connections.hostStorage
var catalogTrigger = contract.connections.catalogTrigger

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = {
  'azd-env-name': environmentName
}
var appName = empty(functionAppName) ? 'func-${resourceToken}' : functionAppName
var appStorageName = 'stapp${resourceToken}'
var deploymentContainerName = 'app-package'
var deadLetterContainerName = 'eventgrid-deadletter'
var useExistingCatalog = !empty(existingCatalogAccountName)
var newCatalogName = empty(catalogAccountName) ? 'stcat${resourceToken}' : catalogAccountName
var catalogName = useExistingCatalog ? existingCatalogAccountName : newCatalogName
var catalogResourceGroup = useExistingCatalog && !empty(existingCatalogAccountResourceGroup) ? existingCatalogAccountResourceGroup : resourceGroup().name
var systemTopicName = empty(catalogSystemTopicName) ? 'evgt-${catalogName}' : catalogSystemTopicName
// union() also removes duplicates.
var readableContainers = union([
  catalogContainer
], additionalWatchedContainers, additionalReadableContainers)

var storageSuffix = environment().suffixes.storage
var appBlobUri = 'https://${appStorageName}.blob.${storageSuffix}'
var appQueueUri = 'https://${appStorageName}.queue.${storageSuffix}'
var appTableUri = 'https://${appStorageName}.table.${storageSuffix}'
var catalogBlobUri = 'https://${catalogName}.blob.${storageSuffix}'

// ---------------------------------------------------------------- identity, storage, monitoring
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${resourceToken}'
  location: location
  tags: tags
}

module appStorage 'modules/app-storage.bicep' = {
  name: 'app-storage'
  params: {
    name: appStorageName
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    deadLetterContainerName: deadLetterContainerName
    ledgerTableName: ledgerTable
    reportContainerName: reportContainer
    appPrincipalId: identity.properties.principalId
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
    appPrincipalId: identity.properties.principalId
  }
}

module catalogAccount 'modules/catalog-account.bicep' = if (!useExistingCatalog) {
  name: 'catalog-account'
  params: {
    name: newCatalogName
    location: location
    tags: tags
    containers: readableContainers
  }
}

module catalogAccess 'modules/catalog-access.bicep' = {
  name: 'catalog-access'
  scope: resourceGroup(catalogResourceGroup)
  params: {
    accountName: catalogName
    tags: tags
    readableContainers: readableContainers
    appPrincipalId: identity.properties.principalId
    systemTopicName: systemTopicName
  }
  dependsOn: [
    catalogAccount
  ]
}

module deadLetterAccess 'modules/deadletter-access.bicep' = {
  name: 'deadletter-access'
  params: {
    storageAccountName: appStorage.outputs.name
    deadLetterContainerName: deadLetterContainerName
    topicPrincipalId: catalogAccess.outputs.systemTopicPrincipalId
  }
}

// ARM evaluates a conditional module's scope even when it is skipped: split a placeholder id then.
var geoCatalogIdParts = split(empty(geoCatalogResourceId) ? '/subscriptions/${subscription().subscriptionId}/resourceGroups/${resourceGroup().name}/providers/Microsoft.Orbital/geoCatalogs/none' : geoCatalogResourceId, '/')

module geoCatalogRole 'modules/geocatalog-role.bicep' = if (!empty(geoCatalogResourceId)) {
  name: 'geocatalog-role'
  scope: resourceGroup(geoCatalogIdParts[2], geoCatalogIdParts[4])
  params: {
    geoCatalogName: geoCatalogIdParts[8]
    appPrincipalId: identity.properties.principalId
  }
}

// Completion events (issue 11): a custom topic the app identity may send to.
module completionTopic 'modules/completion-topic.bicep' = {
  name: 'completion-topic'
  params: {
    name: 'evgt-done-${resourceToken}'
    location: location
    tags: tags
    appPrincipalId: identity.properties.principalId
  }
}

// ---------------------------------------------------------------- app settings
// Names come from contract.json (code: ingest_core.settings.ENV_NAMES; connections: the host's
// identity-based connection prefixes). Nothing here that neither the host nor the code reads.
var clientId = identity.properties.clientId
var appSettings = [
  // Functions host storage, identity-based (no AzureWebJobsStorage connection string).
  {
    name: '${hostStorage}__credential'
    value: 'managedidentity'
  }
  {
    name: '${hostStorage}__clientId'
    value: clientId
  }
  {
    name: '${hostStorage}__blobServiceUri'
    value: appBlobUri
  }
  {
    name: '${hostStorage}__queueServiceUri'
    value: appQueueUri
  }
  {
    name: '${hostStorage}__tableServiceUri'
    value: appTableUri
  }
  // The blob trigger's connection: blobs on the catalog account; its queue URI (where the blob
  // extension keeps the poison queue) points at the app's own storage, so nothing on the user's
  // account is created or changed and accounts without a queue service (premium block blob) work.
  {
    name: '${catalogTrigger}__credential'
    value: 'managedidentity'
  }
  {
    name: '${catalogTrigger}__clientId'
    value: clientId
  }
  {
    name: '${catalogTrigger}__blobServiceUri'
    value: catalogBlobUri
  }
  {
    name: '${catalogTrigger}__queueServiceUri'
    value: appQueueUri
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: monitoring.outputs.connectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${clientId};Authorization=AAD'
  }
  {
    name: 'AZURE_CLIENT_ID'
    value: clientId
  }
  // ingest_core.settings
  {
    name: code.geocatalog_endpoint
    value: geoCatalogEndpoint
  }
  {
    name: code.geocatalog_api_version
    value: geoCatalogApiVersion
  }
  {
    name: code.geocatalog_scope
    value: geoCatalogScope
  }
  {
    name: code.catalog_connection
    value: catalogBlobUri
  }
  {
    name: code.catalog_container
    value: catalogContainer
  }
  {
    name: code.catalog_suffix
    value: catalogSuffix
  }
  {
    // Asset containers a catalog may reach: only these get an ingestion source (ingest_core.stac).
    name: code.asset_containers
    value: join(additionalReadableContainers, ',')
  }
  {
    name: code.ledger_connection
    value: appTableUri
  }
  {
    name: code.ledger_table
    value: ledgerTable
  }
  // Reports go to the app's own storage: the catalog account is read-only to the app.
  {
    name: code.report_connection
    value: appBlobUri
  }
  {
    name: code.report_container
    value: reportContainer
  }
  {
    // string() of an array is its JSON text, which ingest_core.settings parses.
    name: code.routing_rules
    value: string(routingRules)
  }
  {
    name: code.source_kind
    value: sourceKind
  }
  {
    name: code.source_object_id
    value: sourceKind == 'BlobManagedIdentity' && empty(sourceManagedIdentityObjectId) ? identity.properties.principalId : sourceManagedIdentityObjectId
  }
  {
    name: code.sas_lifetime_hours
    value: string(sasLifetimeHours)
  }
  {
    name: code.sas_refresh_margin_hours
    value: string(sasRefreshMarginHours)
  }
  {
    name: code.stale_source_ttl_hours
    value: string(staleSourceTtlHours)
  }
  {
    name: code.max_concurrent_runs
    value: string(maxConcurrentRuns)
  }
  {
    name: code.catalog_max_bytes
    value: string(catalogMaxBytes)
  }
  {
    name: code.preflight_max_links
    value: string(preflightMaxLinks)
  }
  {
    name: code.claim_lease_seconds
    value: string(claimLeaseSeconds)
  }
  {
    name: code.defer_timeout_minutes
    value: string(deferTimeoutMinutes)
  }
  {
    name: code.http_max_retries
    value: string(httpMaxRetries)
  }
  {
    name: code.http_backoff_cap_seconds
    value: string(httpBackoffCapSeconds)
  }
  {
    name: code.reconcile_schedule
    value: reconcileSchedule
  }
  {
    name: code.sweep_schedule
    value: sweepSchedule
  }
  {
    name: code.completion_topic_endpoint
    value: completionTopic.outputs.endpoint
  }
  {
    name: code.completion_event_prefix
    value: completionEventTypePrefix
  }
]

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  params: {
    name: appName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.id
    deploymentContainerUrl: appStorage.outputs.deploymentContainerUrl
    appSettings: appSettings
    pythonVersion: pythonVersion
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
  // The host must be able to reach its storage and the catalog the moment it starts.
  dependsOn: [
    catalogAccess
  ]
}

// ---------------------------------------------------------------- phase 2: event subscriptions
// The same values feed this module and the postdeploy hook (output EVENT_SUBSCRIPTION_PARAMETERS).
var eventSubscriptionParameters = {
  systemTopicName: catalogAccess.outputs.systemTopicName
  functionAppId: functionApp.outputs.id
  functionAppHostName: functionApp.outputs.defaultHostName
  catalogContainer: catalogContainer
  catalogSuffix: catalogSuffix
  acceptGeoparquet: stacGeoparquetDrops
  additionalWatchedContainers: additionalWatchedContainers
  deadLetterAccountId: appStorage.outputs.id
  deadLetterContainerName: deadLetterContainerName
  maxDeliveryAttempts: eventMaxDeliveryAttempts
  eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
}

module eventSubscriptions 'modules/event-subscriptions.bicep' = if (deployEventSubscription) {
  name: 'event-subscriptions'
  scope: resourceGroup(catalogResourceGroup)
  params: {
    systemTopicName: eventSubscriptionParameters.systemTopicName
    functionAppId: eventSubscriptionParameters.functionAppId
    functionAppHostName: eventSubscriptionParameters.functionAppHostName
    catalogContainer: eventSubscriptionParameters.catalogContainer
    catalogSuffix: eventSubscriptionParameters.catalogSuffix
    acceptGeoparquet: eventSubscriptionParameters.acceptGeoparquet
    additionalWatchedContainers: eventSubscriptionParameters.additionalWatchedContainers
    deadLetterAccountId: eventSubscriptionParameters.deadLetterAccountId
    deadLetterContainerName: eventSubscriptionParameters.deadLetterContainerName
    maxDeliveryAttempts: eventSubscriptionParameters.maxDeliveryAttempts
    eventTimeToLiveInMinutes: eventSubscriptionParameters.eventTimeToLiveInMinutes
  }
  dependsOn: [
    deadLetterAccess
  ]
}

// ---------------------------------------------------------------- outputs (azd env values)
output AZURE_LOCATION string = location
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_HOSTNAME string = functionApp.outputs.defaultHostName
output IDENTITY_CLIENT_ID string = clientId
output IDENTITY_PRINCIPAL_ID string = identity.properties.principalId
output IDENTITY_RESOURCE_ID string = identity.id
output APP_STORAGE_ACCOUNT_NAME string = appStorage.outputs.name
output LEDGER_TABLE string = ledgerTable
output REPORT_CONTAINER string = reportContainer
output DEAD_LETTER_CONTAINER string = deadLetterContainerName
output CATALOG_ACCOUNT_NAME string = catalogName
output CATALOG_RESOURCE_GROUP string = catalogResourceGroup
output CATALOG_CONTAINER string = catalogContainer
output CATALOG_SYSTEM_TOPIC_NAME string = catalogAccess.outputs.systemTopicName
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.name
output COMPLETION_TOPIC_NAME string = completionTopic.outputs.name
output EVENT_SUBSCRIPTION_PARAMETERS object = eventSubscriptionParameters
output GEOCATALOG_ROLE string = empty(geoCatalogResourceId) ? 'NOT ASSIGNED: give the identity (IDENTITY_PRINCIPAL_ID) the "GeoCatalog Administrator" role on your GeoCatalog; see docs/deploy.md' : 'GeoCatalog Administrator on ${geoCatalogResourceId}'
