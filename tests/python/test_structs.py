"""Format-layer classes, geometry functions, enums and the exception hierarchy."""

from __future__ import annotations

import uuid

import pytest

import ndtk
from conftest import kernel_image, kernel_manifest


def test_btt_info_decode_parse_round_trip():
    with ndtk.Image(kernel_image("a-sector4096-labels1.1")) as img:
        raw = img.read(4096, 4096)
        backup = img.read(268431360, 4096)
    info = ndtk.BttInfo.parse(raw)
    assert info.to_bytes() == raw and backup == raw
    assert info.external_lbasize == 4096 and info.external_nlba == 65208
    assert info.nfree == 256 and info.version_major == 1 and info.version_minor == 1
    m = kernel_manifest("a-sector4096-labels1.1")
    ib = m["ndctl"]["read_infoblock"]["namespace0.0"][0]
    assert str(info.uuid) == ib["uuid"] and str(info.parent_uuid) == ib["parent_uuid"]
    assert info.validate() == []
    d = info.to_dict()
    assert d["external_nlba"] == 65208 and d["signature"][:14] == b"BTT_ARENA_INFO"
    names = [f[0] for f in ndtk.BttInfo.fields()]
    assert names[0] == "signature" and "checksum" in names
    bad = bytearray(raw)
    bad[100] ^= 1
    with pytest.raises(ndtk.BadImageError) as ei:
        ndtk.BttInfo.parse(bytes(bad))
    assert ei.value.code == "bad-checksum" and ei.value.field == "checksum"
    decoded = ndtk.BttInfo.decode(bytes(bad))
    assert not decoded.checksum_ok and decoded.with_checksum().checksum_ok
    assert any(f.code == ndtk.Problem.BTT_INFO_BAD_CHECKSUM for f in decoded.validate())
    with pytest.raises(ndtk.BadImageError, match="(?i)truncat|short|4096"):
        ndtk.BttInfo.decode(raw[:100])
    assert ndtk.fletcher64(bytes(raw[:4088]) + bytes(8)) == info.checksum
    assert "BttInfo 1.1" in repr(info) and "checksum ok" in repr(info)


def test_label_structs():
    with ndtk.Image(kernel_image("f-two-namespaces-labels1.2")) as img:
        la = img.label_area
        idx = la.indexes[la.current_index].index
        raw_idx = img.read(la.indexes[la.current_index].offset, la.index_size)
        assert ndtk.LabelIndex.parse(raw_idx) == idx and idx.to_bytes() == raw_idx
        assert idx.major == 1 and idx.minor == 2 and idx.label_size == 256
        assert idx.used_slots() == [1, 2]  # the README: index 0 current, slots 1, 2 in use
        assert not idx.is_free(1) and idx.is_free(0)
        lab = la.slots[1].label
        assert isinstance(lab, ndtk.NamespaceLabel) and lab.version == "1.2"
        assert ndtk.NamespaceLabel.parse(la.slots[1].raw, 256) == lab
        assert lab.checksum_ok and lab.validate(lab.slot) == []
        # GUIDs as GUIDs: the pmem type and the claim class
        assert lab.type_guid == uuid.UUID("66f0d379-b4f3-4074-ac43-0d3318b78cdb")
        assert lab.claim_class in ("btt2", "pfn")
        assert lab.abstraction_guid in (uuid.UUID("18633bfc-1735-4217-8ac9-17239282d3f8"),
                                        uuid.UUID("266400ba-fb9f-4677-bcb0-968f11d0d225"))
        g = ndtk.label_geometry(128 << 10, 256)
        assert (g.nslot, g.index_size, g.label_offset) == (510, 256, 512)
        assert ndtk.label_geometry(128 << 10, 128).nslot == 1020
        area = ndtk.LabelArea.from_bytes(img.read(la.offset, la.size), base_offset=la.offset)
        assert [s.slot for s in area.slots] == [s.slot for s in la.slots]
        again = ndtk.read_label_area(img)
        assert again.current_index == la.current_index
        assert len(la.namespaces) == 2 and all(n.extents for n in la.namespaces)


def test_map_and_log_entries():
    e = ndtk.MapEntry(0xC0000005)
    assert e.state is ndtk.MapState.NORMAL and e.postmap == 5 and e.z and e.e
    assert ndtk.MapEntry(0).state == "initial" and ndtk.MapEntry(0).effective_postmap(9) == 9
    assert ndtk.MapEntry(0x40000001).state is ndtk.MapState.ERROR
    assert ndtk.MapEntry(0x80000001).state is ndtk.MapState.ZERO
    assert int(e) == 0xC0000005 and e == ndtk.MapEntry(0xC0000005)
    g = ndtk.LogGroup.decode(ndtk.LogEntry(3, 10, 11, 1).to_bytes() + bytes(48))
    assert g.slots[0].lba == 3 and g.slots[1].is_padding
    assert g.current() == ndtk.LogEntry(3, 10, 11, 1)
    assert g.to_bytes()[:4] == b"\x03\x00\x00\x00"
    with pytest.raises(ndtk.BadArgumentError):
        g.live((0, 7))


def test_geometry_errors_and_layouts():
    (a,) = ndtk.btt_layout(256 << 20, 4096, "1.1")
    assert a.external_nlba == 65208 and a.internal_nlba == 65464 and a.offset == 4096
    assert len(ndtk.btt_layout(1 << 40, 512)) == 2  # 512 GiB arenas
    pm = ndtk.btt_layout(64 << 20, 4096, flavor="pmdk")
    assert pm[0].flavor is ndtk.Flavor.PMDK
    with pytest.raises(ndtk.BadArgumentError):
        ndtk.btt_layout(1 << 20, 4096)  # below 16 MiB
    with pytest.raises(ndtk.BadImageError):
        ndtk.btt_layout(64 << 20, 1000)  # unsupported lbasize
    with pytest.raises(ndtk.BadArgumentError):
        ndtk.btt_layout(64 << 20, 4096, version="3.0")
    with pytest.raises(ndtk.BadArgumentError):
        ndtk.btt_layout(64 << 20, 4096, flavor="windows")


def test_problem_enum_and_severity():
    p = ndtk.Problem.BTT_INFO_BAD_CHECKSUM
    assert ndtk.Problem(int(p)) is p and str(p) == "BTT_INFO_BAD_CHECKSUM"
    assert p.severity is ndtk.Severity.ERROR and p.title and isinstance(p.repair, str)
    assert len(ndtk.Problem) == len(ndtk._ndtk.problem_table()) > 50
    assert ndtk.Severity.INFO < ndtk.Severity.WARNING < ndtk.Severity.ERROR
    assert ndtk.Mode.SECTOR == "sector" and str(ndtk.Mode.FSDAX) == "fsdax"


def test_exception_hierarchy():
    assert issubclass(ndtk.BadImageError, ndtk.Error)
    assert issubclass(ndtk.BadArgumentError, ValueError)
    assert issubclass(ndtk.IoError, OSError)
    for cls in (ndtk.NotFoundError, ndtk.ReadOnlyError, ndtk.MediaError):
        assert issubclass(cls, ndtk.IoError)
    assert issubclass(ndtk.NotFoundError, FileNotFoundError)
    e = ndtk.exceptions.class_for_code("bad-checksum")("x")
    assert isinstance(e, ndtk.BadImageError) and str(e) == "x" and "BadImageError" in repr(e)
    assert ndtk.exceptions.class_for_code("nonsense") is ndtk.Error
