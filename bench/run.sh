#!/bin/bash
# hoist's benchmarks (GitHub issue #5): the same scenarios against hoist and, when they are installed and
# working, BuildKit (`DOCKER_BUILDKIT=1 docker build`) and `buildah bud --isolation chroot --layers`.
# Prints a markdown table of medians and hoist/peer ratios. Runs with hoist alone (peers skipped with a note).
#
# usage: bench/run.sh [--runs N] [--only hoist|docker|buildah]... [--quick] [--keep]
#   --runs N   timed runs per scenario (default 3; the median is reported)
#   --only P   run only these builders (repeatable; default: every one that works here)
#   --quick    a 2,000-file / 18 MB context instead of 20,000 files / 177 MB (a smoke test of this script)
#   --keep     keep the work directory (contexts, hoist state) for a look afterwards
# env: HOIST=path/to/hoist (default: target/release/hoist, built with cargo when missing)
#      BENCH_DIR=dir to work in (default: a new directory under /var/tmp; needs ~1 GB free)
#
# Needs root (hoist and buildah run containers), perl (Debian's perl-base) and busybox-static (installed by
# testdata/scripts/busybox-rootfs.sh when missing). Every builder builds from the same busybox base image.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=3
only=()
quick=0
keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    --only) only+=("${2:?--only needs hoist, docker or buildah}"); shift 2 ;;
    --quick) quick=1; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $runs in ''|*[!0-9]*|0) echo "bench/run.sh: --runs takes a positive number, not $runs" >&2; exit 2 ;; esac

log() { echo "bench: $*" >&2; }
wanted() { [ ${#only[@]} -eq 0 ] && return 0; local o; for o in "${only[@]}"; do [ "$o" = "$1" ] && return 0; done; return 1; }

# ---- builders -------------------------------------------------------------------------------------------

hoist=${HOIST:-$repo/target/release/hoist}
if [ ! -x "$hoist" ]; then
  log "building $hoist (cargo build --release -p hoist)"
  (cd "$repo" && cargo build --release -p hoist >&2)
fi

work=${BENCH_DIR:-$(mktemp -d /var/tmp/hoist-bench.XXXXXX)}
mkdir -p "$work"
cleanup() {
  if wanted docker && [ "${have_docker:-0}" = 1 ]; then
    /usr/bin/docker image rm -f $(/usr/bin/docker image ls -q --filter reference='hoist-bench-*' 2>/dev/null) \
      >/dev/null 2>&1 || true
  fi
  if [ "${have_buildah:-0}" = 1 ]; then
    buildah rmi -f $(buildah images -q --filter reference='hoist-bench-*' 2>/dev/null) >/dev/null 2>&1 || true
  fi
  if [ "$keep" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

builders=()
notes=()
have_docker=0
have_buildah=0
if wanted hoist; then builders+=(hoist); fi
if wanted docker; then
  if [ -x /usr/bin/docker ] && timeout 20 /usr/bin/docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    have_docker=1; builders+=(docker)
  else
    notes+=("BuildKit skipped: /usr/bin/docker is missing or no Docker daemon answers.")
  fi
fi
if wanted buildah; then
  if command -v buildah >/dev/null 2>&1 && buildah --version >/dev/null 2>&1; then
    have_buildah=1; builders+=(buildah)
  else
    notes+=("buildah skipped: not installed.")
  fi
fi
[ ${#builders[@]} -gt 0 ] || { echo "bench/run.sh: no builder to run" >&2; exit 1; }

# One base image for everyone: hoist imports busybox, the others load hoist's docker-archive of it.
export HOIST_ROOT=$work/hoist-root
base_tar=$work/busybox-rootfs.tar
bash "$repo/testdata/scripts/busybox-rootfs.sh" "$base_tar" >/dev/null
"$hoist" import "$base_tar" hoist-bench-busybox:latest >/dev/null
if [ "$have_docker" = 1 ] || [ "$have_buildah" = 1 ]; then
  "$hoist" save -o "$work/busybox-image.tar" hoist-bench-busybox:latest
fi
if [ "$have_docker" = 1 ]; then /usr/bin/docker load -q -i "$work/busybox-image.tar" >/dev/null; fi
if [ "$have_buildah" = 1 ]; then
  buildah pull -q "docker-archive:$work/busybox-image.tar" >/dev/null
  buildah tag "$(buildah images -q --filter reference='*hoist-bench-busybox*' | head -n1)" hoist-bench-busybox:latest \
    >/dev/null 2>&1 || true
fi

# build BUILDER TAG CONTEXT DOCKERFILE [--no-cache]
build() {
  local builder=$1 tag=$2 ctx=$3 dockerfile=$4; shift 4
  case $builder in
    hoist) "$hoist" build -q -t "$tag" -f "$dockerfile" "$@" "$ctx" ;;
    docker) DOCKER_BUILDKIT=1 /usr/bin/docker build -q -t "$tag" -f "$dockerfile" "$@" "$ctx" ;;
    buildah) buildah bud --isolation chroot --layers -q -t "$tag" -f "$dockerfile" "$@" "$ctx" ;;
  esac
}

# ---- contexts ---------------------------------------------------------------------------------------------

small=$work/ctx-small
mkdir -p "$small"
printf 'one\n' >"$small/a.txt"
printf 'two\n' >"$small/b.txt"
cat >"$small/Dockerfile.5step" <<'EOF'
FROM hoist-bench-busybox
RUN echo step1 > /s1
COPY a.txt /app/a.txt
RUN echo step3 > /s3 && cat /app/a.txt > /s3b
COPY b.txt /app/b.txt
RUN echo step5 > /s5
EOF
{
  for i in 1 2 3 4 5 6; do
    printf 'FROM hoist-bench-busybox AS s%s\nRUN sleep 1 && echo %s > /out%s\n\n' "$i" "$i" "$i"
  done
  printf 'FROM hoist-bench-busybox\n'
  for i in 1 2 3 4 5 6; do printf 'COPY --from=s%s /out%s /out%s\n' "$i" "$i" "$i"; done
} >"$small/Dockerfile.stages"

# The big context: 200 dirs x 100 files, sizes 4,000-13,699 bytes (mean 8,850: 177 MB in all at 20,000 files),
# contents cut from one seeded pseudo-random block, so every run on every machine makes the same bytes.
big=$work/ctx-big
mkdir -p "$big"
if [ "$quick" = 1 ]; then dirs=20; else dirs=200; fi
log "making the context ($((dirs * 100)) files) in $big"
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
' "$big" "$dirs"
printf 'FROM hoist-bench-busybox\nCOPY . /app\n' >"$work/Dockerfile.big"
log "context: $(find "$big" -type f | wc -l) files, $(du -s --apparent-size -B MB "$big" | cut -f1)"

# ---- timing -----------------------------------------------------------------------------------------------

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A result
# measure SCENARIO BUILDER PREPARE-FN BUILD-ARGS...: runs PREPARE-FN then times one build, $runs times.
measure() {
  local scenario=$1 builder=$2 prepare=$3; shift 3
  local times=() i t0 t1
  for ((i = 1; i <= runs; i++)); do
    "$prepare" "$i"
    # Flush what setup and earlier runs left dirty (the generated context, the last build's layers), so that
    # no run pays for another's writeback.
    sync
    t0=$EPOCHREALTIME # no fork: a subshell and `date` would add a few ms to every timed run
    if ! build "$builder" "$@" >"$work/last-build.log" 2>&1; then
      log "$builder failed on $scenario:"; tail -n 20 "$work/last-build.log" >&2
      result[$scenario,$builder]=failed
      return
    fi
    t1=$EPOCHREALTIME
    times+=("$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.6f", a - b }')")
  done
  result[$scenario,$builder]=$(printf '%s\n' "${times[@]}" | median)
  log "$scenario / $builder: median $(printf '%.3f' "${result[$scenario,$builder]}") s of ${times[*]}"
}

nothing() { :; }
change_one_file() { printf 'changed in run %s\n' "$1" >"$big/d000/f00000"; }

scenarios=(noop5 noopbig onechanged stages cold5)
declare -A title goal
title[noop5]="no-op rebuild, 5-step Dockerfile"; goal[noop5]=0.1
title[noopbig]="no-op rebuild, $((dirs * 100))-file context, COPY . /app"; goal[noopbig]=0.1
title[onechanged]="same, one file's content changed"; goal[onechanged]=0.25
title[stages]="six independent sleep 1 stages, COPY --from (--no-cache)"; goal[stages]=0.6
title[cold5]="cold build (--no-cache), 5-step Dockerfile"; goal[cold5]=0.5

for b in "${builders[@]}"; do
  log "== $b"
  # Warm the cache once; the timed no-op runs must then hit it.
  build "$b" hoist-bench-5step "$small" "$small/Dockerfile.5step" >/dev/null 2>&1 || true
  measure noop5 "$b" nothing hoist-bench-5step "$small" "$small/Dockerfile.5step"
  change_one_file 0
  build "$b" hoist-bench-big "$big" "$work/Dockerfile.big" >/dev/null 2>&1 || true
  measure noopbig "$b" nothing hoist-bench-big "$big" "$work/Dockerfile.big"
  measure onechanged "$b" change_one_file hoist-bench-big "$big" "$work/Dockerfile.big"
  measure stages "$b" nothing hoist-bench-stages "$small" "$small/Dockerfile.stages" --no-cache
  measure cold5 "$b" nothing hoist-bench-5step "$small" "$small/Dockerfile.5step" --no-cache
done

# ---- report -----------------------------------------------------------------------------------------------

fmt() { case $1 in ''|failed) echo "${1:-–}" ;; *) printf '%.3f' "$1" ;; esac; }
ratio() {
  case "$1$2" in *failed*) echo "–"; return ;; esac
  [ -n "$1" ] && [ -n "$2" ] || { echo "–"; return; }
  awk -v h="$1" -v p="$2" -v g="${3:-}" 'BEGIN {
    if (p <= 0) { print "–"; exit }
    r = h / p; mark = ""
    if (g != "") mark = (r <= g) ? " ✓" : " ✗"
    printf "%.2f×%s\n", r, mark }'
}

echo
echo "hoist benchmarks: median of $runs runs, seconds ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
echo
header="| scenario | hoist |"
rule="| --- | ---: |"
have_peer=0
for b in "${builders[@]}"; do
  case $b in
    docker) header+=" BuildKit | hoist/BuildKit (goal) |"; rule+=" ---: | ---: |"; have_peer=1 ;;
    buildah) header+=" buildah | hoist/buildah |"; rule+=" ---: | ---: |"; have_peer=1 ;;
  esac
done
[ "$have_peer" = 1 ] || { header+=" goal vs BuildKit |"; rule+=" ---: |"; }
echo "$header"
echo "$rule"
for s in "${scenarios[@]}"; do
  h=${result[$s,hoist]:-}
  line="| ${title[$s]} | $(fmt "$h") |"
  for b in "${builders[@]}"; do
    case $b in
      docker) line+=" $(fmt "${result[$s,docker]:-}") | $(ratio "$h" "${result[$s,docker]:-}" "${goal[$s]}") (≤ ${goal[$s]}×) |" ;;
      buildah) line+=" $(fmt "${result[$s,buildah]:-}") | $(ratio "$h" "${result[$s,buildah]:-}") |" ;;
    esac
  done
  [ "$have_peer" = 1 ] || line+=" ≤ ${goal[$s]}× |"
  echo "$line"
done
for n in "${notes[@]}"; do echo; echo "Note: $n"; done
