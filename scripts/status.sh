#!/usr/bin/env bash
# The master's status: kind, fit state, round and loss of a parameter-server fit, and each
# worker's health and last call.
#
#   scripts/status.sh [EXP]
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

curl --silent --show-error --fail-with-body "${AUTH[@]}" "${MASTER}/v1/chimera/status"
echo
