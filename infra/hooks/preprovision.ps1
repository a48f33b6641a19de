# azd preprovision hook, Windows/PowerShell 7 (preprovision.sh is the POSIX twin: same `# step:`
# list). Resets DEPLOY_EVENT_SUBSCRIPTION unless the app has its blobs_extension key (after
# `azd down` or in a cloned environment main.bicep could not read it), and refuses an existing
# catalog account in the app's resource group, which `azd down` deletes. See preprovision.sh.
$Hook = 'preprovision'
. (Join-Path $PSScriptRoot 'lib.ps1')

# step: require-env: the environment being provisioned (on a first run azd may not have chosen
# the subscription or resource group yet; the steps below cope with that)
Assert-Env @('AZURE_ENV_NAME')

# step: guard-catalog-group: an existing catalog account must not live in the app's resource group
if ($env:EXISTING_CATALOG_ACCOUNT_NAME) {
    $catalogGroup = "$env:EXISTING_CATALOG_ACCOUNT_RESOURCE_GROUP"
    $appGroup = if ($env:AZURE_RESOURCE_GROUP) { $env:AZURE_RESOURCE_GROUP } else { 'not chosen yet' }
    if (-not $catalogGroup -or $catalogGroup -eq "$env:AZURE_RESOURCE_GROUP") {
        Stop-Hook "${Hook}: EXISTING_CATALOG_ACCOUNT_NAME=$($env:EXISTING_CATALOG_ACCOUNT_NAME) needs EXISTING_CATALOG_ACCOUNT_RESOURCE_GROUP set to the account's own resource group, not the app's ($appGroup): azd down deletes the app's resource group with everything in it. Run: azd env set -e $($env:AZURE_ENV_NAME) EXISTING_CATALOG_ACCOUNT_RESOURCE_GROUP <group of the account>"
    }
}

# step: reset-phase-two: keep DEPLOY_EVENT_SUBSCRIPTION=true only while the app has its key
if ($env:DEPLOY_EVENT_SUBSCRIPTION -ne 'true') { exit 0 }
$reason = ''
if (-not $env:AZURE_SUBSCRIPTION_ID -or -not $env:AZURE_RESOURCE_GROUP -or -not $env:AZURE_FUNCTION_APP_NAME) {
    $reason = 'this environment records no function app yet (a new or cloned environment)'
}
else {
    $errFile = New-TemporaryFile
    try {
        $state = Get-KeyState $errFile.FullName
        if ($null -eq $state) {
            [Console]::Error.WriteLine((Get-Content -Raw $errFile.FullName))
            $reason = "the key lookup of $($env:AZURE_FUNCTION_APP_NAME) in subscription $($env:AZURE_SUBSCRIPTION_ID) failed (error above; after azd down the app is gone)"
        }
        elseif ($state -ne 'string') {
            $reason = "$($env:AZURE_FUNCTION_APP_NAME) has no blobs_extension key yet (no code deployed)"
        }
    }
    finally {
        Remove-Item -Force -ErrorAction SilentlyContinue $errFile.FullName
    }
}
if ($reason) {
    Write-Output "${Hook}: $reason; setting DEPLOY_EVENT_SUBSCRIPTION=false: this provision skips the event subscriptions and the postdeploy hook creates them after the code is deployed"
    Set-PhaseTwo 'false'
}
else {
    Write-Output "${Hook}: $($env:AZURE_FUNCTION_APP_NAME) has its blobs_extension key; main.bicep keeps the event subscriptions"
}
