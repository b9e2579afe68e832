#!/usr/bin/env bash
# Cold start to /readyz (empty and demo database), idle memory with the demo loaded, binary size.
#
# Run: bash bench/startup.sh        (builds the release binary first)
# Figures go to docs/benchmarks.md by hand, with the machine and the date.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p wuwei-cli --bin wuwei >/dev/null 2>&1
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/release/wuwei"
runs=${RUNS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Milliseconds from exec to the first 200 from /readyz.
time_to_ready() {
  local dir=$1 p; p=$(port)
  local t0; t0=$(date +%s%N)
  "$bin" serve --listen "127.0.0.1:$p" --data-dir "$dir" >/dev/null 2>&1 &
  pid=$!
  until curl -fs "http://127.0.0.1:$p/readyz" >/dev/null 2>&1; do sleep 0.002; done
  local t1; t1=$(date +%s%N)
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  echo $(( (t1 - t0) / 1000000 ))
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "binary: $(stat -c %s "$bin" | awk '{printf "%.1f MB", $1/1048576}') ($bin)"

# Empty database: each run starts from nothing, so migrations run every time.
empty=$(for i in $(seq "$runs"); do rm -rf "$work/empty"; time_to_ready "$work/empty"; done | median)
echo "cold start to /readyz, empty database (creates and migrates it): ${empty} ms (median of $runs)"

"$bin" demo --no-serve --data-dir "$work/demo" >/dev/null 2>&1
demo=$(for i in $(seq "$runs"); do time_to_ready "$work/demo"; done | median)
echo "cold start to /readyz, demo database: ${demo} ms (median of $runs)"

# Idle memory: the server on the demo database after a dispatcher's first page loads.
p=$(port)
"$bin" serve --listen "127.0.0.1:$p" --data-dir "$work/demo" >/dev/null 2>&1 &
pid=$!
until curl -fs "http://127.0.0.1:$p/readyz" >/dev/null 2>&1; do sleep 0.01; done
token=$(curl -fs -X POST "http://127.0.0.1:$p/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"username":"admin","password":"wuwei-demo"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
town=$(curl -fs "http://127.0.0.1:$p/api/v1/towns" -H "authorization: Bearer $token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
for path in "/" "/api/v1/me" "/api/v1/towns/$town/region-tree" "/api/v1/towns/$town/regions.geojson?kind=natural_village" \
            "/api/v1/towns/$town/regions.geojson?kind=grid" "/api/v1/households?page_size=200" "/api/v1/users?page_size=200" \
            "/api/v1/locate?lat=37.73&lon=117.23"; do
  curl -fs "http://127.0.0.1:$p$path" -H "authorization: Bearer $token" >/dev/null
done
sleep 5
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
hwm_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
echo "resident memory at idle with the demo loaded: $((rss_kb / 1024)) MB (peak $((hwm_kb / 1024)) MB)"
