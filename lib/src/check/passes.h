// The check passes (internal to lib/src/check): each fills part of a CheckReport.
#pragma once

#include <optional>

#include "ndtk/check/check.h"

namespace ndtk::check_detail {

/// Where and how to look for a BTT in one namespace.
struct BttSearch {
  const BlockDevice& dev;
  const Namespace& ns;
  BttFlavor flavor = BttFlavor::Kernel;
  /// The uuid a parent_uuid must equal (kernel: zero also matches); nullopt: any parent.
  std::optional<Uuid> parent;
  /// Candidate (namespace offset of arena 0, version) pairs, tried in order.
  std::vector<std::pair<std::uint64_t, BttVersion>> candidates;
  /// External LBA sizes to try when an info block must be rebuilt from the geometry
  /// (label lbasize, pool bsize); empty: every size the writer supports.
  std::vector<std::uint32_t> lbasize_hints;
  const CheckOptions& opts;
};

/// BTT info/backup pass, then per arena the log/map/block-reference pass. nullopt when the
/// namespace holds no trace of a BTT at any candidate.
std::optional<BttReport> check_btt(const BttSearch& s);

/// Log, map and block-reference pass over one arena read with `info` (arena at absolute
/// image offset arena.offset). Fills log/map fields, fixes and findings of `arena`.
void check_arena_metadata(const BlockDevice& dev, const BttInfo& info, BttFlavor flavor,
                          ArenaReport& arena, const CheckOptions& opts);

/// The pfn/dax block of a namespace as nd_pfn_validate judges it (nullopt: no pfn/dax
/// signature at namespace offset 4096).
std::optional<PfnReport> check_pfn(const BlockDevice& dev, const Namespace& ns);

}  // namespace ndtk::check_detail
