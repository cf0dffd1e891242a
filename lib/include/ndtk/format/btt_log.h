// BTT log ("flog"): per lane a 64-byte group of four 16-byte slots, two live, two padding.
// Padding-scheme detection (kernel log_set_indices), current-entry selection by both the
// kernel (btt_log_get_old) and PMDK (btt_flog_get_valid), initial groups, lane checks.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ndtk/base/bytes.h"
#include "ndtk/base/finding.h"
#include "ndtk/base/result.h"
#include "ndtk/format/btt_info.h"

namespace ndtk {

inline constexpr std::size_t kBttLogEntrySize = 16;
inline constexpr std::size_t kBttLogGroupSize = 64;
inline constexpr std::size_t kBttLogSlots = 4;
/// Sequence number of the entry written at format time.
inline constexpr std::uint32_t kBttLogSeqInit = 1;

/// One slot as stored (kernel struct log_entry, PMDK struct btt_flog).
struct BttLogEntryRaw {
  std::uint32_t lba;      // pre-map LBA of the last write on this lane
  std::uint32_t old_map;  // block it replaced: the lane's free block afterwards
  std::uint32_t new_map;  // block now mapped to lba
  std::uint32_t seq;      // 1 -> 2 -> 3 -> 1; 0 = never written
};
static_assert(sizeof(BttLogEntryRaw) == kBttLogEntrySize);
static_assert(offsetof(BttLogEntryRaw, lba) == 0);
static_assert(offsetof(BttLogEntryRaw, old_map) == 4);
static_assert(offsetof(BttLogEntryRaw, new_map) == 8);
static_assert(offsetof(BttLogEntryRaw, seq) == 12);

/// One lane's group (kernel struct log_group).
struct BttLogGroupRaw {
  BttLogEntryRaw ent[kBttLogSlots];
};
static_assert(sizeof(BttLogGroupRaw) == kBttLogGroupSize);
static_assert(offsetof(BttLogGroupRaw, ent) == 0);

/// Host-endian slot. old_map/new_map keep any flag bits as stored (PMDK stores full map
/// entries, the kernel may set E in old_map): mask before comparing block numbers.
struct BttLogEntry {
  std::uint32_t lba = 0;
  std::uint32_t old_map = 0;
  std::uint32_t new_map = 0;
  std::uint32_t seq = 0;

  /// The first 16 bytes of `b`; kTruncated if shorter.
  static Result<BttLogEntry> decode(Bytes b);
  std::array<std::uint8_t, kBttLogEntrySize> serialize() const;
  /// All four fields zero: what the kernel treats as a padding (or never-written) slot.
  bool is_padding() const { return lba == 0 && old_map == 0 && new_map == 0 && seq == 0; }
  std::uint32_t old_block() const;
  std::uint32_t new_block() const;
  /// Any Z/E bit in old_map or new_map.
  bool has_map_flags() const;

  bool operator==(const BttLogEntry&) const = default;
};

/// Host-endian group: all four slots, bit-exact.
struct BttLogGroup {
  std::array<BttLogEntry, kBttLogSlots> slots{};

  /// The first 64 bytes of `b`; kTruncated if shorter.
  static Result<BttLogGroup> decode(Bytes b);
  ByteVec serialize() const;

  bool operator==(const BttLogGroup&) const = default;
};

/// Which slots of a group hold sub-slot 0 and sub-slot 1: (0,1) since Linux 4.15 and in PMDK,
/// (0,2) in older kernels.
struct BttLogIndices {
  std::uint8_t sub0 = 0;
  std::uint8_t sub1 = 1;

  bool old_scheme() const { return sub0 == 0 && sub1 == 2; }
  /// "(0,1)".
  std::string to_string() const;
  bool operator==(const BttLogIndices&) const = default;
};
inline constexpr BttLogIndices kBttLogIndicesNew{0, 1};
inline constexpr BttLogIndices kBttLogIndicesOld{0, 2};

/// Decode `nfree` consecutive groups from the log area `log` (bytes at logoff).
Result<std::vector<BttLogGroup>> decode_log_groups(Bytes log, std::uint32_t nfree);

/// The kernel's log_set_indices over every lane of one arena. Fails (kCorrupt, offset =
/// byte offset from logoff of the offending slot when there is one) exactly where the
/// kernel refuses the arena: a third live slot, a zero slot where the first live slot must
/// be, no lane with two live slots while some lane is not initial, or a scheme other than
/// (0,1)/(0,2). An all-initial log yields (0,1).
Result<BttLogIndices> detect_log_indices(std::span<const BttLogGroup> groups);

/// Sequence successor as both writers compute it from the low two bits: 1->2->3->1, 0->0.
std::uint32_t btt_next_seq(std::uint32_t seq);

/// Kernel btt_log_get_old on the two live seqs: the sub-slot (0/1) holding the OLD entry, or
/// nullopt where the kernel reports "log corruption" (equal seqs, or seq sum > 5). A zero
/// seq0 always makes sub-slot 0 the old one.
std::optional<unsigned> kernel_log_old_sub(std::uint32_t seq0, std::uint32_t seq1);
/// The kernel's current ("new") sub-slot: 1 - old.
std::optional<unsigned> kernel_log_current_sub(std::uint32_t seq0, std::uint32_t seq1);
/// PMDK btt_flog_get_valid: the current sub-slot, or nullopt for equal seqs. A zero seq
/// makes the other current; otherwise the one whose seq is the successor of the other's.
std::optional<unsigned> pmdk_flog_current_sub(std::uint32_t seq0, std::uint32_t seq1);

/// A checker's verdict on a live seq pair.
enum class BttSeqVerdict {
  Valid,       // (1,0), (0,1) or two distinct values in 1..3 (always cyclic neighbours)
  Equal,       // both the same (both zero included)
  OutOfRange,  // a seq above 3
  StrayZero,   // 0 paired with 2 or 3 (the kernel picks the zero slot, PMDK the other)
};
BttSeqVerdict classify_seq_pair(std::uint32_t seq0, std::uint32_t seq1);
const char* btt_seq_verdict_name(BttSeqVerdict v);

/// The two live entries of a group under the given indices.
struct BttLane {
  std::array<BttLogEntry, 2> sub{};
};
BttLane lane_of(const BttLogGroup& g, BttLogIndices idx);

/// How both writers read one lane.
struct BttLaneSelection {
  BttSeqVerdict verdict = BttSeqVerdict::Valid;
  std::optional<unsigned> kernel_current;  // sub-slot, nullopt = kernel rejects
  std::optional<unsigned> pmdk_current;    // sub-slot, nullopt = PMDK rejects
  /// The kernel's choice if it has one, else PMDK's.
  std::optional<unsigned> current() const { return kernel_current ? kernel_current : pmdk_current; }
  /// The writers differ (including one accepting the pair and the other not).
  bool disagree() const { return kernel_current != pmdk_current; }
};
BttLaneSelection select_current(const BttLane& lane);

/// What the kernel writes for lane `lane` at format: slot 0 = {lane, ext+lane, ext+lane, 1}.
BttLogGroup btt_kernel_initial_log_group(std::uint32_t lane, std::uint32_t external_nlba);
/// What PMDK writes: slot 0 = {lane, (ext+lane)|Z, (ext+lane)|Z, 1}; the rest zero.
BttLogGroup btt_pmdk_initial_log_group(std::uint32_t lane, std::uint32_t external_nlba);
/// The ndctl --rewrite-log form: slot 0 = `current` with seq 1, slots 1..3 zero (valid under
/// both padding schemes).
BttLogGroup btt_rewritten_log_group(const BttLogEntry& current);

/// Context for validate_log_lane().
struct BttLaneContext {
  BttFlavor flavor = BttFlavor::Kernel;
  std::uint32_t arena_index = 0;
  std::uint32_t lane = 0;
  std::uint32_t external_nlba = 0;
  std::uint32_t internal_nlba = 0;
  BttLogIndices indices = kBttLogIndicesNew;
  /// Absolute image offset of the group, for findings.
  std::optional<std::uint64_t> offset;
  /// Overrides the default "arena A lane L".
  std::string where;
};

/// One lane on its own: padding slots zero, seq pair valid, kernel/PMDK agreement, and on the
/// current entry (every live non-zero entry if neither writer picks one): lba <
/// external_nlba, masked old_map/new_map < internal_nlba; flag bits (kernel flavour only).
Findings validate_log_lane(const BttLogGroup& g, const BttLaneContext& ctx);

}  // namespace ndtk
