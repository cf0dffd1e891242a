"""Shared by the btt-check suites: running the tool, independent sector readers, byte-level
damage helpers, and the one damage-case driver every corruption matrix uses:

    damage a real image copy -> the expected code -> --repair --yes -> exit 1 and a clean second
    run (or, for report-only codes, exit 4 with the code still reported and no data block
    written) -> every sector that was readable before the damage reads the same -> --rollback
    restores the damaged bytes exactly.

Each test_check_matrix_*.py module defines MATRIX (a list of Case) and EXEMPT ({code: why the
damage cannot be made on a single image copy, and where the code is tested instead});
test_check_coverage.py asserts that together they name every code of the problem table."""

import ctypes
import ctypes.util
import hashlib
import json
import os
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

BIN = Path(os.environ.get("NDTK_BIN", "build/bin"))
SRC = Path(os.environ.get("NDTK_SRC", Path(__file__).resolve().parents[2]))
TOOL = BIN / "btt-check"
KERNEL = SRC / "tests/images/kernel"
PMDK = SRC / "tests/images/pmdk"
SHARED_PMDK = SRC.parent / "shared/images/pmdk"

CLEAN, CORRECTED, UNCORRECTED, OPERATIONAL, USAGE = 0, 1, 4, 8, 16

IMG_A = KERNEL / "a-sector4096-labels1.1.img.zst"   # BTT 1.1, v1.1 labels
IMG_C = KERNEL / "c-fsdax-labels1.2.img.zst"        # fsdax (pfn block), v1.2 labels
IMG_E = KERNEL / "e-raw-labels1.1.img.zst"           # raw namespace, v1.1 labels
IMG_F = KERNEL / "f-two-namespaces-labels1.2.img.zst"  # BTT 2.0 + fsdax
IMG_I = KERNEL / "i-sector4096-labelless.img.zst"   # label-less, BTT at offset 0
POOL = PMDK / "blk4096.pool.zst"                    # pmemblk pool written by libpmemblk


def run(*args, check_rc=None):
    p = subprocess.run([str(TOOL), *map(str, args)], capture_output=True, text=True, timeout=300)
    if check_rc is not None:
        assert p.returncode == check_rc, f"rc {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p


def run_json(*args, check_rc=None):
    p = run("--json", *args, check_rc=check_rc)
    return p.returncode, json.loads(p.stdout)


def codes(report):
    return {f["code"] for f in report["findings"]}


def severities(report):
    return {f["code"]: f["severity"] for f in report["findings"]}


# ---- sector readers (independent of ndtk's library) ------------------------------------------

def kernel_sectors(path, report, ns_index):
    """Per BTT-wide LBA: (state, block sha) read straight from the map of a clean BTT (no pending
    log recovery). Error-state LBAs are unreadable."""
    btt = report["namespaces"][ns_index]["btt"]
    out = []
    with open(path, "rb") as f:
        for a in btt["arenas"]:
            g = a["geometry"]
            f.seek(a["offset"] + g["mapoff"])
            n = g["external_nlba"]
            entries = struct.unpack(f"<{n}I", f.read(4 * n))
            for p, e in enumerate(entries):
                z, err, blk = e >> 31 & 1, e >> 30 & 1, e & 0x3FFFFFFF
                if err and not z:
                    out.append(("error",))
                elif z and not err:
                    out.append(("zero",))
                elif not z and not err:
                    out.append(("initial", p))
                else:
                    f.seek(a["offset"] + g["dataoff"] + blk * g["internal_lbasize"])
                    out.append(("normal", hashlib.sha1(f.read(g["external_lbasize"])).hexdigest()))
    return out


LIBPMEMBLK = ctypes.util.find_library("pmemblk")


def _pmemblk():
    lib = ctypes.CDLL(LIBPMEMBLK, use_errno=True)
    lib.pmemblk_open.restype = ctypes.c_void_p
    lib.pmemblk_open.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.pmemblk_nblock.restype = ctypes.c_size_t
    lib.pmemblk_nblock.argtypes = [ctypes.c_void_p]
    lib.pmemblk_read.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_longlong]
    lib.pmemblk_close.argtypes = [ctypes.c_void_p]
    return lib


def pmdk_sectors(path, tmp_path):
    """Every block as libpmemblk reads it (on a scratch copy: pmemblk_open writes)."""
    lib = _pmemblk()
    scratch = tmp_path / "pmemblk-read.scratch"
    subprocess.run(["cp", "--sparse=always", str(path), str(scratch)], check=True)
    pbp = lib.pmemblk_open(str(scratch).encode(), 4096)
    assert pbp, f"pmemblk_open failed: errno {ctypes.get_errno()}"
    out = []
    buf = ctypes.create_string_buffer(4096)
    try:
        for b in range(lib.pmemblk_nblock(pbp)):
            if lib.pmemblk_read(pbp, buf, b) != 0:
                out.append(("error",))
            else:
                out.append(("data", hashlib.sha1(buf.raw).hexdigest()))
    finally:
        lib.pmemblk_close(pbp)
        scratch.unlink()
    return out


def sha256_of_block(path, lba):
    lib = _pmemblk()
    pbp = lib.pmemblk_open(str(path).encode(), 4096)
    assert pbp
    buf = ctypes.create_string_buffer(4096)
    try:
        assert lib.pmemblk_read(pbp, buf, lba) == 0
    finally:
        lib.pmemblk_close(pbp)
    return hashlib.sha256(buf.raw).hexdigest()


def sectors(path, report, ns_index, tmp_path):
    if report["kind"] == "pmemblk-pool":
        return pmdk_sectors(path, tmp_path)
    return kernel_sectors(path, report, ns_index)


# ---- damage helpers ----------------------------------------------------------------------

def patch(path, off, data):
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(data)


def read(path, off, n):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


def flip(path, off, mask=0xFF):
    patch(path, off, bytes([read(path, off, 1)[0] ^ mask]))


def fletcher64(data, skip=None):
    """FORMATS.md §1: 32-bit little-endian words, both sums mod 2^32; the 8 bytes at `skip`
    (the stored checksum) count as zero."""
    lo = hi = 0
    for i, (w,) in enumerate(struct.iter_unpack("<I", bytes(data))):
        if skip is not None and skip <= 4 * i < skip + 8:
            w = 0
        lo = (lo + w) & 0xFFFFFFFF
        hi = (hi + lo) & 0xFFFFFFFF
    return hi << 32 | lo


def seal_bytes(block, at):
    """Store the Fletcher64 of bytearray `block` (checksum field at `at`) into it."""
    struct.pack_into("<Q", block, at, fletcher64(block, at))


def reseal(path, off, size, csum_at):
    """Re-seal the Fletcher64 of the `size`-byte structure at image offset `off`."""
    b = bytearray(read(path, off, size))
    seal_bytes(b, csum_at)
    patch(path, off + csum_at, bytes(b[csum_at:csum_at + 8]))


def arena(rep, ns=0, index=0):
    return rep["namespaces"][ns]["btt"]["arenas"][index]


def lane_groups(path, a):
    g = a["geometry"]
    raw = read(path, a["offset"] + g["logoff"], 64 * g["nfree"])
    return [[struct.unpack_from("<4I", raw, 64 * l + 16 * s) for s in range(4)] for l in range(g["nfree"])]


def used_lane(path, a):
    """A lane with two live entries whose current one changed a block (old != new)."""
    for l, grp in enumerate(lane_groups(path, a)):
        s0, s1 = grp[0], grp[1]
        if s0[3] and s1[3]:
            cur = s1 if s1[3] == (s0[3] % 3) + 1 else s0  # the cyclic successor is current
            if (cur[1] & 0x3FFFFFFF) != (cur[2] & 0x3FFFFFFF):
                return l, cur
    raise AssertionError("no used lane")


def map_entries(path, a):
    g = a["geometry"]
    n = g["external_nlba"]
    return struct.unpack(f"<{n}I", read(path, a["offset"] + g["mapoff"], 4 * n))


def normal_lbas(path, a, count=2):
    return [(p, e) for p, e in enumerate(map_entries(path, a)) if e >> 30 == 3][:count]


def data_extents(path):
    """[(start, end)] of the non-hole ranges of a (sparse) file, via SEEK_DATA/SEEK_HOLE."""
    out = []
    with open(path, "rb") as f:
        fd, size, off = f.fileno(), os.fstat(f.fileno()).st_size, 0
        while off < size:
            try:
                start = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            out.append((start, end))
            off = end
    return out


def same_bytes(a, b):
    """filecmp.cmp(a, b, shallow=False) that reads only the data extents of either file (holes
    read as zeros), so a sparse TiB image compares in milliseconds."""
    if os.path.getsize(a) != os.path.getsize(b):
        return False
    spans = sorted(data_extents(a) + data_extents(b))
    with open(a, "rb") as fa, open(b, "rb") as fb:
        for start, end in spans:
            for off in range(start, end, 1 << 24):
                n = min(1 << 24, end - off)
                fa.seek(off)
                fb.seek(off)
                if fa.read(n) != fb.read(n):
                    return False
    return True


# ---- the damage-case driver ----------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One damage: `damage(path, clean_report, ns)` modifies the image copy in place.

    outcome:
      "repair"  the code is reported (exit 4); --repair --yes exits 1, the second run is clean.
      "report"  the code is reported (exit 4) and left alone by a repair: btt-check says what is
                wrong and never guesses (exit 4 after --repair --yes; the code still reported).
      "note"    an Info/Warning the tool only reports; `rc` is the expected exit of the check.
    """
    image: Path
    ns: int
    damage: Callable
    code: str
    outcome: str = "repair"
    rc: int | None = None        # expected exit of the damaged check (default by outcome)
    args: tuple = ()             # extra btt-check arguments (e.g. --offset/--size)
    # sectors(path, clean_or_after_report, ns, tmp_path) -> per-LBA list compared before/after
    # a repair; default: every LBA from the map (kernel) or libpmemblk (pool). Huge sparse
    # multi-arena namespaces pass a cheaper reader (e.g. only the LBAs their damage can reach).
    sectors: Callable | None = None

    @property
    def id(self):
        return f"{self.code}-{self.image.name.split('-')[0].split('.')[0]}-{self.damage.__name__}"


def run_case(case: Case, copy_of, tmp_path):
    img = copy_of(case.image)
    rc, clean = run_json(*case.args, img, check_rc=CLEAN)
    ns = case.ns
    has_btt = bool(clean["namespaces"]) and "btt" in clean["namespaces"][ns]
    read_sectors = case.sectors or sectors
    before = read_sectors(img, clean, ns, tmp_path) if has_btt else None
    case.damage(img, clean, ns)
    damaged = tmp_path / "damaged.copy"
    subprocess.run(["cp", "--sparse=always", str(img), str(damaged)], check=True)

    rc, rep = run_json("-v", *case.args, img)
    assert case.code in codes(rep), json.dumps(rep["findings"], indent=1)
    want_rc = case.rc if case.rc is not None else (CLEAN if case.outcome == "note" else UNCORRECTED)
    assert rc == want_rc, json.dumps(rep["findings"], indent=1)
    # The text report names the same code.
    assert case.code in run("-v", *case.args, img).stdout

    undo = tmp_path / "undo"
    rc, fixed = run_json("--repair", "--yes", "--undo", undo, *case.args, img)
    repair = fixed.get("repair")
    writes = repair["plan"]["writes"] if repair else []
    # Never a data block.
    if has_btt:
        for a in clean["namespaces"][ns]["btt"]["arenas"]:
            g = a["geometry"]
            d0 = a["offset"] + g["dataoff"]
            d1 = d0 + g["internal_nlba"] * g["internal_lbasize"]
            for w in writes:
                assert w["offset"] + w["length"] <= d0 or w["offset"] >= d1, w

    if case.outcome == "repair":
        assert rc == CORRECTED, json.dumps(repair, indent=1)
        assert repair["applied"]
        run(*case.args, img, check_rc=CLEAN)  # the second run is clean
    elif case.outcome == "report":
        assert rc == UNCORRECTED, json.dumps(repair, indent=1)
        _, again = run_json(*case.args, img)
        assert case.code in codes(again)
    else:
        assert rc == want_rc
        if want_rc == CLEAN:
            assert not repair and not undo.exists()

    if has_btt and case.outcome == "repair":
        _, after_rep = run_json(*case.args, img, check_rc=CLEAN)
        after = read_sectors(img, after_rep, ns, tmp_path)
        assert len(after) == len(before)
        affected = set()
        for a in repair["plan"]["affected_lbas"]:
            affected.update(a["lbas"])
        for lba, (b, a) in enumerate(zip(before, after)):
            if b[0] == "error" or lba in affected:
                continue
            assert a == b, f"LBA {lba}: {b} -> {a}"
        for lba in affected:  # listed LBAs read as media errors, never guessed data
            assert after[lba] == ("error",)

    if repair and repair.get("applied"):
        run("--rollback", undo, img, check_rc=CLEAN)
    assert same_bytes(img, damaged), "rollback did not restore the damaged bytes"
