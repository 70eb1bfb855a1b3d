#!/bin/bash
# Registry transfer benchmark: push and pull of a ~200 MB, 5-layer image to a local `docker-registry`,
# hoist vs `skopeo copy` (and docker, when a daemon answers), plus hoist's no-change re-push and its peak RSS.
#
#   bash testdata/scripts/bench-registry.sh [HOIST]        (default: target/release/hoist; as root)
#
# Note: skopeo copies compressed blobs registry to registry (nothing decompressed or unpacked); hoist's pull
# also decompresses every layer into the store and unpacks it, as docker's does.
set -euo pipefail
cd "$(dirname "$0")/../.."
hoist=$(realpath "${1:-target/release/hoist}")
work=$(mktemp -d /var/tmp/hoist-bench-registry.XXXXXX)
registry_pid=
cleanup() { [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
reg=127.0.0.1:$port
cat >"$work/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: $reg
YML
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
registry_pid=$!
for _ in $(seq 100); do python3 -c "import urllib.request; urllib.request.urlopen('http://$reg/v2/')" 2>/dev/null && break; sleep 0.1; done
export DOCKER_CONFIG=$work/docker-config HOIST_ROOT=$work/state

# The image: busybox plus five 40 MB layers (half random, half text, so gzip has some work).
bash testdata/scripts/busybox-rootfs.sh "$work/busybox.tar" >/dev/null
"$hoist" import "$work/busybox.tar" busybox:latest >/dev/null
mkdir -p "$work/ctx"
{
  echo "FROM busybox"
  for i in 1 2 3 4 5; do
    echo "RUN head -c 20000000 /dev/urandom >/layer$i.bin && seq 1 3000000 >/layer$i.txt"
  done
} >"$work/ctx/Dockerfile"
"$hoist" build -q -t "$reg/bench:v1" "$work/ctx" >/dev/null

seconds() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; e=$(date +%s%N); echo "scale=2; ($e-$s)/1000000000" | bc; }
rss_kb() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

hoist_push=$(seconds "$hoist" push -q "$reg/bench:v1")
hoist_repush=$(seconds "$hoist" push -q "$reg/bench:v1")
hoist_pull=$(HOIST_ROOT=$work/pulled seconds "$hoist" pull -q "$reg/bench:v1")
rm -rf "$work/pulled"
hoist_rss=$(HOIST_ROOT=$work/pulled rss_kb "$hoist" pull -q "$reg/bench:v1")
skopeo_push=$(seconds skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "docker://$reg/bench:v1" "docker://$reg/bench-skopeo:v1")
skopeo_pull=$(seconds skopeo copy -q --src-tls-verify=false "docker://$reg/bench:v1" "oci:$work/skopeo-layout:v1")
docker_push=n/a docker_pull=n/a
if docker info >/dev/null 2>&1; then
  docker pull -q "$reg/bench:v1" >/dev/null && docker tag "$reg/bench:v1" "$reg/bench-docker:v1"
  docker_push=$(seconds docker push -q "$reg/bench-docker:v1")
  docker rmi -f "$reg/bench:v1" "$reg/bench-docker:v1" >/dev/null 2>&1 || true
  docker_pull=$(seconds docker pull -q "$reg/bench:v1")
  docker rmi -f "$reg/bench:v1" >/dev/null 2>&1 || true
fi
printf '%-28s %10s %10s %10s\n' "case (seconds)" hoist skopeo docker
printf '%-28s %10s %10s %10s\n' "push 5x40MB (new repo)" "$hoist_push" "$skopeo_push" "$docker_push"
printf '%-28s %10s %10s %10s\n' "pull (fresh store)" "$hoist_pull" "$skopeo_pull" "$docker_pull"
printf '%-28s %10s %10s %10s\n' "re-push, no change" "$hoist_repush" - -
printf '%-28s %10s\n' "hoist pull peak RSS (KB)" "$hoist_rss"
