#!/bin/bash
# Build and run benchmarks of one or more hoist binaries, as a table of medians (seconds).
#
#   bash testdata/scripts/bench.sh [HOIST ...]      (default: target/release/hoist; root, as the tests)
#
# Cases: COPY of 10,000 small files into a new directory (the files go straight into the layer tar) and into
# an existing one (copied into the step's upper dir on all cores), each with --no-cache; a fully cached rebuild;
# `hoist run --rm busybox true`. Give two binaries (before/after a change) to compare them on one machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-5}
binaries=("$@")
[ ${#binaries[@]} -gt 0 ] || binaries=(target/release/hoist)
work=$(mktemp -d /var/tmp/hoist-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
bash testdata/scripts/busybox-rootfs.sh "$work/busybox.tar" >/dev/null
mkdir -p "$work/ctx"
for d in $(seq -w 0 99); do
  mkdir -p "$work/ctx/d$d"
  for f in $(seq -w 0 99); do echo "file $d $f" >"$work/ctx/d$d/f$f.txt"; done
done
printf 'FROM busybox\nCOPY . /app\n' >"$work/new.Dockerfile"
printf 'FROM busybox\nCOPY . /tmp\n' >"$work/existing.Dockerfile"

# The median of RUNS timings of a command.
median() {
  local times=() start end
  for _ in $(seq "$RUNS"); do
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
    end=$(date +%s%N)
    times+=($(((end - start) / 1000000)))
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p" | awk '{printf "%.3f", $1 / 1000}'
}

printf '%-40s %14s %14s %14s %14s\n' binary "COPY new dir" "COPY existing" "cached build" "run --rm true"
for hoist in "${binaries[@]}"; do
  root="$work/root"
  rm -rf "$root"
  "$hoist" --root "$root" import "$work/busybox.tar" busybox:latest >/dev/null
  new=$(median "$hoist" --root "$root" build --no-cache -q -f "$work/new.Dockerfile" -t b:new "$work/ctx")
  existing=$(median "$hoist" --root "$root" build --no-cache -q -f "$work/existing.Dockerfile" -t b:ex "$work/ctx")
  cached=$(median "$hoist" --root "$root" build -q -f "$work/new.Dockerfile" -t b:new "$work/ctx")
  run=$(median "$hoist" --root "$root" run --rm busybox true)
  printf '%-40s %14s %14s %14s %14s\n' "$hoist" "$new" "$existing" "$cached" "$run"
  rm -rf "$root"
done
