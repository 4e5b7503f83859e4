#!/usr/bin/env python3
# The page frames a kdump-compressed file ("KDUMP   ", makedumpfile's format)
# leaves out: in its 1st bitmap (memory present) but clear in its 2nd bitmap
# (dumped). Zero pages stay set in the 2nd bitmap (makedumpfile gives them a
# shared zero-page descriptor), so -d 31 and -d 30 list the same frames.
#
# usage: kdump-excluded.py KDUMP [MAKEDUMPFILE-REPORT]
# Prints "# dump_level N max_mapnr 0x.. excluded N runs N", then, when the
# report (makedumpfile --message-level 31 output) is given, "# counts cache N
# cache_private N user N free N hwpoison N offline N", then one run of
# excluded frames a line: "FIRST END" in hex, END exclusive.
import re, struct, sys

f = open(sys.argv[1], 'rb')
h = f.read(4096)
if h[:8] != b'KDUMP   ':
    sys.exit('%s: not a kdump-compressed file' % sys.argv[1])
version, = struct.unpack_from('>i', h, 8)
# disk_dump_header (big-endian s390x): signature[8], header_version, new_utsname
# (6 x 65 bytes), struct timeval (8-aligned), status, block_size, sub_hdr_size,
# bitmap_blocks, max_mapnr
off = ((8 + 4 + 390 + 7) & ~7) + 16
status, block_size, sub_hdr_size, bitmap_blocks, max_mapnr = struct.unpack_from('>iiiIi', h, off)
f.seek(block_size)
sub = f.read(block_size * sub_hdr_size)
dump_level, = struct.unpack_from('>i', sub, 8)
if version >= 6:
    max_mapnr, = struct.unpack_from(">Q", sub, 96)  # kdump_sub_header.max_mapnr_64
f.seek(block_size * (1 + sub_hdr_size))
bitmaps = f.read(block_size * bitmap_blocks)
half = len(bitmaps) // 2
b1, b2 = bitmaps[:half], bitmaps[half:]

def bit(b, pfn):
    return (b[pfn >> 3] >> (pfn & 7)) & 1

runs, start = [], None
for pfn in range(max_mapnr):
    ex = bit(b1, pfn) and not bit(b2, pfn)
    if ex and start is None:
        start = pfn
    elif not ex and start is not None:
        runs.append((start, pfn))
        start = None
if start is not None:
    runs.append((start, max_mapnr))
print('# dump_level %d max_mapnr 0x%x excluded %d runs %d' % (dump_level, max_mapnr, sum(e - s for s, e in runs), len(runs)))
if len(sys.argv) > 2:
    text = open(sys.argv[2], errors='replace').read()
    def count(label):
        m = re.search(re.escape(label) + r'\s*:\s*0x([0-9a-f]+)', text)
        if not m:
            sys.exit('%s: no "%s" line in the report' % (sys.argv[2], label))
        return int(m.group(1), 16)
    print('# counts cache %d cache_private %d user %d free %d hwpoison %d offline %d' % (
        count('Non-private cache pages'), count('Private cache pages'), count('User process data pages'),
        count('Free pages'), count('Hwpoison pages'), count('Offline pages')))
for s, e in runs:
    print('%x %x' % (s, e))
