"""ndtk.Btt: the data path from Python. Reads against the kernel's and libpmemblk's own
read-backs, writes on scratch copies against a reference model, the map and log views, every
buffer type, and the error cases."""

from __future__ import annotations

import array
import random

import pytest

import ndtk
from conftest import (kernel_image, kernel_manifest, pmdk_manifest, pmdk_pool, sha256)

BTT_KERNEL = {
    # image: namespace holding the BTT
    "a-sector4096-labels1.1": 0,
    "i-sector4096-labelless": 0,
    "f-two-namespaces-labels1.2": "btt-one",
}


@pytest.mark.parametrize("name", sorted(BTT_KERNEL))
def test_all_sectors_match_kernel_readback(name):
    """Read every sector of the BTT (bulk readinto) and compare with the sha256 the kernel
    read back through /dev/pmem0s for each LBA the manifest lists."""
    m = kernel_manifest(name)
    readback = {r["lba"]: r["readback_sha256"] for r in m["readback"]}
    with ndtk.Image(kernel_image(name)) as img, img.open_btt(BTT_KERNEL[name]) as btt:
        assert btt.flavor is ndtk.Flavor.KERNEL and not btt.writable and btt.in_memory_copy
        assert btt.lbasize == btt.sector_size == 4096 and btt.integrity_size == 0
        n = len(btt)
        assert n == btt.sector_count > max(readback)
        buf = bytearray(n * btt.lbasize)
        assert btt.readinto(0, buf) == n
        view = memoryview(buf)
        zero_sha = sha256(bytes(4096))
        seen = 0
        for lba in range(n):
            sector = view[lba * 4096:(lba + 1) * 4096]
            if lba in readback:
                assert sha256(sector) == readback[lba], f"lba {lba}"
                seen += 1
        assert seen == len(readback)
        # sectors the manifest lists as never written read as zeros
        for r in m["readback"]:
            if r["last_gen"] == 0:
                assert r["readback_sha256"] == zero_sha
        # the same through the iterator API, on a few sectors
        for lba, data in btt.sectors(0, 4, batch=3):
            assert sha256(data) == readback[lba]


def test_pmdk_pool_reads_match_libpmemblk():
    m = pmdk_manifest("blk4096")
    with ndtk.Btt(pmdk_pool("blk4096")) as btt:
        assert btt.flavor is ndtk.Flavor.PMDK and btt.container is ndtk.Container.PMEMBLK_POOL
        assert len(btt) == m["nblock"] and btt.lbasize == m["bsize"]
        for w in m["written"]:
            assert sha256(btt.read(w["lba"])) == w["sha256"], w
        for z in m["zero_blocks"]:
            assert btt.read(z["lba"]) == bytes(4096)
            assert btt.sector_info(z["lba"]).state is ndtk.MapState.ZERO
        for e in m["error_blocks"]:
            with pytest.raises(ndtk.MediaError) as ei:
                btt.read(e["lba"])
            assert isinstance(ei.value, ndtk.IoError) and ei.value.code == "media-error"
            assert btt.sector_info(e["lba"]).state is ndtk.MapState.ERROR
        # a read spanning an error sector fails as a whole; the iterator can skip it
        err = m["error_blocks"][0]["lba"]
        with pytest.raises(ndtk.MediaError):
            btt.read(err - 1, 3)
        got = dict(btt.sectors(err - 1, err + 2, errors="none"))
        assert got[err] is None and got[err - 1] is not None
        written = {w["lba"] for w in m["written"]}
        unlisted = next(l for l in range(len(btt)) if l not in written and l > 1000)
        assert btt.read(unlisted) == bytes(4096)


def test_unformatted_pool_reads_zeros():
    with ndtk.Btt(pmdk_pool("blk4096-nolayout")) as btt:
        assert not btt.formatted and btt.arenas == []
        assert len(btt) == pmdk_manifest("blk4096-nolayout")["nblock"]
        assert btt.read(0, 2) == bytes(8192)
        assert "unformatted" in repr(btt)


def test_arena_map_and_log_views():
    name = "a-sector4096-labels1.1"
    m = kernel_manifest(name)
    with ndtk.Image(kernel_image(name)) as img, img.open_btt() as btt:
        (arena,) = btt.arenas
        info = arena.info
        assert arena.info2 == info  # backup identical to the primary (manifest check)
        assert info.checksum_ok and info.signature_ok and info.version == "1.1"
        assert arena.offset == m["infoblocks"][0]["offset_in_namespace"] == 4096
        assert info.mapoff + arena.offset == m["infoblocks"][0]["map_file_offset"]
        assert info.logoff + arena.offset == m["infoblocks"][0]["log_file_offset"]
        assert arena.external_nlba == len(arena.map) == len(btt) == 65208
        assert arena.internal_nlba == 65464 and arena.nfree == len(arena.log) == 256
        assert arena.log_indices == (0, 1)
        assert arena.write_refused == ""
        # bulk array == lazy sequence == the bytes in the image
        raw = arena.map.array()
        assert isinstance(raw, array.array) and raw.typecode == "I" and len(raw) == 65208
        mapbytes = img.read(arena.offset + info.mapoff, 4 * 65208)
        assert raw.tobytes() == mapbytes
        assert [e.raw for e in arena.map] == list(raw)
        assert arena.map[-1] == arena.map[65207]
        with pytest.raises(IndexError):
            arena.map[65208]
        for lba in (0, 1, 2, 100, 65207, 5000):
            e = arena.map[lba]
            si = btt.sector_info(lba)
            assert si.entry == e and si.state == e.state and si.premap == lba
            assert si.postmap == e.effective_postmap(lba)
            # the data block the map points at holds what the BTT reads
            assert img.read(si.data_offset, 4096) == btt.read(lba)
        assert arena.map[0].state is ndtk.MapState.NORMAL
        assert arena.map[5000].state is ndtk.MapState.INITIAL
        # the log: bulk words == groups == bytes
        words = arena.log.array()
        assert len(words) == 256 * 16
        logbytes = img.read(arena.offset + info.logoff, 256 * 64)
        assert words.tobytes() == logbytes
        groups = list(arena.log)
        assert b"".join(g.to_bytes() for g in groups) == logbytes
        # free blocks: one per lane, each the old_map of the lane's current entry
        free = arena.free_blocks()
        assert len(free) == 256
        for lane, g in enumerate(groups):
            cur = g.current(arena.log_indices)
            assert cur is not None and cur.old_block == free[lane]
        btt.verify()


def test_geometry_matches_btt():
    with ndtk.Image(kernel_image("a-sector4096-labels1.1")) as img:
        ns = img.namespaces[0]
        layout = ndtk.btt_layout(ns.size, 4096, "1.1")
        (a,) = layout
        with img.open_btt() as btt:
            info = btt.arenas[0].info
            assert a.compare(info) == []
            assert (a.external_nlba, a.internal_nlba, a.dataoff, a.mapoff, a.logoff,
                    a.info2off) == (info.external_nlba, info.internal_nlba, info.dataoff,
                                    info.mapoff, info.logoff, info.info2off)
            rebuilt = a.info_block(info.uuid, info.parent_uuid)
            assert rebuilt.to_bytes() == info.to_bytes()


class Model:
    """What every sector must read as: bytes, or None for a media error."""

    def __init__(self, btt, lbas):
        self.data = {}
        for lba in lbas:
            try:
                self.data[lba] = btt.read(lba)
            except ndtk.MediaError:
                self.data[lba] = None

    def check(self, btt):
        for lba, want in self.data.items():
            if want is None:
                with pytest.raises(ndtk.MediaError):
                    btt.read(lba)
            else:
                assert btt.read(lba) == want, f"lba {lba}"


def _random_ops(btt, model, rnd, count):
    ss = btt.lbasize
    lbas = sorted(model.data)
    for i in range(count):
        lba = rnd.choice(lbas)
        op = rnd.random()
        if op < 0.6:
            n = 1 + (lba + 1 in model.data and rnd.random() < 0.3)
            payload = rnd.randbytes(n * ss)
            kind = i % 4  # every buffer type
            buf = (payload if kind == 0 else bytearray(payload) if kind == 1 else
                   memoryview(bytearray(payload)) if kind == 2 else array.array("B", payload))
            assert btt.write(lba, buf) == n
            for k in range(n):
                model.data[lba + k] = payload[k * ss:(k + 1) * ss]
        elif op < 0.8:
            btt.set_zero(lba)
            model.data[lba] = bytes(ss)
        else:
            btt.set_error(lba)
            model.data[lba] = None


@pytest.mark.parametrize("name", ["a-sector4096-labels1.1", "f-two-namespaces-labels1.2"])
def test_writes_on_kernel_copy_against_model(raw_copy, name):
    path = raw_copy(kernel_image(name))
    rnd = random.Random(name)
    lbas = list(range(0, 40)) + [100, 1000, 3000, 4097, 16000]
    with ndtk.Image(path, writable=True) as img:
        ns_key = BTT_KERNEL[name]
        with img.open_btt(ns_key, writable=True) as btt:
            assert btt.writable and not btt.in_memory_copy
            lbas = [l for l in lbas if l < len(btt)] + [len(btt) - 1]
            model = Model(btt, lbas)
            _random_ops(btt, model, rnd, 300)
            model.check(btt)
            btt.flush()
            btt.verify()
        # reopen: everything persisted, the BTT still consistent
        with img.open_btt(ns_key) as btt:
            model.check(btt)
            btt.verify()
        img.refresh()
        report = ndtk.check(img)
        assert report.errors == [], report.findings


def test_writes_on_pmdk_copy_with_integrity_semantics(raw_copy):
    path = raw_copy(pmdk_pool("blk4096"))
    rnd = random.Random(7)
    with ndtk.Btt(path, writable=True) as btt:
        lbas = [0, 1, 2, 6, 40, 41, 100, 5000, len(btt) - 1]
        model = Model(btt, lbas)
        assert model.data[6] is None and model.data[40] == bytes(4096)
        _random_ops(btt, model, rnd, 120)
        btt.write(6, bytes(range(256)) * 16)  # writing an error sector clears the error
        model.data[6] = bytes(range(256)) * 16
        model.check(btt)
        btt.verify()
    with ndtk.Btt(path) as btt:
        model.check(btt)


def test_zero_copy_readinto_and_buffer_errors(raw_copy):
    path = raw_copy(kernel_image("i-sector4096-labelless"))
    with ndtk.Image(path, writable=True) as img:
        with img.open_btt(writable=True) as btt:
            ss = btt.lbasize
            big = bytearray(4 * ss)
            mv = memoryview(big)
            # read into the middle of a larger buffer: the bytes land in place
            assert btt.readinto(0, mv[ss:3 * ss]) == 2
            assert big[ss:3 * ss] == btt.read(0, 2) and big[:ss] == bytes(ss)
            arr = array.array("I", bytes(ss))
            assert btt.readinto(1, arr) == 1 and arr.tobytes() == btt.read(1)
            with pytest.raises(ndtk.BadArgumentError, match="multiple"):
                btt.readinto(0, bytearray(ss + 1))
            with pytest.raises(ndtk.BadArgumentError, match="writable"):
                btt.readinto(0, bytes(ss))
            with pytest.raises(ndtk.BadArgumentError):
                btt.readinto(0, memoryview(bytearray(2 * ss))[::2])  # not contiguous
            with pytest.raises(ndtk.BadArgumentError, match="multiple"):
                btt.write(0, b"short")
            with pytest.raises(ndtk.BadArgumentError, match="outside"):
                btt.read(len(btt))
            with pytest.raises(ndtk.BadArgumentError, match="outside"):
                btt.write(len(btt) - 1, bytes(2 * ss))
            with pytest.raises(ndtk.BadArgumentError):
                btt.write(0, "text is not a buffer")
        assert btt.closed and "closed" in repr(btt)
        with pytest.raises(ndtk.BadArgumentError, match="closed"):
            btt.read(0)


def test_read_only_btt_refuses_writes(raw_copy):
    path = raw_copy(kernel_image("i-sector4096-labelless"))
    with ndtk.Btt(path) as btt:
        assert not btt.writable and btt.container is ndtk.Container.WHOLE_IMAGE
        before = btt.read(0)
        for call in (lambda: btt.write(0, bytes(4096)), lambda: btt.set_zero(0),
                     lambda: btt.set_error(0)):
            with pytest.raises(ndtk.ReadOnlyError):
                call()
        assert btt.read(0) == before
    with ndtk.Image(path) as img:  # a read-only Image refuses a writable BTT too
        with pytest.raises(ndtk.ReadOnlyError, match="read-only"):
            img.open_btt(writable=True)
    with pytest.raises(ndtk.BadImageError):  # .zst cannot be written in place
        ndtk.Btt(kernel_image("a-sector4096-labels1.1"), writable=True)


def test_btt_repr_and_properties():
    with ndtk.Btt(kernel_image("i-sector4096-labelless")) as btt:
        r = repr(btt)
        assert "kernel" in r and "65208 sectors" in r and "ro" in r
        assert btt.version == "1.1" and btt.arena0_offset == 4096
        assert btt.size == 65208 * 4096 and btt.lanes >= 1
        assert "Arena 0" in repr(btt.arenas[0])
        assert "MapView" in repr(btt.arenas[0].map) and "LogView" in repr(btt.arenas[0].log)
        assert "SectorInfo" in repr(btt.sector_info(0))
        assert "MapEntry" in repr(btt.arenas[0].map[0])
