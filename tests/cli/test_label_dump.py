"""label-dump end to end: golden text and JSON for every shipped image, agreement with the ndctl
output recorded in each kernel image's manifest, and crafted damage (index blocks, label
checksum, truncation, overlapping extents, stale labels, interleave members), the annotated hex
view, exit codes and read-only behaviour.

Golden files live in tests/cli/golden/label-dump/<image>.txt|.json; regenerate them with
NDTK_UPDATE_GOLDEN=1 after an intended output change (and review the diff)."""

import hashlib
import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from btt_check_lib import patch, read, reseal

BIN = Path(os.environ.get("NDTK_BIN", "build/bin")).resolve()
SRC = Path(os.environ.get("NDTK_SRC", ".")).resolve()
TOOL = BIN / "label-dump"
GOLDEN = SRC / "tests" / "cli" / "golden" / "label-dump"
UPDATE = os.environ.get("NDTK_UPDATE_GOLDEN") == "1"
KERNEL_IMAGES = sorted(p.name[: -len(".img.zst")]
                       for p in (SRC / "tests" / "images" / "kernel").glob("*.img.zst"))
PMDK_IMAGES = sorted(p.name[: -len(".pool.zst")]
                     for p in (SRC / "tests" / "images" / "pmdk").glob("*.pool.zst"))
MiB = 1 << 20
LABELS = 128 * 1024
PMEM = 256 * MiB  # every kernel image: 256 MiB of pmem, then a 128 KiB label area

pytestmark = pytest.mark.skipif(not TOOL.exists(), reason=f"{TOOL} not built")

# Images whose contents are inconsistent on purpose (exit 1); every other one is consistent.
EXPECTED_RC = {"pmdk/blk4096-info-flip": 1}

IMAGE_KEYS = ["image", "image_size", "kind", "layout", "label_area", "current_index",
              "current_index_reason", "index", "label", "namespaces", "stale_namespaces",
              "interleave_sets", "findings", "consistent"]
INDEX_KEYS = ["signature", "major", "minor", "labelsize", "seq", "nslot", "index", "offset",
              "labelsize_field", "flags", "myoff", "mysize", "otheroff", "labeloff", "checksum",
              "checksum_computed", "checksum_valid", "valid", "current", "free_bitmap", "problems"]
NS_KEYS = {"mode", "size", "uuid", "sector_size", "label_uuid", "raw_size", "offset",
           "claim_class", "lbasize", "stale", "dpa_ranges", "bytes_present", "info_block",
           "personality_missing", "personality_note"}


def run(*args, rc=None, cwd=SRC):
    p = subprocess.run([str(TOOL), *map(str, args)], capture_output=True, text=True,
                       timeout=120, cwd=cwd)
    if rc is not None:
        assert p.returncode == rc, f"rc {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p


def run_json(*args, rc=None):
    p = run("--json", *args, rc=rc)
    out = json.loads(p.stdout)
    assert isinstance(out, list)
    return out


def rel_image(name):
    kind, base = name.split("/")
    ext = ".img.zst" if kind == "kernel" else ".pool.zst"
    return f"tests/images/{kind}/{base}{ext}"


def manifest(name):
    return json.loads((SRC / "tests" / "images" / "kernel" / f"{name}.json").read_text())


def decompress(name, tmp_path):
    out = tmp_path / f"{name}.img"
    subprocess.run(["zstd", "-d", "-q", "-f", "-o", str(out),
                    str(SRC / "tests" / "images" / "kernel" / f"{name}.img.zst")], check=True)
    return out


def fix_label_checksum(path, slot_off, size=256):
    reseal(path, slot_off, size, 248)


def fix_index_checksum(path, idx_off, size=256):
    reseal(path, idx_off, size, 64)


def codes(image_json):
    return [f["code"] for f in image_json["findings"]]


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---- golden output on every shipped image --------------------------------------------------

ALL_IMAGES = [f"kernel/{n}" for n in KERNEL_IMAGES] + [f"pmdk/{n}" for n in PMDK_IMAGES]


def check_golden(path, text):
    assert str(SRC) not in text, "golden output must not hold absolute paths"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with NDTK_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"output differs from {path}"


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_golden_text(name):
    p = run(rel_image(name), rc=EXPECTED_RC.get(name, 0))
    assert p.stderr == ""
    assert p.stdout.startswith(f"== {rel_image(name)}\n")
    check_golden(GOLDEN / (name.split("/")[1] + ".txt"), p.stdout)


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_golden_json(name):
    p = run("--json", rel_image(name), rc=EXPECTED_RC.get(name, 0))
    out = json.loads(p.stdout)
    assert len(out) == 1 and list(out[0].keys()) == IMAGE_KEYS
    img = out[0]
    assert img["image"] == rel_image(name)
    assert img["consistent"] == (EXPECTED_RC.get(name, 0) == 0)
    for idx in img["index"]:
        assert list(idx.keys()) == INDEX_KEYS
    for ns in img["namespaces"] + img["stale_namespaces"]:
        assert NS_KEYS <= set(ns.keys())
    check_golden(GOLDEN / (name.split("/")[1] + ".json"), p.stdout)


# ---- agreement with ndctl ----------------------------------------------------------------

@pytest.mark.parametrize("name", KERNEL_IMAGES)
def test_agrees_with_ndctl(name):
    nd = manifest(name)["ndctl"]
    (img,) = run_json(rel_image(f"kernel/{name}"), rc=0)

    # Index blocks and labels: ndctl read-labels -j.
    if nd["read_labels"] is None:  # label-less DIMM
        assert img["label_area"] is None and img["index"] == [] and img["label"] == []
    else:
        (dimm,) = nd["read_labels"]
        assert len(img["index"]) == len(dimm["index"]) == 2
        for ours, theirs in zip(img["index"], dimm["index"]):
            for k, v in theirs.items():
                assert ours[k] == v, (k, ours[k], v)
        ours_by_slot = {l["slot_index"]: l for l in img["label"]}
        assert sorted(ours_by_slot) == sorted(l["slot"] for l in dimm["label"])
        for theirs in dimm["label"]:
            ours = ours_by_slot[theirs["slot"]]
            for k, v in theirs.items():
                assert ours[k] == v, (theirs["slot"], k, ours[k], v)
            assert "type_guid" in ours or "type_guid" not in theirs
        # ndtk's own judgement: the current index's bitmap decides active vs stale.
        cur = img["index"][img["current_index"]]
        used = {s for a, b in cur["free_bitmap"]["used_slots"] for s in range(a, b + 1)}
        for l in img["label"]:
            assert l["state"] == ("active" if l["slot_index"] in used else "stale")

    # Namespaces: ndctl list (namespaces of size 0 are ndctl's seeds, not on media).
    listed = [ns for r in nd["list"]["regions"] for ns in r["namespaces"] if ns["size"] > 0]
    assert len(img["namespaces"]) == len(listed)
    ours_by_uuid = {ns["uuid"]: ns for ns in img["namespaces"]}
    for theirs in listed:
        ours = ours_by_uuid[theirs["uuid"]]
        for k in ("mode", "size", "uuid", "raw_uuid", "sector_size", "align", "name", "map"):
            assert ours.get(k) == theirs.get(k), (k, ours.get(k), theirs.get(k))
        # ndctl read-infoblock: every field it printed for this namespace.
        for block in nd["read_infoblock"].get(theirs["dev"], []):
            info = ours["info_block"]
            assert info is not None and info["in_use"]
            for k, v in block.items():
                if k != "dev":
                    assert info[k] == v, (k, info[k], v)
    assert img["stale_namespaces"] == []


# ---- crafted damage ------------------------------------------------------------------------

def test_one_index_corrupt_uses_the_other(tmp_path):
    img = decompress("c-fsdax-labels1.2", tmp_path)
    # Index 0 (seq 2) is current; break its checksum.
    patch(img, PMEM + 64, b"\xde\xad")
    (j,) = run_json(img, rc=1)
    assert j["current_index"] == 1 and "only index 1 is valid" in j["current_index_reason"]
    i0, i1 = j["index"]
    assert not i0["valid"] and not i0["checksum_valid"] and not i0["current"]
    assert i0["checksum"] != i0["checksum_computed"]
    assert [p["code"] for p in i0["problems"]] == ["LABEL_INDEX_BAD_CHECKSUM"]
    assert i1["valid"] and i1["current"]
    assert "LABEL_INDEX_ONE_INVALID" in codes(j)
    # Index 1 is the older one: its bitmap has the UPDATING copy (slot 0) in use.
    states = {l["slot_index"]: l["state"] for l in j["label"]}
    assert states == {0: "active", 1: "stale"}
    assert [ns["raw_uuid"] for ns in j["namespaces"]] == ["c5f4ff8d-73f4-4e47-b9a3-dde40cf9e91c"]
    text = run(img, rc=1).stdout
    assert "index 0 @0x10000000: INVALID" in text
    assert "current: index 1 (only index 1 is valid)" in text


def test_both_indexes_corrupt(tmp_path):
    img = decompress("c-fsdax-labels1.2", tmp_path)
    patch(img, PMEM + 64, b"\xde\xad")
    patch(img, PMEM + 256 + 64, b"\xbe\xef")
    (j,) = run_json(img, rc=1)
    assert j["current_index"] is None
    assert [i["valid"] for i in j["index"]] == [False, False]
    assert "LABEL_INDEX_BOTH_INVALID" in codes(j)
    assert j["namespaces"] == []
    # Nothing is in use, so the intact labels describe a recoverable namespace.
    assert {l["state"] for l in j["label"]} == {"stale"}
    (st,) = j["stale_namespaces"]
    assert st["stale"] and st["label_uuid"] == "c5f4ff8d-73f4-4e47-b9a3-dde40cf9e91c"
    text = run(img, rc=1).stdout
    assert "current: none" in text and "STALE namespace c5f4ff8d" in text


def test_label_bad_checksum(tmp_path):
    img = decompress("f-two-namespaces-labels1.2", tmp_path)
    slot1 = PMEM + 512 + 256
    patch(img, slot1 + 16, b"X")  # "btt-one" -> "Xtt-one", checksum left stale
    (j,) = run_json(img, rc=1)
    lab = next(l for l in j["label"] if l["slot_index"] == 1)
    assert lab["state"] == "garbage" and lab["in_use"] and not lab["slot_valid"]
    assert not lab["checksum_valid"] and lab["checksum"] != lab["checksum_computed"]
    assert "LABEL_BAD_CHECKSUM" in codes(j)
    assert [ns["name"] for ns in j["namespaces"]] == ["fsdax-two"]
    # The annotated view pins the failure on the checksum field.
    ann = run("--annotate", "slot:1", img, rc=1).stdout
    row = next(r for r in ann.splitlines() if r.startswith("+0x0f8"))
    assert " checksum " in row and " BAD " in row
    assert "checksum INVALID" in ann
    aj = json.loads(run("--annotate", "slot:1", "--json", img, rc=1).stdout)
    (ck,) = [f for f in aj["fields"] if f["name"] == "checksum"]
    assert ck["valid"] is False and ck["offset"] == 248
    assert all(f["valid"] for f in aj["fields"] if f["name"] not in ("checksum",))


def test_pfn_block_the_kernel_refuses(tmp_path):
    img = decompress("c-fsdax-labels1.2", tmp_path)
    patch(img, 4096 + 200, b"\x01")  # a padding byte: padding and checksum now wrong
    (j,) = run_json(img, rc=1)
    (ns,) = j["namespaces"]
    info = ns["info_block"]
    assert info["type"] == "pfn" and not info["in_use"] and not info["kernel_accepts"]
    assert not info["checksum_valid"] and not info["padding_zero"]
    assert info["kernel_verdict"] == "not-detected"
    assert (info["dataoff"], info["npfns"], info["align"]) == (6 * MiB, 64000, 2 * MiB)
    assert ns["personality_missing"] and "NS_PERSONALITY_MISSING" in codes(j)
    text = run(img, rc=1).stdout
    assert "pfn info block at +0x1000 (image 0x1000): NOT used" in text


def test_truncated_dimm_image(tmp_path):
    img = decompress("a-sector4096-labels1.1", tmp_path)
    os.truncate(img, PMEM + 64 * 1024)  # the copy stopped half way through the label area
    (j,) = run_json(img, rc=1)
    assert j["label_area"]["source"] == "recovered" and j["label_area"]["offset"] == PMEM
    assert j["label_area"]["size"] == 64 * 1024
    assert "IMAGE_TRUNCATED" in codes(j)
    assert all("LABEL_INDEX_BAD_NSLOT" in [p["code"] for p in i["problems"]] for i in j["index"])
    # The labels themselves survived the cut and are reported.
    assert [l["slot_index"] for l in j["label"]] == [0, 1]


def test_truncated_bare_label_area(tmp_path):
    img = decompress("c-fsdax-labels1.2", tmp_path)
    area = tmp_path / "area.bin"
    area.write_bytes(read(img, PMEM, 64 * 1024))
    (j,) = run_json(area, rc=1)
    assert j["label_area"]["source"] == "recovered" and j["label_area"]["offset"] == 0
    assert "IMAGE_TRUNCATED" in codes(j)
    tiny = tmp_path / "tiny.bin"
    tiny.write_bytes(read(img, PMEM, 600))
    p = run(tiny, rc=2)
    assert p.stdout == "" and len(p.stderr.splitlines()) == 1
    assert str(tiny) in p.stderr and "truncated" in p.stderr


def test_overlapping_dpa_ranges(tmp_path):
    img = decompress("f-two-namespaces-labels1.2", tmp_path)
    slot1 = PMEM + 512 + 256  # btt-one: dpa 0, 64 MiB -> grow it over fsdax-two at 64 MiB
    patch(img, slot1 + 112, struct.pack("<Q", 128 * MiB))
    fix_label_checksum(img, slot1)
    (j,) = run_json(img, rc=1)
    assert all(l["checksum_valid"] for l in j["label"])
    (ov,) = [f for f in j["findings"] if f["code"] == "LABEL_OVERLAP"]
    assert "0x4000000" in ov["detail"] and ov["severity"] == "error"


def test_stale_label_is_recoverable(tmp_path):
    img = decompress("c-fsdax-labels1.2", tmp_path)
    # Delete the namespace the way the kernel does: free its slot in the current index.
    bitmap = bytearray(read(img, PMEM + 72, 1))
    bitmap[0] |= 0x02
    patch(img, PMEM + 72, bytes(bitmap))
    fix_index_checksum(img, PMEM)
    (j,) = run_json(img, rc=0)
    assert j["namespaces"] == []
    assert {l["state"] for l in j["label"]} == {"stale"}
    (st,) = j["stale_namespaces"]
    assert st["stale"] is True and st["raw_uuid"] == "c5f4ff8d-73f4-4e47-b9a3-dde40cf9e91c"
    assert st["mode"] == "fsdax" and st["info_block"]["type"] == "pfn"
    assert "LABEL_STALE_NAMESPACE" in codes(j)
    text = run(img, rc=0).stdout
    assert "Stale namespaces (recoverable from stale labels): 1" in text
    assert "STALE namespace c5f4ff8d-73f4-4e47-b9a3-dde40cf9e91c: fsdax" in text


def test_bare_and_explicit_label_area(tmp_path):
    img = decompress("f-two-namespaces-labels1.2", tmp_path)
    area = tmp_path / "labels.bin"
    area.write_bytes(read(img, PMEM, LABELS))
    (bare,) = run_json(area, rc=0)
    assert bare["label_area"]["source"] == "bare" and bare["kind"] == "label-area"
    assert sorted(ns["name"] for ns in bare["namespaces"]) == ["btt-one", "fsdax-two"]
    assert all(not ns["bytes_present"] and ns["info_block"] is None for ns in bare["namespaces"])
    (dimm,) = run_json(img, rc=0)
    (expl,) = run_json("--label-offset", str(PMEM), "--label-size", "128K", img, rc=0)
    assert expl["label_area"]["source"] == "explicit"
    assert expl["label"] == dimm["label"] and expl["namespaces"] == dimm["namespaces"]
    strip = lambda ls: [{k: v for k, v in l.items() if k != "offset"} for l in ls]
    assert strip(bare["label"]) == strip(dimm["label"])
    p = run("--label-offset", str(PMEM), "--label-size", "1M", img, rc=2)
    assert str(img) in p.stderr and len(p.stderr.splitlines()) == 1


def interleaved_copy(tmp_path, name, position):
    img = decompress("c-fsdax-labels1.2", tmp_path)
    dst = tmp_path / name
    img.rename(dst)
    slot1 = PMEM + 512 + 256
    patch(dst, slot1 + 84, struct.pack("<HH", 2, position))  # nlabel 2, this DIMM's position
    fix_label_checksum(dst, slot1)
    return dst


def test_several_dimms_interleave_membership(tmp_path):
    d0 = interleaved_copy(tmp_path, "dimm0.img", 0)
    d1 = interleaved_copy(tmp_path, "dimm1.img", 1)
    # One DIMM of a two-way set: the set shows the missing member.
    (alone,) = run_json(d0, rc=0)
    (s,) = alone["interleave_sets"]
    assert s["nlabel"] == 2 and s["missing"] == [1] and not s["complete"]
    assert alone["namespaces"][0]["info_block"] is None  # interleaved: bytes not probed
    # Both members: complete, each member named by its image.
    both = run_json(d0, d1, rc=0)
    for img in both:
        (s,) = img["interleave_sets"]
        assert s["complete"] and s["missing"] == []
        assert [(m["image"], m["position"]) for m in s["members"]] == [(str(d0), 0), (str(d1), 1)]
    # The same DIMM twice: position 0 duplicated, position 1 missing.
    d0b = tmp_path / "dimm0b.img"
    shutil.copyfile(d0, d0b)
    dup = run_json(d0, d0b, rc=1)
    assert {"LABEL_POSITION_DUPLICATE", "LABEL_POSITION_MISSING"} <= set(codes(dup[0]))
    text = run(d0, d0b, rc=1).stdout
    assert "position 1: MISSING" in text and "position 0: DUPLICATED" in text


# ---- annotate, usage, read-only ------------------------------------------------------------

def test_annotate_index_covers_every_byte():
    a = json.loads(run("--annotate", "index1", "--json", rel_image("kernel/f-two-namespaces-labels1.2"),
                       rc=0).stdout)
    assert a["size"] == 256 and a["offset"] == PMEM + 256
    pos = 0
    for f in a["fields"]:
        assert f["offset"] == pos and len(f["hex"]) == 2 * f["size"]
        pos += f["size"]
    assert pos == 256
    names = [f["name"] for f in a["fields"]]
    assert names[:12] == ["sig", "flags", "labelsize", "seq", "myoff", "mysize", "otheroff",
                          "labeloff", "nslot", "major", "minor", "checksum"]
    assert names[12:] == ["free", "padding"]
    assert all(f["valid"] for f in a["fields"])
    assert next(f for f in a["fields"] if f["name"] == "free")["value"] == "slots in use: 0-1"


def test_annotate_corrupt_index_and_info_block(tmp_path):
    img = decompress("c-fsdax-labels1.2", tmp_path)
    patch(img, PMEM + 20, struct.pack("<I", 0))  # seq 0 in index 0 (checksum now wrong too)
    text = run("--annotate", "index0", img, rc=1).stdout
    rows = {r.split()[2]: r for r in text.splitlines() if r.startswith("+0x0") and len(r.split()) > 2}
    bad = [r for r in text.splitlines() if " BAD " in r]
    assert any(" seq " in r for r in bad) and any(" checksum " in r for r in bad)
    assert "LABEL_INDEX_BAD_SEQ" in text
    assert rows  # the view has rows at all
    info = run("--annotate", "info:c5f4ff8d-73f4-4e47-b9a3-dde40cf9e91c",
               rel_image("kernel/c-fsdax-labels1.2"), rc=0).stdout
    assert "pfn info block" in info and "NVDIMM_PFN_INFO" in info
    for field in ("dataoff", "npfns", "align", "page_size", "page_struct_size", "checksum"):
        assert f" {field} " in info
    assert " BAD " not in info


@pytest.mark.parametrize("args", [[], ["--annotate", "bogus", "X"], ["--no-such-option", "X"]])
def test_usage_errors(args):
    p = run(*args, rc=2)
    assert p.stdout == ""


def test_annotate_selector_errors():
    img = rel_image("kernel/f-two-namespaces-labels1.2")
    assert "index0, index1" in run("--annotate", "bogus", img, rc=2).stderr
    assert "nslot 510" in run("--annotate", "slot:999", img, rc=2).stderr
    assert "no namespace" in run("--annotate", "info:nope", img, rc=2).stderr


def test_unreadable_image_one_line_error(tmp_path):
    missing = tmp_path / "nope.img"
    p = run(missing, rc=2)
    assert p.stdout == "" and len(p.stderr.splitlines()) == 1 and str(missing) in p.stderr
    p = run(tmp_path, rc=2)
    assert str(tmp_path) in p.stderr and len(p.stderr.splitlines()) == 1


def test_never_writes(tmp_path):
    img = decompress("f-two-namespaces-labels1.2", tmp_path)
    before = digest(img)
    os.chmod(img, 0o444)  # readable only: the tool must not need write access
    run(img, rc=0)
    run("--json", img, rc=0)
    run("--annotate", "slot:1", img, rc=0)
    assert digest(img) == before
