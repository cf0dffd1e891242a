// BTT log: slot/group codec, padding-scheme detection, both writers' current-entry rules.
#include "ndtk/format/btt_log.h"

#include <fmt/format.h>

#include "ndtk/format/btt_map.h"

namespace ndtk {

namespace {

constexpr std::size_t kLbaOff = offsetof(BttLogEntryRaw, lba);
constexpr std::size_t kOldOff = offsetof(BttLogEntryRaw, old_map);
constexpr std::size_t kNewOff = offsetof(BttLogEntryRaw, new_map);
constexpr std::size_t kSeqOff = offsetof(BttLogEntryRaw, seq);

Error log_error(std::string what, std::optional<std::uint64_t> offset) {
  Error e = make_error(Errc::kCorrupt, std::move(what));
  e.structure = "btt log";
  e.offset = offset;
  return e;
}

/// kTruncated naming the structure and both sizes (no offset: the span itself is too short).
Error truncated(std::string structure, std::string need, std::size_t have) {
  Error e = make_error(Errc::kTruncated, "too few bytes");
  e.structure = std::move(structure);
  e.expected = std::move(need);
  e.found = fmt::format("{} bytes", have);
  return e;
}

std::uint64_t slot_offset(std::size_t lane, std::size_t slot) {
  return std::uint64_t{lane} * kBttLogGroupSize + std::uint64_t{slot} * kBttLogEntrySize;
}

std::string describe(const BttLogEntry& e) {
  return fmt::format("{{lba {}, old_map {}, new_map {}, seq {}}}", hex(e.lba), hex(e.old_map),
                     hex(e.new_map), e.seq);
}

std::string describe_pick(std::optional<unsigned> sub, const BttLane& lane) {
  if (!sub) return "rejects the pair";
  return fmt::format("takes sub-slot {} (seq {})", *sub, lane.sub[*sub].seq);
}

}  // namespace

Result<BttLogEntry> BttLogEntry::decode(Bytes b) {
  if (b.size() < kBttLogEntrySize)
    return fail(truncated("btt log entry", fmt::format("{} bytes", kBttLogEntrySize), b.size()));
  BttLogEntry e;
  e.lba = le32(b, kLbaOff);
  e.old_map = le32(b, kOldOff);
  e.new_map = le32(b, kNewOff);
  e.seq = le32(b, kSeqOff);
  return e;
}

std::array<std::uint8_t, kBttLogEntrySize> BttLogEntry::serialize() const {
  std::array<std::uint8_t, kBttLogEntrySize> out{};
  put_le32(out, kLbaOff, lba);
  put_le32(out, kOldOff, old_map);
  put_le32(out, kNewOff, new_map);
  put_le32(out, kSeqOff, seq);
  return out;
}

std::uint32_t BttLogEntry::old_block() const { return old_map & kBttMapLbaMask; }
std::uint32_t BttLogEntry::new_block() const { return new_map & kBttMapLbaMask; }
bool BttLogEntry::has_map_flags() const { return ((old_map | new_map) & kBttMapFlagMask) != 0; }

Result<BttLogGroup> BttLogGroup::decode(Bytes b) {
  if (b.size() < kBttLogGroupSize)
    return fail(truncated("btt log group", fmt::format("{} bytes", kBttLogGroupSize), b.size()));
  BttLogGroup g;
  for (std::size_t i = 0; i < kBttLogSlots; ++i) {
    NDTK_TRY(e, BttLogEntry::decode(
                    b.subspan(offsetof(BttLogGroupRaw, ent) + i * sizeof(BttLogEntryRaw))));
    g.slots[i] = e;
  }
  return g;
}

ByteVec BttLogGroup::serialize() const {
  ByteVec out(kBttLogGroupSize, 0);
  for (std::size_t i = 0; i < kBttLogSlots; ++i) {
    const auto s = slots[i].serialize();
    std::copy(s.begin(), s.end(),
              out.begin() + static_cast<std::ptrdiff_t>(offsetof(BttLogGroupRaw, ent) +
                                                        i * sizeof(BttLogEntryRaw)));
  }
  return out;
}

std::string BttLogIndices::to_string() const { return fmt::format("({},{})", sub0, sub1); }

Result<std::vector<BttLogGroup>> decode_log_groups(Bytes log, std::uint32_t nfree) {
  const std::uint64_t need = std::uint64_t{nfree} * kBttLogGroupSize;
  if (need > log.size())
    return fail(
        truncated("btt log", fmt::format("{} bytes for {} lanes", need, nfree), log.size()));
  std::vector<BttLogGroup> out;
  out.reserve(nfree);
  for (std::uint32_t i = 0; i < nfree; ++i) {
    NDTK_TRY(g, BttLogGroup::decode(log.subspan(std::size_t{i} * kBttLogGroupSize)));
    out.push_back(g);
  }
  return out;
}

Result<BttLogIndices> detect_log_indices(std::span<const BttLogGroup> groups) {
  // Mirrors the kernel walk slot by slot: the indices may become known in the middle of a
  // group, after which the remaining slots of that group are already verified.
  int idx[2] = {-1, -1};
  unsigned found = 0;
  bool idx_set = false;
  bool all_initial = true;
  for (std::size_t lane = 0; lane < groups.size(); ++lane) {
    unsigned padding = 0;
    for (std::size_t j = 0; j < kBttLogSlots; ++j) {
      const BttLogEntry& e = groups[lane].slots[j];
      const int slot = static_cast<int>(j);
      if (!idx_set) {
        if (e.is_padding()) {
          ++padding;
          continue;
        }
        if (found == 1 && slot == idx[0]) continue;
        idx[found++] = slot;
        if (found == 2) idx_set = true;
      } else if (slot == idx[0]) {
        if (e.is_padding())
          return fail(log_error(fmt::format("lane {} slot {} is all-zero but slot {} holds the "
                                            "first live entry of every lane",
                                            lane, j, idx[0]),
                                slot_offset(lane, j)));
      } else if (slot != idx[1] && !e.is_padding()) {
        return fail(log_error(fmt::format("lane {} padding slot {} is not zero under indices "
                                          "({},{}): {}",
                                          lane, j, idx[0], idx[1], describe(e)),
                              slot_offset(lane, j)));
      }
    }
    if (padding < 3) all_initial = false;
  }
  if (!all_initial && !idx_set)
    return fail(
        log_error("no lane has two live slots although some lane is past its initial "
                  "state",
                  std::nullopt));
  if (all_initial) idx[1] = 1;  // a never-written log: assume the current scheme
  if (idx[0] != 0 || (idx[1] != 1 && idx[1] != 2))
    return fail(
        log_error(fmt::format("unknown padding scheme ({},{})", idx[0], idx[1]), std::nullopt));
  return BttLogIndices{static_cast<std::uint8_t>(idx[0]), static_cast<std::uint8_t>(idx[1])};
}

std::uint32_t btt_next_seq(std::uint32_t seq) {
  static constexpr std::uint32_t kNext[4] = {0, 2, 3, 1};
  return kNext[seq & 3];
}

std::optional<unsigned> kernel_log_old_sub(std::uint32_t seq0, std::uint32_t seq1) {
  if (seq0 == 0) return 0;
  if (seq0 == seq1) return std::nullopt;
  // A u32 sum, as in the kernel: garbage seqs may wrap below 6 and then get a pick there too.
  const std::uint32_t sum = seq0 + seq1;
  if (sum > 5) return std::nullopt;
  if (seq0 < seq1) return seq1 - seq0 == 1 ? 0u : 1u;
  return seq0 - seq1 == 1 ? 1u : 0u;
}

std::optional<unsigned> kernel_log_current_sub(std::uint32_t seq0, std::uint32_t seq1) {
  auto old = kernel_log_old_sub(seq0, seq1);
  if (!old) return std::nullopt;
  return 1u - *old;
}

std::optional<unsigned> pmdk_flog_current_sub(std::uint32_t seq0, std::uint32_t seq1) {
  if (seq0 == seq1) return std::nullopt;
  if (seq0 == 0) return 1u;
  if (seq1 == 0) return 0u;
  if (btt_next_seq(seq0) == seq1) return 1u;
  return 0u;
}

BttSeqVerdict classify_seq_pair(std::uint32_t seq0, std::uint32_t seq1) {
  if (seq0 == seq1) return BttSeqVerdict::Equal;
  if (seq0 > 3 || seq1 > 3) return BttSeqVerdict::OutOfRange;
  if ((seq0 == 0 && seq1 != 1) || (seq1 == 0 && seq0 != 1)) return BttSeqVerdict::StrayZero;
  return BttSeqVerdict::Valid;
}

const char* btt_seq_verdict_name(BttSeqVerdict v) {
  switch (v) {
    case BttSeqVerdict::Valid:
      return "valid";
    case BttSeqVerdict::Equal:
      return "equal sequence numbers";
    case BttSeqVerdict::OutOfRange:
      return "sequence number above 3";
    case BttSeqVerdict::StrayZero:
      return "zero sequence number paired with 2 or 3";
  }
  return "?";
}

BttLane lane_of(const BttLogGroup& g, BttLogIndices idx) {
  BttLane l;
  l.sub[0] = g.slots[idx.sub0 % kBttLogSlots];
  l.sub[1] = g.slots[idx.sub1 % kBttLogSlots];
  return l;
}

BttLaneSelection select_current(const BttLane& lane) {
  BttLaneSelection s;
  const auto s0 = lane.sub[0].seq;
  const auto s1 = lane.sub[1].seq;
  s.verdict = classify_seq_pair(s0, s1);
  s.kernel_current = kernel_log_current_sub(s0, s1);
  s.pmdk_current = pmdk_flog_current_sub(s0, s1);
  return s;
}

BttLogGroup btt_kernel_initial_log_group(std::uint32_t lane, std::uint32_t external_nlba) {
  BttLogGroup g;
  const std::uint32_t block = external_nlba + lane;
  g.slots[0] = BttLogEntry{lane, block, block, kBttLogSeqInit};
  return g;
}

BttLogGroup btt_pmdk_initial_log_group(std::uint32_t lane, std::uint32_t external_nlba) {
  BttLogGroup g;
  const std::uint32_t entry = (external_nlba + lane) | kBttMapZeroFlag;
  g.slots[0] = BttLogEntry{lane, entry, entry, kBttLogSeqInit};
  return g;
}

BttLogGroup btt_rewritten_log_group(const BttLogEntry& current) {
  BttLogGroup g;
  g.slots[0] = current;
  g.slots[0].seq = kBttLogSeqInit;
  return g;
}

Findings validate_log_lane(const BttLogGroup& g, const BttLaneContext& ctx) {
  Findings out;
  const std::string where =
      ctx.where.empty() ? fmt::format("arena {} lane {}", ctx.arena_index, ctx.lane) : ctx.where;
  auto at = [&](std::size_t slot, std::size_t field) -> std::optional<std::uint64_t> {
    if (!ctx.offset) return std::nullopt;
    return checked_add(*ctx.offset, slot * kBttLogEntrySize + field);
  };
  auto add = [&](Problem p, std::optional<std::uint64_t> off, std::string detail) {
    out.push_back(Finding{p, where, std::move(detail), off});
  };

  const BttLogIndices idx = ctx.indices;
  for (std::size_t j = 0; j < kBttLogSlots; ++j) {
    if (j == idx.sub0 || j == idx.sub1 || g.slots[j].is_padding()) continue;
    add(Problem::BTT_LOG_PADDING_NONZERO, at(j, 0),
        fmt::format("slot {} is padding under indices {} but holds {}", j, idx.to_string(),
                    describe(g.slots[j])));
  }

  const BttLane lane = lane_of(g, idx);
  const BttLaneSelection sel = select_current(lane);
  if (sel.verdict != BttSeqVerdict::Valid)
    add(Problem::BTT_LOG_BAD_SEQ, at(idx.sub0, kSeqOff),
        fmt::format("seq pair ({},{}): {}", lane.sub[0].seq, lane.sub[1].seq,
                    btt_seq_verdict_name(sel.verdict)));
  if (sel.disagree())
    add(Problem::BTT_LOG_SEQ_PAIR_KERNEL_PMDK_DISAGREE, at(idx.sub0, kSeqOff),
        fmt::format("seq pair ({},{}): kernel {}, PMDK {}", lane.sub[0].seq, lane.sub[1].seq,
                    describe_pick(sel.kernel_current, lane),
                    describe_pick(sel.pmdk_current, lane)));

  // Range checks on the entry a writer would use; with no usable pick, on every live entry.
  std::vector<unsigned> subs;
  if (auto cur = sel.current())
    subs.push_back(*cur);
  else
    for (unsigned s = 0; s < 2; ++s)
      if (!lane.sub[s].is_padding()) subs.push_back(s);
  for (unsigned s : subs) {
    const BttLogEntry& e = lane.sub[s];
    const std::size_t slot = s == 0 ? idx.sub0 : idx.sub1;
    if (e.lba >= ctx.external_nlba)
      add(Problem::BTT_LOG_LBA_OUT_OF_RANGE, at(slot, kLbaOff),
          fmt::format("sub-slot {} lba {} >= external_nlba {}", s, e.lba, ctx.external_nlba));
    if (e.old_block() >= ctx.internal_nlba)
      add(Problem::BTT_LOG_MAP_OUT_OF_RANGE, at(slot, kOldOff),
          fmt::format("sub-slot {} old_map {} (block {}) >= internal_nlba {}", s, hex(e.old_map),
                      e.old_block(), ctx.internal_nlba));
    if (e.new_block() >= ctx.internal_nlba)
      add(Problem::BTT_LOG_MAP_OUT_OF_RANGE, at(slot, kNewOff),
          fmt::format("sub-slot {} new_map {} (block {}) >= internal_nlba {}", s, hex(e.new_map),
                      e.new_block(), ctx.internal_nlba));
    if (ctx.flavor == BttFlavor::Kernel && e.has_map_flags())
      add(Problem::BTT_LOG_ENTRY_FLAGS, at(slot, kOldOff),
          fmt::format("sub-slot {} old_map {} new_map {}", s, hex(e.old_map), hex(e.new_map)));
  }
  return out;
}

}  // namespace ndtk
