# shellcheck shell=bash
# Shared by the scripts in this folder (sourced, not run): finds the master of an experiment.
#
#   EXP            the experiment folder (first argument of every script; default: .)
#   CHIMERA_URL    the master's base URL; default http://HOST:PORT from EXP/.env
#                  (CHIMERA_MASTER_HOST, default 127.0.0.1; CHIMERA_MASTER_PORT, default 8080)
#   AUTH           curl arguments with the bearer token when EXP/.env sets CHIMERA_API_TOKEN
set -euo pipefail

# The value of KEY in EXP/.env, quotes removed (the process environment wins, as in compose).
env_value() {
  local key="$1" default="$2" line value
  if [[ -n "${!key:-}" ]]; then
    printf '%s\n' "${!key}"
    return
  fi
  line="$(grep -E "^[[:space:]]*${key}=" "${EXP}/.env" 2>/dev/null | tail -n 1 || true)"
  value="${line#*=}"
  value="${value%\"}"; value="${value#\"}"
  value="${value%\'}"; value="${value#\'}"
  printf '%s\n' "${value:-$default}"
}

# The master's kind from chimera_master.yaml: aggregation or parameter-server.
master_kind() {
  local kind
  kind="$(sed -n 's/^kind:[[:space:]]*\([a-z-]*\).*/\1/p' "${EXP}/chimera_master.yaml" | head -n 1)"
  if [[ -z "$kind" ]]; then
    echo "error: no 'kind:' in ${EXP}/chimera_master.yaml" >&2
    exit 2
  fi
  printf '%s\n' "$kind"
}

EXP="${1:-.}"
if [[ ! -f "${EXP}/chimera_master.yaml" ]]; then
  echo "error: ${EXP} is not an experiment folder (no chimera_master.yaml); pass one, e.g. examples/bagging-classification" >&2
  exit 2
fi
host="$(env_value CHIMERA_MASTER_HOST 127.0.0.1)"
if [[ "$host" == "0.0.0.0" ]]; then host=127.0.0.1; fi
MASTER="${CHIMERA_URL:-http://${host}:$(env_value CHIMERA_MASTER_PORT 8080)}"
export MASTER
# curl's arguments for the experiment's CHIMERA_API_TOKEN, when it has one.
# shellcheck disable=SC2034 # used by the scripts that source this file
AUTH=()
token="$(env_value CHIMERA_API_TOKEN "")"
if [[ -n "$token" ]]; then
  # shellcheck disable=SC2034 # used by the scripts that source this file
  AUTH=(-H "Authorization: Bearer ${token}")
fi
