"""ndtk.check -> CheckReport -> RepairPlan round trips on damaged copies, rollback, and
ndtk.format."""

from __future__ import annotations

import os

import pytest

import ndtk
from conftest import (PMDK_POOLS, file_sha256, kernel_image, kernel_manifest, pmdk_manifest,
                      pmdk_pool)


def test_clean_kernel_image_report():
    with ndtk.Image(kernel_image("f-two-namespaces-labels1.2")) as img:
        report = ndtk.check(img)
        assert report.image is img
        assert report.clean and bool(report) and report.errors == [] and report.warnings == []
        assert report.kind is ndtk.ImageKind.DIMM
        assert [n.name for n in report.namespaces] == ["btt-one", "fsdax-two"]
        btt_ns, dax_ns = report.namespaces
        assert btt_ns.mode is ndtk.Mode.SECTOR and btt_ns.btt.version == "2.0"
        (arena,) = btt_ns.btt.arenas
        assert arena.primary_valid and arena.backup_valid and arena.backup_identical
        assert arena.source == "primary" and arena.layout_usable
        assert sum(arena.map_stats.values()) == btt_ns.btt.external_nlba
        assert dax_ns.pfn.validation.kernel_accepts and dax_ns.btt is None
        assert report.counts == {"error": 0, "warning": 0,
                                 "info": len(report.infos)}
        assert not report.repair_plan()
        assert "clean" in repr(report)


def test_report_findings_shape():
    report = ndtk.check(pmdk_pool("blk4096-flog-seq-dup"))
    assert not report.clean
    f = report.errors[0]
    assert isinstance(f, ndtk.Finding)
    assert isinstance(f.code, ndtk.Problem) and f.code.name == f.name
    assert f.severity is ndtk.Severity.ERROR and f.severity > ndtk.Severity.WARNING
    assert f.number == int(f.code) and f.title == f.code.title
    assert f.location and f.message.startswith(f.title)
    assert f.to_dict()["code"] == f.name and f.name in str(f) and f.name in repr(f)
    assert all(x.severity is ndtk.Severity.ERROR for x in report.errors)
    assert [x.name for x in report.errors] == [
        x.name for x in report.findings if x.severity is ndtk.Severity.ERROR]
    assert len(report.findings) == sum(report.counts.values())


def test_progress_and_namespace_filter():
    calls = []
    report = ndtk.check(kernel_image("f-two-namespaces-labels1.2"), namespace="btt-one",
                        progress=lambda phase, done, total: calls.append((phase, done, total)))
    assert [n.name for n in report.namespaces] == ["btt-one"]
    assert calls and all(isinstance(p, str) for p, _, _ in calls)

    def boom(*_):
        raise KeyError("stop")

    with pytest.raises(KeyError):
        ndtk.check(kernel_image("a-sector4096-labels1.1"), progress=boom)


def test_repair_round_trip_on_damaged_kernel_copy(raw_copy, tmp_path):
    """Damage the primary BTT info block of a copy; check finds it, the plan restores it from
    the backup, the result is the original image bit for bit; rollback restores the damage."""
    name = "a-sector4096-labels1.1"
    m = kernel_manifest(name)
    path = raw_copy(kernel_image(name))
    assert file_sha256(path) == m["image"]["sha256"]
    with ndtk.Image(path, writable=True) as img:
        nlba_off = 4096 + [f for f in ndtk.BttInfo.fields() if f[0] == "external_nlba"][0][1]
        img.write(nlba_off, bytes(b ^ 0xFF for b in img.read(nlba_off, 4)))
        img.flush()
        img.refresh()
    damaged_sha = file_sha256(path)
    assert damaged_sha != m["image"]["sha256"]

    with ndtk.Image(path) as ro:
        report = ndtk.check(ro)
        codes = {f.code for f in report.errors}
        assert ndtk.Problem.BTT_INFO_BAD_CHECKSUM in codes, report.findings
        plan = report.repair_plan()
        assert plan and len(plan) >= 1
        assert any(w.fixes == ndtk.Problem.BTT_INFO_BAD_CHECKSUM or w.offset == 4096
                   for w in plan.writes)
        assert all(w.length > 0 for w in plan.writes) and plan.describe()
        predicted = plan.predict()
        assert predicted.errors == []
        with pytest.raises(ndtk.ReadOnlyError):
            plan.apply()  # the report's image is read-only
        undo = tmp_path / "repair.undo"
        plan.apply(path, undo=undo)  # a path opens writable
    assert undo.exists()
    assert file_sha256(path) == m["image"]["sha256"]
    after = ndtk.check(path)
    assert after.errors == [] and after.warnings == []

    ndtk.rollback(path, undo)
    assert file_sha256(path) == damaged_sha


def test_repair_pmdk_info_flip_matches_pmempool(raw_copy):
    """The PMDK pool with a flipped primary info field: repaired from the backup, the pool is
    byte-identical to the clean pool it was derived from (what pmempool check -r restores)."""
    m = pmdk_manifest("blk4096-info-flip")
    path = raw_copy(pmdk_pool("blk4096-info-flip"))
    assert file_sha256(path) == m["image_sha256"]
    with ndtk.Image(path, writable=True) as img:
        report = ndtk.check(img)
        assert ndtk.Problem.BTT_INFO_BAD_CHECKSUM in {f.code for f in report.errors}
        with pytest.raises(ndtk.BadImageError):
            img.open_btt()  # the data path refuses a bad primary
        plan = report.repair_plan()
        patched = {p["file_offset"] for p in m["corruption"]["patches"]}
        assert any(w.offset <= o < w.offset + w.length for w in plan.writes for o in patched)
        plan.apply()
        assert ndtk.check(img).errors == []
        with img.open_btt() as btt:
            clean = pmdk_manifest("blk4096")
            for w in clean["written"][:20]:
                from conftest import sha256
                assert sha256(btt.read(w["lba"])) == w["sha256"]
    assert file_sha256(path) == m["derived_from"]["image_sha256"]


@pytest.mark.parametrize("name", PMDK_POOLS)
def test_every_pool_checks(name):
    report = ndtk.check(pmdk_pool(name))
    assert report.kind is ndtk.ImageKind.PMEMBLK_POOL
    expect_errors = pmdk_manifest(name).get("pmempool_check", {}).get("exit", 0) != 0
    if name == "blk4096-flog-seq-zero":
        expect_errors = True  # pmempool misses it; the kernel/PMDK disagreement is real damage
    assert bool(report.errors) == expect_errors, report.findings


def test_format_window_then_write(tmp_path):
    path = tmp_path / "blank.img"
    size = 64 << 20
    with open(path, "wb") as f:
        f.truncate(size)
    dry = ndtk.format(path, offset=0, size=size, lbasize=4096, dry_run=True)
    assert isinstance(dry, ndtk.FormatJob) and not dry.applied and dry.plan
    assert file_sha256(path) == file_sha256_of_zeros(size)
    layout = ndtk.btt_layout(size, 4096, dry.version)
    assert dry.sector_count == sum(a.external_nlba for a in layout)
    undo = tmp_path / "format.undo"
    job = ndtk.format(path, offset=0, size=size, lbasize=4096, undo=undo)
    assert job.applied and undo.exists() and "FormatJob" in repr(job)
    with ndtk.Btt(path, writable=True, offset=0, size=size) as btt:
        assert len(btt) == job.sector_count and btt.lbasize == 4096
        assert btt.arenas[0].info.uuid == job.uuid
        btt.write(3, b"\xab" * 4096)
        assert btt.read(3) == b"\xab" * 4096 and btt.read(4) == bytes(4096)
        btt.verify()
    with pytest.raises(ndtk.BadArgumentError, match="(?i)btt|existing|force"):
        ndtk.format(path, offset=0, size=size, lbasize=512)
    undo2 = tmp_path / "force.undo"
    forced = ndtk.format(path, offset=0, size=size, lbasize=512, force=True, undo=undo2)
    assert forced.overwritten
    with ndtk.Btt(path, offset=0, size=size) as btt:
        assert btt.lbasize == 512
    ndtk.rollback(path, undo2)  # the 4096-byte BTT again, with what we wrote
    with ndtk.Btt(path, offset=0, size=size) as btt:
        assert btt.lbasize == 4096 and btt.read(3) == b"\xab" * 4096
    ndtk.rollback(path, undo)  # every byte the first format wrote is blank again
    with pytest.raises(ndtk.BadImageError):
        ndtk.Btt(path, offset=0, size=size)
    with ndtk.Image(path) as img:
        for w in job.plan:
            assert img.read(w.offset, w.length).count(0) == w.length, w


def test_format_needs_writable_image():
    with ndtk.Image(kernel_image("e-raw-labels1.1")) as img:
        with pytest.raises(ndtk.ReadOnlyError):
            ndtk.format(img, namespace=0, lbasize=4096)
        job = ndtk.format(img, namespace=str(img.namespaces[0].uuid), lbasize=4096, dry_run=True)
        assert job.namespace_offset == img.namespaces[0].offset


def file_sha256_of_zeros(size: int) -> str:
    import hashlib
    h = hashlib.sha256()
    chunk = bytes(1 << 20)
    for _ in range(size >> 20):
        h.update(chunk)
    return h.hexdigest()
