#!/usr/bin/env bash
# The master's Prometheus metrics, as Prometheus scrapes them, filtered by a pattern.
#
#   scripts/metrics.sh [EXP] [PATTERN]
#
# PATTERN is a grep -E pattern (default: chimera_), e.g. 'chimera_worker_call_duration_seconds_count'.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

pattern="${2:-chimera_}"
metrics="$(curl --silent --show-error --fail-with-body "${AUTH[@]}" "${MASTER}/metrics")"
grep -E -- "$pattern" <<<"$metrics" || {
  echo "no metric matches $pattern" >&2
  exit 1
}
