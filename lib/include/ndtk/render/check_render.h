// Renderers of btt-check's models: the CheckReport and a repair plan as text (for people) and
// as JSON (for scripts); both show the same facts. Also the problem table as markdown
// (docs/problems.md is generated from it).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "ndtk/check/check.h"
#include "ndtk/repair/repair.h"

namespace ndtk {

struct RenderOptions {
  bool verbose = false;  // text: also Info findings and per-lane detail
};

/// Human-readable report: image, label area, namespaces, arenas, findings, summary line.
std::string render_check_text(const CheckReport& r, const RenderOptions& o = {});
nlohmann::json check_to_json(const CheckReport& r);

/// The plan: one line per write (offset, length, what, the problem it fixes), affected LBAs.
std::string render_plan_text(const RepairPlan& p);
nlohmann::json plan_to_json(const RepairPlan& p);

/// One finding as JSON (code, number, severity, title, repair, where, detail, offset).
nlohmann::json finding_to_json(const Finding& f);

/// docs/problems.md: every row of problems.def as a markdown table.
std::string render_problem_table_markdown();

}  // namespace ndtk
