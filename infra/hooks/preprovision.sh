#!/bin/sh
# azd preprovision hook, POSIX (preprovision.ps1 is the Windows twin: same `# step:` list).
#
# Makes `azd provision`/`azd up` safe to repeat: DEPLOY_EVENT_SUBSCRIPTION=true tells main.bicep to
# deploy the event subscriptions, which read the app's blobs_extension key; after `azd down`, or in
# a fresh clone of an environment, that app (or its key) does not exist and the provision would
# fail. So the flag is reset unless the key is there; the postdeploy hook sets it again. Resetting
# is always safe: subscriptions that exist stay (incremental deployment) and phase 2 is idempotent.
#
# It also refuses an existing catalog account in the app's own resource group: `azd down` deletes
# that group whole, and with it the user's data.
set -eu
hook=preprovision
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

# step: require-env: the environment being provisioned (on a first run azd may not have chosen
# the subscription or resource group yet; the steps below cope with that)
need AZURE_ENV_NAME

# step: guard-catalog-group: an existing catalog account must not live in the app's resource group
if [ -n "${EXISTING_CATALOG_ACCOUNT_NAME:-}" ]; then
    catalog_group=${EXISTING_CATALOG_ACCOUNT_RESOURCE_GROUP:-}
    if [ -z "$catalog_group" ] || [ "$catalog_group" = "${AZURE_RESOURCE_GROUP:-}" ]; then
        die "$hook: EXISTING_CATALOG_ACCOUNT_NAME=$EXISTING_CATALOG_ACCOUNT_NAME needs EXISTING_CATALOG_ACCOUNT_RESOURCE_GROUP set to the account's own resource group, not the app's (${AZURE_RESOURCE_GROUP:-not chosen yet}): azd down deletes the app's resource group with everything in it. Run: azd env set -e $AZURE_ENV_NAME EXISTING_CATALOG_ACCOUNT_RESOURCE_GROUP <group of the account>"
    fi
fi

# step: reset-phase-two: keep DEPLOY_EVENT_SUBSCRIPTION=true only while the app has its key
if [ "${DEPLOY_EVENT_SUBSCRIPTION:-false}" != "true" ]; then
    exit 0
fi
reason=""
if [ -z "${AZURE_SUBSCRIPTION_ID:-}" ] || [ -z "${AZURE_RESOURCE_GROUP:-}" ] || [ -z "${AZURE_FUNCTION_APP_NAME:-}" ]; then
    reason="this environment records no function app yet (a new or cloned environment)"
else
    err=$(mktemp)
    trap 'rm -f "$err"' EXIT
    if state=$(key_state "$err"); then
        [ "$state" = "string" ] || reason="$AZURE_FUNCTION_APP_NAME has no blobs_extension key yet (no code deployed)"
    else
        cat "$err" >&2
        reason="the key lookup of $AZURE_FUNCTION_APP_NAME in subscription $AZURE_SUBSCRIPTION_ID failed (error above; after azd down the app is gone)"
    fi
fi
if [ -n "$reason" ]; then
    echo "$hook: $reason; setting DEPLOY_EVENT_SUBSCRIPTION=false: this provision skips the event subscriptions and the postdeploy hook creates them after the code is deployed"
    set_phase_two false
else
    echo "$hook: $AZURE_FUNCTION_APP_NAME has its blobs_extension key; main.bicep keeps the event subscriptions"
fi
