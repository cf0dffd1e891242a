// The problem table, expanded from problems.def.
#include "ndtk/base/finding.h"

#include <array>

#include <fmt/format.h>

namespace ndtk {

namespace {
constexpr ProblemInfo kTable[] = {
#define FINDING(name, number, sev, title, repair) \
  {Problem::name, #name, number, Severity::sev, title, RepairAction::repair},
#include "ndtk/base/problems.def"
#undef FINDING
};
}  // namespace

const ProblemInfo& problem_info(Problem p) {
  for (const auto& row : kTable)
    if (row.code == p) return row;
  return kTable[0];  // unreachable for values of the enum
}

std::span<const ProblemInfo> all_problems() { return kTable; }

const char* severity_name(Severity s) {
  switch (s) {
    case Severity::Info: return "info";
    case Severity::Warning: return "warning";
    case Severity::Error: return "error";
  }
  return "?";
}

const char* repair_action_name(RepairAction r) {
  switch (r) {
    case RepairAction::None: return "none";
    case RepairAction::RestoreInfoFromBackup: return "restore-info-from-backup";
    case RepairAction::RestoreBackupFromInfo: return "restore-backup-from-info";
    case RepairAction::RebuildInfoFromGeometry: return "rebuild-info-from-geometry";
    case RepairAction::RebuildIndexFromOther: return "rebuild-index-from-other";
    case RepairAction::RewriteChecksum: return "rewrite-checksum";
    case RepairAction::RewriteLog: return "rewrite-log";
    case RepairAction::CompleteMapUpdate: return "complete-map-update";
    case RepairAction::FlagMapError: return "flag-map-error";
    case RepairAction::ClearPadding: return "clear-padding";
  }
  return "?";
}

std::string Finding::to_string() const {
  const auto& info = problem_info(code);
  std::string s = fmt::format("[{} {:#06x}] {}", info.name, info.number, severity_name(info.severity));
  if (!where.empty()) s += " " + where;
  if (offset) s += fmt::format(" @{:#x}", *offset);
  s += ": ";
  s += info.title;
  if (!detail.empty()) s += ": " + detail;
  return s;
}

}  // namespace ndtk
