#!/usr/bin/env bash
# The whole test suite: the command the README names and CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"
