#!/bin/bash
# Records expected.txt and times.txt of each given case with real BuildKit (Docker 20.10's `docker build`), as
# cli/tests/build_copy_owners.rs compares them with hoist's build of the same case.
# usage: [IMGFS=../shared/oracle/imgfs.py] record.sh CASE_DIR...
# Needs a running dockerd with busybox:latest (`docker import busybox.tar busybox:latest`, the tar made by
# testdata/scripts/busybox-rootfs.sh), Debian's docker client at /usr/bin/docker, root (setup.sh chowns, mknods).
# A case: Dockerfile; prefixes (the paths compared); optional setup.sh CONTEXT_DIR (makes the rest of the
# context) and image.Dockerfile (built first as copy-owners-src, for COPY --from=IMAGE).
# expected.txt: one line per path below a prefix, as imgfs.py prints it (type, mode, owner, size, sha256).
# times.txt: one line per path: its mtime (src1/src2/src3 for 1000000000/1100000000/1200000000, `now` for the
# time of the build, else @SECONDS) and the names of the xattrs the layer carries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
IMGFS=${IMGFS:-$here/../../../shared/oracle/imgfs.py}
D=/usr/bin/docker
export DOCKER_BUILDKIT=1
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for c in "$@"; do
  c=$(cd "$c" && pwd); ctx=$work/ctx; rm -rf "$ctx"; mkdir "$ctx"
  cp "$c/Dockerfile" "$ctx/"
  [ -f "$c/setup.sh" ] && sh "$c/setup.sh" "$ctx"
  if [ -f "$c/image.Dockerfile" ]; then
    mkdir -p "$work/empty"; $D build -q -t copy-owners-src -f "$c/image.Dockerfile" "$work/empty" >/dev/null
  fi
  $D build -q --no-cache -t copy-owners-case "$ctx" >/dev/null
  $D save -o "$work/img.tar" copy-owners-case
  read -ra prefixes < "$c/prefixes"
  python3 "$IMGFS" "$work/img.tar" | python3 -c '
import sys
prefixes = sys.argv[1:]
for line in sys.stdin:
    path = line.split(" ", 1)[0]
    if any(path == p or path.startswith(p + "/") for p in prefixes):
        sys.stdout.write(line)' "${prefixes[@]}" > "$c/expected.txt"
  python3 - "$work/img.tar" "${prefixes[@]}" > "$c/times.txt" <<'PY'
import io, json, posixpath, sys, tarfile, time
img = tarfile.open(sys.argv[1])
prefixes = sys.argv[2:]
entries = {}
for layer in json.load(img.extractfile('manifest.json'))[0]['Layers']:
    for m in tarfile.open(fileobj=io.BytesIO(img.extractfile(layer).read())):
        path = posixpath.normpath('/' + m.name)
        if not posixpath.basename(path).startswith('.wh.'):
            entries[path] = m
now = time.time()
named = {1000000000: 'src1', 1100000000: 'src2', 1200000000: 'src3'}
for path in sorted(entries):
    if any(path == p or path.startswith(p + '/') for p in prefixes):
        m = entries[path]
        when = named.get(int(m.mtime)) or ('now' if abs(now - m.mtime) < 3600 else '@%d' % m.mtime)
        names = sorted(k[len('SCHILY.xattr.'):] for k in m.pax_headers if k.startswith('SCHILY.xattr.'))
        print(' '.join([path, when] + names))
PY
  $D rmi copy-owners-case >/dev/null
  echo "recorded $(basename "$c")"
done
