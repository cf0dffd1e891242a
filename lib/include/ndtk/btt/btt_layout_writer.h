// Writing a fresh BTT layout through a PersistRegion, in the order the kernel
// (btt_arena_write_layout) or libpmemblk (write_layout) uses, each step durable before the next.
#pragma once

#include <cstdint>
#include <span>

#include "ndtk/base/result.h"
#include "ndtk/base/uuid.h"
#include "ndtk/btt/persist.h"
#include "ndtk/format/btt_info.h"
#include "ndtk/geometry/btt_geometry.h"

namespace ndtk {

/// Lay out `arenas` (from compute_btt_layout; offsets are namespace offsets) in the namespace
/// starting at region offset `namespace_offset`. Per arena, in order:
///  Kernel: zero the map, zero the log, initial log groups (slot 0 = {lane, ext+lane,
///          ext+lane, seq 1}), info2, then the primary info block (the commit record).
///  Pmdk:   zero the map unless `map_already_zero`, initial flog pairs ({lane, (ext+lane)|Z
///          twice, seq 1}, rest zero), the primary info block, then the backup.
/// The data area is never written. kOutOfRange (nothing written) if an arena does not fit the
/// region; kReadOnly for a read-only region; kIo if the backing store fails.
Result<void> write_btt_layout(PersistRegion& region, std::uint64_t namespace_offset,
                              std::span<const ArenaLayout> arenas, const Uuid& uuid,
                              const Uuid& parent_uuid, BttVersion version, BttFlavor flavor,
                              bool map_already_zero = false);

}  // namespace ndtk
