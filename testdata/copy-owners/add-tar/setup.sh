#!/bin/sh
# setup.sh CONTEXT_DIR: the archive to ADD and a plain file owned by someone else.
set -e
python3 "$(dirname "$0")/make-tar.py" "$1/t.tar"
cd "$1"
echo plain > plain.txt && chown 1000:1000 plain.txt && touch -d @1000000000 plain.txt
