"""btt-check corruption matrix for the namespace-label codes (0x02xx): each damage is made on a
real kernel image copy (a, e: v1.1 labels; c, f: v1.2 labels) by patching label slots or the
current index's free bitmap and re-sealing the Fletcher64 checksums the damage must keep valid,
then driven through btt_check_lib.run_case. CXL codes are made on a kernel image whose label
area the test converts to a CXL LSA 2.1 (index major 2 / minor 1, CXL namespace labels). The
interleave-set codes need several DIMMs: they are produced through label-dump on two image
copies (test_interleave_codes_through_label_dump)."""

import json
import struct
import subprocess

import pytest

from btt_check_lib import (BIN, CLEAN, IMG_A, IMG_C, IMG_E, IMG_F, TOOL, UNCORRECTED, Case,
                           fletcher64, patch, read, reseal, run_case, run_json)

pytestmark = pytest.mark.skipif(not TOOL.exists(), reason="btt-check not built")

ISZ = 256  # index block size of every 128 KiB kernel label area (FORMATS.md §2.2)


# ---- checksums and label-area geometry ---------------------------------------------------------

seal = reseal  # (path, off, size, csum_at)


def area(rep):
    la = rep["label_area"]
    return la["offset"], la["label_size"], la["current_index"]


def index_off(rep, which):
    return area(rep)[0] + which * ISZ


def slot_off(rep, s):
    off, lsz, _ = area(rep)
    return off + 2 * ISZ + s * lsz


def seal_index(path, rep, which):
    seal(path, index_off(rep, which), ISZ, 64)


def seal_label(path, rep, s):
    """v1.2 EFI and CXL labels carry a checksum at 248; v1.1 labels have none."""
    if area(rep)[1] == 256:
        seal(path, slot_off(rep, s), 256, 248)


def is_free(path, rep, s):
    byte = read(path, index_off(rep, area(rep)[2]) + 72 + s // 8, 1)[0]
    return bool(byte >> (s % 8) & 1)


def set_free(path, rep, s, free):
    """Set or clear slot s's bit in the current index's free bitmap and re-seal that index."""
    cur = area(rep)[2]
    at = index_off(rep, cur) + 72 + s // 8
    byte = read(path, at, 1)[0]
    byte = byte | 1 << (s % 8) if free else byte & ~(1 << (s % 8))
    patch(path, at, bytes([byte]))
    seal_index(path, rep, cur)


def ns_uuid(rep, ns):
    return bytes.fromhex(rep["namespaces"][ns]["uuid"].replace("-", ""))


def active_slot(path, rep, ns):
    """The in-use slot holding namespace ns's label (EFI: uuid at 0)."""
    want = ns_uuid(rep, ns)
    for s in range(rep["label_area"]["nslot"]):
        if not is_free(path, rep, s) and read(path, slot_off(rep, s), 16) == want:
            return s
    raise AssertionError("no active label")


def stale_slot(path, rep, ns):
    """A free slot holding an older (UPDATING) copy of namespace ns's label."""
    want = ns_uuid(rep, ns)
    for s in range(rep["label_area"]["nslot"]):
        if is_free(path, rep, s) and read(path, slot_off(rep, s), 16) == want:
            return s
    raise AssertionError("no stale copy")


def set_field(path, rep, s, field_off, data, reseal=True):
    patch(path, slot_off(rep, s) + field_off, data)
    if reseal:
        seal_label(path, rep, s)


# EFI label field offsets (FORMATS.md §3.1).
NAME, FLAGS, NLABEL, POSITION, LBASIZE, DPA, RAWSIZE, SLOT = 16, 80, 84, 86, 96, 104, 112, 120
UNUSED, RESERVED2, TYPE_GUID, ABSTRACTION, CHECKSUM = 124, 160, 128, 144, 248


def active_field(path, rep, ns, field_off, data):
    set_field(path, rep, active_slot(path, rep, ns), field_off, data)


# ---- damage: slot validity ---------------------------------------------------------------------

def d_slot_field(path, rep, ns):
    """The active label's slot field names another slot (checksum re-sealed where present)."""
    active_field(path, rep, ns, SLOT, struct.pack("<I", 5))


def d_label_content_torn(path, rep, ns):
    """A byte of the active label's name changed after it was sealed: no copy vouches for it."""
    s = active_slot(path, rep, ns)
    set_field(path, rep, s, NAME + 60, b"Z", reseal=False)


def d_label_checksum_only(path, rep, ns):
    """Only the checksum of the active label is damaged."""
    off = slot_off(rep, active_slot(path, rep, ns)) + CHECKSUM
    patch(path, off, bytes([read(path, off, 1)[0] ^ 0x5A]))


def d_flags_bit_rot(path, rep, ns):
    """A flags bit of the active label flipped: the intact UPDATING copy differs from it in more
    than the UPDATING bit, so it vouches for nothing (rewriting the checksum would seal the
    flipped bit in)."""
    s = active_slot(path, rep, ns)
    (flags,) = struct.unpack("<I", read(path, slot_off(rep, s) + FLAGS, 4))
    set_field(path, rep, s, FLAGS, struct.pack("<I", flags ^ 0x1), reseal=False)


def d_inuse_zeroed(path, rep, ns):
    s = active_slot(path, rep, ns)
    patch(path, slot_off(rep, s), bytes(area(rep)[1]))


def d_bitmap_marks_empty_slot(path, rep, ns):
    """The current index marks a never-written (all-zero) slot in use."""
    set_free(path, rep, 9, False)


def d_free_slot_junk(path, rep, ns):
    """An unused free slot holds bytes that are no label."""
    patch(path, slot_off(rep, 7), b"\xa5" * area(rep)[1])


def d_stale_copy_torn(path, rep, ns):
    """The free UPDATING copy's checksum is damaged (it is garbage now, and harmless)."""
    off = slot_off(rep, stale_slot(path, rep, ns)) + CHECKSUM
    patch(path, off, bytes([read(path, off, 1)[0] ^ 0x5A]))


# ---- damage: assembly --------------------------------------------------------------------------

def d_stale_copy_in_use(path, rep, ns):
    """The current index marks the older UPDATING copy in use too: two active labels, one uuid."""
    set_free(path, rep, stale_slot(path, rep, ns), False)


def d_dpa_into_other(path, rep, ns):
    """Namespace ns's extent moved to start inside the other namespace's extent."""
    other = rep["namespaces"][1 - ns]
    active_field(path, rep, ns, DPA, struct.pack("<Q", other["offset"] + (16 << 20)))


def d_rawsize_past_dimm(path, rep, ns):
    active_field(path, rep, ns, RAWSIZE, struct.pack("<Q", 512 << 20))


def d_position_past_nlabel(path, rep, ns):
    active_field(path, rep, ns, POSITION, struct.pack("<H", 1))


def d_nlabel_zero(path, rep, ns):
    active_field(path, rep, ns, NLABEL, struct.pack("<H", 0))


def d_namespace_deleted(path, rep, ns):
    """The current index frees the active slot (as a namespace delete does); labels stay."""
    set_free(path, rep, active_slot(path, rep, ns), True)


def d_stale_other_uuid(path, rep, ns):
    """The free slot holds the label of another (deleted) namespace."""
    s = stale_slot(path, rep, ns)
    set_field(path, rep, s, 15, bytes([read(path, slot_off(rep, s) + 15, 1)[0] ^ 0xFF]))


def d_update_interrupted(path, rep, ns):
    """Crash between the two passes of a namespace update: the index committed in pass 1 marks
    the UPDATING copy in use and the final copy free."""
    act, old = active_slot(path, rep, ns), stale_slot(path, rep, ns)
    cur = area(rep)[2]
    at = index_off(rep, cur) + 72
    bm = bytearray(read(path, at, 8))
    for s, free in ((act, True), (old, False)):
        bm[s // 8] = bm[s // 8] | 1 << (s % 8) if free else bm[s // 8] & ~(1 << (s % 8))
    patch(path, at, bytes(bm))
    seal_index(path, rep, cur)


# ---- damage: per-label fields ------------------------------------------------------------------

def d_unused_nonzero(path, rep, ns):
    active_field(path, rep, ns, UNUSED, struct.pack("<I", 1))


def d_reserved2_nonzero(path, rep, ns):
    active_field(path, rep, ns, RESERVED2 + 40, b"\x01")


def d_name_unterminated(path, rep, ns):
    active_field(path, rep, ns, NAME, b"n" * 64)


def d_uuid_zero(path, rep, ns):
    active_field(path, rep, ns, 0, bytes(16))


def d_abstraction_unknown(path, rep, ns):
    active_field(path, rep, ns, ABSTRACTION, bytes(range(1, 17)))


def d_type_guid_other(path, rep, ns):
    active_field(path, rep, ns, TYPE_GUID, bytes(range(0x20, 0x30)))


def d_rawsize_unaligned(path, rep, ns):
    s = active_slot(path, rep, ns)
    (raw,) = struct.unpack("<Q", read(path, slot_off(rep, s) + RAWSIZE, 8))
    set_field(path, rep, s, RAWSIZE, struct.pack("<Q", raw - 512))


def d_rawsize_zero(path, rep, ns):
    active_field(path, rep, ns, RAWSIZE, bytes(8))


def d_lbasize_odd(path, rep, ns):
    active_field(path, rep, ns, LBASIZE, struct.pack("<Q", 1000))


def d_lbasize_btt_sector(path, rep, ns):
    """lbasize 520: a BTT sector size, but pmem_sector_size() WARNs on it for a pmem label."""
    active_field(path, rep, ns, LBASIZE, struct.pack("<Q", 520))


def d_flag_updating(path, rep, ns):
    active_field(path, rep, ns, FLAGS, struct.pack("<I", 0x8))


def d_flag_unknown(path, rep, ns):
    active_field(path, rep, ns, FLAGS, struct.pack("<I", 0x100))


def d_bytes_past_nslot(path, rep, ns):
    """Both indexes describe 4 fewer slots (the older cfg/129 formula's 1016); the last slot
    area then holds bytes no slot covers."""
    for i in (0, 1):
        patch(path, index_off(rep, i) + 56, struct.pack("<I", 1016))
        seal_index(path, rep, i)
    off, lsz, _ = area(rep)
    patch(path, off + 2 * ISZ + 1016 * lsz + 10, b"\x5a")


# ---- CXL: the label area converted to an LSA 2.1 -----------------------------------------------

CXL_NAMESPACE_UUID = bytes.fromhex("68bb2c0a5a7749379f853caf41a0f93c")


def guid_to_uuid(g):
    """EFI GUID byte order -> UUID byte order (the first three groups are little-endian)."""
    return g[3::-1] + g[5:3:-1] + g[7:5:-1] + g[8:]


def cxl_label(efi, region_uuid):
    """The CXL namespace label (FORMATS.md §3.2) carrying a v1.2 EFI label's contents."""
    flags, _, position, _, lbasize, dpa, rawsize, slot = struct.unpack_from("<IHHQQQQI", efi, 80)
    b = bytearray(256)
    b[0:16] = CXL_NAMESPACE_UUID
    b[16:32] = efi[0:16]
    b[32:96] = efi[16:80]
    struct.pack_into("<IHHQQII", b, 96, flags, 1, position, dpa, rawsize, slot, 0)
    b[128:144] = region_uuid
    b[144:160] = guid_to_uuid(efi[144:160])
    struct.pack_into("<H", b, 160, lbasize)
    struct.pack_into("<Q", b, 248, fletcher64(bytes(b)))
    return bytes(b)


def to_cxl(path, rep):
    """Convert a v1.2 label area in place: index blocks to version 2.1 (labelsize byte 1), every
    non-empty slot to a CXL namespace label with the same contents; checksums sealed."""
    assert area(rep)[1] == 256
    region = bytes(range(0xC0, 0xD0))
    for i in (0, 1):
        patch(path, index_off(rep, i) + 60, struct.pack("<HH", 2, 1))
        seal_index(path, rep, i)
    for s in range(rep["label_area"]["nslot"]):
        efi = read(path, slot_off(rep, s), 256)
        if any(efi):
            patch(path, slot_off(rep, s), cxl_label(efi, region))


def cxl_active_slot(path, rep, ns):
    want = ns_uuid(rep, ns)
    for s in range(rep["label_area"]["nslot"]):
        if not is_free(path, rep, s) and read(path, slot_off(rep, s) + 16, 16) == want:
            return s
    raise AssertionError("no active CXL label")


def d_cxl_type(path, rep, ns):
    """CXL LSA whose active label's type UUID is neither the namespace nor the region type."""
    to_cxl(path, rep)
    s = cxl_active_slot(path, rep, ns)
    patch(path, slot_off(rep, s), bytes(range(16)))
    seal_label(path, rep, s)


def d_cxl_checksum_only(path, rep, ns):
    """CXL LSA whose active label's checksum is damaged; its UPDATING copy is intact."""
    to_cxl(path, rep)
    off = slot_off(rep, cxl_active_slot(path, rep, ns)) + CHECKSUM
    patch(path, off, bytes([read(path, off, 1)[0] ^ 0x5A]))


def d_cxl_nrange(path, rep, ns):
    to_cxl(path, rep)
    s = cxl_active_slot(path, rep, ns)
    patch(path, slot_off(rep, s) + 100, struct.pack("<H", 2))
    seal_label(path, rep, s)


# ---- the matrix --------------------------------------------------------------------------------

def report(image, ns, damage, code):
    return Case(image, ns, damage, code, outcome="report")


def note(image, ns, damage, code, rc=CLEAN):
    return Case(image, ns, damage, code, outcome="note", rc=rc)


def warning(image, ns, damage, code):
    return note(image, ns, damage, code, rc=UNCORRECTED)


MATRIX = [
    report(IMG_A, 0, d_slot_field, "LABEL_SLOT_MISMATCH"),
    report(IMG_C, 0, d_slot_field, "LABEL_SLOT_MISMATCH"),
    report(IMG_C, 0, d_label_content_torn, "LABEL_BAD_CHECKSUM"),
    report(IMG_F, 0, d_label_checksum_only, "LABEL_BAD_CHECKSUM"),  # btt-one: no other copy
    Case(IMG_C, 0, d_label_checksum_only, "LABEL_BAD_CHECKSUM_CORROBORATED"),
    Case(IMG_F, 1, d_label_checksum_only, "LABEL_BAD_CHECKSUM_CORROBORATED"),
    report(IMG_C, 0, d_flags_bit_rot, "LABEL_BAD_CHECKSUM"),
    Case(IMG_C, 0, d_cxl_checksum_only, "LABEL_BAD_CHECKSUM_CORROBORATED"),
    report(IMG_E, 0, d_inuse_zeroed, "LABEL_INUSE_EMPTY"),
    report(IMG_C, 0, d_inuse_zeroed, "LABEL_INUSE_EMPTY"),
    report(IMG_A, 0, d_bitmap_marks_empty_slot, "LABEL_INUSE_EMPTY"),
    note(IMG_A, 0, d_free_slot_junk, "LABEL_SLOT_GARBAGE"),
    note(IMG_C, 0, d_stale_copy_torn, "LABEL_SLOT_GARBAGE"),
    report(IMG_A, 0, d_stale_copy_in_use, "LABEL_DUPLICATE_UUID"),
    report(IMG_C, 0, d_stale_copy_in_use, "LABEL_DUPLICATE_UUID"),
    report(IMG_F, 1, d_dpa_into_other, "LABEL_OVERLAP"),
    report(IMG_E, 0, d_rawsize_past_dimm, "LABEL_EXTENT_OUTSIDE_DIMM"),
    report(IMG_E, 0, d_position_past_nlabel, "LABEL_NLABEL_POSITION"),
    report(IMG_C, 0, d_nlabel_zero, "LABEL_NLABEL_POSITION"),
    warning(IMG_A, 0, d_unused_nonzero, "LABEL_RESERVED_NONZERO"),
    warning(IMG_C, 0, d_reserved2_nonzero, "LABEL_RESERVED_NONZERO"),
    warning(IMG_F, 0, d_name_unterminated, "LABEL_NAME_UNTERMINATED"),
    report(IMG_E, 0, d_uuid_zero, "LABEL_ZERO_UUID"),
    warning(IMG_C, 0, d_abstraction_unknown, "LABEL_UNKNOWN_ABSTRACTION"),
    note(IMG_C, 0, d_type_guid_other, "LABEL_UNEXPECTED_TYPE_GUID"),
    warning(IMG_E, 0, d_rawsize_unaligned, "LABEL_UNALIGNED_EXTENT"),
    warning(IMG_E, 0, d_rawsize_zero, "LABEL_ZERO_RAWSIZE"),
    warning(IMG_E, 0, d_lbasize_odd, "LABEL_BAD_LBASIZE"),
    warning(IMG_F, 0, d_lbasize_btt_sector, "LABEL_BAD_LBASIZE"),
    warning(IMG_E, 0, d_flag_updating, "LABEL_UPDATING_FLAG"),
    warning(IMG_A, 0, d_update_interrupted, "LABEL_UPDATING_FLAG"),
    warning(IMG_E, 0, d_flag_unknown, "LABEL_UNKNOWN_FLAGS"),
    note(IMG_E, 0, d_namespace_deleted, "LABEL_STALE_NAMESPACE"),
    note(IMG_A, 0, d_stale_other_uuid, "LABEL_STALE_NAMESPACE"),
    note(IMG_A, 0, d_bytes_past_nslot, "LABEL_DATA_BEYOND_NSLOT"),
    report(IMG_C, 0, d_cxl_type, "LABEL_CXL_BAD_TYPE"),
    warning(IMG_C, 0, d_cxl_nrange, "LABEL_CXL_NRANGE"),
]

_MULTI = "tests/cli/test_check_matrix_labels.py::test_interleave_codes_through_label_dump"
EXEMPT = {
    code: ("interleave-set membership spans several DIMM images: btt-check reads one image, and "
           "on one DIMM of an interleaved namespace the other positions are legitimately absent "
           "(it reports NS_INTERLEAVED); label-dump groups several images and reports the code: "
           f"{_MULTI} (also tests/cli/test_label_dump.py::"
           "test_several_dimms_interleave_membership, tests/unit/label_area_test.cpp)")
    for code in ("LABEL_POSITION_MISSING", "LABEL_POSITION_DUPLICATE", "LABEL_SET_MISMATCH")
}


@pytest.mark.parametrize("case", MATRIX, ids=[c.id for c in MATRIX])
def test_label_matrix(case, copy_of, tmp_path):
    run_case(case, copy_of, tmp_path)


def test_cxl_conversion_checks_clean(copy_of):
    """The converted CXL label area alone is clean: the CXL cases damage only what they name."""
    img = copy_of(IMG_C)
    _, rep = run_json(img, check_rc=CLEAN)
    to_cxl(img, rep)
    rc, after = run_json("-v", img)
    assert rc == CLEAN, after["findings"]
    assert [n["uuid"] for n in after["namespaces"]] == [n["uuid"] for n in rep["namespaces"]]
    assert after["namespaces"][0]["personality"] == rep["namespaces"][0]["personality"]


def test_interleave_codes_through_label_dump(copy_of):
    """Two copies of one DIMM whose label claims a two-way set: both claim position 0 (duplicate,
    position 1 missing); then one copy's label names position 1 but another name (mismatch)."""
    dimms = []
    for n in (0, 1):
        img = copy_of(IMG_C)
        _, rep = run_json(img, check_rc=CLEAN)
        active_field(img, rep, 0, NLABEL, struct.pack("<HH", 2, 0))
        dimms.append(img.rename(img.with_name(f"dimm{n}.img")))

    def dump():
        p = subprocess.run([str(BIN / "label-dump"), "--json", *map(str, dimms)],
                           capture_output=True, text=True, timeout=120)
        return p.returncode, {f["code"] for r in json.loads(p.stdout) for f in r["findings"]}

    rc, found = dump()
    assert rc == 1 and {"LABEL_POSITION_DUPLICATE", "LABEL_POSITION_MISSING"} <= found, found
    active_field(dimms[1], rep, 0, POSITION, struct.pack("<H", 1))
    rc, found = dump()
    assert rc == 0 and not {"LABEL_POSITION_DUPLICATE", "LABEL_POSITION_MISSING"} & found, found
    active_field(dimms[1], rep, 0, NAME, b"other")
    rc, found = dump()
    assert rc == 1 and "LABEL_SET_MISMATCH" in found, found


def test_duplicate_uuid_is_not_called_interleaved(copy_of):
    """Two active labels with one uuid and nlabel 1 on one DIMM are a duplicate, not an
    interleave set: LABEL_DUPLICATE_UUID, no NS_INTERLEAVED note, and the namespace's bytes are
    not probed (which extent is the namespace cannot be known)."""
    img = copy_of(IMG_A)
    _, rep = run_json(img, check_rc=CLEAN)
    d_stale_copy_in_use(img, rep, 0)
    _, rep = run_json("-v", img, check_rc=UNCORRECTED)
    found = {f["code"] for f in rep["findings"]}
    assert "LABEL_DUPLICATE_UUID" in found and "NS_INTERLEAVED" not in found, found
    assert all("btt" not in n for n in rep["namespaces"])
