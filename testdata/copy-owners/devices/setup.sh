#!/bin/sh
# setup.sh CONTEXT_DIR: a device node, a FIFO and a file with capabilities and a user xattr in the context.
set -e
cd "$1"
mknod chr c 1 3 && chmod 0640 chr && mkfifo fifo && echo c > cap
python3 -c "import os, struct
os.setxattr('cap', 'security.capability', struct.pack('<IIIII', 0x02000001, 1 << 10, 0, 0, 0))
os.setxattr('cap', 'user.x', b'1')"
