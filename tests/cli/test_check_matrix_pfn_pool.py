"""btt-check corruption matrix for pfn/dax info blocks (0x06xx), the PMDK pool header and
pmemblk descriptor (0x07xx), the pool's layout-not-written notes and BTT info padding: every
case damages a real image copy (kernel fsdax image c, f's fsdax namespace, BTT images a and i,
the libpmemblk pools) and runs it through btt_check_lib.run_case. Where ndtk's verdict on a pool
differs from `pmempool check`, a test below says why (libpmemblk / the kernel decide)."""

import ctypes
import json
import shutil
import struct
import subprocess
import uuid

import pytest

from btt_check_lib import fletcher64, reseal as lib_reseal
from btt_check_lib import (CLEAN, CORRECTED, IMG_A, IMG_C, IMG_F, IMG_I, LIBPMEMBLK, PMDK, POOL,
                           TOOL, UNCORRECTED, Case, _pmemblk, arena, patch, read, run, run_case,
                           run_json)

pytestmark = pytest.mark.skipif(not TOOL.exists(), reason="btt-check not built")

POOL_NOLAYOUT = PMDK / "blk4096-nolayout.pool.zst"
MiB = 1 << 20


# ---- checksums (FORMATS.md §1) -----------------------------------------------------------

def reseal(path, off, size=4096, csum_at=4088):
    """BTT/pfn info blocks by default."""
    lib_reseal(path, off, size, csum_at)


def reseal_pool_hdr(path):
    """PMDK's header checksum: 4096 bytes, checksum skipped; with incompat CKSUM_2K (0x2) the
    bytes from 2048 on count as zero (util_checksum with POOL_HDR_CSUM_END_OFF)."""
    b = bytearray(read(path, 0, 4096))
    end = 2048 if struct.unpack_from("<I", b, 16)[0] & 0x2 else 4088
    b[end:] = bytes(4096 - end)
    patch(path, 4088, struct.pack("<Q", fletcher64(b)))


def reseal_sds(path):
    b = bytearray(read(path, 4024, 64))
    b[56:64] = bytes(8)
    patch(path, 4024 + 56, struct.pack("<Q", fletcher64(b)))


# ---- pfn/dax info block damage (field offsets: FORMATS.md §4) ----------------------------

def pfn_off(rep, ns):
    return rep["namespaces"][ns]["pfn"]["offset"]


def set_pfn(path, rep, ns, fmt, at, value, seal=True):
    off = pfn_off(rep, ns)
    patch(path, off + at, struct.pack(fmt, value))
    if seal:
        reseal(path, off)


DAX_SIGNATURE = b"NVDIMM_DAX_INFO\0"
DAX_GUID = uuid.UUID("97a86d9c-3cdd-4eda-986f-5068b4f80088").bytes_le  # EFI GUID byte order


def make_devdax(path, rep, ns):
    """Turn an fsdax namespace into a devdax one: the block differs only by its signature, and
    the label's abstraction GUID (claim class) becomes DAX, both re-sealed."""
    off = pfn_off(rep, ns)
    patch(path, off, DAX_SIGNATURE)
    reseal(path, off)
    ns_uuid = uuid.UUID(rep["namespaces"][ns]["uuid"]).bytes
    la = rep["label_area"]
    for slot in range(la["nslot"]):
        at = la["offset"] + 2 * 256 + slot * la["label_size"]  # 2 index blocks of 256 bytes
        lab = read(path, at, 256)
        if lab[:16] == ns_uuid:
            patch(path, at + 144, DAX_GUID)
            reseal(path, at, 256, 248)


def d_pfn_signature(path, rep, ns):
    """The signature bytes lost: the label still claims fsdax."""
    patch(path, pfn_off(rep, ns), bytes(16))


def d_pfn_field_unsealed(path, rep, ns):
    """A layout field changed without a new checksum: the checksum can no longer be trusted."""
    set_pfn(path, rep, ns, "<Q", 64, 12345, seal=False)


def d_pfn_parent_uuid(path, rep, ns):
    set_pfn(path, rep, ns, "<B", 32, read(path, pfn_off(rep, ns) + 32, 1)[0] ^ 0x01)


def d_pfn_mode(path, rep, ns):
    set_pfn(path, rep, ns, "<I", 72, 3)


def d_pfn_dataoff_unaligned(path, rep, ns):
    p = rep["namespaces"][ns]["pfn"]
    set_pfn(path, rep, ns, "<Q", 56, p["dataoff"] + 4096)


def d_pfn_dataoff_past_end(path, rep, ns):
    set_pfn(path, rep, ns, "<Q", 56, rep["namespaces"][ns]["size"])


def d_pfn_npfns(path, rep, ns):
    set_pfn(path, rep, ns, "<Q", 64, rep["namespaces"][ns]["pfn"]["npfns"] - 1)


def d_pfn_padding(path, rep, ns):
    set_pfn(path, rep, ns, "<B", 94 + 100, 0xA5)


def d_pfn_minor3_with_minor4_fields(path, rep, ns):
    """A minor-3 block still carrying page_size/page_struct_size (fields it does not have)."""
    set_pfn(path, rep, ns, "<H", 54, 3)


def d_pfn_page_size(path, rep, ns):
    set_pfn(path, rep, ns, "<I", 88, 65536)


def d_pfn_to_dax(path, rep, ns):
    """A dax block on a namespace whose label claims fsdax."""
    patch(path, pfn_off(rep, ns), DAX_SIGNATURE)
    reseal(path, pfn_off(rep, ns))


def d_devdax_align_64k(path, rep, ns):
    make_devdax(path, rep, ns)
    set_pfn(path, rep, ns, "<I", 84, 64 << 10)


def d_devdax_checksum(path, rep, ns):
    make_devdax(path, rep, ns)
    patch(path, pfn_off(rep, ns) + 4088, b"\x5a")


def d_devdax_padding(path, rep, ns):
    make_devdax(path, rep, ns)
    set_pfn(path, rep, ns, "<B", 94 + 3000, 0x01)


def d_pfn_align_too_large(path, rep, ns):
    set_pfn(path, rep, ns, "<I", 84, 2 * rep["namespaces"][ns]["size"])


def d_pfn_end_trunc(path, rep, ns):
    set_pfn(path, rep, ns, "<I", 80, 4096)


def d_pfn_version(path, rep, ns):
    set_pfn(path, rep, ns, "<H", 54, 5)


def d_pfn_flags(path, rep, ns):
    set_pfn(path, rep, ns, "<I", 48, 1)


def d_pfn_start_pad(path, rep, ns):
    """An old kernel's layout of the same data: start_pad 2 MiB + dataoff (4 MiB less) puts the
    data where it is, npfns unchanged."""
    p = rep["namespaces"][ns]["pfn"]
    set_pfn(path, rep, ns, "<I", 76, 2 * MiB, seal=False)
    set_pfn(path, rep, ns, "<Q", 56, p["dataoff"] - 2 * MiB)


def d_pfn_memmap_small(path, rep, ns):
    """PMEM mode with data at 2 MiB: no room for the struct page array."""
    size = rep["namespaces"][ns]["size"]
    set_pfn(path, rep, ns, "<Q", 64, (size - 2 * MiB) // 4096, seal=False)
    set_pfn(path, rep, ns, "<Q", 56, 2 * MiB)


# ---- PMDK pool header / pmemblk descriptor damage (FORMATS.md §6.3) ----------------------

def set_hdr(path, fmt, at, value, seal=True):
    patch(path, at, struct.pack(fmt, value) if not isinstance(value, bytes) else value)
    if seal:
        reseal_pool_hdr(path)


def d_pool_signature(path, rep, ns):
    set_hdr(path, "<B", 7, ord("X"))


def d_pool_empty(path, rep, ns):
    patch(path, 0, bytes(4096))


def d_pool_checksum(path, rep, ns):
    patch(path, 4088, bytes(b ^ 0x5A for b in read(path, 4088, 2)))


def d_pool_major_unsealed(path, rep, ns):
    """A changed field without a new checksum: nothing vouches for the header any more."""
    set_hdr(path, "<I", 8, 2, seal=False)


def d_pool_major(path, rep, ns):
    set_hdr(path, "<I", 8, 2)


def d_pool_incompat(path, rep, ns):
    set_hdr(path, "<I", 16, struct.unpack("<I", read(path, 16, 4))[0] | 0x100)


def d_pool_ro_compat(path, rep, ns):
    set_hdr(path, "<I", 20, 0x1)


def d_pool_compat(path, rep, ns):
    set_hdr(path, "<I", 12, struct.unpack("<I", read(path, 12, 4))[0] | 0x100)


def d_pool_machine(path, rep, ns):
    set_hdr(path, "<H", 142, 0x1234)


def d_pool_unused(path, rep, ns):
    set_hdr(path, "<B", 144 + 100, 0x77)


def d_pool_unused2(path, rep, ns):
    """Junk past 2048 (outside the CKSUM_2K checksum)."""
    set_hdr(path, "<B", 2048 + 100, 0x77, seal=False)


def d_pool_prev_part(path, rep, ns):
    set_hdr(path, "<B", 56, read(path, 56, 1)[0] ^ 0x10)


def d_pool_uuid_zero(path, rep, ns):
    """uuid and its four self-links zeroed alike (consistent, but no identity)."""
    set_hdr(path, "16s", 40, bytes(80))


def d_pool_crtime(path, rep, ns):
    set_hdr(path, "<Q", 120, 0)


def d_pool_sds_checksum(path, rep, ns):
    set_hdr(path, "<Q", 4024, 7, seal=False)


def d_pool_sds_dirty(path, rep, ns):
    set_hdr(path, "<B", 4040, 1, seal=False)
    reseal_sds(path)


def d_pool_bsize(path, rep, ns):
    patch(path, 4096, struct.pack("<I", 512))


def d_pool_bsize_zero(path, rep, ns):
    patch(path, 4096, struct.pack("<I", 0))


def d_pool_poolset_uuid(path, rep, ns):
    set_hdr(path, "<B", 24, read(path, 24, 1)[0] ^ 0x10)


def d_pool_is_zeroed(path, rep, ns):
    patch(path, 4100, struct.pack("<I", 7))


def d_pool_truncated(path, rep, ns):
    """A copy cut short below PMEMBLK_MIN_POOL."""
    with open(path, "r+b") as f:
        f.truncate(16 * MiB)


def d_none(path, rep, ns):
    """No damage: the pool as pmemblk_create leaves it (the layout is written lazily)."""


# ---- BTT info padding --------------------------------------------------------------------

def d_btt_padding_both(path, rep, ns):
    """Junk in the reserved bytes of both info copies, each re-sealed (a writer that left it)."""
    a = arena(rep, ns)
    for off in (a["offset"], a["backup_offset"]):
        patch(path, off + 120 + 1000, b"\x42\x43")
        reseal(path, off)


def d_btt_padding_primary(path, rep, ns):
    a = arena(rep, ns)
    patch(path, a["offset"] + 120 + 7, b"\x01")
    reseal(path, a["offset"])


MATRIX = [
    # pfn / dax
    Case(IMG_C, 0, d_pfn_signature, "PFN_BAD_SIGNATURE", "report"),
    Case(IMG_C, 0, d_pfn_field_unsealed, "PFN_BAD_CHECKSUM", "report"),
    Case(IMG_F, 1, d_pfn_field_unsealed, "PFN_BAD_CHECKSUM", "report"),
    Case(IMG_C, 0, d_devdax_checksum, "PFN_BAD_CHECKSUM"),
    Case(IMG_C, 0, d_pfn_parent_uuid, "PFN_PARENT_UUID", "report"),
    Case(IMG_C, 0, d_pfn_mode, "PFN_BAD_MODE", "report"),
    Case(IMG_C, 0, d_pfn_dataoff_unaligned, "PFN_MISALIGNED", "report"),
    Case(IMG_C, 0, d_pfn_dataoff_past_end, "PFN_DATAOFF_RANGE", "report"),
    Case(IMG_C, 0, d_pfn_npfns, "PFN_NPFNS_MISMATCH", "note", rc=UNCORRECTED),
    Case(IMG_C, 0, d_pfn_padding, "PFN_PADDING_NONZERO"),
    Case(IMG_F, 1, d_pfn_padding, "PFN_PADDING_NONZERO"),
    Case(IMG_C, 0, d_devdax_padding, "PFN_PADDING_NONZERO"),
    Case(IMG_C, 0, d_pfn_minor3_with_minor4_fields, "PFN_PADDING_NONZERO"),
    Case(IMG_C, 0, d_pfn_page_size, "PFN_PAGE_SIZE_UNSUPPORTED", "report"),
    Case(IMG_C, 0, d_pfn_to_dax, "PFN_CLAIM_MISMATCH", "report"),
    Case(IMG_C, 0, d_devdax_align_64k, "PFN_ALIGN_UNSUPPORTED", "report"),
    Case(IMG_C, 0, d_pfn_align_too_large, "PFN_ALIGN_TOO_LARGE", "report"),
    Case(IMG_C, 0, d_pfn_end_trunc, "PFN_RANGE_MISALIGNED", "report"),
    Case(IMG_C, 0, d_pfn_version, "PFN_VERSION", "note", rc=UNCORRECTED),
    Case(IMG_C, 0, d_pfn_flags, "PFN_FLAGS_NONZERO", "note", rc=UNCORRECTED),
    Case(IMG_C, 0, d_pfn_start_pad, "PFN_START_PAD", "note"),
    Case(IMG_C, 0, d_pfn_memmap_small, "PFN_MEMMAP_TOO_SMALL", "note", rc=UNCORRECTED),
    # PMDK pool header and pmemblk descriptor
    Case(POOL, 0, d_pool_signature, "POOL_BAD_SIGNATURE", "report"),
    Case(POOL, 0, d_pool_checksum, "POOL_BAD_CHECKSUM"),
    Case(POOL, 0, d_pool_major_unsealed, "POOL_BAD_CHECKSUM", "report"),
    Case(POOL, 0, d_pool_empty, "POOL_EMPTY_HEADER", "report"),
    Case(POOL, 0, d_pool_major, "POOL_BAD_MAJOR", "report"),
    Case(POOL, 0, d_pool_incompat, "POOL_INCOMPAT_FEATURES", "report"),
    Case(POOL, 0, d_pool_ro_compat, "POOL_RO_COMPAT_FEATURES", "note", rc=UNCORRECTED),
    Case(POOL, 0, d_pool_compat, "POOL_COMPAT_FEATURES", "note"),
    Case(POOL, 0, d_pool_machine, "POOL_ARCH_FLAGS", "report"),
    Case(POOL, 0, d_pool_unused, "POOL_UNUSED_NONZERO"),
    Case(POOL, 0, d_pool_unused2, "POOL_UNUSED_NONZERO"),
    Case(POOL, 0, d_pool_prev_part, "POOL_UUID_LINK", "report"),
    Case(POOL, 0, d_pool_uuid_zero, "POOL_UUID_ZERO", "note", rc=UNCORRECTED),
    Case(POOL, 0, d_pool_crtime, "POOL_CRTIME", "note", rc=UNCORRECTED),
    Case(POOL, 0, d_pool_sds_checksum, "POOL_SDS_BAD_CHECKSUM", "note"),
    Case(POOL, 0, d_pool_sds_dirty, "POOL_SDS_DIRTY", "note", rc=UNCORRECTED),
    Case(POOL, 0, d_pool_bsize, "POOL_BSIZE_MISMATCH", "report"),
    Case(POOL, 0, d_pool_bsize_zero, "POOL_BSIZE_INVALID", "report"),
    Case(POOL, 0, d_pool_poolset_uuid, "POOL_POOLSET_UUID_MISMATCH", "report"),
    Case(POOL, 0, d_pool_is_zeroed, "POOL_IS_ZEROED_INVALID", "note", rc=UNCORRECTED),
    Case(POOL, 0, d_pool_truncated, "POOL_TOO_SMALL", "report"),
    Case(POOL_NOLAYOUT, 0, d_none, "POOL_BTT_LAYOUT_NOT_WRITTEN", "note"),
    Case(POOL_NOLAYOUT, 0, d_none, "POOL_LAYOUT_NOT_WRITTEN", "note"),
    # BTT info reserved bytes
    Case(IMG_A, 0, d_btt_padding_both, "BTT_INFO_PADDING_NONZERO"),
    Case(IMG_I, 0, d_btt_padding_both, "BTT_INFO_PADDING_NONZERO"),
    Case(POOL, 0, d_btt_padding_both, "BTT_INFO_PADDING_NONZERO"),
    Case(IMG_A, 0, d_btt_padding_primary, "BTT_INFO_PADDING_NONZERO"),
]

EXEMPT = {}


@pytest.mark.parametrize("case", MATRIX, ids=[c.id for c in MATRIX])
def test_matrix(case, copy_of, tmp_path):
    run_case(case, copy_of, tmp_path)


def test_devdax_conversion_is_clean(copy_of):
    """The devdax cases start from c turned into devdax (DAX block + DAX claim class): that
    alone must check clean, so each case's finding comes from its own damage."""
    img = copy_of(IMG_C)
    _, clean = run_json("-v", img, check_rc=CLEAN)
    make_devdax(img, clean, 0)
    rc, rep = run_json("-v", img)
    assert rc == CLEAN, json.dumps(rep["findings"], indent=1)
    assert rep["namespaces"][0]["personality"] == "devdax"
    assert rep["namespaces"][0]["pfn"]["verdict"] == "accepted"


# ---- where ndtk and `pmempool check` disagree on a pool: libpmemblk decides ----------------

def pmemblk_opens(path, tmp_path):
    """pmemblk_open(path, 0) on a scratch copy (open writes; bsize 0 accepts the pool's own)."""
    lib = _pmemblk()
    scratch = tmp_path / "open.scratch"
    subprocess.run(["cp", "--sparse=always", str(path), str(scratch)], check=True)
    pbp = lib.pmemblk_open(str(scratch).encode(), 0)
    if pbp:
        lib.pmemblk_close(ctypes.c_void_p(pbp))
    scratch.unlink()
    return bool(pbp)


# (damage, does libpmemblk open the pool). pmempool check calls every one of these pools
# consistent: its header step ends at a valid checksum (check_pool_hdr.c pool_hdr_checksum:
# "pool header checksum correct" -> CHECK_STEP_COMPLETE), so a re-sealed header is never looked
# at field by field, check_blk.c does not compare bsize with the BTT when the info block is
# valid, and reserved bytes are not read at all.
PMEMPOOL_DISAGREES = [
    (d_pool_major, False),        # "pool version 2 (library expects 1)"
    (d_pool_incompat, False),     # "unsafe to continue due to unknown incompat features"
    (d_pool_machine, False),      # "wrong architecture flags"
    (d_pool_prev_part, False),    # "wrong part UUID"
    (d_pool_bsize, False),        # btt_init: external_lbasize != bsize
    (d_pool_unused, True),
    (d_pool_unused2, True),
    (d_pool_crtime, True),
    (d_pool_uuid_zero, True),
    (d_pool_is_zeroed, True),
    (d_pool_sds_dirty, True),
    (d_btt_padding_both, True),
]


@pytest.mark.skipif(shutil.which("pmempool") is None or not LIBPMEMBLK,
                    reason="pmempool or libpmemblk missing")
@pytest.mark.parametrize("damage,opens", PMEMPOOL_DISAGREES,
                         ids=[d.__name__ for d, _ in PMEMPOOL_DISAGREES])
def test_pool_verdicts_where_pmempool_disagrees(damage, opens, copy_of, tmp_path):
    """pmempool says consistent; ndtk says not clean, with an error exactly when libpmemblk
    itself refuses the pool (the library that owns the format decides), else warnings about
    values no PMDK writer produces (reserved bytes, zero identity, a dirty shutdown state)."""
    img = copy_of(POOL)
    _, clean = run_json(img, check_rc=CLEAN)
    damage(img, clean, 0)
    pm = subprocess.run(["pmempool", "check", str(img)], capture_output=True, text=True)
    assert pm.returncode == 0, pm.stdout + pm.stderr
    rc, rep = run_json(img)
    assert rc == UNCORRECTED
    has_error = any(f["severity"] == "error" for f in rep["findings"])
    assert pmemblk_opens(img, tmp_path) == opens
    assert has_error == (not opens), json.dumps(rep["findings"], indent=1)


@pytest.mark.skipif(shutil.which("pmempool") is None or not LIBPMEMBLK,
                    reason="pmempool or libpmemblk missing")
@pytest.mark.parametrize("damage", [d_pool_checksum, d_pool_unused, d_btt_padding_both],
                         ids=lambda d: d.__name__)
def test_pmempool_and_libpmemblk_accept_ndtk_repairs(damage, copy_of, tmp_path):
    """After ndtk's header checksum / clear-padding repairs the pool is consistent for
    pmempool and opens in libpmemblk."""
    img = copy_of(POOL)
    _, clean = run_json(img, check_rc=CLEAN)
    damage(img, clean, 0)
    run("--repair", "--yes", "--undo", tmp_path / "undo", img, check_rc=CORRECTED)
    pm = subprocess.run(["pmempool", "check", "-v", str(img)], capture_output=True, text=True)
    assert pm.returncode == 0, pm.stdout + pm.stderr
    assert pmemblk_opens(img, tmp_path)
