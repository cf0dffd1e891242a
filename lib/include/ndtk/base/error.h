// Error values carried by Result<T>: a stable code plus the context a user needs to act.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace ndtk {

/// Stable error categories; tools map them to exit codes, bindings to exception classes.
enum class Errc {
  kIo,               // the OS refused a read/write/flush
  kNotFound,         // path does not exist
  kIsDirectory,      // path is a directory
  kPermission,       // EACCES/EPERM/EROFS
  kTruncated,        // fewer bytes than the structure or view needs
  kOutOfRange,       // an offset/length lies outside the device or span
  kBadSignature,     // magic bytes do not match
  kBadChecksum,      // stored checksum differs from the computed one
  kBadField,         // a field holds a value the format forbids
  kUnsupported,      // valid but not handled (e.g. unknown version)
  kCorrupt,          // structure-level inconsistency (e.g. bad zstd frame)
  kInvalidArgument,  // caller passed something unusable
  kReadOnly,         // write attempted on a read-only device
  kNotPresent,       // the looked-for structure is absent (not an error for probes)
  kMediaError,       // a BTT sector flagged as error (EIO in the kernel)
};

/// Short stable name of an error code ("bad-checksum").
const char* errc_name(Errc c);

/// An error with optional structured context. message() renders one line, e.g.
/// "btt info @0x1000: field external_lbasize at +0x38: expected 512..4224, found 0x7".
struct Error {
  Errc code = Errc::kIo;
  std::string what;                   // free text, already specific
  std::string structure;              // e.g. "btt info", "namespace index 1"
  std::string field;                  // e.g. "external_lbasize"
  std::optional<std::uint64_t> offset;  // absolute or structure-relative byte offset
  std::string expected;
  std::string found;

  /// One-line human-readable rendering of all present parts.
  std::string message() const;

  /// Prefix the context with the thing being read (a file path, "arena 1", ...).
  Error& prefix(const std::string& p);
};

Error make_error(Errc code, std::string what);

/// A field-level error: which structure, which field at which offset, expected vs found.
Error field_error(Errc code, std::string structure, std::string field, std::uint64_t offset,
                  std::string expected, std::string found);

}  // namespace ndtk
