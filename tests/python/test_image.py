"""ndtk.Image, ndtk.Namespace and ndtk.LabelArea on the golden images, against their
manifests (ndctl's own JSON and the generator's offsets)."""

from __future__ import annotations

import uuid

import pytest

import ndtk
from conftest import (KERNEL_IMAGES, PMDK_POOLS, file_sha256, kernel_image, kernel_manifest,
                      pmdk_manifest, pmdk_pool)

EXPECTED_MODES = {
    "a-sector4096-labels1.1": ["sector"],
    "c-fsdax-labels1.2": ["fsdax"],
    "e-raw-labels1.1": ["raw"],
    "f-two-namespaces-labels1.2": ["sector", "fsdax"],
    "i-sector4096-labelless": ["sector"],
}


def ndctl_namespaces(m: dict) -> list:
    regions = m["ndctl"]["list"]["regions"]
    # ndctl also lists the region's size-0 seed namespace
    return [ns for r in regions for ns in r.get("namespaces", []) if ns["size"] > 0]


@pytest.mark.parametrize("name", KERNEL_IMAGES)
def test_kernel_image_namespaces_match_ndctl(name):
    m = kernel_manifest(name)
    with ndtk.Image(kernel_image(name)) as img:
        assert img.compressed and not img.writable and not img.closed
        assert img.size == m["image"]["uncompressed_size"]
        assert [str(ns.mode) for ns in img.namespaces] == EXPECTED_MODES[name]
        listed = ndctl_namespaces(m)
        assert len(listed) == len(img.namespaces)
        by_uuid = {str(ns.display_uuid): ns for ns in img.namespaces}
        for want in listed:
            ns = by_uuid[want["uuid"]]
            assert ns.mode == want["mode"]
            assert ns.name == want.get("name", "")
            assert ns.capacity == want["size"]
            if "sector_size" in want:
                assert ns.sector_size == want["sector_size"]
            if want["mode"] == "sector":
                assert ns.btt is not None and ns.pfn is None
                assert ns.btt.complete
            elif want["mode"] == "fsdax":
                assert ns.pfn is not None and ns.btt is None
                assert ns.pfn.kind == "pfn"
                assert ns.pfn_validation.kernel_accepts
                assert ns.pfn_validation.verdict is ndtk.PfnVerdict.ACCEPTED
            r = repr(ns)
            assert r.startswith("<Namespace ") and str(ns.mode) in r


@pytest.mark.parametrize("name", [n for n in KERNEL_IMAGES if "labelless" not in n])
def test_label_area_matches_manifest(name):
    m = kernel_manifest(name)
    la_m = m["label_area"]
    with ndtk.Image(kernel_image(name)) as img:
        assert img.kind is ndtk.ImageKind.DIMM
        la = img.label_area
        assert isinstance(la, ndtk.LabelArea)
        assert la.offset == la_m["file_offset"] and la.size == la_m["size"]
        assert [ix.offset for ix in la.indexes] == la_m["index_block_file_offsets"]
        assert la.index_size == la_m["index_block_size"]
        assert la.label_size == la_m["label_slot_size"]
        assert la.nslot == {128: 1020, 256: 510}[la.label_size]
        assert la.current_index in (0, 1) and la.has_valid_index
        assert la.index_choice in (ndtk.IndexChoice.BEST_SEQ, ndtk.IndexChoice.ONLY_VALID,
                                   ndtk.IndexChoice.SEQ_TIE)
        cur = la.indexes[la.current_index]
        assert cur.valid and cur.index.checksum_ok and cur.index.nslot == la.nslot
        assert la.version == ("1.1" if la.label_size == 128 else "1.2")
        # read-labels -j lists every slot holding a label; ours: active + stale
        rl = m["ndctl"]["read_labels"][0]["label"]
        on_media = {(l["slot"], l["uuid"]) for l in rl}
        ours = {(s.slot, str(s.label.uuid)) for s in la.slots if s.label is not None}
        assert on_media == ours
        active = [s for s in la.slots if s.state is ndtk.SlotState.ACTIVE]
        assert all(s.in_use and s.kernel_valid for s in active)
        assert len(la.labels) == len(active)
        # every namespace creation leaves an older UPDATING copy: a stale label
        assert la.stale_labels, "ndctl leaves an older copy of each label"
        assert all(s.state == "stale" and not s.in_use for s in la.stale_labels)
        assert all(s.label.flags & 0x8 for s in la.stale_labels)
        assert {n.uuid for n in la.namespaces} == {uuid.UUID(u["uuid"]) for u in rl}
        assert la.slot(la.slots[0].slot) is not None and la.slot(99999) is None
        for s in la.slots:
            assert len(s.raw) == la.label_size
            if s.label is not None:
                assert s.label.to_bytes() == s.raw  # bit-exact serialize
        assert "LabelArea" in repr(la) and "current index" in repr(la)


def test_two_namespaces_by_uuid_name_and_index():
    m = kernel_manifest("f-two-namespaces-labels1.2")
    with ndtk.Image(kernel_image("f-two-namespaces-labels1.2")) as img:
        names = {ns.name: ns for ns in img.namespaces}
        assert set(names) == {"btt-one", "fsdax-two"}
        btt_one = img.namespace("btt-one")
        assert btt_one.offset == 0 and btt_one.size == 64 << 20
        assert btt_one.btt.version == "2.0" and btt_one.btt.info_offset == 0
        two = img.namespace(str(names["fsdax-two"].uuid))
        assert two.offset == 64 << 20 and two.size == 128 << 20
        assert two.pfn.mode_name == "ram" and two.pfn.align == 4096
        assert two.pfn.dataoff == 2 << 20 and two.pfn.npfns == 32256
        assert img.namespace(names["fsdax-two"].uuid).name == "fsdax-two"
        assert img.namespace(0).offset == 0
        with pytest.raises(ndtk.BadArgumentError):
            img.namespace("no-such-namespace")
        with pytest.raises(ndtk.BadArgumentError):
            img.namespace(7)
        blocks = {b["file_offset"]: b for b in m["infoblocks"]}
        assert two.offset + 4096 in blocks


def test_fsdax_pfn_block_fields():
    with ndtk.Image(kernel_image("c-fsdax-labels1.2")) as img:
        ns = img.namespaces[0]
        pfn = ns.pfn
        assert pfn.version == "1.4" and pfn.mode_name == "pmem" and pfn.mode == 2
        assert pfn.align == 2 << 20 and pfn.dataoff == 6 << 20 and pfn.npfns == 64000
        assert pfn.checksum_ok and pfn.parent_uuid == ns.uuid
        raw = img.read(ns.offset + 4096, 4096)
        assert ndtk.PfnInfo.parse(raw) == pfn
        assert pfn.to_bytes() == raw
        geo = ndtk.pfn_geometry(ns.size, "pmem", 2 << 20)
        assert geo.dataoff == pfn.dataoff and geo.npfns == pfn.npfns
        assert ns.read(4096, 16) == b"NVDIMM_PFN_INFO\x00"


def test_image_raw_reads_and_known_zero():
    name = "a-sector4096-labels1.1"
    m = kernel_manifest(name)
    with ndtk.Image(kernel_image(name)) as img:
        info = img.read(4096, 4096)
        assert info[:14] == b"BTT_ARENA_INFO"
        buf = bytearray(8192)
        assert img.readinto(4096, memoryview(buf)[4096:]) == 4096
        assert bytes(buf[4096:]) == info and buf[:4096] == bytes(4096)
        # the manifest lists where the host allocated extents: everything else is a hole
        ext = m["image"]["host_allocated_extents"]
        gap_start = ext[0][0] + ext[0][1]
        assert img.known_zero(gap_start, ext[1][0] - gap_start)
        assert not img.known_zero(4096, 4096)
        with pytest.raises(ndtk.BadArgumentError):
            img.read(img.size - 10, 20)


def test_export_is_bit_exact(tmp_path):
    name = "e-raw-labels1.1"
    m = kernel_manifest(name)
    out = tmp_path / "e.img"
    with ndtk.Image(kernel_image(name)) as img:
        img.export(out)
    assert out.stat().st_size == m["image"]["uncompressed_size"]
    assert out.stat().st_blocks * 512 < out.stat().st_size // 4, "export keeps holes"
    assert file_sha256(out) == m["image"]["sha256"]
    with ndtk.Image(out) as raw:
        assert not raw.compressed and raw.kind == "dimm"
        assert [str(n.mode) for n in raw.namespaces] == ["raw"]


@pytest.mark.parametrize("name", PMDK_POOLS)
def test_pmdk_pools(name):
    m = pmdk_manifest(name)
    with ndtk.Image(pmdk_pool(name)) as img:
        assert img.kind is ndtk.ImageKind.PMEMBLK_POOL
        assert img.size == m["image_bytes"]
        pool = img.pool
        assert pool.bsize == m["bsize"] == 4096
        assert pool.btt_offset == 8192 and pool.header.type == "blk"
        assert pool.layout_written == (name != "blk4096-nolayout")
        assert len(img.namespaces) == 1
        assert "PmemBlkPool" in repr(pool)


def test_context_manager_and_close():
    with ndtk.Image(kernel_image("e-raw-labels1.1")) as img:
        ns = img.namespaces[0]
    assert img.closed and "closed" in repr(img)
    with pytest.raises(ndtk.BadArgumentError, match="closed"):
        img.read(0, 1)
    with pytest.raises(ndtk.BadArgumentError, match="closed"):
        ns.read(0, 1)
    img2 = ndtk.open(kernel_image("e-raw-labels1.1"))
    img2.close()
    img2.close()  # idempotent
    assert img2.closed


def test_from_bytes_and_refresh():
    with ndtk.Image(kernel_image("c-fsdax-labels1.2")) as img:
        data = img.read(0, img.size)
    mem = ndtk.Image.from_bytes(data, name="copy")
    assert mem.path == "copy" and mem.writable and not mem.compressed
    assert [str(n.mode) for n in mem.namespaces] == ["fsdax"]
    # wipe the pfn info block in memory: after refresh the label still asks for fsdax, but
    # the personality is missing
    mem.write(4096, bytes(4096))
    assert mem.namespaces[0].pfn is not None  # discovery is a snapshot until refresh()
    mem.refresh()
    ns = mem.namespaces[0]
    assert ns.personality_missing and ns.pfn is None and ns.personality_note
    assert any(f.code == ndtk.Problem.NS_PERSONALITY_MISSING for f in mem.findings)


# ---- error cases ----------------------------------------------------------------------------

def test_missing_file(tmp_path):
    missing = tmp_path / "nope.img"
    with pytest.raises(ndtk.NotFoundError) as ei:
        ndtk.Image(missing)
    e = ei.value
    assert isinstance(e, ndtk.IoError) and isinstance(e, ndtk.Error)
    assert isinstance(e, FileNotFoundError) and isinstance(e, OSError)
    assert e.code == "not-found" and str(missing) in str(e)
    with pytest.raises(ndtk.NotFoundError):
        ndtk.Btt(missing)
    with pytest.raises(ndtk.NotFoundError):
        ndtk.check(missing)


def test_directory(tmp_path):
    with pytest.raises(ndtk.IoError) as ei:
        ndtk.Image(tmp_path)
    assert ei.value.code == "is-directory"


def test_garbage_zst(tmp_path):
    bad = tmp_path / "garbage.img.zst"
    bad.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(range(256)) * 64)
    with pytest.raises(ndtk.BadImageError) as ei:
        ndtk.Image(bad)
    assert not isinstance(ei.value, ValueError)
    assert str(bad) in str(ei.value)


def test_garbage_raw(tmp_path):
    import random
    rnd = random.Random(1234)
    bad = tmp_path / "garbage.img"
    bad.write_bytes(rnd.randbytes(32 << 20))
    with ndtk.Image(bad) as img:  # raw bytes are an image; they just hold nothing
        assert img.kind is ndtk.ImageKind.DIMM_LABELLESS
        assert all(ns.mode is ndtk.Mode.RAW for ns in img.namespaces)
        with pytest.raises(ndtk.BadImageError):
            img.open_btt()
    with pytest.raises(ndtk.BadImageError) as ei:
        ndtk.Btt(bad)
    assert ei.value.code in ("bad-signature", "not-present")
    report = ndtk.check(bad)
    assert report.kind is ndtk.ImageKind.DIMM_LABELLESS


def test_read_only_write(raw_copy):
    path = raw_copy(kernel_image("e-raw-labels1.1"))
    with ndtk.Image(path) as img:
        assert not img.writable
        with pytest.raises(ndtk.ReadOnlyError) as ei:
            img.write(0, b"x")
        assert isinstance(ei.value, ndtk.IoError) and ei.value.code == "read-only"
    with ndtk.Image(kernel_image("a-sector4096-labels1.1")) as img:
        with pytest.raises(ndtk.ReadOnlyError):
            img.write(0, b"x")
        with pytest.raises(ndtk.ReadOnlyError):
            img.open_btt(writable=True)  # compressed: never writable


def test_bad_arguments():
    with ndtk.Image(kernel_image("e-raw-labels1.1")) as img:
        with pytest.raises(ndtk.BadArgumentError) as ei:
            img.readinto(0, b"immutable")
        assert isinstance(ei.value, ValueError)
        with pytest.raises(ndtk.BadArgumentError):
            img.write(0, 12)
        with pytest.raises(ndtk.BadImageError, match="no BTT"):
            img.namespaces[0].open_btt()
