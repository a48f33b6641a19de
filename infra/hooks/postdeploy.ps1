# azd postdeploy hook, Windows/PowerShell 7 (postdeploy.sh is the POSIX twin: same `# step:` list,
# same order; tests/infra/test_hooks.py compares them). Phase 2 of the deployment: see
# postdeploy.sh and docs/deploy.md ("Two phases") for why it waits for the blobs_extension key.
# KEY_WAIT_SECONDS / KEY_POLL_SECONDS bound the wait for the key (600 / 15).
$Hook = 'postdeploy'
. (Join-Path $PSScriptRoot 'lib.ps1')

# step: skip-when-owned: main.bicep already keeps the subscriptions (DEPLOY_EVENT_SUBSCRIPTION=true)
if ($env:DEPLOY_EVENT_SUBSCRIPTION -eq 'true') {
    Write-Output "${Hook}: event subscriptions are part of main.bicep (DEPLOY_EVENT_SUBSCRIPTION=true); nothing to do"
    exit 0
}

# step: require-env: the azd environment values this hook reads
Assert-Env @('AZURE_ENV_NAME', 'AZURE_SUBSCRIPTION_ID', 'AZURE_RESOURCE_GROUP', 'AZURE_FUNCTION_APP_NAME',
    'FUNCTION_APP_HOSTNAME', 'CATALOG_RESOURCE_GROUP', 'EVENT_SUBSCRIPTION_PARAMETERS')

# step: check-subscription: az can use the environment's subscription
Assert-Subscription

$template = Join-Path $PSScriptRoot '..' 'modules' 'event-subscriptions.bicep'
$waitSeconds = if ($env:KEY_WAIT_SECONDS) { [int]$env:KEY_WAIT_SECONDS } else { 600 }
$pollSeconds = if ($env:KEY_POLL_SECONDS) { [double]$env:KEY_POLL_SECONDS } else { 15 }
$sub = $env:AZURE_SUBSCRIPTION_ID
$app = $env:AZURE_FUNCTION_APP_NAME
$errFile = New-TemporaryFile
$paramsFile = New-TemporaryFile
try {
    # step: wait-for-key: poll for the blobs_extension key; show az errors, stop on permanent ones
    Write-Output "${Hook}: waiting up to ${waitSeconds}s for the blobs_extension key of $app (subscription $sub)"
    $deadline = [DateTime]::UtcNow.AddSeconds($waitSeconds)
    while ($true) {
        # A request wakes a host that scaled to zero; the answer does not matter.
        try { $null = Invoke-WebRequest -Uri "https://$($env:FUNCTION_APP_HOSTNAME)/" -TimeoutSec 10 } catch { }
        $state = Get-KeyState $errFile.FullName
        if ($null -ne $state) {
            if ($state -eq 'string') { break }
        }
        else {
            $message = Get-Content -Raw $errFile.FullName
            [Console]::Error.WriteLine("${Hook}: the key lookup failed:")
            [Console]::Error.WriteLine($message)
            # Wrong subscription, no access or no such app: waiting cannot fix these.
            if ($message -match 'AuthorizationFailed|AuthenticationFailed|InvalidAuthenticationToken|ResourceNotFound|ResourceGroupNotFound|SubscriptionNotFound|az login') {
                Stop-Hook "${Hook}: cannot read the keys of $app in resource group $($env:AZURE_RESOURCE_GROUP) of subscription $sub (error above). Check that AZURE_SUBSCRIPTION_ID is the subscription azd deployed to and that your az login may list the app's keys, then rerun: azd hooks run $Hook"
            }
        }
        if ([DateTime]::UtcNow -ge $deadline) {
            Stop-Hook "${Hook}: no blobs_extension key after ${waitSeconds}s for $app (subscription $sub). Check that the deployment indexed on_catalog_blob (az functionapp function list --subscription $sub -g $($env:AZURE_RESOURCE_GROUP) -n $app) and the host's start-up errors in Application Insights, then rerun: azd hooks run $Hook"
        }
        Start-Sleep -Seconds $pollSeconds
    }

    # step: deploy-subscriptions: the module with exactly the values main.bicep would pass it
    $values = $env:EVENT_SUBSCRIPTION_PARAMETERS | ConvertFrom-Json
    $parameters = [ordered]@{}
    foreach ($property in $values.PSObject.Properties) {
        $parameters[$property.Name] = @{ value = $property.Value }
    }
    $doc = [ordered]@{
        '$schema'      = 'https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#'
        contentVersion = '1.0.0.0'
        parameters     = $parameters
    }
    # -AsArray is not wanted: ConvertTo-Json keeps arrays that are property values as arrays.
    $doc | ConvertTo-Json -Depth 20 | Set-Content -Path $paramsFile.FullName -Encoding utf8NoBOM
    # One deployment name per app: two environments on one catalog account keep separate histories.
    $deployment = "evsubs-$app"
    if ($deployment.Length -gt 64) { $deployment = $deployment.Substring(0, 64) }
    Write-Output "${Hook}: creating the Event Grid subscriptions in resource group $($env:CATALOG_RESOURCE_GROUP) (deployment $deployment)"
    az deployment group create --subscription $sub -g $env:CATALOG_RESOURCE_GROUP `
        -n $deployment --template-file $template --parameters "@$($paramsFile.FullName)" -o none
    if ($LASTEXITCODE -ne 0) {
        Stop-Hook "${Hook}: deploying the event subscriptions failed (error above; subscription $sub, resource group $($env:CATALOG_RESOURCE_GROUP)). Fix it, then rerun: azd hooks run $Hook"
    }

    # step: mark-owned: from now on main.bicep owns the subscriptions
    Set-PhaseTwo 'true'
    Write-Output "${Hook}: done; DEPLOY_EVENT_SUBSCRIPTION=true in environment $($env:AZURE_ENV_NAME) for later azd provision runs"
}
finally {
    Remove-Item -Force -ErrorAction SilentlyContinue $errFile.FullName, $paramsFile.FullName
}
