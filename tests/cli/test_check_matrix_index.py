"""btt-check damage matrix for the label index blocks and free bitmap (every 0x01xx code) and the
discovery codes (IMAGE_TRUNCATED, NS_*): each case damages a real kernel image copy (or the
libpmemblk pool) and goes through btt_check_lib.run_case.

Index-field damages hit ONE index block and re-seal its Fletcher64 (unless the checksum is the
damage), so the kernel still has the other block and btt-check's rebuild-index-from-other repairs
it; damaging both blocks is LABEL_INDEX_BOTH_INVALID (report only)."""

import struct

import pytest

from btt_check_lib import (CLEAN, IMG_A, IMG_C, IMG_E, IMG_F, IMG_I, POOL, TOOL, UNCORRECTED, Case,
                           codes, kernel_sectors, patch, read, run_case, run_json)
from btt_check_lib import seal_bytes as seal

pytestmark = pytest.mark.skipif(not TOOL.exists(), reason="btt-check not built")

ISZ = 256  # index block size of QEMU's 128 KiB label area, for 128- and 256-byte labels alike
LABEL_AREA = 128 * 1024


# ---- checksums ---------------------------------------------------------------------------

# ---- label area access -----------------------------------------------------------------------

def index_off(rep, i):
    la = rep["label_area"]
    assert la["size"] == LABEL_AREA
    return la["offset"] + i * ISZ


def cur_index(rep):
    return rep["label_area"]["current_index"]


def edit_index(path, rep, i, fn, reseal=True):
    """Apply fn(bytearray) to index block i; re-seal its checksum unless told not to."""
    off = index_off(rep, i)
    b = bytearray(read(path, off, ISZ))
    fn(b)
    if reseal:
        seal(b, 64)
    patch(path, off, bytes(b))


def edit_other(path, rep, fn, reseal=True):
    edit_index(path, rep, 1 - cur_index(rep), fn, reseal)


def u32(b, off, v):
    struct.pack_into("<I", b, off, v)


def u64(b, off, v):
    struct.pack_into("<Q", b, off, v)


def get32(b, off):
    return struct.unpack_from("<I", b, off)[0]


def set_free_bit(b, bit, free=True):
    if free:
        b[72 + bit // 8] |= 1 << (bit % 8)
    else:
        b[72 + bit // 8] &= ~(1 << (bit % 8)) & 0xFF


def active_label(path, rep, ns):
    """(file offset, bytes) of the active label of namespace `ns` (current index says in use)."""
    la = rep["label_area"]
    idx = read(path, index_off(rep, cur_index(rep)), ISZ)
    lsz = la["label_size"]
    want = rep["namespaces"][ns]["offset"]
    for s in range(la["nslot"]):
        if idx[72 + s // 8] >> (s % 8) & 1:
            continue
        off = la["offset"] + 2 * ISZ + s * lsz
        lab = bytearray(read(path, off, lsz))
        if struct.unpack_from("<Q", lab, 104)[0] == want:
            return off, lab
    raise AssertionError("no active label")


def edit_label(path, rep, ns, fn):
    """Apply fn(bytearray) to the namespace's active label; v1.2 labels get their checksum
    re-sealed (v1.1 labels have none)."""
    off, lab = active_label(path, rep, ns)
    fn(lab)
    if len(lab) == 256:
        seal(lab, 248)
    patch(path, off, bytes(lab))


# ---- index damages (one block, checksum re-sealed) ------------------------------------------

def d_index_signature(path, rep, ns):
    edit_other(path, rep, lambda b: b.__setitem__(slice(0, 16), b"NAMESPACE_INDEY\0"))


def d_index_labelsize(path, rep, ns):
    """The version/labelsize pair names 512-byte labels (v1.2 rule: 1 << (7 + labelsize))."""
    def f(b):
        b[19] = 2
        struct.pack_into("<HH", b, 60, 1, 2)
    edit_other(path, rep, f)


def d_index_labelsize_128(path, rep, ns):
    """A v1.2 area's older index made to name 128-byte labels (labelsize byte 0): the kernel tries
    128-byte labels first, so that block wins and the intact v1.2 block is the one rejected.
    Which of the two is damaged cannot be told from the bytes: btt-check rebuilds neither."""
    edit_other(path, rep, lambda b: b.__setitem__(19, 0))


def d_index_bitmap_rot(path, rep, ns):
    """A bit of the free bitmap flipped after the block was written (checksum left alone)."""
    edit_other(path, rep, lambda b: b.__setitem__(72 + 5, b[72 + 5] ^ 0x10), reseal=False)


def d_index_seq_zero(path, rep, ns):
    edit_other(path, rep, lambda b: u32(b, 20, 0))


def d_index_seq_four(path, rep, ns):
    """seq 4: low two bits zero (only high bits set)."""
    edit_other(path, rep, lambda b: u32(b, 20, 4))


def d_index_myoff(path, rep, ns):
    edit_other(path, rep, lambda b: u64(b, 24, 2 * ISZ))


def d_index_otheroff(path, rep, ns):
    edit_other(path, rep, lambda b: u64(b, 40, struct.unpack_from("<Q", b, 24)[0]))


def d_index_labeloff(path, rep, ns):
    edit_other(path, rep, lambda b: u64(b, 48, 4 * ISZ))


def d_index_mysize_small(path, rep, ns):
    edit_other(path, rep, lambda b: u64(b, 32, 64))


def d_index_mysize_large(path, rep, ns):
    edit_other(path, rep, lambda b: u64(b, 32, 2 * ISZ))


def d_index_nslot(path, rep, ns):
    """nslot one more than the area holds."""
    la = rep["label_area"]
    edit_other(path, rep, lambda b: u32(b, 56, (LABEL_AREA - 2 * ISZ) // la["label_size"] + 1))


def d_index_zeroed(path, rep, ns):
    """The non-current index block never written (all zero)."""
    patch(path, index_off(rep, 1 - cur_index(rep)), bytes(ISZ))


def d_index_checksum_both(path, rep, ns):
    for i in (0, 1):
        edit_index(path, rep, i, lambda b: b.__setitem__(64, b[64] ^ 0xFF), reseal=False)


def d_index_seq_both(path, rep, ns):
    for i in (0, 1):
        edit_index(path, rep, i, lambda b: u32(b, 20, 0))


def d_index_wiped_both(path, rep, ns):
    """Both index blocks zeroed: no index at all (the label slots keep their bytes)."""
    patch(path, index_off(rep, 0), bytes(2 * ISZ))


# ---- index quirks (the kernel still accepts the blocks) --------------------------------------

def d_bitmap_tail_bits(path, rep, ns):
    """A bit set far past nslot in the current index's bitmap."""
    edit_index(path, rep, cur_index(rep), lambda b: set_free_bit(b, (ISZ - 72) * 8 - 3))


def d_bitmap_partial_tail(path, rep, ns):
    """Only some of the bits nslot..ALIGN(nslot, 64) set: neither kernel nor ndctl leaves that."""
    n = rep["label_area"]["nslot"]
    edit_index(path, rep, cur_index(rep), lambda b: set_free_bit(b, n + 1, False))


def d_bitmap_ndctl_tail(path, rep, ns):
    """Bits nslot..ALIGN(nslot, 64)-1 set, as ndctl init-labels leaves them (the kernel clears
    them): first cleared kernel-style, then set again, so the code follows the bits."""
    n = rep["label_area"]["nslot"]
    def f(b):
        for bit in range(n, -(-n // 64) * 64):
            set_free_bit(b, bit)
    edit_index(path, rep, cur_index(rep), f)


def d_seq_equal(path, rep, ns):
    """The other index made a copy of the current one with the same seq: the kernel takes index 1."""
    c = cur_index(rep)
    blk = bytearray(read(path, index_off(rep, c), ISZ))
    u64(blk, 24, (1 - c) * ISZ)
    u64(blk, 40, c * ISZ)
    seal(blk, 64)
    patch(path, index_off(rep, 1 - c), bytes(blk))


def d_seq_high_bits(path, rep, ns):
    edit_index(path, rep, cur_index(rep), lambda b: u32(b, 20, get32(b, 20) | 0x100))


def d_index_flags(path, rep, ns):
    edit_index(path, rep, cur_index(rep), lambda b: b.__setitem__(16, 0x01))


def _unknown_minor(b):
    # v1.1 -> 1.0 (still 128-byte labels), v1.2 -> 1.3 (labelsize byte still says 256)
    major, minor = struct.unpack_from("<HH", b, 60)
    struct.pack_into("<HH", b, 60, major, 0 if minor == 1 else 3)


def d_index_unknown_version(path, rep, ns):
    for i in (0, 1):
        edit_index(path, rep, i, _unknown_minor)


def d_index_mismatch(path, rep, ns):
    """The older index describes fewer slots than the current one (both stay valid)."""
    edit_other(path, rep, lambda b: u32(b, 56, get32(b, 56) - 4))


def d_nslot_formula(path, rep, ns):
    """Both indexes with nslot from the older cfg/(LSZ+1) formula (128 KiB, 128-byte labels: 1016)."""
    for i in (0, 1):
        edit_index(path, rep, i, lambda b: u32(b, 56, LABEL_AREA // 129))


# ---- discovery damages ---------------------------------------------------------------------

def d_truncate_tail(path, rep, ns):
    """The image file cut short: the last MiB (info2 and the end of the log) is gone."""
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - (1 << 20))


def d_pfn_signature(path, rep, ns):
    """The fsdax namespace's pfn info block wiped (claim class pfn, nothing at offset 4096)."""
    patch(path, rep["namespaces"][ns]["pfn"]["offset"], bytes(4096))


def d_label_rawsize_past_end(path, rep, ns):
    """The namespace's extent grown 16 MiB past the end of the DIMM's pmem."""
    edit_label(path, rep, ns, lambda b: u64(b, 112, struct.unpack_from("<Q", b, 112)[0] + (16 << 20)))


def d_label_nlabel_two(path, rep, ns):
    """The label says the namespace is interleaved over two DIMMs (position 0 of 2)."""
    edit_label(path, rep, ns, lambda b: struct.pack_into("<H", b, 84, 2))


def d_pfn_page_size(path, rep, ns):
    """pfn block created with 64 KiB pages (a powerpc kernel's PAGE_SIZE), checksum re-sealed."""
    off = rep["namespaces"][ns]["pfn"]["offset"]
    b = bytearray(read(path, off, 4096))
    u32(b, 88, 65536)
    seal(b, 4088)
    patch(path, off, bytes(b))


def d_label_rawsize_8m(path, rep, ns):
    """The namespace's label shrunk to 8 MiB (below the 16 MiB a personality needs)."""
    edit_label(path, rep, ns, lambda b: u64(b, 112, 8 << 20))


MATRIX = [
    # one index block broken, checksum re-sealed: the other is current, rebuild repairs it
    Case(IMG_A, 0, d_index_signature, "LABEL_INDEX_BAD_SIGNATURE"),
    Case(IMG_F, 0, d_index_signature, "LABEL_INDEX_BAD_SIGNATURE"),
    Case(IMG_A, 0, d_index_labelsize, "LABEL_INDEX_BAD_LABELSIZE"),
    Case(IMG_F, 0, d_index_labelsize, "LABEL_INDEX_BAD_LABELSIZE"),
    Case(IMG_F, 0, d_index_labelsize_128, "LABEL_INDEX_BAD_LABELSIZE", outcome="report"),
    Case(IMG_A, 0, d_index_bitmap_rot, "LABEL_INDEX_BAD_CHECKSUM"),
    Case(IMG_C, 0, d_index_bitmap_rot, "LABEL_INDEX_BAD_CHECKSUM"),
    Case(IMG_A, 0, d_index_seq_zero, "LABEL_INDEX_BAD_SEQ"),
    Case(IMG_F, 0, d_index_seq_four, "LABEL_INDEX_BAD_SEQ"),
    Case(IMG_A, 0, d_index_myoff, "LABEL_INDEX_BAD_MYOFF"),
    Case(IMG_F, 0, d_index_myoff, "LABEL_INDEX_BAD_MYOFF"),
    Case(IMG_A, 0, d_index_otheroff, "LABEL_INDEX_BAD_OTHEROFF"),
    Case(IMG_F, 0, d_index_otheroff, "LABEL_INDEX_BAD_OTHEROFF"),
    Case(IMG_A, 0, d_index_labeloff, "LABEL_INDEX_BAD_LABELOFF"),
    Case(IMG_F, 0, d_index_labeloff, "LABEL_INDEX_BAD_LABELOFF"),
    Case(IMG_A, 0, d_index_mysize_small, "LABEL_INDEX_BAD_MYSIZE"),
    Case(IMG_F, 0, d_index_mysize_large, "LABEL_INDEX_BAD_MYSIZE"),
    Case(IMG_A, 0, d_index_nslot, "LABEL_INDEX_BAD_NSLOT"),
    Case(IMG_F, 0, d_index_nslot, "LABEL_INDEX_BAD_NSLOT"),
    Case(IMG_E, 0, d_index_zeroed, "LABEL_INDEX_ONE_INVALID"),
    Case(IMG_F, 0, d_index_zeroed, "LABEL_INDEX_ONE_INVALID"),
    # both blocks broken: the kernel ignores every label; nothing to rebuild from
    Case(IMG_A, 0, d_index_checksum_both, "LABEL_INDEX_BOTH_INVALID", outcome="report"),
    Case(IMG_F, 0, d_index_seq_both, "LABEL_INDEX_BOTH_INVALID", outcome="report"),
    Case(IMG_A, 0, d_index_wiped_both, "LABEL_AREA_NO_INDEX", outcome="note"),
    # quirks the kernel accepts: reported only
    Case(IMG_A, 0, d_bitmap_tail_bits, "LABEL_BITMAP_TAIL_BITS", outcome="note", rc=UNCORRECTED),
    Case(IMG_F, 0, d_bitmap_partial_tail, "LABEL_BITMAP_TAIL_BITS", outcome="note", rc=UNCORRECTED),
    Case(IMG_C, 0, d_bitmap_ndctl_tail, "LABEL_BITMAP_NDCTL_TAIL", outcome="note"),
    Case(IMG_A, 0, d_seq_equal, "LABEL_INDEX_SEQ_EQUAL", outcome="note", rc=UNCORRECTED),
    Case(IMG_F, 0, d_seq_equal, "LABEL_INDEX_SEQ_EQUAL", outcome="note", rc=UNCORRECTED),
    Case(IMG_A, 0, d_seq_high_bits, "LABEL_INDEX_SEQ_HIGH_BITS", outcome="note"),
    Case(IMG_A, 0, d_index_flags, "LABEL_INDEX_FLAGS_NONZERO", outcome="note", rc=UNCORRECTED),
    Case(IMG_A, 0, d_index_unknown_version, "LABEL_INDEX_UNKNOWN_VERSION", outcome="note",
         rc=UNCORRECTED),
    Case(IMG_F, 0, d_index_unknown_version, "LABEL_INDEX_UNKNOWN_VERSION", outcome="note",
         rc=UNCORRECTED),
    Case(IMG_A, 0, d_index_mismatch, "LABEL_INDEX_MISMATCH", outcome="note", rc=UNCORRECTED),
    Case(IMG_E, 0, d_nslot_formula, "LABEL_INDEX_NSLOT_FORMULA", outcome="note"),
    # discovery
    Case(IMG_I, 0, d_truncate_tail, "IMAGE_TRUNCATED", outcome="report"),
    Case(POOL, 0, d_truncate_tail, "IMAGE_TRUNCATED", outcome="report"),
    Case(IMG_C, 0, d_pfn_signature, "NS_PERSONALITY_MISSING", outcome="report"),
    Case(IMG_A, 0, d_label_rawsize_past_end, "NS_OUTSIDE_IMAGE", outcome="report"),
    Case(IMG_A, 0, d_label_nlabel_two, "NS_INTERLEAVED", outcome="note"),
    Case(IMG_C, 0, d_pfn_page_size, "NS_PFN_UNUSABLE", outcome="report"),
    Case(IMG_F, 0, d_label_rawsize_8m, "NS_TOO_SMALL", outcome="report"),
]

_AREA_SIZE = ("QEMU's 128 KiB label area (every golden image) gives ISZ 256 under the current, "
              "the cfg/(LSZ+1) and the v4.6 formula alike, and every nslot that fits the area fits "
              "a 256-byte block's bitmap; ")
EXEMPT = {
    "LABEL_INDEX_OLD_GEOMETRY": _AREA_SIZE + "the code needs an area of another size, made as a bare "
    "label area in tests/cli/test_check_matrix_index.py::test_label_area_of_another_size "
    "(and tests/unit/label_area_test.cpp LabelAreaSynthetic.OlderKernelGeometry)",
    "LABEL_BITMAP_SHORT": _AREA_SIZE + "the code needs an area of another size (only an older "
    "formula's ISZ can be too small), made as a bare label area in "
    "tests/cli/test_check_matrix_index.py::test_label_area_of_another_size",
}


@pytest.mark.parametrize("case", MATRIX, ids=[c.id for c in MATRIX])
def test_index_matrix(case, copy_of, tmp_path):
    run_case(case, copy_of, tmp_path)


# ---- beyond the matrix -------------------------------------------------------------------

def test_current_index_damage_falls_back_to_previous_generation(copy_of, tmp_path):
    """Damage to the CURRENT index makes the kernel use the older one, whose bitmap marks the
    UPDATING copy of the label (pass 1 of the two-pass namespace create) in use. The rebuild
    keeps the kernel's choice; the namespace and every sector stay as they were, and only that
    label's UPDATING warning (report only) remains."""
    img = copy_of(IMG_A)
    _, clean = run_json(img, check_rc=CLEAN)
    c = cur_index(clean)
    edit_index(img, clean, c, lambda b: b.__setitem__(64, b[64] ^ 0x01), reseal=False)
    rc, rep = run_json("-v", img)
    assert rc == UNCORRECTED and cur_index(rep) == 1 - c
    assert {"LABEL_INDEX_BAD_CHECKSUM", "LABEL_INDEX_ONE_INVALID"} <= codes(rep)
    undo = tmp_path / "undo"
    rc, fixed = run_json("--repair", "--yes", "--undo", undo, img)
    assert rc == UNCORRECTED and fixed["repair"]["applied"]
    _, after = run_json("-v", img)
    left = {f["code"] for f in after["findings"] if f["severity"] != "info"}
    assert left == {"LABEL_UPDATING_FLAG"}, after["findings"]
    assert cur_index(after) == 1 - c
    ns0, ns1 = clean["namespaces"][0], after["namespaces"][0]
    assert (ns0["uuid"], ns0["offset"], ns0["size"]) == (ns1["uuid"], ns1["offset"], ns1["size"])
    assert kernel_sectors(img, after, 0) == kernel_sectors(img, clean, 0)


def _v11_label(uuid, slot, flags, dpa, rawsize):
    lab = bytearray(128)
    lab[0:16] = uuid
    struct.pack_into("<IHHQQQQI", lab, 80, flags, 1, 0, 0x1234, 4096, dpa, rawsize, slot)
    return lab


def _bare_area(cfg, isz, nslot, used):
    """A bare label area (as `ndctl read-labels -o` saves it) laid out with index blocks of `isz`
    bytes: index 0 current (seq 2) with `used` slots in use, index 1 seq 1 with none."""
    area = bytearray(cfg)
    for i, seq in ((0, 2), (1, 1)):
        b = bytearray(isz)
        b[0:16] = b"NAMESPACE_INDEX\0"
        struct.pack_into("<IQQQQIHH", b, 20, seq, i * isz, isz, (1 - i) * isz, 2 * isz, nslot, 1, 1)
        for s in range(min(nslot, (isz - 72) * 8)):
            if not (i == 0 and s in used):
                set_free_bit(b, s)
        seal(b, 64)
        area[i * isz:(i + 1) * isz] = b
    for s in used:
        area[2 * isz + 128 * s:2 * isz + 128 * (s + 1)] = _v11_label(bytes(range(16)), s, 0, 0, 1 << 28)
    return area


@pytest.mark.parametrize("cfg,isz,nslot,code", [
    # 256 KiB written by a v4.6 kernel: nslot cfg/129 = 2032, ISZ (cfg/129/512)*256 = 768; the
    # current formula gives ISZ 512.
    (256 * 1024, 768, 2032, "LABEL_INDEX_OLD_GEOMETRY"),
    # cfg/(LSZ+1) formula: ISZ isize(1472) = 256 (1472 bitmap bits), current ISZ 512; nslot 1479
    # still fits the area (1479*128 + 512 <= cfg) but not the bitmap.
    (1472 * 129, 256, 1479, "LABEL_BITMAP_SHORT"),
])
def test_label_area_of_another_size(cfg, isz, nslot, code, tmp_path):
    """OLD_GEOMETRY and BITMAP_SHORT need a label area whose size is not QEMU's 128 KiB (where
    every formula yields ISZ 256 and every fitting nslot fits the bitmap): a bare label area."""
    img = tmp_path / "area.bin"
    img.write_bytes(bytes(_bare_area(cfg, isz, nslot, [0])))
    before = img.read_bytes()
    rc, rep = run_json("-v", img)
    assert rep["kind"] == "label-area"
    assert code in codes(rep) and "LABEL_INDEX_OLD_GEOMETRY" in codes(rep), rep["findings"]
    assert rc == UNCORRECTED
    rc, _ = run_json("--repair", "--yes", "--undo", tmp_path / "undo", img)
    assert rc == UNCORRECTED and img.read_bytes() == before
