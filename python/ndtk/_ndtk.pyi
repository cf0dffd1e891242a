# Type stubs of the ndtk C++ extension (_ndtk); import everything from `ndtk`.
from __future__ import annotations

import array
import os
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union


from ._enums import (Container, Flavor, ImageKind, IndexChoice, MapState, Mode, PfnVerdict,
                     Severity, SlotState)

_Path = Union[str, "os.PathLike[str]"]
_UuidLike = Union[uuid.UUID, str, bytes]
_ReadableBuffer = Any  # bytes, bytearray, memoryview, array.array, mmap, numpy arrays...
_WritableBuffer = Any  # bytearray, memoryview of writable memory, array.array, mmap...

__version__: str

def problem_table() -> List[Tuple[str, int, int, str, str]]: ...
def fletcher64(data: _ReadableBuffer) -> int: ...

class Finding:
    @property
    def code(self) -> Any: ...  # ndtk.Problem member
    @property
    def number(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def severity(self) -> Severity: ...
    @property
    def title(self) -> str: ...
    @property
    def detail(self) -> str: ...
    @property
    def location(self) -> str: ...
    @property
    def offset(self) -> Optional[int]: ...
    @property
    def message(self) -> str: ...
    @property
    def repair(self) -> str: ...
    def to_dict(self) -> Dict[str, Any]: ...

class BttInfo:
    @staticmethod
    def decode(data: bytes) -> BttInfo: ...
    @staticmethod
    def parse(data: bytes) -> BttInfo: ...
    @staticmethod
    def fields() -> List[Tuple[str, int, int]]: ...
    def to_bytes(self) -> bytes: ...
    def with_checksum(self) -> BttInfo: ...
    def validate(self) -> List[Finding]: ...
    def to_dict(self) -> Dict[str, Union[int, bytes]]: ...
    signature: bytes
    uuid: uuid.UUID
    parent_uuid: uuid.UUID
    flags: int
    version_major: int
    version_minor: int
    version: str
    external_lbasize: int
    external_nlba: int
    internal_lbasize: int
    internal_nlba: int
    nfree: int
    infosize: int
    nextoff: int
    dataoff: int
    mapoff: int
    logoff: int
    info2off: int
    checksum: int
    checksum_ok: bool
    signature_ok: bool
    computed_checksum: int
    error_flag: bool
    padding_zero: bool

class PfnInfo:
    @staticmethod
    def decode(data: bytes) -> PfnInfo: ...
    @staticmethod
    def parse(data: bytes) -> PfnInfo: ...
    @staticmethod
    def fields() -> List[Tuple[str, int, int]]: ...
    def to_bytes(self) -> bytes: ...
    def with_checksum(self) -> PfnInfo: ...
    def validate(self) -> List[Finding]: ...
    def to_dict(self) -> Dict[str, Union[int, bytes]]: ...
    kind: str
    signature: bytes
    uuid: uuid.UUID
    parent_uuid: uuid.UUID
    flags: int
    version: str
    version_major: int
    version_minor: int
    dataoff: int
    npfns: int
    mode: int
    mode_name: str
    start_pad: int
    end_trunc: int
    align: int
    page_size: int
    page_struct_size: int
    checksum: int
    checksum_ok: bool
    computed_checksum: int

class PfnValidation:
    verdict: PfnVerdict
    kernel_error: str
    kernel_accepts: bool
    data_start: int
    data_end: int
    usable_bytes: int
    npfns: int
    findings: List[Finding]

class LabelIndex:
    @staticmethod
    def decode(data: bytes) -> LabelIndex: ...
    @staticmethod
    def parse(data: bytes) -> LabelIndex: ...
    @staticmethod
    def fields() -> List[Tuple[str, int, int]]: ...
    def to_bytes(self) -> bytes: ...
    def with_checksum(self) -> LabelIndex: ...
    def to_dict(self) -> Dict[str, Union[int, bytes]]: ...
    def is_free(self, slot: int) -> bool: ...
    def used_slots(self) -> List[int]: ...
    seq: int
    myoff: int
    mysize: int
    otheroff: int
    labeloff: int
    nslot: int
    major: int
    minor: int
    labelsize: int
    label_size: int
    checksum: int
    checksum_ok: bool
    has_signature: bool
    block_size: int
    used_count: int

class NamespaceLabel:
    @staticmethod
    def decode(data: bytes, label_size: int = 256) -> NamespaceLabel: ...
    @staticmethod
    def parse(data: bytes, label_size: int = 256) -> NamespaceLabel: ...
    def to_bytes(self) -> bytes: ...
    def validate(self, slot: int) -> List[Finding]: ...
    def to_dict(self) -> Dict[str, Union[int, bytes]]: ...
    label_size: int
    version: str
    uuid: uuid.UUID
    name: str
    flags: int
    flag_names: str
    nlabel: int
    position: int
    isetcookie: int
    lbasize: int
    dpa: int
    rawsize: int
    slot: int
    align: int
    type_guid: uuid.UUID
    abstraction_guid: uuid.UUID
    claim_class: str
    checksum: int
    checksum_ok: bool

class CxlNamespaceLabel:
    @staticmethod
    def decode(data: bytes) -> CxlNamespaceLabel: ...
    def to_bytes(self) -> bytes: ...
    def to_dict(self) -> Dict[str, Union[int, bytes]]: ...
    uuid: uuid.UUID
    name: str
    region_uuid: uuid.UUID
    flags: int
    nrange: int
    position: int
    dpa: int
    rawsize: int
    slot: int
    lbasize: int
    claim_class: str
    checksum_ok: bool

class CxlRegionLabel:
    @staticmethod
    def decode(data: bytes) -> CxlRegionLabel: ...
    def to_bytes(self) -> bytes: ...
    uuid: uuid.UUID
    flags: int
    nlabel: int
    position: int
    dpa: int
    rawsize: int
    hpa: int
    slot: int
    ig: int
    checksum_ok: bool

class MapEntry:
    def __init__(self, raw: int) -> None: ...
    raw: int
    z: bool
    e: bool
    postmap: int
    state: MapState
    def effective_postmap(self, premap: int) -> int: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...

class LogEntry:
    def __init__(self, lba: int, old_map: int, new_map: int, seq: int) -> None: ...
    lba: int
    old_map: int
    new_map: int
    seq: int
    old_block: int
    new_block: int
    is_padding: bool
    def to_bytes(self) -> bytes: ...

class LogGroup:
    @staticmethod
    def decode(data: bytes) -> LogGroup: ...
    slots: List[LogEntry]
    def to_bytes(self) -> bytes: ...
    def live(self, indices: Tuple[int, int] = (0, 1)) -> Tuple[LogEntry, LogEntry]: ...
    def current(self, indices: Tuple[int, int] = (0, 1)) -> Optional[LogEntry]: ...

class PoolHeader:
    @staticmethod
    def decode(data: bytes) -> PoolHeader: ...
    @staticmethod
    def fields() -> List[Tuple[str, int, int]]: ...
    def to_bytes(self) -> bytes: ...
    def validate(self) -> List[Finding]: ...
    def to_dict(self) -> Dict[str, Union[int, bytes]]: ...
    type: str
    major: int
    poolset_uuid: uuid.UUID
    uuid: uuid.UUID
    crtime: int
    checksum: int
    checksum_ok: bool

class PmemBlkPool:
    header: PoolHeader
    bsize: int
    is_zeroed: bool
    btt_offset: int
    btt_size: int
    layout_written: bool
    findings: List[Finding]

class ArenaLayout:
    index: int
    offset: int
    size: int
    version: str
    flavor: Flavor
    external_lbasize: int
    internal_lbasize: int
    external_nlba: int
    internal_nlba: int
    nfree: int
    dataoff: int
    mapoff: int
    logoff: int
    info2off: int
    nextoff: int
    mapsize: int
    logsize: int
    datasize: int
    first_external_lba: int
    def info_block(self, uuid: Optional[_UuidLike] = None,
                   parent_uuid: Optional[_UuidLike] = None) -> BttInfo: ...
    def compare(self, info: BttInfo) -> List[Tuple[str, int, int]]: ...

def btt_layout(namespace_size: int, lbasize: int = 4096, version: str = "1.1",
               flavor: str = "kernel", nfree: int = 256) -> List[ArenaLayout]: ...

class LabelGeometry:
    config_size: int
    label_size: int
    index_size: int
    nslot: int
    formula: str
    label_offset: int
    def slot_offset(self, slot: int) -> int: ...

def label_geometry(config_size: int, label_size: int = 256) -> LabelGeometry: ...

class PfnGeometry:
    dataoff: int
    npfns: int
    end_trunc: int
    layout_align: int
    memmap_bytes: int
    usable_bytes: int

def pfn_geometry(namespace_size: int, mode: str = "pmem", align: int = 2097152,
                 start: int = 0) -> PfnGeometry: ...

class LabelExtent:
    slot: int
    dpa: int
    rawsize: int
    position: int
    flags: int

class LabelNamespace:
    uuid: uuid.UUID
    name: str
    claim_class: str
    mode: str
    lbasize: int
    isetcookie: int
    nlabel: int
    flags: int
    cxl: bool
    extents: List[LabelExtent]
    size: int

class IndexBlock:
    number: int
    offset: int
    index: Optional[LabelIndex]
    valid: bool
    problems: List[Finding]

class LabelSlot:
    slot: int
    offset: int
    state: SlotState
    in_use: bool
    kernel_valid: bool
    label: Union[NamespaceLabel, CxlNamespaceLabel, CxlRegionLabel, None]
    note: str
    raw: bytes

class LabelArea:
    @staticmethod
    def from_bytes(data: bytes, base_offset: int = 0,
                   dimm_size: Optional[int] = None) -> LabelArea: ...
    device: str
    offset: int
    size: int
    indexes: Tuple[IndexBlock, IndexBlock]
    current_index: Optional[int]
    index_choice: IndexChoice
    index_explanation: str
    geometry: Optional[LabelGeometry]
    nslot: int
    label_size: int
    index_size: int
    version: Optional[str]
    dimm_size: Optional[int]
    has_valid_index: bool
    is_cxl: bool
    slots: List[LabelSlot]
    labels: List[Union[NamespaceLabel, CxlNamespaceLabel, CxlRegionLabel]]
    stale_labels: List[LabelSlot]
    namespaces: List[LabelNamespace]
    stale_namespaces: List[LabelNamespace]
    findings: List[Finding]
    def slot(self, slot: int) -> Optional[LabelSlot]: ...

class BttSummary:
    version: str
    info_offset: int
    info: BttInfo
    arenas: int
    external_nlba: int
    complete: bool
    problem: str
    sector_size: int

class Namespace:
    index: int
    uuid: Optional[uuid.UUID]
    display_uuid: Optional[uuid.UUID]
    name: str
    offset: int
    size: int
    capacity: int
    mode: Mode
    personality: str
    claim_class: str
    lbasize: int
    sector_size: int
    align: Optional[int]
    from_labels: bool
    stale: bool
    personality_missing: bool
    personality_note: str
    btt: Optional[BttSummary]
    pfn: Optional[PfnInfo]
    pfn_validation: Optional[PfnValidation]
    def read(self, offset: int, length: int) -> bytes: ...
    def open_btt(self, writable: bool = False, lanes: int = 0,
                 durability: str = "strict") -> Btt: ...

class Image:
    def __init__(self, path: _Path, writable: bool = False, *, label_offset: Optional[int] = None,
                 label_size: Optional[int] = None, namespace_offset: Optional[int] = None,
                 namespace_size: Optional[int] = None) -> None: ...
    @staticmethod
    def from_bytes(data: _ReadableBuffer, name: str = "<memory>", writable: bool = True) -> Image: ...
    def __enter__(self) -> Image: ...
    def __exit__(self, *exc: Any) -> bool: ...
    def close(self) -> None: ...
    closed: bool
    path: str
    size: int
    writable: bool
    compressed: bool
    kind: ImageKind
    pmem_size: int
    label_area: Optional[LabelArea]
    pool: Optional[PmemBlkPool]
    namespaces: List[Namespace]
    stale_namespaces: List[Namespace]
    findings: List[Finding]
    def namespace(self, which: Union[int, str, uuid.UUID]) -> Namespace: ...
    def refresh(self) -> None: ...
    def read(self, offset: int, length: int) -> bytes: ...
    def readinto(self, offset: int, buffer: _WritableBuffer) -> int: ...
    def write(self, offset: int, data: _ReadableBuffer) -> None: ...
    def write_zeros(self, offset: int, length: int) -> None: ...
    def flush(self) -> None: ...
    def known_zero(self, offset: int, length: int) -> bool: ...
    def export(self, path: _Path) -> None: ...
    def open_btt(self, namespace: Union[int, str, uuid.UUID, None] = None, writable: bool = False,
                 lanes: int = 0, durability: str = "strict") -> Btt: ...

def read_label_area(image: Image, offset: Optional[int] = None,
                    size: Optional[int] = None) -> LabelArea: ...

class SectorInfo:
    arena: int
    premap: int
    entry: MapEntry
    state: MapState
    postmap: int
    data_offset: int

class MapView:
    def __len__(self) -> int: ...
    def __getitem__(self, i: int) -> MapEntry: ...
    def __iter__(self) -> Iterator[MapEntry]: ...
    def array(self) -> "array.array[int]": ...

class LogView:
    def __len__(self) -> int: ...
    def __getitem__(self, i: int) -> LogGroup: ...
    def __iter__(self) -> Iterator[LogGroup]: ...
    def array(self) -> "array.array[int]": ...

class Arena:
    index: int
    offset: int
    size: int
    first_lba: int
    external_nlba: int
    internal_nlba: int
    nfree: int
    info: BttInfo
    info2: BttInfo
    log_indices: Tuple[int, int]
    recovered_map_entries: int
    lanes_with_error: int
    write_refused: str
    map: MapView
    log: LogView
    def free_blocks(self) -> List[int]: ...

class Btt:
    def __init__(self, path: _Path, writable: bool = False, *, offset: Optional[int] = None,
                 size: Optional[int] = None, arena0_offset: Optional[int] = None,
                 flavor: Optional[str] = None, parent_uuid: Optional[_UuidLike] = None,
                 lanes: int = 0, durability: str = "strict") -> None: ...
    def __enter__(self) -> Btt: ...
    def __exit__(self, *exc: Any) -> bool: ...
    def close(self) -> None: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[bytes]: ...
    closed: bool
    name: str
    lbasize: int
    sector_size: int
    integrity_size: int
    sector_count: int
    size: int
    flavor: Flavor
    version: str
    writable: bool
    formatted: bool
    lanes: int
    arena0_offset: int
    container: Container
    namespace_offset: int
    namespace_size: int
    in_memory_copy: bool
    arenas: List[Arena]
    def read(self, lba: int, count: int = 1) -> bytes: ...
    def readinto(self, lba: int, buffer: _WritableBuffer) -> int: ...
    def write(self, lba: int, data: _ReadableBuffer) -> int: ...
    def set_zero(self, lba: int, count: int = 1) -> None: ...
    def set_error(self, lba: int, count: int = 1) -> None: ...
    def flush(self) -> None: ...
    def sector_info(self, lba: int) -> SectorInfo: ...
    def verify(self) -> None: ...
    def sectors(self, start: int = 0, stop: Optional[int] = None, *, batch: int = 256,
                errors: str = "raise") -> Iterator[Tuple[int, Optional[bytes]]]: ...

class ArenaReport:
    index: int
    offset: int
    backup_offset: int
    first_lba: int
    primary_valid: bool
    backup_valid: bool
    backup_identical: bool
    source: str
    info: Optional[BttInfo]
    layout_usable: bool
    log_indices: Optional[Tuple[int, int]]
    map_stats: Dict[str, int]
    duplicate_blocks: int
    leaked_blocks: int
    torn_writes: int
    lanes_without_free_block: int
    affected_lbas: List[int]
    fixes_complete: bool
    findings: List[Finding]

class BttReport:
    flavor: Flavor
    version: str
    arena0_offset: int
    external_lbasize: int
    external_nlba: int
    uuid: uuid.UUID
    parent_uuid: uuid.UUID
    arenas: List[ArenaReport]

class PfnReport:
    offset: int
    info: PfnInfo
    validation: PfnValidation
    checksum_corroborated: bool

class NamespaceReport:
    namespace_index: int
    uuid: Optional[uuid.UUID]
    name: str
    offset: int
    size: int
    mode: Mode
    personality: str
    btt: Optional[BttReport]
    pfn: Optional[PfnReport]
    findings: List[Finding]

class PlannedWrite:
    offset: int
    length: int
    zero: bool
    data: Optional[bytes]
    what: str
    fixes: Optional[Any]  # ndtk.Problem

class WritePlan:
    writes: List[PlannedWrite]
    total_bytes: int
    def __len__(self) -> int: ...
    def __bool__(self) -> bool: ...
    def __iter__(self) -> Iterator[PlannedWrite]: ...
    def describe(self) -> List[str]: ...
    def apply(self, image: Union[Image, _Path, None] = None,
              undo: Optional[_Path] = None) -> None: ...

class RepairPlan:
    writes: List[PlannedWrite]
    plan: WritePlan
    total_bytes: int
    affected_lbas: List[Tuple[int, int, List[int]]]
    def __len__(self) -> int: ...
    def __bool__(self) -> bool: ...
    def describe(self) -> List[str]: ...
    def predict(self) -> CheckReport: ...
    def apply(self, image: Union[Image, _Path, None] = None,
              undo: Optional[_Path] = None) -> None: ...

class CheckReport:
    image: Image
    path: str
    image_size: int
    kind: ImageKind
    label_area: Optional[LabelArea]
    pool: Optional[PmemBlkPool]
    namespaces: List[NamespaceReport]
    findings: List[Finding]
    errors: List[Finding]
    warnings: List[Finding]
    infos: List[Finding]
    counts: Dict[str, int]
    clean: bool
    def __bool__(self) -> bool: ...
    def repair_plan(self) -> RepairPlan: ...

class ExistingContent:
    what: str
    offset: int

class FormatJob:
    namespace_offset: int
    namespace_size: int
    where: str
    arenas: List[ArenaLayout]
    infos: List[BttInfo]
    sector_count: int
    lbasize: int
    version: str
    uuid: uuid.UUID
    parent_uuid: uuid.UUID
    plan: WritePlan
    notes: List[str]
    overwritten: List[ExistingContent]
    created_namespace: bool
    applied: bool

def check(image: Union[Image, _Path], *, namespace: Union[str, uuid.UUID, None] = None,
          label_offset: Optional[int] = None, label_size: Optional[int] = None,
          offset: Optional[int] = None, size: Optional[int] = None,
          progress: Optional[Callable[[str, int, int], Any]] = None) -> CheckReport: ...

def format(image: Union[Image, _Path], *, offset: Optional[int] = None, size: Optional[int] = None,
           namespace: Union[str, uuid.UUID, None] = None, lbasize: int = 4096,
           version: Optional[str] = None, nfree: int = 256, uuid: Optional[_UuidLike] = None,
           parent_uuid: Optional[_UuidLike] = None, force: bool = False,
           create_namespace: bool = False, name: str = "", label_version: Optional[str] = None,
           dry_run: bool = False, undo: Optional[_Path] = None) -> FormatJob: ...

def rollback(image: Union[Image, _Path], undo: _Path) -> None: ...
