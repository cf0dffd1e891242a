// Undo files: the old contents of every byte range a writer is about to change, saved durably
// before the first write, so `--rollback` can restore the image byte for byte.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ndtk/base/bytes.h"
#include "ndtk/base/result.h"
#include "ndtk/io/block_device.h"

namespace ndtk {

struct ByteRange {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

/// One saved range: either its old bytes, or a note that it was all zeros (holes and zero
/// ranges are recorded without their bytes so formatting a sparse multi-TiB image stays cheap).
struct UndoRecord {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  bool zero = false;
  ByteVec old_bytes;  // empty when zero
};

struct UndoFile {
  std::string target_name;  // the image path the records belong to
  std::uint64_t target_size = 0;
  std::string tool;         // who wrote it ("btt-check --repair", "btt-format")
  std::vector<UndoRecord> records;
};

/// Read the current bytes of `ranges` from `dev` and write them to `undo_path` atomically
/// (temp file, fsync, rename, fsync of the directory). Fails without creating `undo_path` if
/// any range cannot be read. Overlapping ranges are allowed (restored in reverse order).
Result<void> save_undo(const std::string& undo_path, const BlockDevice& dev,
                       std::span<const ByteRange> ranges, const std::string& tool);

/// Parse and verify an undo file (magic, version, per-record and whole-file checksums).
Result<UndoFile> load_undo(const std::string& undo_path);

/// Restore every record into `dev` (in reverse order) and flush. Refuses when the device size
/// differs from the one recorded.
Result<void> apply_undo(const UndoFile& undo, BlockDevice& dev);

}  // namespace ndtk
