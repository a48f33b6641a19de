// GeoCatalog data-plane access for the app identity: the built-in "GeoCatalog Administrator" role
// on the GeoCatalog resource (creating collections, ingestion sources, ingestions and runs needs it;
// "GeoCatalog Reader" is read-only). Deployed into the GeoCatalog's resource group.

param geoCatalogName string
param appPrincipalId string

var roles = loadJsonContent('../roles.json')

resource geoCatalog 'Microsoft.Orbital/geoCatalogs@2026-04-15' existing = {
  name: geoCatalogName
}

resource geoCatalogAdministrator 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(geoCatalog.id, appPrincipalId, roles.geoCatalogAdministrator)
  scope: geoCatalog
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.geoCatalogAdministrator)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}
