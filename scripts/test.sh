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

# Python SDK tests against that binary, one venv per SDK release, each made once (pinned):
# apache-iggy 0.9.0 speaks protocol 0.11 (VSR framing), 0.8.0 embeds Rust SDK 0.10 (legacy framing).
# tests/python/conftest.py runs only the test file that matches the venv's SDK.
python_venv() { # python_venv DIR SDK_VERSION
    local venv=$1 sdk=$2
    if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('apache-iggy') != '$sdk')" \
        2>/dev/null || [ ! -x "$venv/bin/pytest" ]; then
        rm -rf "$venv"
        python3 -m venv "$venv"
        echo '*' >"$venv/.gitignore" # the repository's .gitignore names only the first venv
        "$venv/bin/pip" install --quiet --disable-pip-version-check "apache-iggy==$sdk" pytest==8.3.4
    fi
}
python_venv .venv-python 0.9.0
python_venv .venv-python-0.8 0.8.0
# `cargo test --workspace` built the server binary already; building it again with `cargo build`
# would recompile dependencies whose features differ without the dev-dependencies.
[ -x target/debug/whippet-server ] || cargo build --locked --bin whippet-server
for venv in .venv-python .venv-python-0.8; do
    PYTHONDONTWRITEBYTECODE=1 "$venv/bin/pytest" -q --tb=short -p no:cacheprovider tests/python 2>&1 | tee -a "$log" || status=$?
done

awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     /^[0-9]+ (passed|failed|errors?)/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed,?$/) p += $(i-1); if ($(i) ~ /^(failed|errors?),?$/) f += $(i-1) } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
