# azd postdown hook, Windows/PowerShell 7 (postdown.sh is the POSIX twin: same `# step:` list).
# `azd down` deleted the app: the next `azd up` must start again at phase 1 (docs/deploy.md).
$Hook = 'postdown'
. (Join-Path $PSScriptRoot 'lib.ps1')

# step: require-env: the environment that was taken down
Assert-Env @('AZURE_ENV_NAME')

# step: reset-phase-two: the app and its key are gone
Set-PhaseTwo 'false'
Write-Output "${Hook}: DEPLOY_EVENT_SUBSCRIPTION=false in environment $($env:AZURE_ENV_NAME); the next azd up creates the event subscriptions after deploying the code"
