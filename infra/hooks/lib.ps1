# Shared by the Windows azd hooks (dot-sourced, not run; lib.sh is the POSIX twin). PowerShell 7.
# Every az call names the azd environment's subscription: az's own default may be another one.
# The caller sets $Hook (its name, for messages). Native commands are checked with $LASTEXITCODE.

# "string" once the blobs_extension key exists, "null" before: the key itself never leaves az.
# (No parentheses: az is az.cmd, which breaks on an unquoted ")"; the spaces make PowerShell quote it.)
$KeyQuery = "systemKeys.blobs_extension && 'string' || 'null'"

# Stop-Hook MESSAGE: print MESSAGE to stderr and stop the hook.
function Stop-Hook([string]$Message) {
    [Console]::Error.WriteLine($Message)
    exit 1
}

# Assert-Env NAME...: stop with a hint when one of these azd environment values is missing.
function Assert-Env([string[]]$Names) {
    foreach ($name in $Names) {
        if ([string]::IsNullOrEmpty([Environment]::GetEnvironmentVariable($name))) {
            Stop-Hook "${Hook}: $name is not set. Run the hook through azd (azd hooks run $Hook), or load the azd environment first (azd env get-values)."
        }
    }
}

# Assert-Subscription: az must be able to use AZURE_SUBSCRIPTION_ID (logged in, right tenant).
function Assert-Subscription {
    az account show --subscription $env:AZURE_SUBSCRIPTION_ID --query id -o tsv | Out-Null
    if ($LASTEXITCODE -ne 0) {
        Stop-Hook "${Hook}: az cannot use subscription $($env:AZURE_SUBSCRIPTION_ID) (AZURE_SUBSCRIPTION_ID of azd environment $($env:AZURE_ENV_NAME)); see az's error above. Run 'az login' (with --tenant <tenant id> for another tenant), then: azd hooks run $Hook"
    }
}

# Get-KeyState ERRFILE: "string" when the app has its blobs_extension key, "null" when not;
# $null with az's message in ERRFILE when the lookup itself fails.
function Get-KeyState([string]$ErrFile) {
    $state = az functionapp keys list --subscription $env:AZURE_SUBSCRIPTION_ID -g $env:AZURE_RESOURCE_GROUP `
        -n $env:AZURE_FUNCTION_APP_NAME --query $KeyQuery -o tsv 2> $ErrFile
    if ($LASTEXITCODE -ne 0) { return $null }
    return "$state".Trim()
}

# Set-PhaseTwo VALUE: record DEPLOY_EVENT_SUBSCRIPTION in the environment being deployed
# (without -e, azd writes its default environment, which may be another one).
function Set-PhaseTwo([string]$Value) {
    azd env set -e $env:AZURE_ENV_NAME DEPLOY_EVENT_SUBSCRIPTION $Value
    if ($LASTEXITCODE -ne 0) { Stop-Hook "${Hook}: azd could not set DEPLOY_EVENT_SUBSCRIPTION (error above)" }
}
