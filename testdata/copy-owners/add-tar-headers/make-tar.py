#!/usr/bin/env python3
"""make-tar.py OUT.tar: header fields that Go's archive/tar (so Docker's untar) reads and the `tar` crate alone
does not: empty or NUL/space-padded numbers, base-256 owners, PAX uid/gid/mtime records, sizes that are
empty or given to a directory (which Go reads no data for)."""
import io
import sys
import tarfile


def entry(name, kind, mode=0o644, uid=0, gid=0, mtime=1000000000, data=b'', dev=(0, 0), pax=None):
    i = tarfile.TarInfo(name)
    i.type, i.mode, i.uid, i.gid, i.mtime = kind, mode, uid, gid, mtime
    i.devmajor, i.devminor = dev
    i.uname = i.gname = ''
    if pax:
        i.pax_headers = pax
    if kind == tarfile.REGTYPE:
        i.size = len(data)
    return i, data


FIELDS = {'size': (124, 12), 'mode': (100, 8), 'uid': (108, 8), 'gid': (116, 8), 'mtime': (136, 12),
          'devmajor': (329, 8), 'devminor': (337, 8)}
entries = [
    (entry('fifo', tarfile.FIFOTYPE, 0o640), {}),  # Python writes its device fields empty
    (entry('chr', tarfile.CHRTYPE, 0o600, dev=(1, 3)), {'devmajor': b'      1 ', 'devminor': b'\0\0\0\0\0\x003\0'}),
    (entry('blk', tarfile.BLKTYPE, 0o600, dev=(7, 0)), {'devminor': b'\0' * 8}),
    (entry('big', tarfile.REGTYPE, 0o644, data=b'big\n'),
     {'uid': b'\x80\0\0\0\0\x2d\xc6\xc0', 'gid': b'\x80\0\0\0\0\x2d\xc6\xc1'}),  # 3000000, 3000001
    (entry('pax', tarfile.REGTYPE, 0o644, data=b'pax\n',
           pax={'uid': '2500000', 'gid': '2600000', 'mtime': '1100000000.5'}), {}),
    (entry('nosize', tarfile.DIRTYPE, 0o755), {'size': b''}),
    (entry('dirsize', tarfile.DIRTYPE, 0o750), {'size': b'00000001000'}),
    (entry('dirsize/f', tarfile.REGTYPE, 0o644, data=b'in dirsize\n'), {'size': b' 13'}),
    (entry('padded', tarfile.REGTYPE, 0o644, uid=1000, gid=1000, data=b'padded\n'),
     {'mode': b' 0000640', 'uid': b'   1751 ', 'mtime': b'\0' * 12}),
]
buf = io.BytesIO()
t = tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT)
for (info, data), _ in entries:
    t.addfile(info, io.BytesIO(data) if data else None)
t.close()
raw = bytearray(buf.getvalue())
patches = {info.name: p for (info, _), p in entries}
for off in range(0, len(raw), 512):
    name = raw[off:off + 100].split(b'\0')[0].decode('latin-1')
    if name not in patches or raw[off + 156:off + 157] == b'x' or not patches[name]:
        continue
    for field, value in patches[name].items():
        start, size = FIELDS[field]
        raw[off + start:off + start + size] = value.ljust(size, b'\0')
    raw[off + 148:off + 156] = b' ' * 8
    raw[off + 148:off + 156] = b'%06o\0 ' % sum(raw[off:off + 512])
    patches[name] = None
open(sys.argv[1], 'wb').write(raw)
