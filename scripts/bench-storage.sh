#!/usr/bin/env bash
# Storage append/read throughput beside the disk's own limit, measured in the same minute:
# fio (1 MiB sequential writes, fdatasync after each) runs 3 times right before and 3 times
# right after the criterion storage bench, then the ratio of `always` append MB/s to fio's.
#
# Usage: scripts/bench-storage.sh            (as root if fio or jq must be installed)
# WHIPPET_BENCH_DIR picks the file system to write to (default: $TMPDIR or /tmp).
# Every figure is in MB/s with MB = 10^6 bytes.
#
# On these VMs a buffered write into page-cache pages the host has reclaimed runs at first-touch
# speed (0.4-0.8 GB/s), into recently freed pages at several GB/s, so the first fio run after a
# quiet spell is often much slower than the next ones; each run's write latency is printed so
# the two cases can be told apart, and the ratio uses the median of the six runs.
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
  command -v "$1" >/dev/null && return
  if [ "$(id -u)" -ne 0 ]; then
    echo "$1 is missing; run as root so it can be installed with apt-get" >&2
    exit 1
  fi
  apt-get update && apt-get install -y "$2"
}
need fio fio
need jq jq

base="${WHIPPET_BENCH_DIR:-${TMPDIR:-/tmp}}"
target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
log=$(mktemp "${TMPDIR:-/tmp}/whippet-bench-storage.XXXXXX")
fio_figures=()

# Build first, so compiling does not sit between the fio runs and the bench.
cargo bench -p whippet-benches --bench storage --no-run

# One fio run: prints its MB/s, mean write latency and fdatasync p50, keeps the MB/s.
run_fio() {
  local dir out
  dir=$(mktemp -d "$base/whippet-fio.XXXXXX")
  fio --name=w --rw=write --bs=1M --size=1G --fdatasync=1 --directory="$dir" \
    --output-format=json >"$dir/fio.json"
  out=$(jq -r '[.jobs[0].write.bw_bytes / 1e6, .jobs[0].write.clat_ns.mean / 1e3,
      (.jobs[0].sync.lat_ns.percentile["50.000000"] // 0) / 1e3] | map(round) | @tsv' \
    "$dir/fio.json")
  rm -rf "$dir"
  read -r mbps write_us sync_us <<<"$out"
  printf '%s fio: %5s MB/s  (write mean %5s us, fdatasync p50 %5s us)\n' \
    "$(date -u +%T)" "$mbps" "$write_us" "$sync_us"
  fio_figures+=("$mbps")
}

echo "== fio --name=w --rw=write --bs=1M --size=1G --fdatasync=1 --directory=$base/... (x3)"
for _ in 1 2 3; do run_fio; done

echo "== $(date -u +%T) cargo bench -p whippet-benches --bench storage"
WHIPPET_BENCH_DIR="$base" cargo bench -p whippet-benches --bench storage 2>&1 | tee "$log"

echo "== fio again (x3)"
for _ in 1 2 3; do run_fio; done

# MB/s of one criterion benchmark. `all`: every byte appended over every sample's time, so
# stalls (a segment roll's fdatasync) count; `median`: the median sample's rate.
bench_mbps() {
  local dir="$target_dir/criterion/$1/$2/new"
  jq -rn --slurpfile s "$dir/sample.json" --slurpfile e "$dir/estimates.json" \
    --slurpfile b "$dir/benchmark.json" --arg how "$3" '
    $b[0].throughput.Bytes * 1e3 /
      (if $how == "all" then ($s[0].times | add) / ($s[0].iters | add)
       else $e[0].median.point_estimate end)'
}

fio=$(printf '%s\n' "${fio_figures[@]}" | sort -n | jq -s '(.[2] + .[3]) / 2')

echo
echo "== summary: MB/s (10^6 bytes), ~1 MB records (1,000 x 1,000 B), 1 GiB segments"
printf '%-30s %12s %14s\n' "" "all samples" "median sample"
for bench in append/never append/always append/always_x4 read/cached read/uncached; do
  group="storage_${bench%%/*}" name="${bench#*/}"
  printf '%-30s %12.0f %14.0f\n' "$bench" \
    "$(bench_mbps "$group" "$name" all)" "$(bench_mbps "$group" "$name" median)"
done
printf '%-30s %12s\n' "fio fdatasync runs" "${fio_figures[*]}"
printf '%-30s %12.0f\n' "fio fdatasync median" "$fio"
jq -rn --argjson a "$(bench_mbps storage_append always all)" \
  --argjson am "$(bench_mbps storage_append always median)" \
  --argjson x "$(bench_mbps storage_append always_x4 all)" \
  --argjson n "$(bench_mbps storage_append never all)" \
  --argjson nm "$(bench_mbps storage_append never median)" --argjson f "$fio" '
  "ratio always / fio:     \($a / $f * 100 | round) % (all samples), \($am / $f * 100 | round) % (median sample); target >= 80 %",
  "ratio always_x4 / fio:  \($x / $f * 100 | round) % (all samples)",
  "never / 1500 MB/s:      \($n / 1500 * 100 | round) % (all samples), \($nm / 1500 * 100 | round) % (median sample); target >= 100 %"'
echo "(uncached reads come from the page cache: the records were just written)"
echo "criterion log: $log"
