#!/bin/sh
# setup.sh CONTEXT_DIR: context files with owners, modes, times and xattrs of their own, a hardlink and a FIFO.
set -e
cd "$1"
mkdir -p d/sub && echo f > d/f && echo g > d/sub/g && ln -s f d/link && ln d/f d/hard && mkfifo d/fifo && echo top > top
chown 1000:1000 d d/f && chown 1001:1002 d/sub && chown 1003:1004 d/sub/g && chown -h 1005:1006 d/link
chown 1007:1008 top && chmod 0750 d && chmod 0700 d/sub && chmod 0604 d/f && chmod 4755 top
python3 -c "import os; os.setxattr('d/f', 'user.note', b'ctx'); os.setxattr('d/sub', 'user.dirnote', b'dx')"
touch -d @1000000000 d/f d/sub/g top d/fifo && touch -h -d @1000000000 d/link
touch -d @1100000000 d/sub && touch -d @1200000000 d
