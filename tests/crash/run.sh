#!/usr/bin/env bash
# Long crash runs of the real server: SIGKILL under load, restart, verify (see README.md).
#
#   tests/crash/run.sh --cycles N [--durability always|interval:MS] [--seed S] [--debug]
#
# Runs both crash tests with N cycles each, or only the one for --durability. Builds the server
# and the tests in release unless --debug. --seed replays a run's random choices.
set -euo pipefail
script=$(realpath "$0")
cd "$(dirname "$script")/../.."

usage() {
    sed -n '4,7p' "$script" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

cycles="" durability="" seed="" profile=--release
while [ $# -gt 0 ]; do
    case $1 in
    --cycles) cycles=${2:-}; shift 2 || usage ;;
    --durability) durability=${2:-}; shift 2 || usage ;;
    --seed) seed=${2:-}; shift 2 || usage ;;
    --debug) profile=""; shift ;;
    -h | --help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
    esac
done

filter=""
case $durability in
"") ;;
always) filter=always_loses_nothing_acknowledged ;;
interval:*)
    ms=${durability#interval:}
    [[ $ms =~ ^[1-9][0-9]*$ ]] || { echo "--durability interval:MS needs MS > 0, not '$ms'" >&2; exit 2; }
    export WHIPPET_CRASH_INTERVAL_MS=$ms
    filter=interval_serves_nothing_corrupt_and_reports_the_loss_window
    ;;
*) echo "--durability is always or interval:MS, not '$durability'" >&2; exit 2 ;;
esac
if [ -n "$cycles" ]; then
    [[ $cycles =~ ^[1-9][0-9]*$ ]] || { echo "--cycles needs a positive number, not '$cycles'" >&2; exit 2; }
    export WHIPPET_CRASH_CYCLES=$cycles
fi
[ -z "$seed" ] || export WHIPPET_CRASH_SEED=$seed

# The tests run the whippet-server next to their own binary (target/release or target/debug).
cargo build $profile --bin whippet-server
cargo test $profile -p whippet-crash --test kill -- --nocapture $filter
