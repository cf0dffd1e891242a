"""Corruption matrix for the BTT info blocks and the arena chain (every 0x03xx code but
BTT_INFO_PADDING_NONZERO, plus NS_BTT_INCOMPLETE), driven by btt_check_lib.run_case.

Damage that must keep a block intact re-seals its Fletcher64. "Both copies" damage (the same
bad field in the primary and its backup) is what btt-check must report and never guess a fix
for; the same field damaged in the primary alone is restored from the backup, because the
backup is exactly what the writer laid out.

Multi-arena cases run on a sparse 1 TiB + 64 MiB label-less image formatted at test time by
btt-format (3 arenas of 4096-byte sectors: 512 GiB, 512 GiB, ~64 MiB; a check takes ~0.3 s in
a release build, so only damage that needs a later arena runs there); their sector reader
hashes every arena's map and log (the only places a fresh BTT's sectors are described)."""

import hashlib
import struct
import subprocess
import uuid as uuidlib
from pathlib import Path

import pytest

from btt_check_lib import data_extents, reseal as lib_reseal
from btt_check_lib import (BIN, IMG_A, IMG_F, IMG_I, POOL, TOOL, Case, arena, patch, read,
                           run_case)

pytestmark = pytest.mark.skipif(not TOOL.exists(), reason="btt-check not built")

BTT_FORMAT = BIN / "btt-format"
MULTI = Path("multi-arena-1T.img")  # made by btt-format at test time, never a file on disk
MULTI_SIZE = (1 << 40) + (64 << 20)  # arenas of 512 GiB, 512 GiB and ~64 MiB

# Info block field offsets (FORMATS.md §5.2).
UUID, PARENT, FLAGS, MAJOR, MINOR = 16, 32, 48, 52, 54
EXT_LBASIZE, EXT_NLBA, NFREE, INFOSIZE = 56, 60, 72, 76
NEXTOFF, DATAOFF, INFO2OFF, CHECKSUM = 80, 88, 112, 4088


# ---- helpers ---------------------------------------------------------------------------------

def reseal(path, off):
    """Recompute the checksum of the 4096-byte info block at `off`."""
    lib_reseal(path, off, 4096, CHECKSUM)


def set_field(path, off, field, fmt, value):
    """Set one info block field and keep the block intact (checksum re-sealed)."""
    patch(path, off + field, struct.pack(fmt, value))
    reseal(path, off)


def get_field(path, off, field, fmt):
    return struct.unpack(fmt, read(path, off + field, struct.calcsize(fmt)))[0]


def copies(rep, ns, index=0):
    a = arena(rep, ns, index)
    return a["offset"], a["backup_offset"]


def on_both(rep, ns, field, fmt, value_of, index=0):
    """A function damaging `field` identically in the primary and its backup (re-sealed)."""
    def apply(path):
        for off in copies(rep, ns, index):
            set_field(path, off, field, fmt, value_of(get_field(path, off, field, fmt)))
    return apply


# ---- single-arena damage -------------------------------------------------------------------

def d_signature(path, rep, ns):
    patch(path, arena(rep, ns)["offset"], b"BTT_ARENA_INF0\0\0")


def d_checksum(path, rep, ns):
    off = arena(rep, ns)["offset"] + CHECKSUM
    patch(path, off, bytes([read(path, off, 1)[0] ^ 0x01]))


def d_backup_checksum(path, rep, ns):
    off = arena(rep, ns)["backup_offset"] + CHECKSUM + 7
    patch(path, off, bytes([read(path, off, 1)[0] ^ 0x80]))


def d_backup_uuid(path, rep, ns):
    """The backup of another format of this namespace (same layout, other BTT uuid): intact,
    different; the kernel reads the primary, so the backup is restored from it."""
    set_field(path, arena(rep, ns)["backup_offset"], UUID, "16s", uuidlib.uuid4().bytes)


def d_backup_nextoff(path, rep, ns):
    """An intact backup with a layout field the writer would not produce."""
    set_field(path, arena(rep, ns)["backup_offset"], NEXTOFF, "<Q", 512 << 30)


def d_both_zeroed(path, rep, ns):
    a = arena(rep, ns)
    patch(path, a["offset"], bytes(4096))
    patch(path, a["backup_offset"], bytes(4096))


def d_primary_parent(path, rep, ns):
    """parent_uuid of another namespace, re-sealed: nd_btt_arena_is_valid rejects the block."""
    set_field(path, arena(rep, ns)["offset"], PARENT, "16s", uuidlib.uuid4().bytes)


def d_both_parent(path, rep, ns):
    on_both(rep, ns, PARENT, "16s", lambda _: uuidlib.uuid4().bytes)(path)


def d_primary_infosize(path, rep, ns):
    set_field(path, arena(rep, ns)["offset"], INFOSIZE, "<I", 512)


def d_both_wrong_differently(path, rep, ns):
    """Both copies intact but each with its own wrong field: neither is the writer's, so the
    backup is not overwritten with the primary (that would trade one wrong block for another)."""
    set_field(path, arena(rep, ns)["offset"], INFOSIZE, "<I", 512)
    set_field(path, arena(rep, ns)["backup_offset"], NEXTOFF, "<Q", 512 << 30)


def d_primary_dataoff(path, rep, ns):
    set_field(path, arena(rep, ns)["offset"], DATAOFF, "<Q", 8192)


def d_primary_info2off(path, rep, ns):
    """info2off pointing into the log: the backup must still be found where the writer put it
    (and no repair may write there)."""
    set_field(path, arena(rep, ns)["offset"], INFO2OFF, "<Q",
              arena(rep, ns)["geometry"]["info2off"] - 4096)


def d_primary_version_unknown(path, rep, ns):
    set_field(path, arena(rep, ns)["offset"], MAJOR, "<H", 3)


def d_both_version_unknown(path, rep, ns):
    on_both(rep, ns, MAJOR, "<H", lambda _: 3)(path)


def d_both_version_11(path, rep, ns):
    """A 1.1 block where the BTT2 claim class puts a 2.0 one (namespace offset 0)."""
    for off in copies(rep, ns):
        patch(path, off + MAJOR, struct.pack("<HH", 1, 1))
        reseal(path, off)


def d_both_version_20(path, rep, ns):
    """A 2.0 block at namespace offset 4096, where only 1.1 belongs."""
    for off in copies(rep, ns):
        patch(path, off + MAJOR, struct.pack("<HH", 2, 0))
        reseal(path, off)


def d_both_infosize(path, rep, ns):
    on_both(rep, ns, INFOSIZE, "<I", lambda _: 512)(path)


def d_both_nfree_zero(path, rep, ns):
    on_both(rep, ns, NFREE, "<I", lambda _: 0)(path)


def d_both_nlba(path, rep, ns):
    on_both(rep, ns, EXT_NLBA, "<I", lambda v: v - 1)(path)


def d_both_lbasize(path, rep, ns):
    on_both(rep, ns, EXT_LBASIZE, "<I", lambda _: 1000)(path)


def d_both_dataoff(path, rep, ns):
    on_both(rep, ns, DATAOFF, "<Q", lambda _: 8192)(path)


def d_both_info2off(path, rep, ns):
    on_both(rep, ns, INFO2OFF, "<Q", lambda v: v - 4096)(path)


def d_both_nextoff(path, rep, ns):
    """A single-arena BTT claiming a next arena 1 GiB on (past the namespace)."""
    on_both(rep, ns, NEXTOFF, "<Q", lambda _: 1 << 30)(path)


def d_both_error_flag(path, rep, ns):
    """What libpmemblk persists after a failed map update (both copies, re-sealed)."""
    on_both(rep, ns, FLAGS, "<I", lambda _: 1)(path)


def d_both_unknown_flag(path, rep, ns):
    on_both(rep, ns, FLAGS, "<I", lambda _: 0x10)(path)


# ---- multi-arena image and damage ----------------------------------------------------------

def multi_sectors(path, rep, ns, tmp_path):
    """Per arena: the hash of its map and of its log, read through the file's data extents
    (a fresh TiB BTT is almost all holes; the map is all-initial, so it describes every sector)."""
    out = []
    extents = data_extents(path)
    with open(path, "rb") as f:
        for a in rep["namespaces"][ns]["btt"]["arenas"]:
            g = a["geometry"]
            for lo, hi in ((g["mapoff"], g["logoff"]), (g["logoff"], g["info2off"])):
                out.append(("region", _hash_range(f, extents, a["offset"] + lo, a["offset"] + hi)))
    return out


def _hash_range(f, extents, lo, hi):
    h = hashlib.sha1()
    for s, e in extents:
        s, e = max(s, lo), min(e, hi)
        if s < e:
            f.seek(s)
            h.update(struct.pack("<Q", s))
            h.update(f.read(e - s).rstrip(b"\0"))
    return h.hexdigest()


def m_arena1_checksum(path, rep, ns):
    off = arena(rep, ns, 1)["offset"] + CHECKSUM
    patch(path, off, bytes([read(path, off, 1)[0] ^ 0x01]))


def m_arena1_signature(path, rep, ns):
    patch(path, arena(rep, ns, 1)["offset"], bytes(16))


def m_arena2_zeroed(path, rep, ns):
    """An interrupted format: the last arena's primary (written last) never made it."""
    patch(path, arena(rep, ns, 2)["offset"], bytes(4096))


def m_arena1_both(path, rep, ns):
    a = arena(rep, ns, 1)
    patch(path, a["offset"], bytes(4096))
    patch(path, a["backup_offset"], bytes(4096))


def m_arena1_primary_uuid(path, rep, ns):
    set_field(path, arena(rep, ns, 1)["offset"], UUID, "16s", uuidlib.uuid4().bytes)


def m_arena1_both_uuid(path, rep, ns):
    u = uuidlib.uuid4().bytes
    on_both(rep, ns, UUID, "16s", lambda _: u, index=1)(path)


def m_arena0_primary_nextoff(path, rep, ns):
    """Arena 0's primary (re-sealed) sends the chain to 256 GiB, where no arena starts."""
    set_field(path, arena(rep, ns, 0)["offset"], NEXTOFF, "<Q", 256 << 30)


def multi(damage, code, outcome="repair", rc=None):
    return Case(MULTI, 0, damage, code, outcome, rc, sectors=multi_sectors)


def note(image, ns, damage, code):
    """A Warning with no repair: reported (exit 4) and left as is by --repair."""
    return Case(image, ns, damage, code, "note", rc=4)


MATRIX = [
    # identity of one copy: restored from the other
    Case(IMG_F, 0, d_signature, "BTT_INFO_BAD_SIGNATURE"),
    Case(POOL, 0, d_signature, "BTT_INFO_BAD_SIGNATURE"),
    Case(IMG_A, 0, d_checksum, "BTT_INFO_BAD_CHECKSUM"),
    Case(IMG_I, 0, d_checksum, "BTT_INFO_BAD_CHECKSUM"),
    Case(IMG_F, 0, d_backup_checksum, "BTT_INFO2_BAD"),
    Case(IMG_I, 0, d_backup_checksum, "BTT_INFO2_BAD"),
    Case(IMG_A, 0, d_backup_uuid, "BTT_INFO2_MISMATCH"),
    Case(IMG_F, 0, d_backup_uuid, "BTT_INFO2_MISMATCH"),
    Case(POOL, 0, d_backup_nextoff, "BTT_INFO2_MISMATCH"),
    Case(IMG_A, 0, d_both_wrong_differently, "BTT_INFO2_MISMATCH", "report"),
    Case(IMG_A, 0, d_both_zeroed, "BTT_INFO_BOTH_BAD"),
    multi(m_arena1_both, "BTT_INFO_BOTH_BAD"),
    Case(IMG_A, 0, d_primary_parent, "BTT_INFO_PARENT_UUID"),
    Case(POOL, 0, d_primary_parent, "BTT_INFO_PARENT_UUID"),
    Case(IMG_F, 0, d_both_parent, "BTT_INFO_PARENT_UUID", "report"),
    # the arena chain: the kernel refuses the whole BTT until the later arena is restored
    multi(m_arena1_checksum, "BTT_ARENA_CHAIN_BROKEN"),
    multi(m_arena2_zeroed, "BTT_ARENA_CHAIN_BROKEN"),
    multi(m_arena1_signature, "NS_BTT_INCOMPLETE"),
    # an intact primary describing another layout: the backup is the writer's, restore from it
    multi(m_arena0_primary_nextoff, "BTT_INFO_NEXTOFF"),
    multi(m_arena1_primary_uuid, "BTT_INFO_UUID_INCONSISTENT"),
    Case(IMG_A, 0, d_primary_infosize, "BTT_INFO_INFOSIZE"),
    Case(IMG_I, 0, d_primary_infosize, "BTT_INFO_GEOMETRY_MISMATCH"),
    Case(IMG_A, 0, d_primary_dataoff, "BTT_INFO_OFFSETS"),
    Case(IMG_A, 0, d_primary_info2off, "BTT_INFO_INFO2OFF"),
    Case(IMG_I, 0, d_primary_version_unknown, "BTT_INFO_VERSION_UNKNOWN"),
    # both copies agree on a wrong field: reported, never guessed
    Case(IMG_A, 0, d_both_version_unknown, "BTT_INFO_VERSION_UNKNOWN", "report"),
    Case(IMG_F, 0, d_both_version_11, "BTT_INFO_VERSION_OFFSET", "report"),
    Case(IMG_A, 0, d_both_version_20, "BTT_INFO_VERSION_OFFSET", "report"),
    Case(IMG_A, 0, d_both_nfree_zero, "BTT_INFO_NFREE", "report"),
    Case(IMG_A, 0, d_both_nlba, "BTT_INFO_NLBA_MISMATCH", "report"),
    Case(IMG_A, 0, d_both_lbasize, "BTT_INFO_LBASIZE", "report"),
    Case(IMG_A, 0, d_both_dataoff, "BTT_INFO_OFFSETS", "report"),
    Case(IMG_A, 0, d_both_info2off, "BTT_INFO_INFO2OFF", "report"),
    Case(IMG_I, 0, d_both_nextoff, "BTT_INFO_NEXTOFF", "report"),
    multi(m_arena1_both_uuid, "BTT_INFO_UUID_INCONSISTENT", "report"),
    # warnings without a repair
    note(IMG_A, 0, d_both_infosize, "BTT_INFO_INFOSIZE"),
    note(IMG_F, 0, d_both_infosize, "BTT_INFO_GEOMETRY_MISMATCH"),
    note(IMG_A, 0, d_both_error_flag, "BTT_INFO_ERROR_FLAG"),
    note(POOL, 0, d_both_error_flag, "BTT_INFO_ERROR_FLAG"),
    note(IMG_I, 0, d_both_unknown_flag, "BTT_INFO_FLAGS_UNKNOWN"),
]

# BTT_INFO_PADDING_NONZERO is engineer h5's (the clear-padding planner and its case).
EXEMPT = {}


@pytest.fixture(scope="session")
def formatted_multi(tmp_path_factory):
    """A sparse 1 TiB + 64 MiB label-less image with a fresh 3-arena BTT 1.1 (4096-byte sectors)."""
    img = tmp_path_factory.mktemp("multi") / MULTI.name
    with open(img, "wb") as f:
        f.truncate(MULTI_SIZE)
    subprocess.run([str(BTT_FORMAT), str(img), "--sector-size", "4096", "--undo",
                    str(img) + ".format-undo"], check=True, capture_output=True)
    return img


@pytest.mark.parametrize("case", MATRIX, ids=[c.id for c in MATRIX])
def test_btt_info_matrix(case, copy_of, formatted_multi, tmp_path):
    if case.image == MULTI:
        def copy_multi(_):
            dst = tmp_path / MULTI.name
            subprocess.run(["cp", "--sparse=always", str(formatted_multi), str(dst)], check=True)
            return dst
        run_case(case, copy_multi, tmp_path)
    else:
        run_case(case, copy_of, tmp_path)


def test_multi_arena_image_has_three_arenas(formatted_multi):
    from btt_check_lib import run_json
    _, rep = run_json(formatted_multi, check_rc=0)
    assert [a["geometry"]["nextoff"] for a in rep["namespaces"][0]["btt"]["arenas"]] == \
        [512 << 30, 512 << 30, 0]
