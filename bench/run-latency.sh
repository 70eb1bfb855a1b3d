#!/usr/bin/env bash
# Latency of `hoist run --rm IMAGE true`, from start to exit (goal: ≤ 25 ms; `docker run --rm img true`
# measured ≈ 320 ms on these machines). Needs root and busybox-static; uses hyperfine when installed,
# else a timed loop reporting min / median / mean / p90.
#
#   bench/run-latency.sh                 # target/release/hoist, 50 runs
#   HOIST=path/to/hoist RUNS=200 bench/run-latency.sh
set -euo pipefail
cd "$(dirname "$0")/.."
HOIST=${HOIST:-target/release/hoist}
RUNS=${RUNS:-50}
[[ -x $HOIST ]] || { echo "no $HOIST: cargo build --release -p hoist (or set HOIST=)" >&2; exit 1; }
HOIST=$(realpath "$HOIST")

root=$(mktemp -d /var/tmp/hoist-bench-XXXXXX)
trap 'rm -rf "$root"' EXIT
export HOIST_ROOT=$root
bash testdata/scripts/busybox-rootfs.sh "$root/busybox.tar" >/dev/null
"$HOIST" import "$root/busybox.tar" busybox:latest >/dev/null
# The import's writeback (the unpacked snapshot) must not land in the timed runs, as in bench/run.sh.
sync

measure() { # label, hoist args…
  local label=$1; shift
  "$HOIST" "$@" >/dev/null # warm the page cache and the snapshot
  if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 5 --runs "$RUNS" --command-name "$label" "$HOIST $*"
    return
  fi
  local times=() start end
  for ((i = 0; i < RUNS; i++)); do
    start=$(date +%s%N)
    "$HOIST" "$@" >/dev/null
    end=$(date +%s%N)
    times+=($(((end - start) / 1000)))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v label="$label" -v n="$RUNS" '
    { t[NR] = $1; sum += $1 }
    END { printf "%-34s min %6.1f ms  median %6.1f ms  mean %6.1f ms  p90 %6.1f ms  (%d runs)\n",
          label, t[1] / 1000, t[int((n + 1) / 2)] / 1000, sum / n / 1000, t[int(n * 0.9)] / 1000, n }'
}

measure "run --rm busybox true" run --rm busybox true
measure "run --rm --network none busybox true" run --rm --network none busybox true
measure "run --rm -m 64m --pids-limit 64 true" run --rm -m 64m --pids-limit 64 busybox true
if command -v ip >/dev/null && command -v iptables >/dev/null && command -v nsenter >/dev/null; then
  measure "run --rm --network bridge busybox true" run --rm --network bridge busybox true
fi
