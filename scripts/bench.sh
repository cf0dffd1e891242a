#!/usr/bin/env bash
# Benchmarks: build (scripts/setup.sh), run the data-path comparison with libpmemblk (pmem model
# on /dev/shm, then a disk file) and the checker/formatter scale run against pmempool, then
# regenerate docs/performance.md and docs/perf/*.png from bench/results/.
# Usage: scripts/bench.sh [--quick] [--no-build] [--build DIR] [--wait-load L]
#   --quick       smoke run (256 MiB pools, 1 repetition of 0.1 s, sizes 1G and 16G); writes
#                 bench/results/quick/ only, never docs/performance.md
#   --no-build    use an existing build (DIR/bin) instead of running scripts/setup.sh
#   --wait-load L wait (up to 30 min) until the 1-minute load average is below L
# Environment: NDTK_BENCH_DISK_DIR (default /var/tmp/ndtk-bench) for the disk-file runs.
set -euo pipefail
cd "$(dirname "$0")/.."

orig_args="$*"
quick=0; build=1; build_dir=build; wait_load=""
while (($#)); do
  case "$1" in
    --quick) quick=1 ;;
    --no-build) build=0 ;;
    --build) build_dir=$2; shift ;;
    --wait-load) wait_load=$2; shift ;;
    *) echo "usage: scripts/bench.sh [--quick] [--no-build] [--build DIR] [--wait-load L]" >&2; exit 2 ;;
  esac
  shift
done

if ((build)); then
  scripts/setup.sh "$build_dir" -DNDTK_BUILD_BENCH=ON
fi
bin="$build_dir/bin"
[ -x "$bin/ndtk_bench_datapath" ] || { echo "bench: $bin/ndtk_bench_datapath missing" >&2; exit 1; }

disk_dir=${NDTK_BENCH_DISK_DIR:-/var/tmp/ndtk-bench}
if ((quick)); then
  dp_args=(--size $((256 << 20)) --reps 1 --seconds 0.1)
  disk_args=(--size $((256 << 20)) --reps 1 --seconds 0.1)
  scale_args=(--sizes 1G,16G --reps 1)
else
  dp_args=(--size $((1 << 30)) --reps 3 --seconds 0.5)
  # Disk writes are msync-bound (milliseconds each): fewer, longer runs say as much.
  disk_args=(--size $((1 << 30)) --reps 3 --seconds 0.3)
  scale_args=(--sizes 1G,16G,64G,256G,1T,4T --reps 3)
fi

if [ -n "$wait_load" ]; then
  for _ in $(seq 180); do
    l=$(cut -d' ' -f1 /proc/loadavg)
    awk -v l="$l" -v m="$wait_load" 'BEGIN{exit !(l < m)}' && break
    echo "bench: load average $l >= $wait_load, waiting" >&2
    sleep 10
  done
fi

# A smoke run (--quick) never replaces the measured results or the page.
if ((quick)); then res=bench/results/quick; doc=$res/performance.md; plots=$res
else res=bench/results; doc=docs/performance.md; plots=docs/perf; fi
mkdir -p "$res" "$plots"
[ -f "$doc" ] || cp docs/performance.md "$doc"
rm -f "$res"/datapath-*.jsonl "$res"/scale.jsonl
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date -u +%Y-%m-%dT%H:%M:%SZ)

echo "== data path, /dev/shm, PMEM_IS_PMEM_FORCE=1" >&2
PMEM_IS_PMEM_FORCE=1 "$bin/ndtk_bench_datapath" --dir /dev/shm --medium pmem "${dp_args[@]}" \
  --out "$res/datapath-pmem.jsonl" >/dev/null
echo "== data path, disk file in $disk_dir (msync)" >&2
env -u PMEM_IS_PMEM_FORCE "$bin/ndtk_bench_datapath" --dir "$disk_dir" --medium disk \
  "${disk_args[@]}" --out "$res/datapath-disk.jsonl" >/dev/null
echo "== btt-format / btt-check / pmempool check against size ($disk_dir)" >&2
env -u PMEM_IS_PMEM_FORCE /usr/bin/python3 bench/scale.py --bin "$bin" --dir "$disk_dir" \
  "${scale_args[@]}" --out "$res/scale.jsonl" >/dev/null

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
/usr/bin/python3 - "$res/machine.json" <<EOF
import json, sys
json.dump({
  "date": "$start",
  "command": "scripts/bench.sh $orig_args",
  "cpu": "$cpu, $(nproc) cores online",
  "memory": "$(free -g | awk '/^Mem:/{print $2}') GiB",
  "kernel": "$(uname -r)",
  "pmdk": "libpmemblk $(pkg-config --modversion libpmemblk), pmempool $(pmempool --version 2>&1 | awk '{print $2}')",
  "ndtk": "$(git rev-parse --short HEAD 2>/dev/null || echo unknown) (working tree; build type $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build_dir/CMakeCache.txt"))",
  "disk directory": "$disk_dir ($(df --output=fstype "$disk_dir" | tail -1 | tr -d ' '))",
  "load average (1/5/15 min) before": "$load_before",
  "load average after": "$load_after",
}, open(sys.argv[1], "w"), indent=1)
EOF
/usr/bin/python3 bench/report.py --results "$res" --doc "$doc" --plots "$plots"
echo "bench: results in $res, $doc updated" >&2
