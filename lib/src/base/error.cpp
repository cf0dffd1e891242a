// Rendering of Error values.
#include "ndtk/base/error.h"

#include <fmt/format.h>

namespace ndtk {

const char* errc_name(Errc c) {
  switch (c) {
    case Errc::kIo: return "io-error";
    case Errc::kNotFound: return "not-found";
    case Errc::kIsDirectory: return "is-directory";
    case Errc::kPermission: return "permission-denied";
    case Errc::kTruncated: return "truncated";
    case Errc::kOutOfRange: return "out-of-range";
    case Errc::kBadSignature: return "bad-signature";
    case Errc::kBadChecksum: return "bad-checksum";
    case Errc::kBadField: return "bad-field";
    case Errc::kUnsupported: return "unsupported";
    case Errc::kCorrupt: return "corrupt";
    case Errc::kInvalidArgument: return "invalid-argument";
    case Errc::kReadOnly: return "read-only";
    case Errc::kNotPresent: return "not-present";
    case Errc::kMediaError: return "media-error";
  }
  return "unknown";
}

std::string Error::message() const {
  std::string out;
  if (!structure.empty()) {
    out += structure;
  }
  if (offset && field.empty()) out += fmt::format(" @{:#x}", *offset);
  if (!field.empty()) {
    if (!out.empty()) out += ": ";
    out += "field " + field;
    if (offset) out += fmt::format(" at +{:#x}", *offset);
  }
  if (!what.empty()) {
    if (!out.empty()) out += ": ";
    out += what;
  }
  if (!expected.empty() || !found.empty()) {
    if (!out.empty()) out += ": ";
    out += "expected " + expected + ", found " + found;
  }
  if (out.empty()) out = errc_name(code);
  return out;
}

Error& Error::prefix(const std::string& p) {
  if (p.empty()) return *this;
  if (structure.empty())
    structure = p;
  else
    structure = p + ": " + structure;
  return *this;
}

Error make_error(Errc code, std::string what) {
  Error e;
  e.code = code;
  e.what = std::move(what);
  return e;
}

Error field_error(Errc code, std::string structure, std::string field, std::uint64_t offset,
                  std::string expected, std::string found) {
  Error e;
  e.code = code;
  e.structure = std::move(structure);
  e.field = std::move(field);
  e.offset = offset;
  e.expected = std::move(expected);
  e.found = std::move(found);
  return e;
}

}  // namespace ndtk
