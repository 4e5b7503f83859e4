#!/usr/bin/env python3
# Re-lay a QEMU s390x ELF vmcore the way makedumpfile reads ELF: program headers
# right after the 64-byte ELF header, no section headers, plus a VMCOREINFO note
# taken from guest memory (lowcore 0xe0c). Memory bytes are copied unchanged.
import struct, sys
src, dst = sys.argv[1], sys.argv[2]
f = open(src, 'rb')
eh = f.read(64)
phoff, = struct.unpack_from('>Q', eh, 32)
phentsize, phnum = struct.unpack_from('>HH', eh, 54)
phs = []
for i in range(phnum):
    f.seek(phoff + i * phentsize)
    phs.append(struct.unpack('>IIQQQQQQ', f.read(56)))
notes = b''
loads = []
for p in phs:
    if p[0] == 4:
        f.seek(p[2]); notes += f.read(p[5])
    elif p[0] == 1:
        loads.append(p)
def rd(pa, n):
    for p in loads:
        if p[4] <= pa and pa + n <= p[4] + p[5]:
            f.seek(p[2] + pa - p[4]); return f.read(n)
    raise SystemExit('paddr %x not in dump' % pa)
vp, = struct.unpack('>Q', rd(0xe0c, 8))
nsz, dsz, _ = struct.unpack('>III', rd(vp, 12))
text = rd(vp + 12 + ((nsz + 3) & ~3), dsz)
name = b'VMCOREINFO\0'
vnote = struct.pack('>III', len(name), len(text), 0) + name.ljust((len(name) + 3) & ~3, b'\0') + text.ljust((len(text) + 3) & ~3, b'\0')
notes += vnote
nph = 1 + len(loads)
note_off = 64 + 56 * nph
data_off = (note_off + len(notes) + 4095) & ~4095
out = open(dst, 'wb')
h = bytearray(eh)
struct.pack_into('>QQQ', h, 24, 0, 64, 0)      # e_entry, e_phoff, e_shoff
struct.pack_into('>HHHHHH', h, 52, 64, 56, nph, 64, 0, 0)
out.write(h)
out.write(struct.pack('>IIQQQQQQ', 4, 0, note_off, 0, 0, len(notes), len(notes), 0))
off = data_off
for p in loads:
    out.write(struct.pack('>IIQQQQQQ', 1, p[1], off, p[3], p[4], p[5], p[6], p[7]))
    off += p[5]
out.write(notes)
out.write(b'\0' * (data_off - out.tell()))
for p in loads:
    f.seek(p[2]); left = p[5]
    while left:
        b = f.read(min(left, 1 << 22)); out.write(b); left -= len(b)
