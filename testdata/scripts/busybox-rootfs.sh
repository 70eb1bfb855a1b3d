#!/bin/bash
# Makes hoist's base rootfs tarball from Debian's busybox-static: /bin/busybox with every applet as a symlink,
# /etc/passwd and /etc/group with root, nobody and app (1000), and an empty /tmp: the same base the
# conformance oracle (../shared/oracle) assumes.
# usage: testdata/scripts/busybox-rootfs.sh OUT.tar     (installs busybox-static with apt-get when missing)
set -euo pipefail
out=${1:?usage: busybox-rootfs.sh OUT.tar}
if ! /bin/busybox --list >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 755 "$root"
mkdir -p "$root/bin" "$root/etc" "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\napp:x:1000:\n' >"$root/etc/group"
tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$out" .
echo "$out"
