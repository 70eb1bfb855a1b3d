#!/bin/sh
# setup.sh CONTEXT_DIR: writes odd.tar into the context.
set -e
python3 "$(dirname "$0")/make-tar.py" "$1/odd.tar"
