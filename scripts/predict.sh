#!/usr/bin/env bash
# Predicts one row of a CSV through the master: the header gives X_pred_columns, line ROW
# (1 = the first data row) gives X_pred_rows.
#
#   scripts/predict.sh [EXP] [CSV] [ROW]
#
# CSV defaults to EXP/test/X_test.csv, ROW to 1. Prints the master's answer.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

csv="${2:-${EXP}/test/X_test.csv}"
row="${3:-1}"
if [[ ! -f "$csv" ]]; then
  echo "error: $csv does not exist; pass a CSV whose header names the feature columns" >&2
  exit 2
fi
if ! [[ "$row" =~ ^[1-9][0-9]*$ ]]; then
  echo "error: ROW=$row is invalid: must be a whole number >= 1 (1 = the first data row)" >&2
  exit 2
fi

# {"X_pred_columns": ["a","b"], "X_pred_rows": [[1.0,2.0]]} from the header and one line.
body="$(awk -F',' -v want="$((row + 1))" '
  function trim(s) { gsub(/^[ \t\r]+|[ \t\r]+$/, "", s); return s }
  NR == 1 { for (i = 1; i <= NF; i++) cols = cols (i > 1 ? "," : "") "\"" trim($i) "\"" }
  NR == want { for (i = 1; i <= NF; i++) vals = vals (i > 1 ? "," : "") trim($i); found = 1 }
  END {
    if (!found) { print "error: the CSV has no data row " (want - 1) > "/dev/stderr"; exit 2 }
    printf "{\"X_pred_columns\": [%s], \"X_pred_rows\": [[%s]]}", cols, vals
  }' "$csv")"

curl --silent --show-error --fail-with-body "${AUTH[@]}" -X POST "${MASTER}/v1/chimera/$(master_kind)/predict" \
  -H 'content-type: application/json' -d "$body"
echo
