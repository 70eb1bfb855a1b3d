#!/bin/bash
# The whole test suite: unit and integration tests (real containers: run as root), then the conformance suites
# from ../shared when they are there. One release build (the tests') is shared by everything.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
# The crash test kills a build at 24 random points instead of 6 (about a minute more).
export HOIST_SLOW_TESTS=${HOIST_SLOW_TESTS:-1}
# `cargo test` builds the hoist binary too (the integration tests run it): a separate `cargo build` first would
# compile most dependencies twice, as dev-dependencies change their features.
cargo test --release --workspace
hoist=$CARGO_TARGET_DIR/release/hoist
shared=../shared
if [ -d "$shared/conformance" ]; then
  echo "== parser conformance (../shared/conformance)"
  python3 "$shared/conformance/run.py" --hoist "$hoist"
fi
if [ -d "$shared/oracle" ]; then
  echo "== build oracle (../shared/oracle)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # The cases are recorded from a git checkout (umask 022: 0644/0755). A read-only copy of shared/ (0444/0555)
  # would change every copied mode, so build from a copy with the owner's write bit back, as a checkout has it.
  cp -r "$shared/oracle/cases" "$work/cases" && chmod -R u+w "$work/cases"
  bash testdata/scripts/busybox-rootfs.sh "$work/busybox.tar" >/dev/null
  # copy-symlink-kept needs symlinks in its context; where shared/ holds them as plain files (a checkout without
  # symlink support) the case cannot pass and is left out.
  cases=()
  for c in "$work"/cases/*/; do
    if [ "$(basename "$c")" = copy-symlink-kept ] && [ ! -L "$c/context/link" ]; then
      echo "SKIP copy-symlink-kept: its context's symlinks are plain files in this copy of shared/"
      continue
    fi
    cases+=("$c")
  done
  HOIST_ROOT="$work/root" HOIST="$hoist" BASE_TAR="$work/busybox.tar" \
    bash "$shared/oracle/check.sh" "${cases[@]}" | grep -v '^PASS'
fi
