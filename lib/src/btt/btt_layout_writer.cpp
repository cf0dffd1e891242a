// Fresh BTT layouts written through a PersistRegion (kernel and libpmemblk orders).
#include "ndtk/btt/btt_layout_writer.h"

#include <fmt/format.h>

#include "ndtk/format/btt_log.h"
#include "ndtk/format/btt_map.h"

namespace ndtk {

namespace {

Result<void> drained(PersistRegion& r, const char* step) {
  if (!r.drain())
    return fail(Errc::kIo, fmt::format("{}: writing the BTT layout ({}): {}", r.name(), step,
                                       r.error_message()));
  return ok();
}

/// A 64-byte log group as the writers store it: two 8-byte halves per live slot, seq last.
void write_group(PersistRegion& r, std::uint64_t off, const BttLogGroup& g) {
  const ByteVec bytes = g.serialize();
  for (std::size_t half = 0; half < kBttLogGroupSize; half += 8)
    r.store64(off + half, le64(bytes, half));
  r.flush(off, kBttLogGroupSize);
}

}  // namespace

Result<void> write_btt_layout(PersistRegion& region, std::uint64_t namespace_offset,
                              std::span<const ArenaLayout> arenas, const Uuid& uuid,
                              const Uuid& parent_uuid, BttVersion version, BttFlavor flavor,
                              bool map_already_zero) {
  if (!region.writable())
    return fail(Errc::kReadOnly, region.name() + ": region is read-only");
  for (const ArenaLayout& a : arenas) {
    const auto start = checked_add(namespace_offset, a.offset);
    if (!start || !range_fits(*start, a.end(), region.size()))
      return fail(Errc::kOutOfRange,
                  fmt::format("{}: arena {} [{:#x}, +{:#x}) does not fit the region ({:#x} bytes)",
                              region.name(), a.index, start.value_or(0), a.end(), region.size()));
    if ((reinterpret_cast<std::uintptr_t>(region.data()) + *start + a.logoff) % 8 != 0)
      return fail(Errc::kUnsupported, region.name() + ": BTT log would not be 8-byte aligned");
  }
  for (const ArenaLayout& a : arenas) {
    const std::uint64_t start = namespace_offset + a.offset;
    if (flavor == BttFlavor::Kernel || !map_already_zero) {
      region.zero(start + a.mapoff, a.logoff - a.mapoff);
      NDTK_CHECK(drained(region, "map"));
    }
    if (flavor == BttFlavor::Kernel) {
      region.zero(start + a.logoff, a.info2off - a.logoff);
      NDTK_CHECK(drained(region, "log"));
    }
    for (std::uint32_t lane = 0; lane < a.nfree; ++lane) {
      const BttLogGroup g = flavor == BttFlavor::Kernel
                                ? btt_kernel_initial_log_group(lane, a.external_nlba)
                                : btt_pmdk_initial_log_group(lane, a.external_nlba);
      write_group(region, start + a.logoff + std::uint64_t{lane} * kBttLogGroupSize, g);
    }
    NDTK_CHECK(drained(region, "log groups"));
    const ByteVec info =
        make_arena_info(a, uuid, parent_uuid, flavor == BttFlavor::Pmdk ? BttVersion::V1_1 : version)
            .serialize();
    const std::uint64_t first = flavor == BttFlavor::Kernel ? start + a.info2off : start;
    const std::uint64_t second = flavor == BttFlavor::Kernel ? start : start + a.info2off;
    region.copy(first, info.data(), info.size());
    NDTK_CHECK(drained(region, "first info block"));
    region.copy(second, info.data(), info.size());
    NDTK_CHECK(drained(region, "second info block"));
  }
  return ok();
}

}  // namespace ndtk
