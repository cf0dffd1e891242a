// 16-byte identifiers: UUIDs stored in textual byte order, and EFI GUIDs (mixed endian).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ndtk/base/bytes.h"

namespace ndtk {

/// Raw 16 bytes as they sit on media. to_string() prints them in byte order (what ndctl prints
/// for namespace uuids and, in read-labels, also for EFI GUID fields).
struct Uuid {
  std::array<std::uint8_t, 16> bytes{};

  static Uuid from_bytes(Bytes b);  // first 16 bytes (zero-filled if shorter)
  /// Parse "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" into byte order.
  static std::optional<Uuid> parse(std::string_view s);
  /// Parse a GUID string into EFI mixed-endian on-media bytes.
  static std::optional<Uuid> parse_guid(std::string_view s);
  /// A random (version 4) uuid from the OS entropy source.
  static Uuid random();

  bool is_zero() const;
  /// Bytes in order, canonical 8-4-4-4-12 form.
  std::string to_string() const;
  /// Interpret the bytes as an EFI GUID (first three groups little-endian) and print it.
  std::string to_guid_string() const;

  auto operator<=>(const Uuid&) const = default;
};

}  // namespace ndtk
