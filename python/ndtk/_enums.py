"""Enumerations shared by the C++ extension and the pure-Python helpers.

String-valued enums compare equal to their value (``ns.mode == "sector"`` works), and
:class:`Severity` is ordered (``f.severity >= Severity.WARNING``).
"""

from __future__ import annotations

import enum

__all__ = [
    "Severity",
    "Mode",
    "ImageKind",
    "MapState",
    "Flavor",
    "SlotState",
    "IndexChoice",
    "PfnVerdict",
    "Container",
]


class _StrEnum(str, enum.Enum):
    def __str__(self) -> str:
        return str(self.value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self.name}"


class Severity(enum.IntEnum):
    """How bad a finding is. Ordered: INFO < WARNING < ERROR."""

    INFO = 0
    WARNING = 1
    ERROR = 2

    def __str__(self) -> str:
        return self.name.lower()


class Mode(_StrEnum):
    """A namespace's personality, spelled as ndctl spells modes."""

    RAW = "raw"
    SECTOR = "sector"
    FSDAX = "fsdax"
    DEVDAX = "devdax"


class ImageKind(_StrEnum):
    """What an image file holds."""

    DIMM = "dimm"
    LABEL_AREA = "label-area"
    DIMM_LABELLESS = "dimm-labelless"
    PMEMBLK_POOL = "pmemblk-pool"
    NAMESPACE = "namespace"


class MapState(_StrEnum):
    """The state a BTT map entry's Z/E flags encode."""

    INITIAL = "initial"
    ERROR = "error"
    ZERO = "zero"
    NORMAL = "normal"


class Flavor(_StrEnum):
    """Whose BTT rules apply: the Linux kernel's or PMDK's libpmemblk."""

    KERNEL = "kernel"
    PMDK = "pmdk"


class SlotState(_StrEnum):
    """A label slot as the current index and the label's own checks judge it."""

    ACTIVE = "active"
    STALE = "stale"
    GARBAGE = "garbage"


class IndexChoice(_StrEnum):
    """Why an index block of a label area is the current one."""

    NONE = "none"
    ONLY_VALID = "only-valid"
    BEST_SEQ = "best-seq"
    SEQ_TIE = "seq-tie"


class PfnVerdict(_StrEnum):
    """What the kernel does with a pfn/dax info block."""

    ACCEPTED = "accepted"
    NOT_DETECTED = "not-detected"
    REJECTED = "rejected"
    UNUSABLE = "unusable"
    SETUP_FAILED = "setup-failed"


class Container(_StrEnum):
    """Where a BTT was found in an image file."""

    PMEMBLK_POOL = "pmemblk pool"
    WINDOW = "namespace window"
    WHOLE_IMAGE = "whole image"
