#!/bin/bash
# Push and pull of a 200 MB, 5-layer image to a local registry: hoist vs `skopeo copy` vs docker, side by side
# in one run, as a table of medians (seconds), plus hoist's no-change re-push and the peak memory of its pull.
#
#   [CONTENT=random|text] bash testdata/scripts/bench-registry.sh [HOIST]   (default: target/release/hoist; root)
#
# Needs docker-registry (Debian's CNCF distribution server); skopeo and docker columns are skipped when the tool
# is missing (docker: when `docker info` fails). Every timing starts after a `sync`. Layers are random bytes
# (CONTENT=random: incompressible, like compressed assets, which hoist stores rather than deflates) or base64 text
# (CONTENT=text: compressible, deflated at gzip's default level like docker's).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-3}
# random: incompressible layers (binaries, compressed assets); text: base64, which gzip shrinks to ~76%.
CONTENT=${CONTENT:-random}
hoist=$(realpath "${1:-target/release/hoist}")
work=$(mktemp -d /var/tmp/hoist-bench-registry.XXXXXX)
registry_pid=
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
reg=127.0.0.1:$port
# A registry with empty storage, so that every push sends every blob (no blob left by a previous run to skip or
# mount).
fresh_registry() {
  if [ -n "$registry_pid" ]; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
  fi
  rm -rf "$work/registry"
  cat >"$work/registry.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/registry}, delete: {enabled: true}}
http: {addr: $reg}
EOF
  /usr/bin/docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://$reg/v2/')" 2>/dev/null && return
    sleep 0.1
  done
  echo "docker-registry did not start" >&2
  exit 1
}
fresh_registry

# The image: busybox plus five 40 MB layers.
bash testdata/scripts/busybox-rootfs.sh "$work/busybox.tar" >/dev/null
root="$work/root"
"$hoist" --root "$root" import "$work/busybox.tar" busybox:latest >/dev/null
mkdir -p "$work/ctx"
{
  echo "FROM busybox"
  for i in 1 2 3 4 5; do
    case "$CONTENT" in
      text) echo "RUN base64 /dev/urandom | head -c 41943040 > /layer$i" ;;
      *) echo "RUN head -c 41943040 /dev/urandom > /layer$i" ;;
    esac
  done
} >"$work/ctx/Dockerfile"
"$hoist" --root "$root" build -q -t "$reg/bench/app:1" "$work/ctx" >/dev/null
"$hoist" --root "$root" save -o "$work/app.tar" "$reg/bench/app:1"

# Seconds of one run of a command, after a sync.
seconds() {
  sync
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}

# The median of a list of milliseconds, in seconds.
median() {
  printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p" | awk '{printf "%.2f", $1 / 1000}'
}

# Each push goes to an empty registry; each pull into an empty state dir. hoist compresses a layer once and
# remembers it (as the issue asks), so its first push pays for gzip and later ones do not: both are shown.
hoist_push=() hoist_pull=() hoist_repush=()
for n in $(seq "$RUNS"); do
  fresh_registry
  hoist_push+=("$(seconds "$hoist" --root "$root" push "$reg/bench/app:1")")
  hoist_repush+=("$(seconds "$hoist" --root "$root" push "$reg/bench/app:1")")
  rm -rf "$work/pull"
  hoist_pull+=("$(seconds "$hoist" --root "$work/pull" pull "$reg/bench/app:1")")
done
rm -rf "$work/pull"
peak_kb=$(/usr/bin/time -f %M "$hoist" --root "$work/pull" pull "$reg/bench/app:1" 2>&1 >/dev/null | tail -1)
rm -rf "$work/pull"

skopeo_push=() skopeo_pull=()
if command -v skopeo >/dev/null; then
  for n in $(seq "$RUNS"); do
    fresh_registry
    skopeo_push+=("$(seconds skopeo copy --dest-tls-verify=false "docker-archive:$work/app.tar" "docker://$reg/bench/app:1")")
    rm -rf "$work/skopeo-pull"
    skopeo_pull+=("$(seconds skopeo copy --src-tls-verify=false "docker://$reg/bench/app:1" "oci:$work/skopeo-pull:x")")
  done
  rm -rf "$work/skopeo-pull"
fi

docker_push=() docker_pull=()
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  docker load -i "$work/app.tar" >/dev/null
  for n in $(seq "$RUNS"); do
    fresh_registry
    docker_push+=("$(seconds docker push "$reg/bench/app:1")")
    docker rmi "$reg/bench/app:1" >/dev/null
    docker_pull+=("$(seconds docker pull "$reg/bench/app:1")")
  done
  docker rmi "$reg/bench/app:1" >/dev/null
fi

col() { if [ $# -gt 0 ]; then median "$@"; else echo "-"; fi; }
printf '%-10s %12s %12s %10s %10s\n' tool "first push" push pull re-push
printf '%-10s %12s %12s %10s %10s\n' hoist "$(col "${hoist_push[0]}")" "$(col "${hoist_push[@]}")" "$(col "${hoist_pull[@]}")" "$(col "${hoist_repush[@]}")"
printf '%-10s %12s %12s %10s %10s\n' skopeo "$(col "${skopeo_push[@]:0:1}")" "$(col "${skopeo_push[@]}")" "$(col "${skopeo_pull[@]}")" -
printf '%-10s %12s %12s %10s %10s\n' docker "$(col "${docker_push[@]:0:1}")" "$(col "${docker_push[@]}")" "$(col "${docker_pull[@]}")" -
echo "hoist pull peak RSS: $((peak_kb / 1024)) MB (image: 5 x 40 MB $CONTENT layers + busybox, $RUNS runs each)"
