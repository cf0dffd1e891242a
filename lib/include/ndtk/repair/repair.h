// Repair planning: a CheckReport's findings -> a WritePlan of byte-range writes (one planner
// per repair action), and the image as it would read after the plan (an overlay, for checking
// a plan before anything is written). Planners never write and never touch a data block.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ndtk/base/result.h"
#include "ndtk/check/check.h"
#include "ndtk/io/block_device.h"
#include "ndtk/repair/write_plan.h"

namespace ndtk {

struct RepairPlan {
  WritePlan plan;
  /// Per namespace and arena: BTT-wide LBAs the plan puts in the error state (reads return
  /// EIO until rewritten) because their map entries were damaged; listed, never guessed.
  struct AffectedLbas {
    std::uint32_t ns_index = 0;
    std::uint32_t arena = 0;
    std::vector<std::uint64_t> lbas;
  };
  std::vector<AffectedLbas> affected;
};

// ---- planners, one per repair action (each appends to `out`; order is the caller's) ------
/// RestoreBackupFromInfo: copy a valid primary over a bad or different backup.
void plan_restore_backup(const ArenaReport& arena, WritePlan& out);
/// RebuildInfoFromGeometry (backup half): write the recomputed block to the backup position.
void plan_rebuilt_backup(const ArenaReport& arena, WritePlan& out);
/// RestoreInfoFromBackup / RebuildInfoFromGeometry: the primary block (the commit record).
void plan_restore_primary(const ArenaReport& arena, WritePlan& out);
/// RewriteLog: rewrite damaged lanes as {slot 0 = corroborated entry, seq 1; rest zero}, and
/// give lanes that lost their free block an unowned block.
void plan_rewrite_log(const ArenaReport& arena, WritePlan& out);
/// ClearPadding (backup half): the backup info block with its reserved bytes zeroed and
/// re-sealed, unless plan_restore_backup already writes that block there. The primary half is
/// plan_restore_primary's (primary blocks last).
void plan_clear_padding_backup(const ArenaReport& arena, WritePlan& out);
/// CompleteMapUpdate and FlagMapError: the map entries the check computed.
void plan_map_fixes(const ArenaReport& arena, WritePlan& out);
/// RebuildIndexFromOther: rebuild the invalid label index block from the current one.
void plan_rebuild_index(const LabelArea& area, WritePlan& out);
/// RewriteChecksum: label slots whose checksum alone is wrong and an intact copy vouches for
/// the contents; pfn/dax blocks whose checksum alone is wrong and nd_pfn_init's arithmetic
/// reproduces every layout field.
void plan_label_checksums(const LabelArea& area, WritePlan& out);
void plan_pfn_checksum(const PfnReport& pfn, WritePlan& out);
/// ClearPadding: the pfn/dax block rewritten with the bytes the kernel ignores zeroed and a
/// fresh checksum, when its checksum holds or is corroborated.
void plan_pfn_padding(const PfnReport& pfn, WritePlan& out);
/// A pmemblk pool header whose checksum alone is wrong: every other header finding absent,
/// features as libpmemblk writes them, and arena 0's intact info blocks (PMDK's exact
/// parent_uuid rule) corroborate poolset_uuid and bsize.
bool pool_checksum_corroborated(const CheckReport& report);
/// RewriteChecksum (POOL_BAD_CHECKSUM, when corroborated) and ClearPadding
/// (POOL_UNUSED_NONZERO): the pool header rewritten with unused/unused2 zeroed and re-sealed.
void plan_pool_header(const CheckReport& report, WritePlan& out);

/// Every repair the report calls for, ordered safely: label area, then per arena the backup
/// info block, map entries, log lanes, and the primary info blocks last (arena 0 at the very
/// end, the record the kernel probes). Fails (kCorrupt) if a write would touch a BTT data
/// block or two writes would overlap.
Result<RepairPlan> plan_repairs(const CheckReport& report);

/// A read-only device that reads as `base` with `plan` applied.
DevicePtr make_overlay_device(DevicePtr base, const WritePlan& plan);

/// check_image() on the overlay: what a check will report after the plan is applied.
Result<CheckReport> predict_after(DevicePtr image, const WritePlan& plan, const CheckOptions& opts);

}  // namespace ndtk
