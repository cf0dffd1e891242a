// btt-check's model: ordered passes over an image (label area, namespaces and their
// personalities, BTT arenas: info/backup, log, map and block references; pfn/dax blocks) that
// collect every finding into one CheckReport. Passes never print and never write.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ndtk/base/finding.h"
#include "ndtk/base/result.h"
#include "ndtk/discover/discovery.h"
#include "ndtk/format/btt_info.h"
#include "ndtk/format/btt_log.h"
#include "ndtk/format/pfn_info.h"
#include "ndtk/io/block_device.h"

namespace ndtk {

/// Where a long check is (for a progress line); `total` 0 when unknown.
struct CheckProgress {
  std::string phase;  // "arena 0 map"
  std::uint64_t done = 0;
  std::uint64_t total = 0;
};

struct CheckOptions {
  DiscoverOptions location;
  /// Check only the namespace with this uuid or name (empty: all).
  std::string namespace_filter;
  /// Called now and then during long passes (the map stream); may be empty.
  std::function<void(const CheckProgress&)> progress;
  /// Map entries read per chunk (memory: 4 bytes each).
  std::uint32_t map_chunk_entries = 1u << 16;
  /// Upper bound of individually planned map/lane fixes and listed LBAs per arena.
  std::uint32_t max_listed = 1u << 16;
};

/// Which copy of an arena info block the rest of the arena was read with.
enum class InfoSource { Primary, Backup, Geometry, None };
const char* info_source_name(InfoSource s);

/// Map entries of one arena by state.
struct MapStats {
  std::uint64_t initial = 0;
  std::uint64_t normal = 0;
  std::uint64_t zero = 0;
  std::uint64_t error = 0;
  std::uint64_t out_of_range = 0;  // post-map block >= internal_nlba
};

/// A lane whose group should be rewritten as {slot 0 = entry with seq 1, rest zero}.
struct LaneFix {
  std::uint32_t lane = 0;
  BttLogEntry entry;      // seq is ignored (the rewrite uses 1)
  Problem reason = Problem::BTT_LOG_BAD_SEQ;
  std::string why;
};

/// A map entry to store (arena-relative premap).
struct MapFix {
  std::uint32_t premap = 0;
  std::uint32_t raw = 0;  // the entry to write
  Problem reason = Problem::BTT_LOG_MAP_MISMATCH;
  std::string why;
};

struct ArenaReport {
  std::uint32_t index = 0;
  std::uint64_t offset = 0;         // absolute image offset of the primary info block
  std::uint64_t backup_offset = 0;  // absolute image offset of the backup (info2)
  std::uint64_t first_lba = 0;      // BTT-wide external LBA of this arena's premap 0
  bool primary_valid = false;       // signature, checksum, parent uuid (kernel probe rules)
  bool backup_valid = false;
  bool backup_identical = false;    // info2 byte-identical to the primary
  /// Both copies intact but different, and neither describes the writer's layout: copying the
  /// primary over the backup would only trade one wrong block for another, so it is not planned.
  bool backup_restore_unsafe = false;
  InfoSource source = InfoSource::None;
  std::optional<BttInfo> info;      // the block the arena was read with
  /// Info blocks to write when source is Geometry (rebuilt) or Backup (restore): the bytes.
  std::optional<BttInfo> rebuilt;
  /// The info block is sane enough (regions inside the arena, counts consistent) that the
  /// log and map were read; false: those passes were skipped.
  bool layout_usable = false;
  std::optional<BttLogIndices> log_indices;
  MapStats map;
  std::uint64_t duplicate_blocks = 0;
  std::uint64_t leaked_blocks = 0;
  std::uint64_t torn_writes = 0;
  std::uint32_t lanes_without_free_block = 0;
  /// BTT-wide external LBAs whose map entries are (or, after repair, will be) in the error
  /// state because of damage: out of range or sharing a block. Capped at max_listed.
  std::vector<std::uint64_t> affected_lbas;
  std::vector<LaneFix> lane_fixes;
  std::vector<MapFix> map_fixes;
  /// Fixes were computed for every damaged entry (false when damage exceeded max_listed or
  /// the free/leaked block counts do not balance).
  bool fixes_complete = true;
  Findings findings;
};

struct BttReport {
  BttFlavor flavor = BttFlavor::Kernel;
  BttVersion version = BttVersion::V1_1;
  std::uint64_t arena0_offset = 0;  // namespace-relative
  std::uint32_t external_lbasize = 0;
  std::uint64_t external_nlba = 0;  // summed over readable arenas
  Uuid uuid;
  Uuid parent_uuid;
  std::vector<ArenaReport> arenas;
};

struct PfnReport {
  std::uint64_t offset = 0;  // absolute image offset of the block
  PfnInfo info;
  PfnValidation validation;
  /// Only the checksum is wrong and the block with a recomputed checksum is exactly what the
  /// kernel's nd_pfn_init computes for this namespace (so rewriting the checksum is safe).
  bool checksum_corroborated = false;
};

struct NamespaceReport {
  Namespace ns;              // as discovered (before any repair)
  std::string personality;   // "sector (BTT 1.1)", "fsdax", "devdax", "raw", ...
  std::optional<BttReport> btt;
  std::optional<PfnReport> pfn;
  Findings findings;         // namespace-level findings (discovery's, pool's)
  /// Wall time of this namespace's passes (BTT info, log, map and references; or pfn).
  double check_seconds = 0;
};

struct FindingCounts {
  std::size_t errors = 0;
  std::size_t warnings = 0;
  std::size_t infos = 0;
  /// Errors and warnings: what makes an image "not clean".
  std::size_t problems() const { return errors + warnings; }
};

struct CheckReport {
  std::string image;
  std::uint64_t image_size = 0;
  ImageKind kind = ImageKind::Labelless;
  std::optional<LabelArea> labels;
  std::optional<PmemBlkPool> pool;
  std::vector<NamespaceReport> namespaces;
  Findings findings;  // image-level: label area, pool header, discovery
  /// Wall time of discovery (label area, pool header) and of the whole check_image().
  double discovery_seconds = 0;
  double total_seconds = 0;

  /// Every finding, image-level first, then per namespace and arena, in pass order.
  std::vector<const Finding*> all_findings() const;
  FindingCounts counts() const;
  bool clean() const { return counts().problems() == 0; }
};

/// Check everything `image` holds. Fails only when the image cannot be examined at all (an
/// explicit window or label area outside it, an unreadable device); damage is reported.
Result<CheckReport> check_image(DevicePtr image, const CheckOptions& opts = {});

}  // namespace ndtk
