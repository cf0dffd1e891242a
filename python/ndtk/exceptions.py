"""The ndtk exception hierarchy.

Every failure of the library reaches Python as an :class:`Error` subclass; catch
``ndtk.Error`` to handle them all::

    Error                     anything ndtk reports
    ├── BadImageError         the media does not hold what was asked for (signature,
    │                         checksum, field, truncation, corruption, unsupported)
    ├── BadArgumentError      the caller passed something unusable (also a ValueError)
    └── IoError               the operating system or the device refused (also an OSError)
        ├── NotFoundError     no such file (also a FileNotFoundError)
        ├── ReadOnlyError     a write to something opened read-only
        └── MediaError        a BTT sector is flagged as a media error (EIO in the kernel)

Each instance carries the library's structured context: ``code`` (a stable short name such
as ``"bad-checksum"``), and when known ``structure``, ``field``, ``offset``, ``expected`` and
``found``.
"""

from __future__ import annotations

from typing import Optional

__all__ = [
    "Error",
    "BadImageError",
    "BadArgumentError",
    "IoError",
    "NotFoundError",
    "ReadOnlyError",
    "MediaError",
    "class_for_code",
]


class Error(Exception):
    """Base class of every ndtk exception."""

    code: str = "error"
    structure: Optional[str] = None
    field: Optional[str] = None
    offset: Optional[int] = None
    expected: Optional[str] = None
    found: Optional[str] = None

    @property
    def message(self) -> str:
        """The one-line message (also ``str(exc)``)."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"


class BadImageError(Error):
    """The image does not hold a valid structure where one was expected."""


class BadArgumentError(Error, ValueError):
    """An argument is unusable: out of range, wrong size, wrong type of image."""


class IoError(Error, OSError):
    """The device or the operating system refused a read, write, open or flush."""

    def __str__(self) -> str:  # OSError would render args as a tuple
        return self.message


class NotFoundError(IoError, FileNotFoundError):
    """The path does not exist."""


class ReadOnlyError(IoError):
    """A write was attempted on an image, device or BTT opened read-only."""


class MediaError(IoError):
    """A BTT sector is flagged as a media error; reads fail until it is written."""


_BY_CODE = {
    "io-error": IoError,
    "not-found": NotFoundError,
    "is-directory": IoError,
    "permission-denied": IoError,
    "read-only": ReadOnlyError,
    "media-error": MediaError,
    "invalid-argument": BadArgumentError,
    "out-of-range": BadArgumentError,
    "truncated": BadImageError,
    "bad-signature": BadImageError,
    "bad-checksum": BadImageError,
    "bad-field": BadImageError,
    "unsupported": BadImageError,
    "corrupt": BadImageError,
    "not-present": BadImageError,
}


def class_for_code(code: str) -> type:
    """The exception class the library's error ``code`` is raised as."""
    return _BY_CODE.get(code, Error)
