#!/usr/bin/env bash
# The whole test suite: the command the README names and CI runs. Rust tests first (they also
# build the server binary), then the Python SDK tests against that binary. Ends with one totals
# line, since each runner's own last line covers only its part.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?

# Python apache-iggy 0.9.0 (protocol 0.11) in a venv of its own, made once.
venv=.venv-python
if [ ! -x "$venv/bin/pytest" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check apache-iggy==0.9.0 pytest==8.3.4
fi
cargo build --locked --bin whippet-server
"$venv/bin/pytest" -q tests/python 2>&1 | tee -a "$log" || status=$?

awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     /^[0-9]+ (passed|failed)/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed,?$/) p += $(i-1); if ($(i) ~ /^failed,?$/) f += $(i-1) } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
