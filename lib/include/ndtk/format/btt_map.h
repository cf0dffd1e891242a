// BTT map entries: one little-endian u32 per external LBA of an arena, at mapoff + 4*premap.
// Bit 31 = Z (zero/trim), bit 30 = E (error), bits 0..29 = post-map block. The kernel's
// Documentation/driver-api/nvdimm/btt.rst table has Z and E swapped; the code is authoritative.
#pragma once

#include <array>
#include <cstdint>

#include "ndtk/base/bytes.h"
#include "ndtk/base/result.h"

namespace ndtk {

inline constexpr std::uint32_t kBttMapEntrySize = 4;
inline constexpr std::uint32_t kBttMapZeroFlag = 0x80000000u;   // Z, bit 31
inline constexpr std::uint32_t kBttMapErrorFlag = 0x40000000u;  // E, bit 30
inline constexpr std::uint32_t kBttMapNormal = 0xC0000000u;     // Z|E = "normal"
inline constexpr std::uint32_t kBttMapFlagMask = 0xC0000000u;
inline constexpr std::uint32_t kBttMapLbaMask = 0x3FFFFFFFu;

/// The four states the two flag bits encode (kernel btt_map_read, PMDK map_entry_is_*).
enum class BttMapState : std::uint8_t {
  Initial,  // Z=0 E=0: never written; post-map = pre-map (kernel reads that block, PMDK zeros)
  Error,    // Z=0 E=1: reads fail with EIO
  Zero,     // Z=1 E=0: reads return zeros (PMDK pmemblk_set_zero; the kernel never writes it)
  Normal,   // Z=1 E=1: post-map = bits 0..29
};

/// "initial" / "error" / "zero" / "normal".
const char* btt_map_state_name(BttMapState s);

/// One map entry as stored.
struct BttMapEntry {
  std::uint32_t raw = 0;

  bool z() const { return (raw & kBttMapZeroFlag) != 0; }
  bool e() const { return (raw & kBttMapErrorFlag) != 0; }
  /// Bits 0..29 as stored (meaningless for an initial entry, whose block is the pre-map LBA).
  std::uint32_t postmap() const { return raw & kBttMapLbaMask; }
  /// The two flag bits as a state (inline: the map pass calls this once per entry).
  BttMapState state() const {
    switch (raw & kBttMapFlagMask) {
      case 0:
        return BttMapState::Initial;
      case kBttMapErrorFlag:
        return BttMapState::Error;
      case kBttMapZeroFlag:
        return BttMapState::Zero;
      default:
        return BttMapState::Normal;
    }
  }
  /// The internal block a read of `premap` would use: identity for initial entries.
  std::uint32_t effective_postmap(std::uint32_t premap) const {
    return (raw & kBttMapFlagMask) == 0 ? premap : postmap();
  }

  /// Entries as the writers store them (the block number is masked to 30 bits).
  static BttMapEntry initial() { return {0}; }
  static BttMapEntry normal(std::uint32_t block) {
    return {(block & kBttMapLbaMask) | kBttMapNormal};
  }
  static BttMapEntry error(std::uint32_t block) {
    return {(block & kBttMapLbaMask) | kBttMapErrorFlag};
  }
  static BttMapEntry zero(std::uint32_t block) {
    return {(block & kBttMapLbaMask) | kBttMapZeroFlag};
  }
  static BttMapEntry with_state(BttMapState s, std::uint32_t block);

  bool operator==(const BttMapEntry&) const = default;
};

/// The entry for `premap` inside a map area `map` (bytes starting at mapoff); kOutOfRange if
/// the 4 bytes do not lie inside the span.
Result<BttMapEntry> decode_map_entry(Bytes map, std::uint64_t premap);
/// Store `entry` for `premap` into `map`; kOutOfRange (nothing written) if it does not fit.
Result<void> encode_map_entry(MutBytes map, std::uint64_t premap, BttMapEntry entry);
/// The 4 little-endian bytes of an entry.
std::array<std::uint8_t, 4> serialize_map_entry(BttMapEntry entry);

}  // namespace ndtk
