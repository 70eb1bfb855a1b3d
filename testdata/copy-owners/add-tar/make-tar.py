#!/usr/bin/env python3
"""make-tar.py OUT.tar: an archive whose entries have owners, modes, times and xattrs of their own, a FIFO
(Python's tarfile leaves its device fields empty), a character device and parent directories without entries."""
import io
import struct
import sys
import tarfile

t = tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT)


def add(name, kind, mode, uid, gid, mtime, data=b'', link='', xattrs=None, dev=(0, 0)):
    i = tarfile.TarInfo(name)
    i.type, i.mode, i.uid, i.gid, i.mtime, i.linkname = kind, mode, uid, gid, mtime, link
    i.devmajor, i.devminor = dev
    i.uname = i.gname = ''
    if xattrs:
        i.pax_headers = {'SCHILY.xattr.' + k: v for k, v in xattrs.items()}
    if kind == tarfile.REGTYPE:
        i.size = len(data)
    t.addfile(i, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


# file capabilities v2: cap_net_bind_service, permitted and effective
caps = struct.pack('<IIIII', 0x02000001, 1 << 10, 0, 0, 0).decode('latin-1')
add('./', tarfile.DIRTYPE, 0o700, 1000, 1000, 1200000000)
add('./d/', tarfile.DIRTYPE, 0o750, 1001, 1002, 1100000000, xattrs={'user.dirnote': 'dx'})
add('./d/f', tarfile.REGTYPE, 0o604, 1003, 1004, 1000000000, b'f\n', xattrs={'user.note': 'tar'})
add('./d/cap', tarfile.REGTYPE, 0o755, 0, 0, 1000000000, b'c\n', xattrs={'security.capability': caps})
add('./d/hard', tarfile.LNKTYPE, 0o604, 1003, 1004, 1000000000, link='./d/f')
add('./d/link', tarfile.SYMTYPE, 0o777, 1005, 1006, 1000000000, link='f')
add('./d/fifo', tarfile.FIFOTYPE, 0o640, 1009, 1010, 1000000000)
add('./d/chr', tarfile.CHRTYPE, 0o600, 1011, 1012, 1000000000, dev=(1, 3))
add('./impl/a/b/file', tarfile.REGTYPE, 0o644, 1013, 1014, 1000000000, b'deep\n')
add('./suid', tarfile.REGTYPE, 0o4755, 1015, 1016, 1000000000, b's\n')
t.close()
