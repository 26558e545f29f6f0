#!/usr/bin/env bash
# Single-row predict load on the master with wrk (apt-get install wrk), the way the original
# was measured: CONNECTIONS clients for SECONDS, then wrk's throughput and latency.
#
#   scripts/load.sh [EXP] [CONNECTIONS] [SECONDS]
#
# The body is the first row of EXP/test/X_test.csv (see predict.sh). Defaults: 32 connections,
# 10 seconds, 2 threads.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

connections="${2:-32}"
seconds="${3:-10}"
if ! command -v wrk >/dev/null 2>&1; then
  echo "error: wrk is not installed; install it (apt-get install wrk) or use cargo xtask bench" >&2
  exit 2
fi
csv="${EXP}/test/X_test.csv"
body="$(awk -F',' '
  function trim(s) { gsub(/^[ \t\r]+|[ \t\r]+$/, "", s); return s }
  NR == 1 { for (i = 1; i <= NF; i++) cols = cols (i > 1 ? "," : "") "\\\"" trim($i) "\\\"" }
  NR == 2 { for (i = 1; i <= NF; i++) vals = vals (i > 1 ? "," : "") trim($i); exit }
  END { printf "{\\\"X_pred_columns\\\": [%s], \\\"X_pred_rows\\\": [[%s]]}", cols, vals }' "$csv")"

script="$(mktemp)"
trap 'rm -f "$script"' EXIT
cat >"$script" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
${token:+wrk.headers["Authorization"] = "Bearer ${token}"}
wrk.body = "${body}"
done = function(summary, latency, requests)
  io.write(string.format("non-2xx or failed: %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
wrk --threads 2 --connections "$connections" --duration "${seconds}s" --latency \
  --script "$script" "${MASTER}/v1/chimera/$(master_kind)/predict"
