#!/bin/sh
# azd postdown hook, POSIX (postdown.ps1 is the Windows twin: same `# step:` list).
# `azd down` deleted the app: the next `azd up` must start again at phase 1 (docs/deploy.md).
set -eu
hook=postdown
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

# step: require-env: the environment that was taken down
need AZURE_ENV_NAME

# step: reset-phase-two: the app and its key are gone
set_phase_two false
echo "$hook: DEPLOY_EVENT_SUBSCRIPTION=false in environment $AZURE_ENV_NAME; the next azd up creates the event subscriptions after deploying the code"
