#!/bin/sh
# setup.sh CONTEXT_DIR: a directory to copy onto existing ones, and the archive of ../add-tar.
set -e
python3 "$(dirname "$0")/../add-tar/make-tar.py" "$1/t.tar"
cd "$1"
mkdir -p d/sub && echo f > d/f && echo g > d/sub/g && chmod 0700 d/sub && touch -d @1100000000 d/sub
