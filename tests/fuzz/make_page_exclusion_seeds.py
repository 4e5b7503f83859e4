#!/usr/bin/env python3
# Writes the seeds of fuzz_page_exclusion (run from the source root):
# tests/fuzz/corpus/fuzz_page_exclusion/synthetic-d{16,31}. The layout is
# test_page_exclusion's synthetic guest: a region-third swapper_pg_dir ->
# segment table -> page table -> struct pages at 8 MiB for a 16 MiB section,
# a few struct pages of each kind (cache, private cache, anon, an order-3 free
# block, slab, offline, an order-4 compound page). Input format: see the top
# of fuzz_page_exclusion.cpp.
import struct

R3, SEG, PT, MEMMAP = 0x100000, 0x104000, 0x108000, 0x800000
VMEMMAP = 0x3c0000000
HM, SECT, ROOTS = 0x10000, 0x10100, 0x10200
mem = {}


def put(a, b):
    for i, x in enumerate(b):
        mem[a + i] = x


def p64(a, v):
    put(a, struct.pack('>Q', v))


def p32(a, v):
    put(a, struct.pack('>I', v))


p64(R3, 0x20 | 4)  # entry 0 invalid, TT=01
p64(R3 + ((VMEMMAP >> 31) & 0x7ff) * 8, SEG | 4 | 3)
p64(SEG + ((VMEMMAP >> 20) & 0x7ff) * 8, PT)
for i in range(64):
    p64(PT + i * 8, MEMMAP + i * 4096)
p64(HM, 16 << 20)
p64(ROOTS, SECT)
p64(SECT, VMEMMAP | 3)


def page(pfn, flags, mapping=0, mapcount=0xffffffff, priv=0):
    a = MEMMAP + pfn * 64
    p64(a, flags)
    p64(a + 24, mapping)
    p32(a + 48, mapcount)
    p64(a + 40, priv)


for pfn in range(0, 64):
    page(pfn, 0)
page(1, 1 << 4, 0x5000)
page(2, (1 << 4) | (1 << 13), 0x5000)
page(3, (1 << 4) | (1 << 19), 0x6001)
page(8, 0, 0, 0xffffff7f, 3)
page(16, 1 << 9, 0, 0xffffff7f, 2)
page(17, 0, 0, 0xfffffeff)
page(32, (1 << 4) | (1 << 16), 0x8001)
put(MEMMAP + 33 * 64 + 16, bytes([1, 4]))
for t in range(33, 48):
    p64(MEMMAP + t * 64 + 8, (MEMMAP + 32 * 64) | 1)
info = """OSRELEASE=6.1.0-50-s390x
PAGESIZE=4096
SYMBOL(swapper_pg_dir)=%x
SYMBOL(high_memory)=%x
SYMBOL(mem_section)=%x
LENGTH(mem_section)=32768
SIZE(mem_section)=32
OFFSET(mem_section.section_mem_map)=0
NUMBER(SECTION_SIZE_BITS)=24
NUMBER(MAX_PHYSMEM_BITS)=46
SIZE(page)=64
OFFSET(page.flags)=0
OFFSET(page._refcount)=52
OFFSET(page.mapping)=24
OFFSET(page.lru)=8
OFFSET(page._mapcount)=48
OFFSET(page.private)=40
OFFSET(page.compound_dtor)=16
OFFSET(page.compound_order)=17
OFFSET(page.compound_head)=8
LENGTH(zone.free_area)=11
NUMBER(PG_lru)=4
NUMBER(PG_private)=13
NUMBER(PG_swapcache)=10
NUMBER(PG_swapbacked)=19
NUMBER(PG_slab)=9
NUMBER(PG_head_mask)=65536
NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129
NUMBER(HUGETLB_PAGE_DTOR)=2
NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=-257
KERNELOFFSET=0
""" % (R3, HM, ROOTS)
pages = {}
for a, x in mem.items():
    pages.setdefault(a // 4096, {})[a % 4096] = x
body = b''
for pn in sorted(pages):
    d = pages[pn]
    buf = bytearray(max(d) + 1)
    for o, x in d.items():
        buf[o] = x
    body += struct.pack('>HH', pn, len(buf)) + bytes(buf)
for level in (31, 16):
    t = info.encode()
    with open('tests/fuzz/corpus/fuzz_page_exclusion/synthetic-d%d' % level, 'wb') as f:
        f.write(bytes([level]) + struct.pack('>H', len(t)) + t + body)
