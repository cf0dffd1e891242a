// btt-check: fsck-grade checking and safe repair of NVDIMM labels, BTT and pfn/dax metadata.
#include <iostream>

#include "ndtk/render/check_render.h"
#include "session.h"
#include "tool_common.h"

int main(int argc, char** argv) {
  using namespace ndtk::tool;
  CLI::App app{
      "Check (and with --repair, repair) the labels, BTT arenas and pfn/dax info blocks of an "
      "NVDIMM image, a bare namespace (--offset/--size) or a PMDK pmemblk pool.\n"
      "Exit status as fsck(8): 0 clean, 1 errors corrected, 4 errors left uncorrected, "
      "8 operational error, 16 usage error.",
      "btt-check"};
  BttCheckArgs a;
  bool list_problems = false;
  app.add_option("IMAGE", a.image, "Image file or block device (.zst: check only)");
  app.add_flag("--json", a.json, "Print the report (and plan) as JSON");
  app.add_flag("--repair", a.repair, "Plan repairs; apply them with --yes or after confirmation");
  app.add_flag("--dry-run", a.dry_run, "With or without --repair: print the plan, write nothing");
  app.add_flag("-y,--yes", a.yes, "Apply the repair plan without asking");
  app.add_option("--undo", a.undo, "Undo file to save old bytes to (default: IMAGE.ndtk-undo)");
  app.add_flag("--force", a.force, "Overwrite an existing undo file");
  app.add_option("--rollback", a.rollback, "Restore IMAGE from this undo file and exit");
  app.add_flag("-v,--verbose", a.verbose, "Also show notes (info findings)");
  app.add_flag("--list-problems", list_problems, "Print the problem table (markdown) and exit");
  add_location_options(app, a.loc, true, true);
  if (auto rc = parse_args(app, argc, argv, kFsckUsage)) return *rc;
  if (list_problems) {
    std::cout << ndtk::render_problem_table_markdown();
    return kFsckClean;
  }
  if (a.image.empty()) {
    print_error("btt-check", "missing IMAGE (see --help)");
    return kFsckUsage;
  }
  if (a.yes && !a.repair) {
    print_error("btt-check", "--yes needs --repair");
    return kFsckUsage;
  }
  if (!a.rollback.empty()) return run_rollback(a);
  return run_btt_check(a);
}
