// WritePlan: every byte range a writer (repair, format) will change, printed before anything is
// written, applied in order through one applier that saves an undo file first.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ndtk/base/bytes.h"
#include "ndtk/base/finding.h"
#include "ndtk/base/result.h"
#include "ndtk/io/block_device.h"
#include "ndtk/io/undo.h"

namespace ndtk {

/// One write: either `bytes` at `offset`, or (zero_length > 0) a range made to read as zeros.
struct PlannedWrite {
  std::uint64_t offset = 0;
  ByteVec bytes;
  std::uint64_t zero_length = 0;
  std::string what;                  // "restore arena 0 info block from its backup"
  std::optional<Problem> fixes;      // the finding this write repairs, when it repairs one

  std::uint64_t length() const { return zero_length ? zero_length : bytes.size(); }
};

/// Ordered writes. Order matters (e.g. the BTT primary info block last, as the commit).
struct WritePlan {
  std::vector<PlannedWrite> writes;

  bool empty() const { return writes.empty(); }
  void add(std::uint64_t offset, ByteVec bytes, std::string what,
           std::optional<Problem> fixes = std::nullopt);
  void add_zeros(std::uint64_t offset, std::uint64_t length, std::string what,
                 std::optional<Problem> fixes = std::nullopt);
  /// The ranges the plan touches (for the undo file).
  std::vector<ByteRange> ranges() const;
  /// Total bytes written (zero ranges counted by length).
  std::uint64_t total_bytes() const;
};

struct ApplyOptions {
  std::string undo_path;  // empty: no undo file (only for brand-new images)
  std::string tool;       // recorded in the undo file
};

/// Check every write fits the device, save the undo file (atomic, fsync'd), then perform the
/// writes in order and flush. Nothing is written if any check or the undo save fails.
Result<void> apply_plan(BlockDevice& dev, const WritePlan& plan, const ApplyOptions& opts);

}  // namespace ndtk
