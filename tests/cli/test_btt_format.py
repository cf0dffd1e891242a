"""btt-format end to end: formats equal to what the kernel wrote in the golden images, multi-arena
sparse namespaces (600 GiB against FORMATS 10.6, 4 TiB timed), --create-namespace on a blank
DIMM image, the undo file and --rollback, and every refusal leaving the image untouched."""

import hashlib
import os
import struct
import subprocess
import time
from pathlib import Path

import pytest

from btt_check_lib import data_extents, read

BIN = Path(os.environ.get("NDTK_BIN", "build/bin"))
SRC = Path(os.environ.get("NDTK_SRC", "."))
KERNEL = SRC / "tests" / "images" / "kernel"
TOOL = BIN / "btt-format"
MiB = 1 << 20
GiB = 1 << 30
LABELS = 128 * 1024

pytestmark = pytest.mark.skipif(not TOOL.exists(), reason=f"{TOOL} not built")


def run(*args, ok=True):
    p = subprocess.run([str(TOOL), *map(str, args)], capture_output=True, text=True, timeout=120)
    if ok is True:
        assert p.returncode == 0, f"rc {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    elif ok is False:
        assert p.returncode != 0, p.stdout
    return p


def sparse(path, size):
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def decompress(name, tmp_path):
    out = tmp_path / (name + ".img")
    subprocess.run(["zstd", "-d", "-q", "--sparse", "-f", "-o", str(out),
                    str(KERNEL / (name + ".img.zst"))], check=True)
    return out


def digest(path):
    """Hash of the content (size + every non-zero 1 MiB chunk with its offset), reading only
    the data extents of a sparse file: equal iff the bytes are equal."""
    h = hashlib.sha256()
    size = os.stat(path).st_size
    h.update(size.to_bytes(8, "little"))
    chunk = 0
    with open(path, "rb") as f:
        for data, hole in data_extents(path):
            chunk = max(chunk, data & ~(MiB - 1))  # each chunk once, whatever the extents
            while chunk < hole:
                f.seek(chunk)
                b = f.read(MiB)
                if b.count(0) != len(b):
                    h.update(chunk.to_bytes(8, "little") + b)
                chunk += MiB
    return h.hexdigest()


def uuid_text(b):
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Info:
    """The fields of a BTT info block (FORMATS 5.2)."""

    def __init__(self, b):
        assert b[:16] == b"BTT_ARENA_INFO\0\0", b[:16]
        self.raw = b
        self.uuid, self.parent = b[16:32], b[32:48]
        (self.flags, self.major, self.minor, self.ext_lbasize, self.ext_nlba, self.int_lbasize,
         self.int_nlba, self.nfree, self.infosize) = struct.unpack_from("<IHHIIIIII", b, 48)
        (self.nextoff, self.dataoff, self.mapoff, self.logoff,
         self.info2off) = struct.unpack_from("<5Q", b, 80)


# ---- byte-for-byte against the kernel ------------------------------------------------------

GOLDEN = [
    # image, namespace size, version, arena 0 offset
    ("a-sector4096-labels1.1", 256 * MiB, "1.1", 4096),
    ("i-sector4096-labelless", 256 * MiB, "1.1", 4096),
    ("f-two-namespaces-labels1.2", 64 * MiB, "2.0", 0),
]


@pytest.mark.parametrize("image,size,version,arena0", GOLDEN, ids=lambda x: str(x)[:1])
def test_format_equals_the_kernels_layout(tmp_path, image, size, version, arena0):
    kernel = decompress(image, tmp_path)
    k = Info(read(kernel, arena0, 4096))
    blank = sparse(tmp_path / "blank.img", size)
    p = run(blank, "--offset", 0, "--size", size, "--sector-size", 4096, "--version", version,
            "--uuid", uuid_text(k.uuid), "--parent-uuid", uuid_text(k.parent))
    assert "(commit)" in p.stdout and "done" in p.stdout
    assert Path(str(blank) + ".ndtk-undo").exists()
    ours = Info(read(blank, arena0, 4096))
    assert ours.raw == k.raw  # uuids given: checksum equal too
    assert read(blank, arena0 + k.info2off, 4096) == k.raw
    assert ours.nextoff == 0  # one arena: the kernel's chain
    # Log: unused lanes identical; the two lanes the kernel's writes used differ.
    klog = read(kernel, arena0 + k.logoff, k.info2off - k.logoff)
    olog = read(blank, arena0 + k.logoff, k.info2off - k.logoff)
    lanes = [i for i in range(256) if klog[i * 64:(i + 1) * 64] != olog[i * 64:(i + 1) * 64]]
    assert 1 <= len(lanes) <= 2, lanes
    assert klog[256 * 64:] == olog[256 * 64:]
    for lane in range(256):
        lba, old, new, seq = struct.unpack_from("<4I", olog, lane * 64)
        assert (lba, old, new, seq) == (lane, k.ext_nlba + lane, k.ext_nlba + lane, 1)
        assert olog[lane * 64 + 16:(lane + 1) * 64] == bytes(48)
    # Map: ours all initial; the kernel's is initial except the few LBAs written.
    kmap = read(kernel, arena0 + k.mapoff, k.logoff - k.mapoff)
    omap = read(blank, arena0 + k.mapoff, k.logoff - k.mapoff)
    assert omap == bytes(len(omap))
    written = sum(1 for i in range(0, len(kmap), 4) if kmap[i:i + 4] != bytes(4))
    assert 0 < written < 100
    # The data area was never written: the file stays sparse.
    assert os.stat(blank).st_blocks * 512 < 2 * MiB


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    img = sparse(tmp_path / "d.img", 32 * MiB)
    with open(img, "r+b") as f:
        f.write(b"data")
    before = digest(img)
    p = run(img, "--sector-size", 512, "--dry-run")
    assert "dry run: nothing written" in p.stdout
    assert "arena 0: zero the map" in p.stdout
    assert "backup info block (info2)" in p.stdout
    lines = [l for l in p.stdout.splitlines() if l.startswith("  0x")]
    assert len(lines) == 5 and "primary info block" in lines[-1]
    assert digest(img) == before
    assert not Path(str(img) + ".ndtk-undo").exists()


def test_rollback_restores_the_image(tmp_path):
    kernel = decompress("a-sector4096-labels1.1", tmp_path)
    before = digest(kernel)
    p = run(kernel, "--namespace", "45d99587-e15a-41f9-bce2-5733ae2c5442", "--sector-size", 512,
            "--force")
    assert "warning (--force): overwriting a valid BTT 1.1 info block" in p.stdout
    assert Info(read(kernel, 4096, 4096)).ext_lbasize == 512
    # A second run refuses to overwrite the undo file (and the BTT) without --force.
    again = run(kernel, "--namespace", "45d99587-e15a-41f9-bce2-5733ae2c5442", "--sector-size",
                512, ok=False)
    assert "valid BTT 1.1" in again.stderr
    run(kernel, "--rollback")
    assert digest(kernel) == before
    assert not Path(str(kernel) + ".ndtk-undo").exists()


def test_existing_undo_file_is_not_overwritten(tmp_path):
    img = sparse(tmp_path / "u.img", 64 * MiB)
    undo = Path(str(img) + ".ndtk-undo")
    undo.write_bytes(b"keep")
    p = run(img, "--sector-size", 4096, ok=False)
    assert "undo file exists" in p.stderr
    assert undo.read_bytes() == b"keep"
    assert read(img, 4096, 4096) == bytes(4096)


# ---- refusals: one line, non-zero, nothing written -----------------------------------------

def test_refuses_pfn_and_filesystems(tmp_path):
    c = decompress("c-fsdax-labels1.2", tmp_path)
    before = digest(c)
    p = run(c, "--offset", 0, "--size", 256 * MiB, "--sector-size", 4096, ok=False)
    assert "pfn (fsdax) info block" in p.stderr and len(p.stderr.splitlines()) == 1
    assert digest(c) == before
    for name, off, magic in [("ext", 1080, b"\x53\xef"), ("xfs", 0, b"XFSB"),
                             ("btrfs", 65600, b"_BHRfS_M")]:
        img = sparse(tmp_path / f"{name}.img", 20 * MiB)
        with open(img, "r+b") as f:
            f.seek(off)
            f.write(magic)
        h = digest(img)
        p = run(img, "--sector-size", 4096, ok=False)
        assert "superblock" in p.stderr and str(img) in p.stderr
        assert digest(img) == h
        run(img, "--sector-size", 4096, "--force")
        assert Info(read(img, 4096, 4096)).major == 1


@pytest.mark.parametrize("case", ["zst", "missing", "directory", "sector", "too-big", "uuid"])
def test_bad_input(tmp_path, case):
    img = sparse(tmp_path / "b.img", 64 * MiB)
    args = [img, "--sector-size", 4096]
    if case == "zst":
        args[0] = KERNEL / "a-sector4096-labels1.1.img.zst"
    elif case == "missing":
        args[0] = tmp_path / "nope.img"
    elif case == "directory":
        args[0] = tmp_path
    elif case == "sector":
        args[2] = 1000
    elif case == "too-big":
        args += ["--offset", 0, "--size", 128 * MiB]
    elif case == "uuid":
        args += ["--uuid", "not-a-uuid"]
    p = run(*args, ok=False)
    msg = p.stderr.strip()
    assert msg.startswith("btt-format: ") and len(msg.splitlines()) == 1, msg
    expected = {"zst": "zstd", "missing": "nope.img", "directory": str(tmp_path),
                "sector": "sector size 1000", "too-big": "past the end", "uuid": "not a uuid"}
    assert expected[case] in msg
    assert os.stat(img).st_blocks == 0 and not Path(str(img) + ".ndtk-undo").exists()


# ---- multi-arena, sparse --------------------------------------------------------------------

def chain(path, ns_offset, arena0):
    out, at = [], ns_offset + arena0
    while True:
        info = Info(read(path, at, 4096))
        assert read(path, at + info.info2off, 4096) == info.raw
        out.append((at - ns_offset, info))
        if info.nextoff == 0:
            return out
        at += info.nextoff


def test_600_gib_matches_formats_10_6(tmp_path):
    img = sparse(tmp_path / "600g.img", 600 * GiB)
    run(img, "--sector-size", 4096)
    arenas = chain(img, 0, 4096)
    assert len(arenas) == 2
    (o0, a0), (o1, a1) = arenas
    assert o0 == 0x1000 and o1 == 0x8000001000
    assert (a0.int_nlba, a0.ext_nlba, a0.mapoff, a0.logoff, a0.info2off, a0.nextoff) == (
        134086776, 134086520, 0x7fe007b000, 0x7fffffb000, 0x7ffffff000, 0x8000000000)
    assert (a1.int_nlba, a1.ext_nlba, a1.mapoff, a1.logoff, a1.info2off, a1.nextoff) == (
        23046157, 23045901, 0x15fa810000, 0x15ffffa000, 0x15ffffe000, 0)
    assert a0.uuid == a1.uuid and a0.parent == bytes(16)
    assert a0.ext_nlba + a1.ext_nlba == 157132421


def test_4_tib_formats_in_seconds(tmp_path):
    img = sparse(tmp_path / "4t.img", 4 << 40)
    start = time.monotonic()
    p = run(img, "--sector-size", 4096, "--version", "2.0")
    elapsed = time.monotonic() - start
    print(f"\n4 TiB sparse BTT 2.0 format: {elapsed:.2f} s, "
          f"{os.stat(img).st_blocks * 512} bytes allocated")
    assert elapsed < 20, p.stdout
    arenas = chain(img, 0, 0)
    assert [o for o, _ in arenas] == [i << 39 for i in range(8)]
    assert all(a.major == 2 and a.minor == 0 for _, a in arenas)
    # Only info blocks and log groups were written: a few MiB, not GiBs of map zeros.
    assert os.stat(img).st_blocks * 512 < 16 * MiB


# ---- --create-namespace ---------------------------------------------------------------------

def parse_index(area, n):
    b = area[n * 256:(n + 1) * 256]
    assert b[:16] == b"NAMESPACE_INDEX\0"
    seq, = struct.unpack_from("<I", b, 20)
    nslot, major, minor = struct.unpack_from("<IHH", b, 56)
    return seq, nslot, major, minor, b[72:]


def test_create_namespace_on_a_blank_dimm(tmp_path):
    img = sparse(tmp_path / "dimm.img", 256 * MiB + LABELS)
    p = run(img, "--create-namespace", "--size", "64M", "--name", "btt-one", "--sector-size",
            4096, "--parent-uuid", "59ba662e-56ce-48b3-b34e-71a0aeda22d3")
    assert "labels: v1.2 (blank, initialised" in p.stdout
    assert "BTT 2.0" in p.stdout
    area = read(img, 256 * MiB, LABELS)
    seq0, nslot, major, minor, bitmap0 = parse_index(area, 0)
    seq1, _, _, _, bitmap1 = parse_index(area, 1)
    assert (seq0, seq1, nslot, major, minor) == (1, 3, 510, 1, 2)
    assert bitmap0[0] == 0xfd and bitmap1[0] == 0xfe  # index 0 current: slot 1 live
    # The live label equals the kernel's btt-one label in image f byte for byte.
    kernel = decompress("f-two-namespaces-labels1.2", tmp_path)
    assert area[512 + 256:512 + 512] == read(kernel, 256 * MiB + 512 + 256, 256)
    assert struct.unpack_from("<I", area, 512 + 80)[0] == 8  # slot 0: the UPDATING copy
    info = Info(read(img, 0, 4096))  # BTT 2.0 at DPA 0
    assert (info.major, info.minor, info.ext_nlba) == (2, 0, 16105)
    assert uuid_text(info.parent) == "59ba662e-56ce-48b3-b34e-71a0aeda22d3"
    # The namespace is found by name, holding a valid BTT 2.0: refused without --force.
    p = run(img, "--namespace", "btt-one", "--sector-size", 4096, "--dry-run", ok=False)
    assert "valid BTT 2.0" in p.stderr
    # A second namespace goes into the initialised area after the first.
    os.remove(str(img) + ".ndtk-undo")
    p = run(img, "--create-namespace", "--size", "32M", "--sector-size", 512)
    assert "DPA 0x4000000" in p.stdout and "(existing area" in p.stdout
    assert Info(read(img, 64 * MiB, 4096)).ext_lbasize == 512
    assert area[512 + 256:512 + 512] == read(img, 256 * MiB + 512 + 256, 256)  # untouched
    # Rollback of the second creation leaves the first intact.
    run(img, "--rollback")
    assert read(img, 256 * MiB, LABELS) == area
    assert read(img, 64 * MiB, 4096) == bytes(4096)


def test_create_namespace_v11_and_refusals(tmp_path):
    img = sparse(tmp_path / "dimm11.img", 256 * MiB + LABELS)
    run(img, "--create-namespace", "--label-version", "1.1", "--sector-size", 4096,
        "--parent-uuid", "45d99587-e15a-41f9-bce2-5733ae2c5442")
    kernel = decompress("a-sector4096-labels1.1", tmp_path)
    # Both label copies equal the kernel's in image a (whole region, cookie1 of QEMU's DIMM).
    assert read(img, 256 * MiB + 512, 256) == read(kernel, 256 * MiB + 512, 256)
    assert Info(read(img, 4096, 4096)).ext_nlba == 65208
    h = digest(img)
    for args, msg in [(["--size", "16M"], "no free extent"),
                      (["--size", "24M", "--force"], "multiple of the region alignment"),
                      (["--label-version", "1.2", "--size", "16M"], "already holds v1.1"),
                      (["--version", "2.0"], "BTT 2.0 needs v1.2 labels")]:
        p = run(img, "--create-namespace", "--sector-size", 4096, "--undo", tmp_path / "x.undo",
                *args, ok=False)
        assert msg in p.stderr, p.stderr
    assert digest(img) == h
