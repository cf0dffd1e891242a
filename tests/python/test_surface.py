"""The rest of the API surface on the golden images: structure helpers, pool headers, format
jobs and plans applied by hand, raw zeroing."""

from __future__ import annotations

import random

import pytest

import ndtk
from conftest import kernel_image, pmdk_pool


def test_pool_header_and_descriptor():
    with ndtk.Image(pmdk_pool("blk4096")) as img:
        hdr = img.pool.header
        raw = img.read(0, 4096)
        assert hdr.to_bytes() == raw and ndtk.PoolHeader.decode(raw) == hdr
        assert hdr.checksum_ok and hdr.type == "blk" and hdr.major == 1
        assert [f for f in hdr.validate() if f.severity is ndtk.Severity.ERROR] == []
        assert hdr.to_dict()["major"] == 1 and ndtk.PoolHeader.fields()[0][0] == "signature"
        assert "PoolHeader blk" in repr(hdr)
        with img.open_btt() as btt:
            # the BTT's parent uuid is the pool's poolset uuid (same 16 bytes)
            assert btt.arenas[0].info.parent_uuid.bytes == hdr.poolset_uuid.bytes_le


def test_struct_helpers_on_images():
    with ndtk.Image(kernel_image("c-fsdax-labels1.2")) as img:
        ns = img.namespaces[0]
        pfn = ns.pfn
        assert pfn.validate() == [] and pfn.to_dict()["npfns"] == 64000
        assert [f[0] for f in ndtk.PfnInfo.fields()][:2] == ["signature", "uuid"]
        assert pfn.with_checksum() == pfn and "PfnInfo pfn 1.4" in repr(pfn)
        la = img.label_area
        idx = la.indexes[0].index
        assert idx.with_checksum().checksum_ok and idx.to_dict()["nslot"] == la.nslot
        assert ndtk.LabelIndex.fields()[0][0] in ("sig", "signature")
        lab = la.labels[0]
        assert lab.to_dict()["rawsize"] == lab.rawsize == ns.size
        assert ndtk.NamespaceLabel.decode(lab.to_bytes()) == lab
        assert "NamespaceLabel v1.2" in repr(lab) and lab.flag_names
        assert img.stale_namespaces == [] or all(n.stale for n in img.stale_namespaces)
        assert la.geometry.nslot == la.nslot and "LabelGeometry" in repr(la.geometry)
        ext = la.namespaces[0].extents[0]
        assert ext.dpa == ns.offset and ext.rawsize == ns.size and "LabelExtent" in repr(ext)
    with ndtk.Image(kernel_image("a-sector4096-labels1.1")) as img, img.open_btt() as btt:
        a = btt.arenas[0]
        assert a.recovered_map_entries == 0 and a.lanes_with_error == 0
        assert a.first_lba == 0 and a.size > 0


def test_cxl_label_round_trip():
    rnd = random.Random(3)
    data = rnd.randbytes(256)
    ns = ndtk.CxlNamespaceLabel.decode(data)
    assert ns.to_bytes() == data and isinstance(ns.checksum_ok, bool)
    assert ndtk.CxlNamespaceLabel.decode(data) == ns
    region = ndtk.CxlRegionLabel.decode(data)
    assert region.to_bytes() == data and "CxlRegionLabel" in repr(region)
    with pytest.raises(ndtk.BadImageError):
        ndtk.CxlNamespaceLabel.decode(data[:100])


def test_write_zeros_and_manual_plan(raw_copy, tmp_path):
    path = raw_copy(kernel_image("e-raw-labels1.1"))
    with ndtk.Image(path, writable=True) as img:
        img.write(1 << 20, b"\xff" * 8192)
        img.write_zeros(1 << 20, 4096)
        assert img.read(1 << 20, 8192) == bytes(4096) + b"\xff" * 4096
        img.flush()
    blank = tmp_path / "blank.img"
    with open(blank, "wb") as f:
        f.truncate(32 << 20)
    job = ndtk.format(blank, offset=0, size=32 << 20, lbasize=512, dry_run=True)
    assert job.lbasize == 512 and job.version == "1.1" and not job.created_namespace
    assert len(job.infos) == len(job.arenas) == 1 and job.where
    assert job.infos[0].external_nlba == job.sector_count == job.arenas[0].external_nlba
    lines = job.plan.describe()
    assert len(lines) == len(job.plan) and job.plan.total_bytes > 0
    job.plan.apply(blank)  # the planned writes, applied by hand (no undo)
    with ndtk.Btt(blank, offset=0, size=32 << 20) as btt:
        assert len(btt) == job.sector_count and btt.arenas[0].info == job.infos[0]
