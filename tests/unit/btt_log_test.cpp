// BTT log: slot/group codec, initial groups (§10.4), padding-scheme detection in every branch
// of the kernel's walk, both writers' current-entry rules over all seq pairs, lane checks.
#include "ndtk/format/btt_log.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "ndtk/format/btt_map.h"
#include "test_helpers.h"

namespace ndtk {
namespace {

std::vector<BttLogGroup> kernel_initial_log(std::uint32_t nfree, std::uint32_t ext) {
  std::vector<BttLogGroup> g;
  for (std::uint32_t i = 0; i < nfree; ++i) g.push_back(btt_kernel_initial_log_group(i, ext));
  return g;
}

std::set<Problem> codes(const Findings& f) {
  std::set<Problem> s;
  for (const auto& x : f) s.insert(x.code);
  return s;
}

std::string dump(const Findings& f) {
  std::string s;
  for (const auto& x : f) s += x.to_string() + "\n";
  return s;
}

TEST(BttLog, EntryAndGroupCodecAreBitExact) {
  std::mt19937_64 rng(4242);
  for (int round = 0; round < 100; ++round) {
    ByteVec b(kBttLogGroupSize);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    auto g = BttLogGroup::decode(b);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->serialize(), b);
    for (std::size_t s = 0; s < kBttLogSlots; ++s) {
      EXPECT_EQ(g->slots[s].lba, le32(b, s * 16));
      EXPECT_EQ(g->slots[s].old_map, le32(b, s * 16 + 4));
      EXPECT_EQ(g->slots[s].new_map, le32(b, s * 16 + 8));
      EXPECT_EQ(g->slots[s].seq, le32(b, s * 16 + 12));
      const auto e = g->slots[s].serialize();
      EXPECT_TRUE(std::equal(e.begin(), e.end(), b.begin() + static_cast<std::ptrdiff_t>(s * 16)));
    }
  }
  for (std::uint8_t fill : {0x00, 0xff}) {
    ByteVec b(kBttLogGroupSize, fill);
    auto g = BttLogGroup::decode(b);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->serialize(), b);
    EXPECT_EQ(g->slots[0].is_padding(), fill == 0);
  }
}

TEST(BttLog, TruncatedInputsFail) {
  ByteVec b(kBttLogGroupSize, 1);
  for (std::size_t n : {std::size_t{0}, std::size_t{15}, std::size_t{16}, std::size_t{63}}) {
    auto g = BttLogGroup::decode(Bytes(b.data(), n));
    ASSERT_FALSE(g) << n;
    EXPECT_EQ(g.error().code, Errc::kTruncated);
  }
  EXPECT_FALSE(BttLogEntry::decode(Bytes(b.data(), 15)));
  EXPECT_FALSE(BttLogEntry::decode(Bytes{}));
  EXPECT_TRUE(BttLogEntry::decode(Bytes(b.data(), 16)));
  auto all = decode_log_groups(Bytes(b.data(), 64), 2);
  ASSERT_FALSE(all);
  EXPECT_EQ(all.error().code, Errc::kTruncated);
  EXPECT_FALSE(decode_log_groups(Bytes{}, 1));
  EXPECT_FALSE(decode_log_groups(Bytes{}, UINT32_MAX));
  auto none = decode_log_groups(Bytes{}, 0);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(BttLog, KernelInitialGroupMatchesSpecVector) {
  // FORMATS.md §10.4: lane 0 of the 256 MiB / 4096-byte arena (external_nlba 65208).
  ByteVec want = test::from_hex("00 00 00 00 b8 fe 00 00 b8 fe 00 00 01 00 00 00");
  want.resize(kBttLogGroupSize, 0);
  EXPECT_EQ(btt_kernel_initial_log_group(0, 65208).serialize(), want);
  const BttLogGroup g = btt_kernel_initial_log_group(7, 65208);
  EXPECT_EQ(g.slots[0], (BttLogEntry{7, 65215, 65215, 1}));
  EXPECT_TRUE(g.slots[1].is_padding() && g.slots[2].is_padding() && g.slots[3].is_padding());
}

TEST(BttLog, PmdkInitialGroupCarriesZeroFlag) {
  // As found in lane 4 of the PMDK golden pool (external_nlba 16103).
  const BttLogGroup g = btt_pmdk_initial_log_group(4, 16103);
  EXPECT_EQ(g.slots[0], (BttLogEntry{4, 0x80003eeb, 0x80003eeb, 1}));
  EXPECT_EQ(g.slots[0].old_block(), 16107u);
  EXPECT_TRUE(g.slots[0].has_map_flags());
  EXPECT_TRUE(g.slots[1].is_padding() && g.slots[2].is_padding() && g.slots[3].is_padding());
}

TEST(BttLog, RewrittenGroupIsValidForBothSchemes) {
  const BttLogEntry cur{5, 10, 11, 3};
  const BttLogGroup g = btt_rewritten_log_group(cur);
  EXPECT_EQ(g.slots[0], (BttLogEntry{5, 10, 11, 1}));
  for (auto idx : {kBttLogIndicesNew, kBttLogIndicesOld}) {
    const BttLane l = lane_of(g, idx);
    const auto sel = select_current(l);
    EXPECT_EQ(sel.kernel_current, std::optional<unsigned>(0));
    EXPECT_EQ(sel.pmdk_current, std::optional<unsigned>(0));
    EXPECT_EQ(sel.verdict, BttSeqVerdict::Valid);
  }
}

TEST(BttLog, NextSeq) {
  EXPECT_EQ(btt_next_seq(0), 0u);
  EXPECT_EQ(btt_next_seq(1), 2u);
  EXPECT_EQ(btt_next_seq(2), 3u);
  EXPECT_EQ(btt_next_seq(3), 1u);
  EXPECT_EQ(btt_next_seq(5), 2u);  // both writers use only the low two bits
  EXPECT_EQ(btt_next_seq(0xFFFFFFFF), 1u);
}

TEST(BttLog, KernelAndPmdkSelectionOverAllSmallPairs) {
  // Expected current sub-slot (-1 = rejected), worked out from btt_log_get_old and
  // btt_flog_get_valid by hand.
  const int kernel[4][4] = {{1, 1, 1, 1},    // s0 = 0: sub 0 is always "old"
                            {0, -1, 1, 0},   // (1,3): 3 -> 1 wraps, so seq 1 is newer
                            {1, 0, -1, 1},   // (2,0): the kernel picks the zero slot
                            {1, 1, 0, -1}};  // (3,0) likewise; (3,1): 1 is newer
  const int pmdk[4][4] = {{-1, 1, 1, 1}, {0, -1, 1, 0}, {0, 0, -1, 1}, {0, 1, 0, -1}};
  std::set<std::pair<int, int>> disagree;
  for (std::uint32_t a = 0; a < 4; ++a)
    for (std::uint32_t b = 0; b < 4; ++b) {
      const auto k = kernel_log_current_sub(a, b);
      const auto p = pmdk_flog_current_sub(a, b);
      EXPECT_EQ(k ? static_cast<int>(*k) : -1, kernel[a][b]) << a << "," << b;
      EXPECT_EQ(p ? static_cast<int>(*p) : -1, pmdk[a][b]) << a << "," << b;
      if (k != p) disagree.insert({a, b});
      const auto old = kernel_log_old_sub(a, b);
      EXPECT_EQ(old.has_value(), k.has_value());
      if (old) {
        EXPECT_EQ(*old, 1 - *k);
      }
    }
  EXPECT_EQ(disagree, (std::set<std::pair<int, int>>{{0, 0}, {2, 0}, {3, 0}}));
}

TEST(BttLog, ValidPairsAgreeAndPickTheSuccessor) {
  const std::set<std::pair<std::uint32_t, std::uint32_t>> valid = {{1, 0}, {0, 1}, {1, 2}, {2, 1},
                                                                   {2, 3}, {3, 2}, {3, 1}, {1, 3}};
  for (std::uint32_t a = 0; a < 6; ++a)
    for (std::uint32_t b = 0; b < 6; ++b) {
      const bool is_valid = valid.count({a, b}) > 0;
      EXPECT_EQ(classify_seq_pair(a, b) == BttSeqVerdict::Valid, is_valid) << a << "," << b;
      if (!is_valid) continue;
      const auto k = kernel_log_current_sub(a, b);
      ASSERT_TRUE(k);
      EXPECT_EQ(k, pmdk_flog_current_sub(a, b));
      const std::uint32_t cur = *k == 0 ? a : b;
      const std::uint32_t other = *k == 0 ? b : a;
      if (other != 0) {
        EXPECT_EQ(cur, btt_next_seq(other)) << a << "," << b;
      } else {
        EXPECT_EQ(cur, 1u);
      }
    }
  EXPECT_EQ(classify_seq_pair(2, 2), BttSeqVerdict::Equal);
  EXPECT_EQ(classify_seq_pair(0, 0), BttSeqVerdict::Equal);
  EXPECT_EQ(classify_seq_pair(0, 2), BttSeqVerdict::StrayZero);
  EXPECT_EQ(classify_seq_pair(3, 0), BttSeqVerdict::StrayZero);
  EXPECT_EQ(classify_seq_pair(4, 1), BttSeqVerdict::OutOfRange);
}

TEST(BttLog, LargeSeqsFollowEachWritersArithmetic) {
  // (5,1): the kernel's sum exceeds 5 -> rejected; PMDK compares seq1 with NSEQ(5) = 2, which
  // differs, so it keeps sub 0.
  EXPECT_FALSE(kernel_log_current_sub(5, 1));
  EXPECT_EQ(pmdk_flog_current_sub(5, 1), std::optional<unsigned>(0));
  // A u32 sum that wraps below 6 passes the kernel's bound, as it does in C.
  EXPECT_EQ(kernel_log_current_sub(0xFFFFFFFF, 2), std::optional<unsigned>(1));
  EXPECT_EQ(kernel_log_old_sub(0xFFFFFFFF, 2), std::optional<unsigned>(0));
}

TEST(BttLog, DetectAllInitialIsNewScheme) {
  auto idx = detect_log_indices(kernel_initial_log(256, 65208));
  ASSERT_TRUE(idx) << idx.error().message();
  EXPECT_EQ(*idx, kBttLogIndicesNew);
  EXPECT_EQ(idx->to_string(), "(0,1)");
}

TEST(BttLog, DetectNewAndOldSchemes) {
  auto log = kernel_initial_log(8, 1000);
  log[3].slots[1] = BttLogEntry{9, 1003, 12, 2};
  auto idx = detect_log_indices(log);
  ASSERT_TRUE(idx);
  EXPECT_EQ(*idx, kBttLogIndicesNew);

  auto old = kernel_initial_log(8, 1000);
  old[5].slots[2] = BttLogEntry{9, 1005, 12, 2};
  idx = detect_log_indices(old);
  ASSERT_TRUE(idx);
  EXPECT_EQ(*idx, kBttLogIndicesOld);
  EXPECT_TRUE(idx->old_scheme());
  // Lanes before the deciding one were initial; lanes after are verified against (0,2).
  old[7].slots[1] = BttLogEntry{1, 2, 3, 2};
  auto bad = detect_log_indices(old);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kCorrupt);
  EXPECT_EQ(bad.error().offset, std::optional<std::uint64_t>(7 * 64 + 16));
}

TEST(BttLog, DetectFailures) {
  // A third live slot once the indices are known.
  auto log = kernel_initial_log(4, 1000);
  log[0].slots[1] = BttLogEntry{1, 2, 3, 2};
  log[0].slots[3] = BttLogEntry{1, 2, 3, 3};
  auto r = detect_log_indices(log);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().offset, std::optional<std::uint64_t>(48));

  // The first live slot zero in a later lane.
  log = kernel_initial_log(4, 1000);
  log[0].slots[1] = BttLogEntry{1, 2, 3, 2};
  log[2].slots[0] = BttLogEntry{};
  r = detect_log_indices(log);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().offset, std::optional<std::uint64_t>(2 * 64));

  // An all-zero log: nothing live at all -> (-1,1), an unknown scheme.
  r = detect_log_indices(std::vector<BttLogGroup>(4));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("unknown padding scheme (-1,1)"), std::string::npos)
      << r.error().message();
  EXPECT_FALSE(detect_log_indices(std::vector<BttLogGroup>{}));

  // Only slot 1 live in an otherwise initial log -> (1,1).
  log = std::vector<BttLogGroup>(3);
  for (auto& g : log) g.slots[1] = BttLogEntry{0, 5, 5, 1};
  r = detect_log_indices(log);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("(1,1)"), std::string::npos);

  // Live slots (1,3): a scheme no kernel wrote.
  log = std::vector<BttLogGroup>(2);
  log[1].slots[1] = BttLogEntry{1, 2, 3, 1};
  log[1].slots[3] = BttLogEntry{1, 3, 2, 2};
  r = detect_log_indices(log);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("unknown padding scheme"), std::string::npos);

  // Written entries in slots 0 and 1 of lane 1 while lane 0's slot 0 is zero: the kernel takes
  // (1,0) from the first two live slots it meets -> unknown.
  log = std::vector<BttLogGroup>(2);
  log[0].slots[1] = BttLogEntry{0, 5, 5, 1};
  log[1].slots[0] = BttLogEntry{1, 6, 6, 1};
  log[1].slots[1] = BttLogEntry{1, 6, 7, 2};
  r = detect_log_indices(log);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("(1,0)"), std::string::npos);
}

TEST(BttLog, LaneSelectionOnGroups) {
  BttLogGroup g;
  g.slots[0] = BttLogEntry{0xdd, 0xdd, 0xdb, 2};  // lane 0 of kernel image a
  g.slots[1] = BttLogEntry{0xdf, 0xdf, 0xdd, 3};
  const auto sel = select_current(lane_of(g, kBttLogIndicesNew));
  EXPECT_EQ(sel.kernel_current, std::optional<unsigned>(1));
  EXPECT_EQ(sel.pmdk_current, std::optional<unsigned>(1));
  EXPECT_FALSE(sel.disagree());
  EXPECT_EQ(sel.current(), std::optional<unsigned>(1));
  // Under the old scheme slot 2 is sub-slot 1 (zero here): seq pair (2,0).
  const auto old = select_current(lane_of(g, kBttLogIndicesOld));
  EXPECT_EQ(old.verdict, BttSeqVerdict::StrayZero);
  EXPECT_TRUE(old.disagree());
  EXPECT_EQ(old.kernel_current, std::optional<unsigned>(1));
  EXPECT_EQ(old.pmdk_current, std::optional<unsigned>(0));
}

BttLaneContext lane_ctx() {
  BttLaneContext c;
  c.arena_index = 0;
  c.lane = 3;
  c.external_nlba = 1000;
  c.internal_nlba = 1256;
  c.offset = 0x10000 + 3 * 64;
  return c;
}

TEST(BttLog, ValidateLaneCleanCases) {
  EXPECT_TRUE(validate_log_lane(btt_kernel_initial_log_group(3, 1000), lane_ctx()).empty());
  BttLaneContext pmdk = lane_ctx();
  pmdk.flavor = BttFlavor::Pmdk;
  EXPECT_TRUE(validate_log_lane(btt_pmdk_initial_log_group(3, 1000), pmdk).empty());
  BttLogGroup g;
  g.slots[0] = BttLogEntry{7, 7, 1003, 1};
  g.slots[1] = BttLogEntry{8, 8, 7, 2};
  EXPECT_TRUE(validate_log_lane(g, lane_ctx()).empty());
}

TEST(BttLog, ValidateLaneFindings) {
  using P = Problem;
  auto check = [](const BttLogGroup& g, std::set<Problem> want, BttLaneContext c = lane_ctx()) {
    const Findings f = validate_log_lane(g, c);
    EXPECT_EQ(codes(f), want) << dump(f);
    return f;
  };
  BttLogGroup g = btt_kernel_initial_log_group(3, 1000);
  g.slots[2] = BttLogEntry{1, 1, 1, 1};
  Findings f = check(g, {P::BTT_LOG_PADDING_NONZERO});
  EXPECT_EQ(f[0].offset, std::optional<std::uint64_t>(0x10000 + 3 * 64 + 32));
  EXPECT_EQ(f[0].where, "arena 0 lane 3");

  // seq-dup: both writers reject -> bad seq, no disagreement.
  g = BttLogGroup{};
  g.slots[0] = BttLogEntry{1, 0xc0000010, 0xc0000011, 2};
  g.slots[1] = BttLogEntry{1, 0xc0000011, 0xc0000010, 2};
  BttLaneContext pmdk = lane_ctx();
  pmdk.flavor = BttFlavor::Pmdk;
  f = check(g, {P::BTT_LOG_BAD_SEQ}, pmdk);
  EXPECT_NE(f[0].detail.find("equal"), std::string::npos);
  EXPECT_EQ(f[0].offset, std::optional<std::uint64_t>(0x10000 + 3 * 64 + 12));

  // (2,0): bad seq and the writers disagree.
  g = BttLogGroup{};
  g.slots[0] = BttLogEntry{1, 10, 11, 2};
  f = check(g, {P::BTT_LOG_BAD_SEQ, P::BTT_LOG_SEQ_PAIR_KERNEL_PMDK_DISAGREE});

  // Ranges are checked on the current entry, block numbers masked.
  g = BttLogGroup{};
  g.slots[0] = BttLogEntry{1000, 5, 6, 1};
  check(g, {P::BTT_LOG_LBA_OUT_OF_RANGE});
  g.slots[0] = BttLogEntry{5, 1256, 6, 1};
  check(g, {P::BTT_LOG_MAP_OUT_OF_RANGE});
  g.slots[0] = BttLogEntry{5, 6, 0xC0000000 | 1256, 1};
  check(g, {P::BTT_LOG_MAP_OUT_OF_RANGE}, pmdk);
  g.slots[0] = BttLogEntry{5, 0x40000006, 7, 1};  // kernel: E in old_map is legal but noted
  check(g, {P::BTT_LOG_ENTRY_FLAGS});
  check(g, {}, pmdk);
  // The stale sub-slot is not range-checked.
  g.slots[0] = BttLogEntry{5, 6, 7, 2};
  g.slots[1] = BttLogEntry{999999, 999999, 999999, 1};
  check(g, {});        // (2,1): sub 0 is current
  g.slots[1].seq = 3;  // (2,3) -> sub 1 current
  check(g, {P::BTT_LOG_LBA_OUT_OF_RANGE, P::BTT_LOG_MAP_OUT_OF_RANGE});
  g.slots[1].seq = 1;
  g.slots[0].seq = 3;  // (3,1) -> sub 1 current again
  check(g, {P::BTT_LOG_LBA_OUT_OF_RANGE, P::BTT_LOG_MAP_OUT_OF_RANGE});
  g.slots[0].seq = 1;
  g.slots[1].seq = 3;  // (1,3) -> sub 0 current: clean
  check(g, {});
  // With no pick at all every live entry is checked.
  g.slots[1].seq = 1;
  check(g, {P::BTT_LOG_BAD_SEQ, P::BTT_LOG_LBA_OUT_OF_RANGE, P::BTT_LOG_MAP_OUT_OF_RANGE});
}

}  // namespace
}  // namespace ndtk
