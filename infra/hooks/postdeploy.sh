#!/bin/sh
# azd postdeploy hook, POSIX (postdeploy.ps1 is the Windows twin: same `# step:` list, same order;
# tests/infra/test_hooks.py compares them). Phase 2 of the deployment (docs/deploy.md, "Two phases").
#
# The Event Grid subscription to the blob trigger's webhook needs the blobs_extension system key,
# which exists only once the deployed code's host has started. So the first `azd provision` skips
# the subscriptions (DEPLOY_EVENT_SUBSCRIPTION=false); after `azd deploy` this hook waits for the
# key, deploys infra/modules/event-subscriptions.bicep with the values main.bicep output
# (EVENT_SUBSCRIPTION_PARAMETERS), and sets DEPLOY_EVENT_SUBSCRIPTION=true so every later
# `azd provision` keeps the subscriptions as part of main.bicep.
#
# Needs: az (logged in), python3. azd passes the environment's values as environment variables.
# KEY_WAIT_SECONDS / KEY_POLL_SECONDS bound the wait for the key (600 / 15).
set -eu
hook=postdeploy
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

# step: skip-when-owned: main.bicep already keeps the subscriptions (DEPLOY_EVENT_SUBSCRIPTION=true)
if [ "${DEPLOY_EVENT_SUBSCRIPTION:-false}" = "true" ]; then
    echo "$hook: event subscriptions are part of main.bicep (DEPLOY_EVENT_SUBSCRIPTION=true); nothing to do"
    exit 0
fi

# step: require-env: the azd environment values this hook reads
need AZURE_ENV_NAME AZURE_SUBSCRIPTION_ID AZURE_RESOURCE_GROUP AZURE_FUNCTION_APP_NAME \
    FUNCTION_APP_HOSTNAME CATALOG_RESOURCE_GROUP EVENT_SUBSCRIPTION_PARAMETERS

# step: check-subscription: az can use the environment's subscription
check_subscription

template="$here/../modules/event-subscriptions.bicep"
python=${PYTHON:-python3}
wait_seconds=${KEY_WAIT_SECONDS:-600}
poll_seconds=${KEY_POLL_SECONDS:-15}
err=$(mktemp)
params=$(mktemp)
trap 'rm -f "$err" "$params"' EXIT

# step: wait-for-key: poll for the blobs_extension key; show az errors, stop on permanent ones
echo "$hook: waiting up to ${wait_seconds}s for the blobs_extension key of $AZURE_FUNCTION_APP_NAME (subscription $AZURE_SUBSCRIPTION_ID)"
deadline=$(($(date +%s) + wait_seconds))
while :; do
    # A request wakes a host that scaled to zero; the answer does not matter.
    if command -v curl >/dev/null 2>&1; then
        curl -s -o /dev/null --max-time 10 "https://$FUNCTION_APP_HOSTNAME/" || true
    fi
    if state=$(key_state "$err"); then
        [ "$state" = "string" ] && break
    else
        echo "$hook: the key lookup failed:" >&2
        cat "$err" >&2
        # Wrong subscription, no access or no such app: waiting cannot fix these.
        if grep -Eq 'AuthorizationFailed|AuthenticationFailed|InvalidAuthenticationToken|ResourceNotFound|ResourceGroupNotFound|SubscriptionNotFound|az login' "$err"; then
            die "$hook: cannot read the keys of $AZURE_FUNCTION_APP_NAME in resource group $AZURE_RESOURCE_GROUP of subscription $AZURE_SUBSCRIPTION_ID (error above). Check that AZURE_SUBSCRIPTION_ID is the subscription azd deployed to and that your az login may list the app's keys, then rerun: azd hooks run $hook"
        fi
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        die "$hook: no blobs_extension key after ${wait_seconds}s for $AZURE_FUNCTION_APP_NAME (subscription $AZURE_SUBSCRIPTION_ID). Check that the deployment indexed on_catalog_blob (az functionapp function list --subscription $AZURE_SUBSCRIPTION_ID -g $AZURE_RESOURCE_GROUP -n $AZURE_FUNCTION_APP_NAME) and the host's start-up errors in Application Insights, then rerun: azd hooks run $hook"
    fi
    sleep "$poll_seconds"
done

# step: deploy-subscriptions: the module with exactly the values main.bicep would pass it
"$python" - "$params" <<'PY'
import json, os, sys

values = json.loads(os.environ["EVENT_SUBSCRIPTION_PARAMETERS"])
doc = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {name: {"value": value} for name, value in values.items()},
}
with open(sys.argv[1], "w") as fh:
    json.dump(doc, fh)
PY
# One deployment name per app: two environments on one catalog account keep separate histories.
deployment=$(printf 'evsubs-%s' "$AZURE_FUNCTION_APP_NAME" | cut -c1-64)
echo "$hook: creating the Event Grid subscriptions in resource group $CATALOG_RESOURCE_GROUP (deployment $deployment)"
az deployment group create --subscription "$AZURE_SUBSCRIPTION_ID" -g "$CATALOG_RESOURCE_GROUP" \
    -n "$deployment" --template-file "$template" --parameters "@$params" -o none ||
    die "$hook: deploying the event subscriptions failed (error above; subscription $AZURE_SUBSCRIPTION_ID, resource group $CATALOG_RESOURCE_GROUP). Fix it, then rerun: azd hooks run $hook"

# step: mark-owned: from now on main.bicep owns the subscriptions
set_phase_two true
echo "$hook: done; DEPLOY_EVENT_SUBSCRIPTION=true in environment $AZURE_ENV_NAME for later azd provision runs"
