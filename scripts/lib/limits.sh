# Shared by compare.sh and baseline.sh (sourced, not run): the machine's own limits, measured
# beside the bench figures. Needs $out (where JSON goes) and $data_dir (the file system fio
# writes to) set by the caller. Installs an EXIT trap that stops iperf3 and removes fio's files.

# Processes and directories this script made, cleaned up however it ends.
iperf_pid=""
fio_dir=""
stop_iperf() {
  if [ -n "$iperf_pid" ] && kill -0 "$iperf_pid" 2>/dev/null; then
    kill "$iperf_pid" 2>/dev/null || true
  fi
  [ -z "$iperf_pid" ] || wait "$iperf_pid" 2>/dev/null || true
  iperf_pid=""
}
cleanup() {
  stop_iperf
  if [ -n "$fio_dir" ]; then rm -rf "$fio_dir"; fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Loopback TCP bandwidth, one stream, 3 s. Prints a line, or how to install iperf3.
measure_iperf() {
  if ! command -v iperf3 >/dev/null; then
    echo "iperf3: not installed (apt-get install -y iperf3); no loopback figure"
    return
  fi
  local port tries=0
  port=$(free_port)
  iperf3 -s -1 -B 127.0.0.1 -p "$port" >"$out/iperf3-server.log" 2>&1 &
  iperf_pid=$!
  # Until the server listens, the client fails at once ("unable to connect"; with -J the exit
  # status does not always say so, the JSON's "error" does).
  until iperf3 -c 127.0.0.1 -p "$port" -t 3 -J >"$out/iperf3.json" 2>/dev/null &&
    ! grep -q '"error"' "$out/iperf3.json"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 10 ]; then
      echo "iperf3: the client could not reach its server on 127.0.0.1:$port; no loopback figure"
      stop_iperf
      return
    fi
    sleep 0.3
  done
  stop_iperf # it serves one client (-1) and exits; this only reaps it
  python3 - "$out/iperf3.json" <<'PYEOF' || echo "iperf3: could not read $out/iperf3.json; no loopback figure"
import json, sys
result = json.load(open(sys.argv[1]))
bits = result["end"]["sum_received"]["bits_per_second"]
print(f"iperf3 loopback: {bits / 1e9:.1f} Gbit/s ({bits / 8e6:.0f} MB/s), 1 stream")
PYEOF
}

# 4 KiB appends with fdatasync after each, 64 MiB. Prints a line, or how to install fio.
measure_fio() {
  if ! command -v fio >/dev/null; then
    echo "fio: not installed (apt-get install -y fio); no fdatasync figure"
    return
  fi
  fio_dir=$(mktemp -d "$data_dir/whippet-compare-fio.XXXXXX")
  if fio --name=fsync --rw=write --bs=4k --size=64m --fdatasync=1 --directory="$fio_dir" \
    --output-format=json --output="$out/fio.json" >/dev/null 2>&1; then
    python3 - "$out/fio.json" <<'PYEOF' || echo "fio: could not read $out/fio.json; no fdatasync figure"
import json, sys
job = json.load(open(sys.argv[1]))["jobs"][0]
p99 = job.get("sync", {}).get("lat_ns", {}).get("percentile", {}).get("99.000000")
p99_text = f"{p99 / 1e3:.0f} us" if p99 is not None else "n/a"
print(f"fio fdatasync (4 KiB writes): {job['write']['iops']:.0f} IOPS, fdatasync p99 {p99_text}")
PYEOF
  else
    echo "fio: the run in $fio_dir failed; no fdatasync figure"
  fi
  rm -rf "$fio_dir"
  fio_dir=""
}

