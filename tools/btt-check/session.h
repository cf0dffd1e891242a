// btt-check's flow behind the thin main: check, plan, confirm, apply with undo, re-check,
// render, and the fsck(8) exit status; and --rollback.
#pragma once

#include <optional>
#include <string>

#include "tool_common.h"

namespace ndtk::tool {

struct BttCheckArgs {
  std::string image;
  ImageLocation loc;
  bool json = false;
  bool repair = false;
  bool dry_run = false;
  bool yes = false;
  bool force = false;
  bool verbose = false;
  std::string undo;      // default IMAGE.ndtk-undo
  std::string rollback;  // undo file to restore
};

/// Run btt-check; returns the exit status (FsckExit).
int run_btt_check(const BttCheckArgs& a);
/// Restore `a.image` from the undo file `a.rollback`.
int run_rollback(const BttCheckArgs& a);

}  // namespace ndtk::tool
