#!/usr/bin/env bash
# Fits an experiment through its master, as the original's users did with curl.
#
#   scripts/fit.sh [EXP]
#
# Prints the master's answer: {"fit":"ok","workers":[...],...}. Exit status 0 on success,
# 22 when the master answered an error (the error JSON is printed).
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

curl --silent --show-error --fail-with-body "${AUTH[@]}" -X POST "${MASTER}/v1/chimera/$(master_kind)/fit"
echo
