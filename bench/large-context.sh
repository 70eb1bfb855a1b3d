#!/bin/bash
# A large build context (issue 17): hoist beside BuildKit in one run, on a 20,000-file / ~177 MB context with
#   FROM busybox / COPY . /app / RUN ls /app | wc -l
# Rows: cold build, no-op rebuild, one file changed, one file added, one file removed (each the median of
# --runs), then (hoist only) 100 successive one-file edits: the first and the last, and hoist's peak RSS.
# Every timed build starts after a `sync`.
#
# usage: bench/large-context.sh [--runs N] [--edits N] [--only hoist] [--quick] [--keep]
#   --runs N    timed runs per row (default 3; median reported)
#   --edits N   length of the successive-edit series (default 100)
#   --only hoist   skip BuildKit
#   --quick     2,000 files instead of 20,000 (checks the script)
#   --keep      keep the work directory
# env: HOIST=path/to/hoist (default target/release/hoist), BENCH_DIR=work dir (default: new dir in /var/tmp)
# Needs root, perl, /usr/bin/time; BuildKit needs a running dockerd (`dockerd --iptables=false &`).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=3 edits=100 only_hoist=0 quick=0 keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    --edits) edits=${2:?--edits needs a number}; shift 2 ;;
    --only) [ "${2:-}" = hoist ] || { echo "large-context.sh: --only takes hoist" >&2; exit 2; }; only_hoist=1; shift 2 ;;
    --quick) quick=1; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "large-context.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

log() { echo "bench: $*" >&2; }
hoist=${HOIST:-$repo/target/release/hoist}
[ -x "$hoist" ] || { echo "large-context.sh: $hoist missing (cargo build --release -p hoist)" >&2; exit 1; }
work=${BENCH_DIR:-$(mktemp -d /var/tmp/hoist-bench-lc.XXXXXX)}
mkdir -p "$work"
export HOIST_ROOT=$work/hoist-root

have_docker=0
if [ "$only_hoist" = 0 ] && timeout 20 /usr/bin/docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  have_docker=1
fi
cleanup() {
  if [ "$have_docker" = 1 ]; then
    /usr/bin/docker image rm -f hoist-bench-lc >/dev/null 2>&1 || true
  fi
  if [ "$keep" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

base_tar=$work/busybox-rootfs.tar
bash "$repo/testdata/scripts/busybox-rootfs.sh" "$base_tar" >/dev/null
"$hoist" import "$base_tar" hoist-bench-lc-busybox:latest >/dev/null
if [ "$have_docker" = 1 ]; then
  "$hoist" save -o "$work/busybox-image.tar" hoist-bench-lc-busybox:latest
  /usr/bin/docker load -q -i "$work/busybox-image.tar" >/dev/null
fi

# The context: 200 dirs x 100 files of 4,000-13,699 bytes cut from one seeded pseudo-random block (the same
# bytes on every machine, as bench/run.sh makes them).
ctx=$work/ctx
mkdir -p "$ctx"
if [ "$quick" = 1 ]; then dirs=20; else dirs=200; fi
perl -e '
  use strict; my ($root, $dirs) = @ARGV;
  my $seed = 12345; my $block = "";
  while (length($block) < 65536 + 14000) {
    $seed = ($seed * 1103515245 + 12345) % 2147483648;
    $block .= pack("N", $seed);
  }
  my $n = 0;
  for my $d (0 .. $dirs - 1) {
    my $dir = sprintf("%s/d%03d", $root, $d);
    mkdir $dir or die "mkdir $dir: $!";
    for my $f (0 .. 99) {
      my $size = 4000 + ($n * 7919) % 9700;
      my $off = ($n * 4099) % 65536;
      open(my $fh, ">", sprintf("%s/f%05d", $dir, $n)) or die "$dir: $!";
      binmode $fh; print $fh substr($block, $off, $size); close $fh;
      $n++;
    }
  }
' "$ctx" "$dirs"
dockerfile=$work/Dockerfile
printf 'FROM hoist-bench-lc-busybox\nCOPY . /app\nRUN ls /app | wc -l\n' >"$dockerfile"
log "context: $(find "$ctx" -type f | wc -l) files, $(du -s --apparent-size -B MB "$ctx" | cut -f1)"

build() {
  local builder=$1; shift
  case $builder in
    hoist) "$hoist" build -q -t hoist-bench-lc -f "$dockerfile" "$@" "$ctx" ;;
    docker) DOCKER_BUILDKIT=1 /usr/bin/docker build --network host -q -t hoist-bench-lc -f "$dockerfile" "$@" "$ctx" ;;
  esac
}
# timed BUILDER ARGS...: one build after a sync; prints seconds
timed() {
  local builder=$1 t0 t1; shift
  sync
  t0=$EPOCHREALTIME
  build "$builder" "$@" >"$work/last.log" 2>&1 || { log "$builder build failed:"; tail -n 20 "$work/last.log" >&2; exit 1; }
  t1=$EPOCHREALTIME
  awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.3f\n", a - b }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

edit_one() { printf 'edit %s\n' "$1" >"$ctx/d000/f00000"; }
add_one() { printf 'added %s\n' "$1" >"$ctx/d001/added-$1"; }
removed=0
# removes one of the generated files (never one an earlier build lacked, so the build is no cache hit)
remove_one() { removed=$((removed + 1)); rm -f "$ctx/d002/$(printf f%05d $((200 + removed)))"; }

declare -A result
# row NAME BUILDER PREPARE [BUILD-ARGS...]: the median of $runs timed builds, each after PREPARE(i)
row() {
  local name=$1 builder=$2 prepare=$3 i times=(); shift 3
  for ((i = 1; i <= runs; i++)); do
    "$prepare" "$builder$i"
    times+=("$(timed "$builder" "$@")")
  done
  result[$name,$builder]=$(printf '%s\n' "${times[@]}" | median)
  log "$name / $builder: ${times[*]}"
}
nothing() { :; }

builders=(hoist)
[ "$have_docker" = 1 ] && builders+=(docker)
for b in "${builders[@]}"; do
  log "== $b"
  build "$b" >/dev/null 2>&1 || true
  row cold "$b" nothing --no-cache
  build "$b" >/dev/null 2>&1
  row noop "$b" nothing
  row changed "$b" edit_one
  row added "$b" add_one
  row removed "$b" remove_one
done

# hoist on a fresh state dir (the base imported untimed): nothing cached, no snapshot to start from. The
# state dirs are removed after all the rows, not between runs: ext4 skips inodes freed in the last ~35 s
# when it allocates (`recently_deleted`), so 20,000 files created right after removing 20,000 others cost
# seconds of kernel time that belong to the removal, not to the build.
fresh_times=()
for ((i = 1; i <= runs; i++)); do
  HOIST_ROOT=$work/fresh-$i "$hoist" import "$base_tar" hoist-bench-lc-busybox:latest >/dev/null
  fresh_times+=("$(HOIST_ROOT=$work/fresh-$i timed hoist)")
done
fresh=$(printf '%s\n' "${fresh_times[@]}" | median)
log "cold, fresh state dir / hoist: ${fresh_times[*]}"

# hoist: 100 successive one-file edits (each a different file, so every edit is a new delta on the last)
series=()
for ((i = 1; i <= edits; i++)); do
  f=$(printf '%s/d%03d/f%05d' "$ctx" $(( (i * 37) % dirs )) $(( ((i * 37) % dirs) * 100 + 1 )))
  printf 'series edit %s\n' "$i" >>"$f"
  series+=("$(timed hoist)")
done
first=${series[0]}
last=${series[$((edits - 1))]}
log "edit series: ${series[*]}"

# hoist's peak RSS: a cold build and a one-file edit, each under /usr/bin/time -v
peak() {
  "$@"
  /usr/bin/time -v "$hoist" build -q -t hoist-bench-lc -f "$dockerfile" ${extra:-} "$ctx" 2>&1 >/dev/null |
    awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }'
}
extra=--no-cache
peak_cold=$(peak sync)
extra=""
peak_edit=$(peak edit_one peak)

for ((i = 1; i <= runs; i++)); do rm -rf "$work/fresh-$i"; done

fmt_ratio() {
  [ -n "${2:-}" ] || { echo "–"; return; }
  awk -v h="$1" -v p="$2" -v g="$3" 'BEGIN { r = h / p; printf "%.2f× %s (≤ %s×)\n", r, (r <= g ? "✓" : "✗"), g }'
}
echo
echo "large context: $(find "$ctx" -type f | wc -l) files, median of $runs, seconds ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
echo
echo "| scenario | hoist | BuildKit | hoist/BuildKit (goal) |"
echo "| --- | ---: | ---: | ---: |"
for r in cold:"cold build (--no-cache)":0.35 noop:"no-op rebuild":0.1 changed:"one file changed":0.15 \
  added:"one file added":0.15 removed:"one file removed":0.15; do
  IFS=: read -r key title goal <<<"$r"
  echo "| $title | ${result[$key,hoist]} | ${result[$key,docker]:-–} | $(fmt_ratio "${result[$key,hoist]}" "${result[$key,docker]:-}" "$goal") |"
done
echo "| cold build, fresh state dir | $fresh | ${result[cold,docker]:-–} | $(fmt_ratio "$fresh" "${result[cold,docker]:-}" 0.35) |"
echo "| $edits successive one-file edits: first / last | $first / $last | | |"
echo "| hoist peak RSS, cold / one-file edit (MB) | $peak_cold / $peak_edit | | < 64 MB |"
