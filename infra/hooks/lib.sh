# Shared by the POSIX azd hooks (sourced, not run; lib.ps1 is the PowerShell twin).
# Every az call names the azd environment's subscription: az's own default may be another one.
# The caller sets `hook` (its name, for messages).

# "string" once the blobs_extension key exists, "null" before: the key itself never leaves az.
# (No parentheses: on Windows az is az.cmd, which breaks on an unquoted ")" in its arguments.)
KEY_QUERY="systemKeys.blobs_extension && 'string' || 'null'"

# die MESSAGE: print MESSAGE to stderr and stop the hook.
die() {
    printf '%s\n' "$*" >&2
    exit 1
}

# need NAME...: stop with a hint when one of these azd environment values is missing.
need() {
    for name in "$@"; do
        eval "value=\${$name:-}"
        [ -n "$value" ] || die "$hook: $name is not set. Run the hook through azd (azd hooks run $hook), or export the azd environment first (azd env get-values)."
    done
}

# check_subscription: az must be able to use AZURE_SUBSCRIPTION_ID (logged in, right tenant).
check_subscription() {
    az account show --subscription "$AZURE_SUBSCRIPTION_ID" --query id -o tsv >/dev/null ||
        die "$hook: az cannot use subscription $AZURE_SUBSCRIPTION_ID (AZURE_SUBSCRIPTION_ID of azd environment $AZURE_ENV_NAME); see az's error above. Run 'az login' (with --tenant <tenant id> for another tenant), then: azd hooks run $hook"
}

# key_state ERRFILE: print "string" when the app has its blobs_extension key, "null" when not;
# non-zero with az's message in ERRFILE when the lookup itself fails.
key_state() {
    az functionapp keys list --subscription "$AZURE_SUBSCRIPTION_ID" -g "$AZURE_RESOURCE_GROUP" \
        -n "$AZURE_FUNCTION_APP_NAME" --query "$KEY_QUERY" -o tsv 2>"$1"
}

# set_phase_two VALUE: record DEPLOY_EVENT_SUBSCRIPTION in the environment being deployed
# (without -e, azd writes its default environment, which may be another one).
set_phase_two() {
    azd env set -e "$AZURE_ENV_NAME" DEPLOY_EVENT_SUBSCRIPTION "$1"
}
