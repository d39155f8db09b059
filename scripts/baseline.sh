#!/usr/bin/env bash
# The reference figures: whippet-bench against a fresh release whippet-server for 1 producer,
# 1 consumer, and 1 producer + 1 consumer, with 1,000 x 1,000 B batches, under topic
# durability `never` and `always`; with the loopback (iperf3) and fdatasync (fio) limits
# measured in the same run, before and after, so ratios compare like with like.
#
# Usage:
#   scripts/baseline.sh [--batches N] [--out DIR] [--shards N]
#
#   --batches N   measured batches per actor (default 1000)
#   --out DIR     where the JSON and HTML reports go (default target/baseline/<UTC time>)
#   --shards N    server shards (default 2)
# WHIPPET_SERVER_BIN and WHIPPET_BENCH name the binaries; by default both are built (release).
# The server listens on a free 127.0.0.1 port, keeps its data under DIR, and is stopped (by
# PID) however the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."

batches=1000
out=""
shards=2
while [ $# -gt 0 ]; do
  case "$1" in
    --batches) batches=${2:?--batches needs a number}; shift 2 ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --shards) shards=${2:?--shards needs a number}; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
out=${out:-target/baseline/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
data_dir="$out"

server=${WHIPPET_SERVER_BIN:-}
bench=${WHIPPET_BENCH:-}
if [ -z "$server" ] || [ -z "$bench" ]; then
  cargo build --release --locked --quiet --bin whippet-server --bin whippet-bench
  server=${server:-target/release/whippet-server}
  bench=${bench:-target/release/whippet-bench}
fi

# shellcheck source=lib/limits.sh
. scripts/lib/limits.sh
server_pid=""
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}
trap 'stop_server; cleanup' EXIT

port=$(free_port)
address=127.0.0.1:$port
"$server" --data-dir "$out/server-data" --tcp-address "$address" --shards "$shards" --durability never \
  >"$out/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$out/server.log" && break
  kill -0 "$server_pid" 2>/dev/null || { echo "whippet-server exited:" >&2; cat "$out/server.log" >&2; exit 1; }
  sleep 0.1
done
grep -q "listening on" "$out/server.log" || { echo "whippet-server did not start" >&2; exit 1; }

echo "limits before:"
measure_iperf | tee "$out/limits-before.txt"
measure_fio | tee -a "$out/limits-before.txt"

# One unmeasured run first: on a fresh VM the first gigabyte of page cache costs page faults
# and zeroing that later runs (which reuse the pages the bench's stream deletion freed) do not
# pay, and that would land on whichever run came first.
"$bench" --address "$address" pinned-producer --producers 1 --messages-per-batch 1000 --message-size 1000 \
  --batches "$batches" >"$out/prime.txt" 2>&1 || { echo "priming run failed:" >&2; cat "$out/prime.txt" >&2; exit 1; }

runs=(
  "pinned-producer --producers 1"
  "pinned-consumer --consumers 1"
  "pinned-producer-and-consumer --producers 1 --consumers 1"
)
for durability in never always; do
  for run in "${runs[@]}"; do
    name="$(echo "$run" | cut -d' ' -f1)-$durability"
    # shellcheck disable=SC2086 # $run is the scenario and its flags
    "$bench" --address "$address" --json "$out/$name.json" --report "$out/$name.html" $run \
      --messages-per-batch 1000 --message-size 1000 --batches "$batches" --durability "$durability" \
      >"$out/$name.txt" 2>"$out/$name.err" || { echo "whippet-bench $name failed:" >&2; cat "$out/$name.err" >&2; exit 1; }
    echo "done: $name" >&2
  done
done

echo "limits after:"
measure_iperf | tee "$out/limits-after.txt"
measure_fio | tee -a "$out/limits-after.txt"

python3 - "$out" <<'PYEOF'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
print(f"\n{'run':<42} {'MB/s':>8} {'msg/s':>10} {'p50':>8} {'p90':>8} {'p99':>8} {'p99.9':>8} {'p99.99':>8} {'max':>8}  (ms)")
for durability in ("never", "always"):
    for scenario in ("pinned-producer", "pinned-consumer", "pinned-producer-and-consumer"):
        r = json.load(open(out / f"{scenario}-{durability}.json"))
        l = r["latency_ms"]
        print(f"{scenario + ' / ' + durability:<42} {r['throughput_mb_s']:>8.0f} {r['messages_per_s']:>10.0f} "
              f"{l['p50']:>8.2f} {l['p90']:>8.2f} {l['p99']:>8.2f} {l['p999']:>8.2f} {l['p9999']:>8.2f} {l['max']:>8.2f}")
PYEOF
echo "JSON, HTML reports and the server log: $out"
