// BTT map entry decoding and encoding.
#include "ndtk/format/btt_map.h"

#include <fmt/format.h>

namespace ndtk {

const char* btt_map_state_name(BttMapState s) {
  switch (s) {
    case BttMapState::Initial:
      return "initial";
    case BttMapState::Error:
      return "error";
    case BttMapState::Zero:
      return "zero";
    case BttMapState::Normal:
      return "normal";
  }
  return "?";
}

BttMapEntry BttMapEntry::with_state(BttMapState s, std::uint32_t block) {
  switch (s) {
    case BttMapState::Initial:
      return {block & kBttMapLbaMask};
    case BttMapState::Error:
      return error(block);
    case BttMapState::Zero:
      return zero(block);
    case BttMapState::Normal:
      return normal(block);
  }
  return initial();
}

namespace {
std::optional<std::uint64_t> entry_offset(std::uint64_t premap, std::size_t map_size) {
  auto off = checked_mul(premap, kBttMapEntrySize);
  if (!off || !range_fits(*off, kBttMapEntrySize, map_size)) return std::nullopt;
  return off;
}
}  // namespace

Result<BttMapEntry> decode_map_entry(Bytes map, std::uint64_t premap) {
  auto off = entry_offset(premap, map.size());
  if (!off)
    return fail(Errc::kOutOfRange,
                fmt::format("btt map entry {} lies outside the {}-byte map", premap, map.size()));
  return BttMapEntry{le32(map, static_cast<std::size_t>(*off))};
}

Result<void> encode_map_entry(MutBytes map, std::uint64_t premap, BttMapEntry entry) {
  auto off = entry_offset(premap, map.size());
  if (!off)
    return fail(Errc::kOutOfRange,
                fmt::format("btt map entry {} lies outside the {}-byte map", premap, map.size()));
  put_le32(map, static_cast<std::size_t>(*off), entry.raw);
  return ok();
}

std::array<std::uint8_t, 4> serialize_map_entry(BttMapEntry entry) {
  std::array<std::uint8_t, 4> out{};
  put_le32(out, 0, entry.raw);
  return out;
}

}  // namespace ndtk
