// Findings: what a validate/check reports, always drawn from the one problem table.
// Lives in base so format-level validate() functions can report without depending on check/.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ndtk {

enum class Severity { Info, Warning, Error };

/// The repair that fixes a problem; the repair planner maps each to byte-range writes.
enum class RepairAction {
  None,                    // report only
  RestoreInfoFromBackup,   // copy a valid backup info block over the primary
  RestoreBackupFromInfo,   // copy the valid primary over the backup
  RebuildInfoFromGeometry, // recompute an arena info block from the kernel layout
  RebuildIndexFromOther,   // rebuild a bad label index block from the valid one
  RewriteChecksum,         // recompute a stored checksum only
  RewriteLog,              // rewrite the flog consistent with the map (ndctl --rewrite-log)
  CompleteMapUpdate,       // finish a logged write whose map update was lost
  FlagMapError,            // set the E flag on affected map entries
  ClearPadding,            // zero bytes that must be zero
};

/// Problem codes, generated from problems.def.
enum class Problem : std::uint16_t {
#define FINDING(name, number, severity, title, repair) name = number,
#include "ndtk/base/problems.def"
#undef FINDING
};

struct ProblemInfo {
  Problem code;
  const char* name;    // "BTT_MAP_OUT_OF_RANGE"
  std::uint16_t number;
  Severity severity;
  const char* title;   // generic one-line description
  RepairAction repair;
};

/// The row of the table for a code.
const ProblemInfo& problem_info(Problem p);
/// Every row, in table order.
std::span<const ProblemInfo> all_problems();
const char* severity_name(Severity s);
const char* repair_action_name(RepairAction r);

/// One reported problem: its code plus where and the specifics.
struct Finding {
  Problem code;
  std::string where;                    // "index 1", "arena 0 lane 7", "label slot 3"
  std::string detail;                   // specifics: "stored 0x.., computed 0x.."
  std::optional<std::uint64_t> offset;  // absolute byte offset in the image when known

  Severity severity() const { return problem_info(code).severity; }
  /// "[BTT_INFO_BAD_CHECKSUM 0x0302] arena 0 @0x1000: <title>: <detail>"
  std::string to_string() const;
};

using Findings = std::vector<Finding>;

}  // namespace ndtk
