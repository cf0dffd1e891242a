"""Corruption matrix for the BTT log (0x04xx) and the map / block-reference (0x05xx) codes, on
real kernel images (a: BTT 1.1, f: BTT 2.0, i: label-less) and the libpmemblk pool (PMDK flog:
one 32-byte pair per lane). Each damage is a byte patch of a log slot or a map entry placed with
the offsets of the clean JSON report; the driver is btt_check_lib.run_case. Also: more damaged
map entries than one arena's listing cap (CheckOptions::max_listed)."""

import json
import struct
import subprocess

import pytest

from btt_check_lib import (CLEAN, CORRECTED, IMG_A, IMG_F, IMG_I, POOL, TOOL, UNCORRECTED, Case,
                           arena, map_entries, patch, read, run, run_case, run_json)

pytestmark = pytest.mark.skipif(not TOOL.exists(), reason="btt-check not built")

E, Z, NORMAL, MASK = 0x40000000, 0x80000000, 0xC0000000, 0x3FFFFFFF


# ---- log helpers -------------------------------------------------------------------------

def slot_off(a, lane, slot):
    return a["offset"] + a["geometry"]["logoff"] + 64 * lane + 16 * slot


def map_off(a, premap):
    return a["offset"] + a["geometry"]["mapoff"] + 4 * premap


def get_slot(path, a, lane, slot):
    return struct.unpack("<4I", read(path, slot_off(a, lane, slot), 16))


def put_slot(path, a, lane, slot, entry):
    patch(path, slot_off(a, lane, slot), struct.pack("<4I", *entry))


def group(path, a, lane):
    return [get_slot(path, a, lane, s) for s in range(4)]


def current_sub(grp):
    """Sub-slot (0/1, live slots 0 and 1) of the current entry of a valid lane."""
    s0, s1 = grp[0][3], grp[1][3]
    if s1 == 0:
        return 0
    if s0 == 0:
        return 1
    return 1 if s1 == s0 % 3 + 1 else 0


def used_lanes(path, a):
    """(lane, sub-slot, entry) of every lane whose current entry moved a block (old != new)."""
    out = []
    for lane in range(a["geometry"]["nfree"]):
        grp = group(path, a, lane)
        sub = current_sub(grp)
        cur = grp[sub]
        if cur[3] and (cur[1] & MASK) != (cur[2] & MASK):
            out.append((lane, sub, cur))
    assert out, "no used lane"
    return out


def initial_lane(path, a, start=100):
    """A lane still in its format state: slot 0 = {lane, b, b, 1}, slots 1..3 zero."""
    for lane in range(start, a["geometry"]["nfree"]):
        grp = group(path, a, lane)
        if grp[0][3] == 1 and grp[0][1] == grp[0][2] and not any(grp[1] + grp[2] + grp[3]):
            return lane, grp[0]
    raise AssertionError("no initial lane")


def set_map(path, a, premap, value):
    patch(path, map_off(a, premap), struct.pack("<I", value))


# ---- log damage ----------------------------------------------------------------------------

def d_junk_padding_slot(path, rep, ns):
    """Junk in padding slot 3 of an initial lane: log_set_indices fails for the whole arena."""
    a = arena(rep, ns)
    lane, _ = initial_lane(path, a, 7)
    put_slot(path, a, lane, 3, (1, 2, 3, 1))


def d_old_padding_scheme(path, rep, ns):
    """The whole log converted to the pre-4.15 layout: every second live entry moves 1 -> 2."""
    a = arena(rep, ns)
    for lane in range(a["geometry"]["nfree"]):
        s1 = get_slot(path, a, lane, 1)
        if any(s1):
            put_slot(path, a, lane, 2, s1)
            put_slot(path, a, lane, 1, (0, 0, 0, 0))


def d_old_scheme_seq_equal(path, rep, ns):
    """Old (0,2) layout and a used lane's seqs made equal: the rewrite must suit that scheme."""
    a = arena(rep, ns)
    lane, _, _ = used_lanes(path, a)[0]
    d_old_padding_scheme(path, rep, ns)
    s0 = get_slot(path, a, lane, 0)
    s2 = get_slot(path, a, lane, 2)
    put_slot(path, a, lane, 2, (*s2[:3], s0[3]))


def d_padding_nonzero(path, rep, ns):
    """Every used lane rewritten in ndctl's --rewrite-log form ({current, seq 1}, rest zero: a
    valid state) so the log is all-initial; then the LAST lane's entry sits in slot 3 instead
    of slot 0. log_set_indices counts padding only until it has seen two live slots, so that
    last group still looks initial and it assumes (0,1): the kernel accepts the scheme and
    reads the lane's live slots 0 and 1 as all-zero, a non-zero padding slot detection misses."""
    a = arena(rep, ns)
    for lane, sub, cur in used_lanes(path, a):
        put_slot(path, a, lane, 0, (*cur[:3], 1))
        put_slot(path, a, lane, 1, (0, 0, 0, 0))
    lane, e = initial_lane(path, a, a["geometry"]["nfree"] - 1)
    put_slot(path, a, lane, 0, (0, 0, 0, 0))
    put_slot(path, a, lane, 3, e)


def d_seq_out_of_range(path, rep, ns):
    """A used lane's current seq becomes 7: the kernel rejects the pair, PMDK picks the other."""
    a = arena(rep, ns)
    lane, sub, cur = used_lanes(path, a)[0]
    put_slot(path, a, lane, sub, (*cur[:3], 7))


def d_seq_stray_zero(path, rep, ns):
    """An initial lane's seq 1 becomes 2: pair (2,0), the kernel takes the zero slot, PMDK the
    other."""
    a = arena(rep, ns)
    lane, e = initial_lane(path, a)
    put_slot(path, a, lane, 0, (*e[:3], 2))


def d_seq_three_zero(path, rep, ns):
    a = arena(rep, ns)
    lane, e = initial_lane(path, a)
    put_slot(path, a, lane, 0, (*e[:3], 3))


def d_seq_equal(path, rep, ns):
    a = arena(rep, ns)
    lane, sub, cur = used_lanes(path, a)[0]
    other = get_slot(path, a, lane, 1 - sub)
    put_slot(path, a, lane, sub, (*cur[:3], other[3]))


def d_log_lba_oor(path, rep, ns):
    """The current entry of a used lane names an LBA past external_nlba."""
    a = arena(rep, ns)
    lane, sub, cur = used_lanes(path, a)[0]
    put_slot(path, a, lane, sub, (a["geometry"]["external_nlba"] + 3, *cur[1:]))


def d_log_initial_lba_oor(path, rep, ns):
    a = arena(rep, ns)
    lane, e = initial_lane(path, a)
    put_slot(path, a, lane, 0, (0xFFFFFFF0, *e[1:]))


def d_log_old_map_oor(path, rep, ns):
    """The current entry's old_map (the lane's free block) points past internal_nlba."""
    a = arena(rep, ns)
    lane, sub, cur = used_lanes(path, a)[0]
    bad = (cur[1] & ~MASK) | (a["geometry"]["internal_nlba"] + 2)
    put_slot(path, a, lane, sub, (cur[0], bad, cur[2], cur[3]))


def d_log_new_map_oor(path, rep, ns):
    a = arena(rep, ns)
    lane, sub, cur = used_lanes(path, a)[0]
    bad = (cur[2] & ~MASK) | (a["geometry"]["internal_nlba"] + 9)
    put_slot(path, a, lane, sub, (cur[0], cur[1], bad, cur[3]))


def d_torn_write(path, rep, ns):
    """The map update of a used lane's last write is lost (map still holds old_map)."""
    a = arena(rep, ns)
    lane, sub, cur = used_lanes(path, a)[0]
    set_map(path, a, cur[0], (cur[1] & MASK) | NORMAL)


def d_map_inconsistent(path, rep, ns):
    """map[lba] of a lane's last write swapped with another written LBA's entry: the lane's
    lba maps to neither old_map nor new_map, yet every block is still referenced once."""
    a = arena(rep, ns)
    lane, sub, cur = used_lanes(path, a)[0]
    lane_blocks, lane_lbas = set(), set()
    for l in range(a["geometry"]["nfree"]):
        for e in group(path, a, l)[:2]:
            lane_blocks |= {e[1] & MASK, e[2] & MASK}
            lane_lbas.add(e[0])
    entries = map_entries(path, a)
    z = next(p for p, e in enumerate(entries)
             if e >> 30 == 3 and p not in lane_lbas and (e & MASK) not in lane_blocks)
    lba = cur[0]
    set_map(path, a, lba, entries[z])
    set_map(path, a, z, entries[lba])


def d_log_entry_flags(path, rep, ns):
    """E in a kernel log entry's old_map: the replaced entry was in the error state (the
    kernel's btt_freelist_init scrubs that free block)."""
    a = arena(rep, ns)
    lane, sub, cur = used_lanes(path, a)[0]
    put_slot(path, a, lane, sub, (cur[0], cur[1] | E, cur[2], cur[3]))


# ---- map damage ----------------------------------------------------------------------------

def written_lba(path, a, nth=0):
    """A normal-state LBA that no lane's live entry names (so log checks stay quiet)."""
    lane_lbas = {e[0] for l in range(a["geometry"]["nfree"]) for e in group(path, a, l)[:2]}
    lbas = [(p, e) for p, e in enumerate(map_entries(path, a)) if e >> 30 == 3 and p not in lane_lbas]
    return lbas[nth]


def d_map_out_of_range(path, rep, ns):
    a = arena(rep, ns)
    p, _ = written_lba(path, a)
    set_map(path, a, p, (a["geometry"]["internal_nlba"] + 5) | NORMAL)


def d_initial_map_out_of_range(path, rep, ns):
    """An initial (identity) entry becomes normal with a block past internal_nlba."""
    a = arena(rep, ns)
    p = next(p for p, e in enumerate(map_entries(path, a)) if e == 0 and p > 1000)
    set_map(path, a, p, MASK | NORMAL)


def d_map_duplicate(path, rep, ns):
    a = arena(rep, ns)
    (p, _), (_, eq) = written_lba(path, a, 0), written_lba(path, a, 1)
    set_map(path, a, p, eq)


def d_map_takes_free_block(path, rep, ns):
    """A written LBA's map entry points at a lane's free block (its current old_map)."""
    a = arena(rep, ns)
    lane, sub, cur = used_lanes(path, a)[0]
    p, _ = written_lba(path, a)
    set_map(path, a, p, (cur[1] & MASK) | NORMAL)


def d_lanes_share_free_block(path, rep, ns):
    """An initial lane's free block replaced by another lane's: two lanes would hand out the
    same block (its own block leaks)."""
    a = arena(rep, ns)
    lane, e = initial_lane(path, a)
    other, sub, cur = used_lanes(path, a)[0]
    b = (e[1] & ~MASK) | (cur[1] & MASK)
    put_slot(path, a, lane, 0, (e[0], b, b, e[3]))


def d_lane_lost(path, rep, ns):
    """A lane group zeroed: its free block is referenced by nobody."""
    a = arena(rep, ns)
    lane, _ = initial_lane(path, a)
    patch(path, slot_off(a, lane, 0), b"\0" * 64)


def d_map_error_flag(path, rep, ns):
    """A written LBA in the error state (what the kernel writes after a media error)."""
    a = arena(rep, ns)
    p, e = written_lba(path, a)
    set_map(path, a, p, (e & MASK) | E)


def d_map_zero_flag(path, rep, ns):
    """A written LBA in the zero state (pmemblk_set_zero)."""
    a = arena(rep, ns)
    p, e = written_lba(path, a)
    set_map(path, a, p, (e & MASK) | Z)


MATRIX = [
    # 0x0401 unknown padding scheme
    Case(IMG_F, 0, d_junk_padding_slot, "BTT_LOG_UNKNOWN_PADDING"),
    Case(POOL, 0, d_junk_padding_slot, "BTT_LOG_UNKNOWN_PADDING"),
    Case(IMG_I, 0, d_lane_lost, "BTT_LOG_UNKNOWN_PADDING"),
    # 0x0402 old padding scheme (a note), and a repair in that scheme
    Case(IMG_A, 0, d_old_padding_scheme, "BTT_LOG_OLD_PADDING_SCHEME", outcome="note"),
    Case(IMG_F, 0, d_old_padding_scheme, "BTT_LOG_OLD_PADDING_SCHEME", outcome="note"),
    Case(IMG_I, 0, d_old_padding_scheme, "BTT_LOG_OLD_PADDING_SCHEME", outcome="note"),
    Case(IMG_A, 0, d_old_scheme_seq_equal, "BTT_LOG_BAD_SEQ"),
    # 0x0403 non-zero padding slot (only reachable through an all-initial log)
    Case(IMG_A, 0, d_padding_nonzero, "BTT_LOG_PADDING_NONZERO"),
    Case(IMG_I, 0, d_padding_nonzero, "BTT_LOG_PADDING_NONZERO"),
    # 0x0404 bad seq pairs
    Case(IMG_F, 0, d_seq_equal, "BTT_LOG_BAD_SEQ"),
    Case(IMG_I, 0, d_seq_equal, "BTT_LOG_BAD_SEQ"),
    Case(IMG_F, 0, d_seq_out_of_range, "BTT_LOG_BAD_SEQ"),
    Case(POOL, 0, d_seq_out_of_range, "BTT_LOG_BAD_SEQ"),
    Case(IMG_A, 0, d_seq_stray_zero, "BTT_LOG_BAD_SEQ"),
    # 0x0405 kernel and PMDK pick differently (always with a bad seq pair: repaired with it)
    Case(IMG_A, 0, d_seq_stray_zero, "BTT_LOG_SEQ_PAIR_KERNEL_PMDK_DISAGREE"),
    Case(IMG_I, 0, d_seq_three_zero, "BTT_LOG_SEQ_PAIR_KERNEL_PMDK_DISAGREE"),
    Case(POOL, 0, d_seq_three_zero, "BTT_LOG_SEQ_PAIR_KERNEL_PMDK_DISAGREE"),
    Case(IMG_F, 0, d_seq_out_of_range, "BTT_LOG_SEQ_PAIR_KERNEL_PMDK_DISAGREE"),
    # 0x0406 / 0x0407 log entries out of range: the lane's free block is then unowned and the
    # lane is rewritten with it
    Case(IMG_A, 0, d_log_lba_oor, "BTT_LOG_LBA_OUT_OF_RANGE"),
    Case(POOL, 0, d_log_lba_oor, "BTT_LOG_LBA_OUT_OF_RANGE"),
    Case(IMG_F, 0, d_log_initial_lba_oor, "BTT_LOG_LBA_OUT_OF_RANGE"),
    Case(IMG_A, 0, d_log_old_map_oor, "BTT_LOG_MAP_OUT_OF_RANGE"),
    Case(POOL, 0, d_log_old_map_oor, "BTT_LOG_MAP_OUT_OF_RANGE"),
    Case(IMG_F, 0, d_log_new_map_oor, "BTT_LOG_MAP_OUT_OF_RANGE"),
    Case(IMG_I, 0, d_log_new_map_oor, "BTT_LOG_MAP_OUT_OF_RANGE"),
    # 0x0408 torn write
    Case(IMG_F, 0, d_torn_write, "BTT_LOG_MAP_MISMATCH"),
    Case(IMG_I, 0, d_torn_write, "BTT_LOG_MAP_MISMATCH"),
    # 0x0409 map matches neither side of the lane's last write: reported, never guessed
    Case(IMG_A, 0, d_map_inconsistent, "BTT_LOG_MAP_INCONSISTENT", outcome="report"),
    Case(POOL, 0, d_map_inconsistent, "BTT_LOG_MAP_INCONSISTENT", outcome="report"),
    # 0x040a flag bits in a kernel log entry (a note)
    Case(IMG_A, 0, d_log_entry_flags, "BTT_LOG_ENTRY_FLAGS", outcome="note"),
    Case(IMG_F, 0, d_log_entry_flags, "BTT_LOG_ENTRY_FLAGS", outcome="note"),
    # 0x0501 map entry out of range
    Case(IMG_F, 0, d_map_out_of_range, "BTT_MAP_OUT_OF_RANGE"),
    Case(IMG_I, 0, d_initial_map_out_of_range, "BTT_MAP_OUT_OF_RANGE"),
    Case(POOL, 0, d_initial_map_out_of_range, "BTT_MAP_OUT_OF_RANGE"),
    # 0x0502 duplicate block
    Case(IMG_I, 0, d_map_duplicate, "BTT_BLOCK_DUPLICATE"),
    Case(POOL, 0, d_map_duplicate, "BTT_BLOCK_DUPLICATE"),
    Case(IMG_A, 0, d_map_takes_free_block, "BTT_BLOCK_DUPLICATE"),
    Case(IMG_A, 0, d_lanes_share_free_block, "BTT_BLOCK_DUPLICATE"),
    Case(POOL, 0, d_lanes_share_free_block, "BTT_BLOCK_DUPLICATE"),
    Case(POOL, 0, d_map_takes_free_block, "BTT_BLOCK_DUPLICATE"),
    # 0x0503 leaked block
    Case(IMG_F, 0, d_lane_lost, "BTT_BLOCK_LEAKED"),
    Case(POOL, 0, d_lane_lost, "BTT_BLOCK_LEAKED"),
    Case(IMG_A, 0, d_map_out_of_range, "BTT_BLOCK_LEAKED"),
    # 0x0504 / 0x0505 the map's own error and zero states (notes)
    Case(IMG_A, 0, d_map_error_flag, "BTT_MAP_ERROR_ENTRIES", outcome="note"),
    Case(POOL, 0, d_map_error_flag, "BTT_MAP_ERROR_ENTRIES", outcome="note"),
    Case(IMG_A, 0, d_map_zero_flag, "BTT_MAP_ZERO_ENTRIES", outcome="note"),
    Case(POOL, 0, d_map_zero_flag, "BTT_MAP_ZERO_ENTRIES", outcome="note"),
]

EXEMPT = {}


@pytest.mark.parametrize("case", MATRIX, ids=[c.id for c in MATRIX])
def test_log_map_matrix(case, copy_of, tmp_path):
    run_case(case, copy_of, tmp_path)


# ---- more damage than one arena's listing cap ------------------------------------------------

CAP = 1 << 16  # CheckOptions::max_listed
N = CAP + 4464  # damaged map entries, more than the cap


@pytest.fixture(scope="module")
def formatted_1g(tmp_path_factory):
    """A sparse 1 GiB label-less image with a fresh kernel-layout BTT (262 k LBAs)."""
    img = tmp_path_factory.mktemp("cap") / "cap-1g.img"
    with open(img, "wb") as f:
        f.truncate(1 << 30)
    subprocess.run([str(TOOL.parent / "btt-format"), "--sector-size", "4096", "--undo",
                    str(img) + ".format-undo", str(img)], check=True, capture_output=True)
    return img


def damage_many(path, a, kind):
    """N map entries damaged with one bytes patch: out of range, or premap p -> block p + N
    (which premap p + N still maps by identity)."""
    g = a["geometry"]
    if kind == "out-of-range":
        data = struct.pack("<I", (g["internal_nlba"] + 7) | NORMAL) * N
    else:
        data = struct.pack(f"<{N}I", *range(N | NORMAL, (2 * N) | NORMAL))
    patch(path, map_off(a, 0), data)


def problems(rep):
    """Error and warning codes (the E-flagged entries a repair leaves are a note)."""
    return {f["code"] for f in rep["findings"] if f["severity"] != "info"}


def arena_counts(rep):
    a = arena(rep)
    return a["map"]["out_of_range"], a["duplicate_blocks"], a["leaked_blocks"]


@pytest.mark.parametrize("kind", ["out-of-range", "duplicate"])
def test_damage_beyond_the_listing_cap(kind, formatted_1g, tmp_path):
    img = tmp_path / "cap.img"
    subprocess.run(["cp", "--sparse=always", str(formatted_1g), str(img)], check=True)
    _, clean = run_json(img, check_rc=CLEAN)
    a = arena(clean)
    assert a["geometry"]["external_nlba"] >= 2 * N
    damage_many(img, a, kind)
    damaged = tmp_path / "damaged.copy"
    subprocess.run(["cp", "--sparse=always", str(img), str(damaged)], check=True)

    # The true counts, and the report says the list is truncated.
    rc, rep = run_json(img, check_rc=UNCORRECTED)
    oor, dup, leaked = arena_counts(rep)
    code = "BTT_MAP_OUT_OF_RANGE" if kind == "out-of-range" else "BTT_BLOCK_DUPLICATE"
    assert (oor, dup, leaked) == ((N, 0, N) if kind == "out-of-range" else (0, N, N))
    summary = [f for f in rep["findings"] if f["code"] == code and f["detail"].startswith(f"{N} ")]
    assert summary and "truncated" in summary[0]["detail"], json.dumps(rep["findings"][-3:], indent=1)
    assert len(rep["findings"]) < 200  # summarised, not one finding per damaged entry
    before_codes = problems(rep)

    # Each --repair fixes what it lists (never a partial fix of one entry, never a new
    # problem) until the BTT is clean; every damaged LBA ends as a media error, every other
    # LBA reads as before.
    data, meta = a["offset"] + a["geometry"]["dataoff"], a["offset"] + a["geometry"]["mapoff"]
    undo = []
    remaining = N
    for round_ in range(3):
        undo.append(tmp_path / f"undo{round_}")
        rc, fixed = run_json("--repair", "--yes", "--undo", undo[-1], img)
        repair = fixed["repair"]
        assert repair["applied"]
        for w in repair["plan"]["writes"]:  # never a data block
            assert w["offset"] >= meta or w["offset"] + w["length"] <= data, w
        after = repair["after"]
        assert problems(after) <= before_codes, problems(after) - before_codes
        oor, dup, leaked = arena_counts(after)
        now = oor + dup
        assert leaked == now and now < remaining
        listed = sum(len(x["lbas"]) for x in repair["plan"]["affected_lbas"])
        assert listed == min(remaining, CAP) * (1 if kind == "out-of-range" else 2)
        remaining = now
        if rc == CORRECTED:
            break
        assert rc == UNCORRECTED
    assert remaining == 0
    run(img, check_rc=CLEAN)
    _, final = run_json(img, check_rc=CLEAN)
    entries = map_entries(img, arena(final))
    damaged_lbas = N if kind == "out-of-range" else 2 * N
    assert all(e >> 30 == 1 for e in entries[:damaged_lbas])  # E only: read as media errors
    assert not any(entries[damaged_lbas:])                    # untouched: still initial

    for u in reversed(undo):
        if u.exists():
            run("--rollback", u, img, check_rc=CLEAN)
    # Data blocks were never written (checked per plan above): compare everything else.
    assert read(img, 0, data) == read(damaged, 0, data)
    assert read(img, meta, 1 << 30) == read(damaged, meta, 1 << 30)
