// Little-endian field access on bounded byte spans, and overflow-safe range arithmetic.
// The only place media bytes become integers: everything above decodes through these.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ndtk {

using Bytes = std::span<const std::uint8_t>;
using MutBytes = std::span<std::uint8_t>;
using ByteVec = std::vector<std::uint8_t>;

/// True iff [off, off+len) lies inside [0, size). Never overflows.
constexpr bool range_fits(std::uint64_t off, std::uint64_t len, std::uint64_t size) {
  return off <= size && len <= size - off;
}

/// a + b, or nullopt on u64 overflow.
constexpr std::optional<std::uint64_t> checked_add(std::uint64_t a, std::uint64_t b) {
  if (b > UINT64_MAX - a) return std::nullopt;
  return a + b;
}

/// a * b, or nullopt on u64 overflow.
constexpr std::optional<std::uint64_t> checked_mul(std::uint64_t a, std::uint64_t b) {
  if (a != 0 && b > UINT64_MAX / a) return std::nullopt;
  return a * b;
}

constexpr std::uint64_t align_up(std::uint64_t x, std::uint64_t a) { return (x + a - 1) / a * a; }
constexpr std::uint64_t align_down(std::uint64_t x, std::uint64_t a) { return x / a * a; }
constexpr std::uint64_t div_round_up(std::uint64_t x, std::uint64_t d) { return (x + d - 1) / d; }

// Fixed-offset little-endian loads/stores. Callers pass spans whose size they have already
// checked (typically std::span<const uint8_t, N> of a whole structure); the offset+width must
// lie inside the span, which is asserted in debug builds and guaranteed by static layouts.
template <class T>
inline T load_le(Bytes b, std::size_t off) {
  static_assert(std::is_unsigned_v<T>);
  T v = 0;
  if (off > b.size() || sizeof(T) > b.size() - off) return 0;  // defensive: never read past
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(T(b[off + i]) << (8 * i));
  return v;
}
inline std::uint16_t le16(Bytes b, std::size_t off) { return load_le<std::uint16_t>(b, off); }
inline std::uint32_t le32(Bytes b, std::size_t off) { return load_le<std::uint32_t>(b, off); }
inline std::uint64_t le64(Bytes b, std::size_t off) { return load_le<std::uint64_t>(b, off); }

template <class T>
inline void store_le(MutBytes b, std::size_t off, T v) {
  static_assert(std::is_unsigned_v<T>);
  if (off > b.size() || sizeof(T) > b.size() - off) return;
  for (std::size_t i = 0; i < sizeof(T); ++i) b[off + i] = static_cast<std::uint8_t>(v >> (8 * i));
}
inline void put_le16(MutBytes b, std::size_t off, std::uint16_t v) { store_le(b, off, v); }
inline void put_le32(MutBytes b, std::size_t off, std::uint32_t v) { store_le(b, off, v); }
inline void put_le64(MutBytes b, std::size_t off, std::uint64_t v) { store_le(b, off, v); }

/// True iff every byte is zero.
bool all_zero(Bytes b);

/// Hex rendering helpers used in error messages: "0x1f".
std::string hex(std::uint64_t v);

/// Copy a NUL-padded fixed-width string field (stops at the first NUL).
std::string fixed_string(Bytes b);

/// A byte field for messages: trailing NULs dropped, printable ASCII kept, the rest \xNN,
/// in double quotes ("NVDIMM_PFN_INFO").
std::string quoted_printable(Bytes b);

/// base + off when the base offset is known (and does not overflow), for Finding.offset.
constexpr std::optional<std::uint64_t> offset_plus(std::optional<std::uint64_t> base,
                                                   std::uint64_t off) {
  if (!base) return std::nullopt;
  return checked_add(*base, off);
}

}  // namespace ndtk
