#!/usr/bin/env bash
# Runs one whippet-bench scenario against two servers (A, then B; B first on even rounds, so
# neither always runs on a warmer machine) for several rounds, keeps every run's JSON, and
# prints each figure's median over the rounds for A and B and the ratio B/A. Beside them, the
# machine's own limits measured in the same run: iperf3 loopback bandwidth and the fio
# fdatasync rate (4 KiB writes, fdatasync after each: the ceiling of `durability always`).
#
# Usage:
#   scripts/compare.sh [--rounds N] [--out DIR] [--data-dir DIR] ADDRESS_A ADDRESS_B [--] SCENARIO [OPTIONS...]
# e.g.
#   scripts/compare.sh --rounds 5 127.0.0.1:8090 127.0.0.1:8091 pinned-producer --producers 4 --batches 500
#
#   --rounds N      rounds of A and B (default 3)
#   --out DIR       where the JSON files go (default target/compare/<UTC time>)
#   --data-dir DIR  the file system fio writes to, e.g. the servers' data directory
#                   (default: $TMPDIR or /tmp); fio uses a fresh directory under it
# SCENARIO and OPTIONS are whippet-bench's (do not pass --address or --json). WHIPPET_BENCH
# names the bench binary; by default it is built (release) from this tree.
#
# Both servers must be reachable at 127.0.0.1 addresses; this script itself listens only on
# 127.0.0.1 (iperf3) and ends only the processes it started, by PID.
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/.."

rounds=3
out=""
data_dir="${TMPDIR:-/tmp}"
usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$self" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --data-dir) data_dir=${2:?--data-dir needs a directory}; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -ge 3 ] || usage
address_a=$1 address_b=$2
shift 2
[ "${1:-}" = "--" ] && shift
[ $# -ge 1 ] || usage
case "$rounds" in '' | *[!0-9]* | 0) echo "--rounds must be a positive number" >&2; exit 2 ;; esac
for address in "$address_a" "$address_b"; do
  case "$address" in 127.0.0.1:*) ;; *) echo "address $address: only 127.0.0.1:PORT is allowed" >&2; exit 2 ;; esac
done
for argument in "$@"; do
  case "$argument" in --address|--address=*|--json|--json=*)
    echo "$argument is set by this script; leave it out" >&2; exit 2 ;;
  esac
done
command -v python3 >/dev/null || { echo "python3 is needed to read the JSON files" >&2; exit 1; }

out=${out:-target/compare/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
bench=${WHIPPET_BENCH:-}
if [ -z "$bench" ]; then
  cargo build --release --locked -p whippet-bench --quiet
  bench=target/release/whippet-bench
fi

# iperf3 and fio limits (measure_iperf, measure_fio) and cleanup of what they start.
# shellcheck source=lib/limits.sh
. scripts/lib/limits.sh

# The limits, measured in this shell (not a subshell) so the EXIT trap sees what they start.
limits="$out/limits.txt"
measure_iperf >"$limits"
measure_fio >>"$limits"
cat "$limits"

status=0
for round in $(seq 1 "$rounds"); do
  order=(a b)
  [ $((round % 2)) -eq 0 ] && order=(b a)
  for label in "${order[@]}"; do
    address=$address_a
    [ "$label" = b ] && address=$address_b
    file="$out/round-$round-$label.json"
    echo "round $round/$rounds: $label ($address)" >&2
    if ! "$bench" --address "$address" --json "$file" "$@" >"$out/round-$round-$label.txt" 2>&1; then
      echo "whippet-bench failed against $label ($address) in round $round; its output:" >&2
      cat "$out/round-$round-$label.txt" >&2
      status=1
      break 2
    fi
  done
done
[ "$status" -eq 0 ] || exit "$status"

echo
echo "whippet-bench $* — A = $address_a, B = $address_b, $rounds round(s), JSON in $out"
python3 - "$out" "$rounds" <<'PYEOF'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
load = lambda label: [json.load(open(f"{out}/round-{r}-{label}.json")) for r in range(1, rounds + 1)]
a, b = load("a"), load("b")
figures = [
    ("throughput MB/s", lambda r: r["throughput_mb_s"]),
    ("messages/s", lambda r: r["messages_per_s"]),
    ("p50 ms", lambda r: r["latency_ms"]["p50"]),
    ("p99 ms", lambda r: r["latency_ms"]["p99"]),
    ("p99.9 ms", lambda r: r["latency_ms"]["p999"]),
    ("max ms", lambda r: r["latency_ms"]["max"]),
]
print(f"{'figure':<16} {'A (median)':>12} {'B (median)':>12} {'B/A':>7}   per-round B/A")
for name, pick in figures:
    va, vb = [pick(r) for r in a], [pick(r) for r in b]
    ma, mb = statistics.median(va), statistics.median(vb)
    ratio = f"{mb / ma:.2f}" if ma else "n/a"
    rounds_text = " ".join(f"{y / x:.2f}" if x else "n/a" for x, y in zip(va, vb))
    print(f"{name:<16} {ma:>12.3f} {mb:>12.3f} {ratio:>7}   {rounds_text}")
PYEOF
cat "$limits"
