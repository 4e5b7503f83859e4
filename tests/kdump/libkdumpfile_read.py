"""libkdumpfile_read.py KDUMP ELF N: reads N random guest addresses (seeded) from
the kdump file through libkdumpfile and from the ELF's PT_LOADs directly; half of
them in pages that hold data. Exits 1 on the first difference."""
import random, struct, sys
import kdumpfile

kd, elf, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(elf, 'rb').read()
phoff, = struct.unpack('>Q', data[32:40]); phnum, = struct.unpack('>H', data[56:58])
loads = []
for i in range(phnum):
    p = data[phoff + 56 * i: phoff + 56 * (i + 1)]
    typ, = struct.unpack('>I', p[:4])
    off, _, paddr, filesz, memsz = struct.unpack('>QQQQQ', p[8:48])
    if typ == 1:
        loads.append((paddr, off, filesz, memsz))
def elf_read(a, size):
    for paddr, off, filesz, memsz in loads:
        if paddr <= a < paddr + memsz:
            r = bytearray(size); k = max(0, min(size, paddr + filesz - a))
            r[:k] = data[off + a - paddr: off + a - paddr + k]
            return bytes(r)
    raise KeyError(hex(a))
pages = [p for paddr, off, filesz, memsz in loads for p in range(paddr, paddr + memsz, 4096)]
busy = [p for p in pages if any(elf_read(p, 4096))]
k = kdumpfile.kdumpfile(kd)
rng = random.Random(20261202)
same = 0
for i in range(n):
    page = rng.choice(busy if i % 2 else pages)
    size = rng.choice([1, 8, 64, 512])
    a = page + rng.randrange(0, 4096 - size + 1)
    want = elf_read(a, size)
    got = k.read(kdumpfile.KDUMP_MACHPHYSADDR, a, size)
    if got != want:
        print(f"FAIL: {hex(a)} +{size}: kdump {got[:16].hex()} != elf {want[:16].hex()}")
        sys.exit(1)
    same += 1
print(f"ok: {same} random reads equal ({len(busy)} of {len(pages)} pages hold data; {k.attr['file.format']}, {k.attr['arch.name']})")
