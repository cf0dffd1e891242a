// BTT geometry: how a namespace is split into arenas and where each arena's regions sit, as the
// Linux kernel (create_arenas/alloc_arena) and PMDK (write_layout/btt_info_set) compute them;
// the info block each would write, and a field-by-field comparison with one found on media.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ndtk/base/finding.h"
#include "ndtk/base/result.h"
#include "ndtk/base/uuid.h"
#include "ndtk/format/btt_info.h"

namespace ndtk {

inline constexpr std::uint64_t kBttArenaMinSize = std::uint64_t{1} << 24;  // 16 MiB
inline constexpr std::uint64_t kBttArenaMaxSize = std::uint64_t{1} << 39;  // 512 GiB
inline constexpr std::uint32_t kBttDefaultNfree = 256;
inline constexpr std::uint32_t kBttKernelInternalAlign = 64;
inline constexpr std::uint32_t kBttPmdkInternalAlign = 256;
inline constexpr std::uint32_t kBttPmdkMinLbaSize = 512;
/// Largest namespace accepted (2^52 bytes, the widest physical address space): bounds the
/// arena count (8192) so absurd sizes fail instead of allocating millions of layouts.
inline constexpr std::uint64_t kBttMaxNamespaceSize = std::uint64_t{1} << 52;

/// One arena as the writer lays it out. Region offsets are arena-relative (as stored in the
/// info block); `offset` is where the arena starts in the namespace (initial offset included).
struct ArenaLayout {
  std::uint32_t index = 0;
  std::uint64_t offset = 0;  // namespace offset of the arena's info block
  std::uint64_t size = 0;    // bytes handed to the arena: min(512 GiB, what is left)
  BttVersion version = BttVersion::V1_1;
  BttFlavor flavor = BttFlavor::Kernel;
  std::uint32_t external_lbasize = 0;
  std::uint32_t internal_lbasize = 0;
  std::uint32_t external_nlba = 0;
  std::uint32_t internal_nlba = 0;
  std::uint32_t nfree = 0;
  std::uint64_t dataoff = 0;
  std::uint64_t mapoff = 0;
  std::uint64_t logoff = 0;
  std::uint64_t info2off = 0;
  std::uint64_t nextoff = 0;  // = size when another arena follows, else 0
  std::uint64_t mapsize = 0;
  std::uint64_t logsize = 0;
  std::uint64_t datasize = 0;  // mapoff - dataoff (may exceed internal_nlba * internal_lbasize)
  std::uint64_t first_external_lba = 0;

  /// Arena-relative end of info2 (the extent the kernel records on discovery when last).
  std::uint64_t end() const { return info2off + 4096; }
  /// Namespace offset of an arena-relative offset.
  std::uint64_t abs(std::uint64_t rel) const { return offset + rel; }
  /// Arena-relative offset of internal data block `block`.
  std::uint64_t data_block_offset(std::uint32_t block) const {
    return dataoff + std::uint64_t{block} * internal_lbasize;
  }

  bool operator==(const ArenaLayout&) const = default;
};

/// Inputs of the layout computation.
struct BttGeometryParams {
  /// Kernel: namespace capacity in bytes (arena 0 at btt_initial_offset(version)).
  /// PMDK: the BTT's raw size (pmemblk pool: file size - 8192), arena 0 at its offset 0.
  std::uint64_t namespace_size = 0;
  std::uint32_t external_lbasize = 0;
  /// Recorded in every arena; for the kernel it also selects the initial offset. PMDK
  /// always writes 1.1.
  BttVersion version = BttVersion::V1_1;
  BttFlavor flavor = BttFlavor::Kernel;
  std::uint32_t nfree = kBttDefaultNfree;
};

/// internal_lbasize: kernel ALIGN(ext, 64) (ext must be a supported size, kUnsupported
/// otherwise); PMDK ALIGN(max(ext, 512), 256). kInvalidArgument for 0 or on overflow.
Result<std::uint32_t> btt_internal_lbasize(std::uint32_t external_lbasize, BttFlavor flavor);

/// Namespace offset of arena 0: kernel btt_initial_offset(version), PMDK 0.
std::uint64_t btt_layout_initial_offset(const BttGeometryParams& p);

/// Every arena the writer would lay out, in order. Errors: kInvalidArgument when less than
/// 16 MiB remain after the initial offset, nfree is 0, or an arena cannot hold nfree lanes
/// (PMDK: fewer than 2*nfree blocks); kUnsupported for an lbasize the writer refuses or a
/// namespace above kBttMaxNamespaceSize.
Result<std::vector<ArenaLayout>> compute_btt_layout(const BttGeometryParams& p);
/// Shorthands for the two flavours.
Result<std::vector<ArenaLayout>> kernel_btt_layout(std::uint64_t namespace_size,
                                                   std::uint32_t external_lbasize,
                                                   BttVersion version,
                                                   std::uint32_t nfree = kBttDefaultNfree);
Result<std::vector<ArenaLayout>> pmdk_btt_layout(std::uint64_t rawsize,
                                                 std::uint32_t external_lbasize,
                                                 std::uint32_t nfree = kBttDefaultNfree);
/// One arena of `arena_size` bytes laid out by the flavour in `p` (namespace_size and
/// version select nothing here; index/offset/nextoff/first LBA left 0).
Result<ArenaLayout> compute_arena_layout(std::uint64_t arena_size, const BttGeometryParams& p);

/// Sum of external_nlba over the arenas: the BTT's capacity in LBAs.
std::uint64_t btt_total_external_lbas(std::span<const ArenaLayout> arenas);

/// The info block the writer would put at the start (and end) of this arena: flags 0, padding
/// zero, checksum computed.
BttInfo make_arena_info(const ArenaLayout& arena, const Uuid& uuid, const Uuid& parent_uuid,
                        BttVersion version);

/// One info-block field whose on-media value differs from the computed layout.
struct BttFieldDiff {
  std::string field;
  std::size_t offset = 0;  // of the field inside the info block
  std::uint64_t on_media = 0;
  std::uint64_t expected = 0;
  bool operator==(const BttFieldDiff&) const = default;
};
/// Every layout field (version, lbasizes, nlbas, nfree, infosize, nextoff, dataoff, mapoff,
/// logoff, info2off) where `info` differs from `arena`; empty when they agree.
std::vector<BttFieldDiff> compare_info_to_layout(const BttInfo& info, const ArenaLayout& arena);
/// The same as BTT_INFO_GEOMETRY_MISMATCH findings, one per field; `info_offset` is the
/// absolute offset of the block when known.
Findings geometry_mismatch_findings(const BttInfo& info, const ArenaLayout& arena,
                                    const std::string& where,
                                    std::optional<std::uint64_t> info_offset = std::nullopt);

}  // namespace ndtk
