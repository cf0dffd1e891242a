"""ndtk: offline forensics and tooling for persistent-memory (NVDIMM) namespaces.

Open an image (a QEMU NVDIMM backing file, a label dump, a namespace image or a PMDK pmemblk
pool; raw or ``.zst``), see what it holds, read and write sectors through its BTT exactly as
the kernel would, check it, repair it, format it::

    import ndtk

    with ndtk.Image("dimm.img.zst") as img:          # read-only by default
        for ns in img.namespaces:
            print(ns.mode, ns.size, ns.uuid)
        with img.open_btt() as btt:                   # the first namespace holding a BTT
            first = btt.read(0)                       # bytes of one sector
        report = ndtk.check(img)
        for f in report.findings:
            print(f.severity, f.code.name, f.location, f.message)

Errors are :class:`ndtk.Error` subclasses (see :mod:`ndtk.exceptions`). Every call that does
I/O, checks or formats releases the GIL, so Python threads run concurrently with it.
"""

from __future__ import annotations

import enum as _enum
from typing import Iterator, Optional, Tuple

from . import exceptions
from ._enums import (
    Container,
    Flavor,
    ImageKind,
    IndexChoice,
    MapState,
    Mode,
    PfnVerdict,
    Severity,
    SlotState,
)
from .exceptions import (
    BadArgumentError,
    BadImageError,
    Error,
    IoError,
    MediaError,
    NotFoundError,
    ReadOnlyError,
)
from . import _ndtk
from ._ndtk import (
    Arena,
    ArenaLayout,
    ArenaReport,
    Btt,
    BttInfo,
    BttReport,
    BttSummary,
    CheckReport,
    CxlNamespaceLabel,
    CxlRegionLabel,
    ExistingContent,
    Finding,
    FormatJob,
    Image,
    IndexBlock,
    LabelArea,
    LabelExtent,
    LabelGeometry,
    LabelIndex,
    LabelNamespace,
    LabelSlot,
    LogEntry,
    LogGroup,
    LogView,
    MapEntry,
    MapView,
    Namespace,
    NamespaceLabel,
    NamespaceReport,
    PfnGeometry,
    PfnInfo,
    PfnReport,
    PfnValidation,
    PlannedWrite,
    PmemBlkPool,
    PoolHeader,
    RepairPlan,
    SectorInfo,
    WritePlan,
    btt_layout,
    check,
    fletcher64,
    format,
    label_geometry,
    pfn_geometry,
    read_label_area,
    rollback,
)

__version__: str = _ndtk.__version__


def _make_problem_enum() -> type:
    table = _ndtk.problem_table()
    members = {name: number for name, number, _sev, _title, _repair in table}
    cls = _enum.IntEnum("Problem", members, module=__name__)
    info = {number: (Severity(sev), title, repair) for _n, number, sev, title, repair in table}
    cls.severity = property(lambda self: info[int(self)][0])  # type: ignore[attr-defined]
    cls.title = property(lambda self: info[int(self)][1])  # type: ignore[attr-defined]
    cls.repair = property(lambda self: info[int(self)][2])  # type: ignore[attr-defined]
    cls.__str__ = lambda self: self.name  # type: ignore[assignment]
    cls.__doc__ = ("Every problem code of the one problem table (problems.def): name, number "
                   "(0xPPNN), .severity, .title and .repair.")
    return cls


#: The problem table as an IntEnum: ``Problem.BTT_INFO_BAD_CHECKSUM``, ``Problem(0x0302)``.
Problem = _make_problem_enum()


def open(path, writable: bool = False, **where) -> Image:  # noqa: A001 - mirrors io.open
    """Open an image: ``ndtk.open(path)`` is ``ndtk.Image(path)``."""
    return Image(path, writable, **where)


def _iter_sectors(self: Btt, start: int = 0, stop: Optional[int] = None, *, batch: int = 256,
                  errors: str = "raise") -> Iterator[Tuple[int, Optional[bytes]]]:
    """Yield ``(lba, data)`` for sectors ``start`` .. ``stop - 1``, reading ``batch`` sectors
    per call into one reused buffer.

    ``errors``: ``"raise"`` (a media-error sector raises :class:`MediaError`) or ``"none"``
    (such a sector is yielded as ``(lba, None)``).
    """
    if errors not in ("raise", "none"):
        raise BadArgumentError("errors must be 'raise' or 'none'")
    if batch < 1:
        raise BadArgumentError("batch must be at least 1")
    n = self.sector_count if stop is None else stop
    if not 0 <= start <= n <= self.sector_count:
        raise BadArgumentError(f"sector range [{start}, {n}) outside the BTT "
                               f"({self.sector_count} sectors)")
    ss = self.lbasize
    buf = bytearray(batch * ss)
    view = memoryview(buf)
    lba = start
    while lba < n:
        count = min(batch, n - lba)
        chunk = view[: count * ss]
        try:
            self.readinto(lba, chunk)
        except MediaError:
            if errors == "raise" and count == 1:
                raise
            for i in range(count):  # find the bad sector(s) one by one
                try:
                    one = self.read(lba + i)
                except MediaError:
                    if errors == "raise":
                        raise
                    yield lba + i, None
                else:
                    yield lba + i, one
            lba += count
            continue
        for i in range(count):
            yield lba + i, bytes(chunk[i * ss:(i + 1) * ss])
        lba += count


def _btt_iter(self: Btt) -> Iterator[bytes]:
    """Iterate over every sector's bytes (MediaError on an error sector)."""
    for _lba, data in _iter_sectors(self):
        assert data is not None
        yield data


Btt.sectors = _iter_sectors  # type: ignore[attr-defined]
Btt.__iter__ = _btt_iter  # type: ignore[assignment]

from . import helpers  # noqa: E402  (needs the names above)
from .helpers import ImageSummary, check_tree, format_table  # noqa: E402

__all__ = [
    "Arena", "ArenaLayout", "ArenaReport", "BadArgumentError", "BadImageError", "Btt", "BttInfo",
    "BttReport", "BttSummary", "CheckReport", "Container", "CxlNamespaceLabel", "CxlRegionLabel",
    "Error", "ExistingContent", "Finding", "Flavor", "FormatJob", "Image", "ImageKind",
    "ImageSummary", "IndexBlock", "IndexChoice", "IoError", "LabelArea", "LabelExtent",
    "LabelGeometry", "LabelIndex", "LabelNamespace", "LabelSlot", "LogEntry", "LogGroup",
    "LogView", "MapEntry", "MapState", "MapView", "MediaError", "Mode", "Namespace",
    "NamespaceLabel", "NamespaceReport", "NotFoundError", "PfnGeometry", "PfnInfo", "PfnReport",
    "PfnValidation", "PfnVerdict", "PlannedWrite", "PmemBlkPool", "PoolHeader", "Problem",
    "ReadOnlyError", "RepairPlan", "SectorInfo", "Severity", "SlotState", "WritePlan",
    "btt_layout", "check", "check_tree", "exceptions", "fletcher64", "format", "format_table",
    "helpers", "label_geometry", "open", "pfn_geometry", "read_label_area", "rollback",
]
