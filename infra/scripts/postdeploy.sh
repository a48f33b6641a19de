#!/bin/sh
# azd postdeploy hook: phase 2 of the deployment (see docs/deploy.md, "Two phases").
#
# The Event Grid subscription to the blob trigger's webhook needs the blobs_extension system key,
# which exists only once the deployed code's host has started. So the first `azd provision` skips
# the subscriptions (DEPLOY_EVENT_SUBSCRIPTION=false); after `azd deploy` this hook waits for the
# key, deploys infra/modules/event-subscriptions.bicep with the values main.bicep output
# (EVENT_SUBSCRIPTION_PARAMETERS), and sets DEPLOY_EVENT_SUBSCRIPTION=true so every later
# `azd provision` keeps the subscriptions as part of main.bicep.
#
# Needs: az (logged in), python3. azd passes the environment's values as environment variables.
set -eu

if [ "${DEPLOY_EVENT_SUBSCRIPTION:-false}" = "true" ]; then
    echo "postdeploy: event subscriptions are part of main.bicep (DEPLOY_EVENT_SUBSCRIPTION=true); nothing to do"
    exit 0
fi

: "${AZURE_RESOURCE_GROUP:?run through azd, or export the azd environment (azd env get-values)}"
: "${AZURE_FUNCTION_APP_NAME:?missing: run azd provision first}"
: "${FUNCTION_APP_HOSTNAME:?missing: run azd provision first}"
: "${CATALOG_RESOURCE_GROUP:?missing: run azd provision first}"
: "${EVENT_SUBSCRIPTION_PARAMETERS:?missing: run azd provision first}"

here=$(cd "$(dirname "$0")" && pwd)
template="$here/../modules/event-subscriptions.bicep"
python=${PYTHON:-python3}
wait_seconds=${KEY_WAIT_SECONDS:-600}
poll_seconds=${KEY_POLL_SECONDS:-15}

# 1. Wait for the blobs_extension key (never printed). A request wakes a scaled-to-zero host.
echo "postdeploy: waiting up to ${wait_seconds}s for the blobs_extension key of $AZURE_FUNCTION_APP_NAME"
waited=0
while :; do
    if command -v curl >/dev/null 2>&1; then
        curl -s -o /dev/null --max-time 10 "https://$FUNCTION_APP_HOSTNAME/" || true
    fi
    key=$(az functionapp keys list -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_FUNCTION_APP_NAME" \
        --query systemKeys.blobs_extension -o tsv 2>/dev/null || true)
    [ -n "$key" ] && break
    if [ "$waited" -ge "$wait_seconds" ]; then
        echo "postdeploy: no blobs_extension key after ${wait_seconds}s. Check that the deployment indexed" >&2
        echo "  on_catalog_blob (az functionapp function list -g $AZURE_RESOURCE_GROUP -n $AZURE_FUNCTION_APP_NAME)," >&2
        echo "  then rerun: azd hooks run postdeploy" >&2
        exit 1
    fi
    sleep "$poll_seconds"
    waited=$((waited + poll_seconds))
done
unset key

# 2. Deploy the subscription module with exactly the values main.bicep would pass it.
params=$(mktemp)
trap 'rm -f "$params"' EXIT
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

echo "postdeploy: creating the Event Grid subscriptions in resource group $CATALOG_RESOURCE_GROUP"
az deployment group create -g "$CATALOG_RESOURCE_GROUP" -n event-subscriptions \
    --template-file "$template" --parameters "@$params" -o none

# 3. From now on main.bicep owns the subscriptions (the key exists).
azd env set DEPLOY_EVENT_SUBSCRIPTION true
echo "postdeploy: done; DEPLOY_EVENT_SUBSCRIPTION=true for later azd provision runs"
