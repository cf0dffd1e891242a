// Namespace index block: layout, FORMATS.md §10.2 vectors, validation rules, seq selection,
// bitmap queries, round trips and hostile input.
#include "ndtk/format/label_index.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "ndtk/geometry/label_geometry.h"
#include "test_helpers.h"

namespace ndtk {
namespace {

LabelGeometry geo(std::uint64_t cfg, std::uint32_t lsz, LabelFormula f = LabelFormula::Current) {
  auto g = label_geometry(cfg, lsz, f);
  EXPECT_TRUE(g) << (g ? "" : g.error().message());
  return *g;
}

std::set<Problem> codes(const Findings& fs) {
  std::set<Problem> s;
  for (const auto& f : fs) s.insert(f.code);
  return s;
}

std::set<Problem> error_codes(const Findings& fs) {
  std::set<Problem> s;
  for (const auto& f : fs)
    if (f.severity() == Severity::Error) s.insert(f.code);
  return s;
}

TEST(LabelIndexLayout, FieldTableMatchesRawStruct) {
  const auto t = LabelIndex::fields();
  ASSERT_EQ(t.size(), 12u);
  std::size_t covered = 0;
  for (const auto& f : t) covered += f.size;
  EXPECT_EQ(covered, kNsIndexHeaderSize);
  // Fields are contiguous and in offset order.
  std::size_t next = 0;
  for (const auto& f : t) {
    EXPECT_EQ(f.offset, next) << f.name;
    next = f.offset + f.size;
  }
  EXPECT_STREQ(t[11].name, "checksum");
  EXPECT_EQ(t[11].offset, 64u);
}

// §10.2: kernel-initialised index blocks of a 128 KiB area, byte for byte.
TEST(LabelIndexVectors, InitialBlocks256ByteLabels) {
  const auto g = geo(131072, 256);
  EXPECT_EQ(g.nslot, 510u);
  EXPECT_EQ(g.index_size, 256u);
  EXPECT_EQ(g.label_offset(), 512u);
  const auto idx = initial_index_blocks(g);
  EXPECT_EQ(idx[0].checksum, 0xe793e3ed18323c1cull);
  EXPECT_EQ(idx[1].checksum, 0xe793e7b218323c1bull);
  const ByteVec b0 = idx[0].serialize();
  ASSERT_EQ(b0.size(), 256u);
  const ByteVec header = test::from_hex(
      "4e 41 4d 45 53 50 41 43 45 5f 49 4e 44 45 58 00"
      "00 00 00 01 03 00 00 00 00 00 00 00 00 00 00 00"
      "00 01 00 00 00 00 00 00 00 01 00 00 00 00 00 00"
      "00 02 00 00 00 00 00 00 fe 01 00 00 01 00 02 00"
      "1c 3c 32 18 ed e3 93 e7 ff ff ff ff ff ff ff ff");
  EXPECT_EQ(ByteVec(b0.begin(), b0.begin() + 80), header);
  for (std::size_t i = 72; i < 135; ++i) EXPECT_EQ(b0[i], 0xff) << i;
  EXPECT_EQ(b0[135], 0x3f);
  for (std::size_t i = 136; i < 256; ++i) EXPECT_EQ(b0[i], 0x00) << i;
  // Index 1 differs only in seq, myoff, otheroff and checksum.
  const ByteVec b1 = idx[1].serialize();
  EXPECT_EQ(idx[1].seq, 2u);
  EXPECT_EQ(idx[1].myoff, 256u);
  EXPECT_EQ(idx[1].otheroff, 0u);
  for (std::size_t i = 72; i < 256; ++i) EXPECT_EQ(b1[i], b0[i]);
  EXPECT_TRUE(LabelIndex::parse(b0));
  EXPECT_TRUE(LabelIndex::parse(b1));
}

TEST(LabelIndexVectors, InitialBlocks128ByteLabels) {
  const auto g = geo(131072, 128);
  EXPECT_EQ(g.nslot, 1020u);
  EXPECT_EQ(g.index_size, 256u);
  EXPECT_EQ(g.label_offset(), 512u);
  const auto idx = initial_index_blocks(g);
  EXPECT_EQ(idx[0].checksum, 0xdb634621e7313e0aull);
  EXPECT_EQ(idx[1].checksum, 0xdb6349e6e7313e09ull);
  const ByteVec b0 = idx[0].serialize();
  EXPECT_EQ(b0[19], 0);  // labelsize byte 0 for 128-byte labels
  EXPECT_EQ(idx[0].major, 1);
  EXPECT_EQ(idx[0].minor, 1);
  EXPECT_EQ(b0[198], 0xff);
  EXPECT_EQ(b0[199], 0x0f);
  EXPECT_EQ(b0[200], 0x00);
}

TEST(LabelIndexVectors, NdctlStyleLeavesRoundingBitsSet) {
  const auto idx = initial_index_blocks(geo(131072, 128), InitStyle::Ndctl);
  const ByteVec b = idx[0].serialize();
  EXPECT_EQ(b[199], 0xff);  // bits 1020..1023 set, as in the kernel images
  EXPECT_NE(idx[0].checksum, 0xdb634621e7313e0aull);
  EXPECT_TRUE(idx[0].checksum_ok());
}

TEST(LabelIndexDecode, RoundTripAnyBytes) {
  std::mt19937_64 rng(1234);
  for (int it = 0; it < 200; ++it) {
    ByteVec b(72 + rng() % 1200);
    for (auto& c : b) c = static_cast<std::uint8_t>(rng());
    auto x = LabelIndex::decode(b);
    ASSERT_TRUE(x);
    EXPECT_EQ(x->serialize(), b);
    EXPECT_EQ(x->block_size(), b.size());
  }
}

TEST(LabelIndexDecode, ShortInputsFail) {
  EXPECT_EQ(LabelIndex::decode(Bytes{}).error().code, Errc::kTruncated);
  ByteVec b(71, 0);
  EXPECT_EQ(LabelIndex::decode(b).error().code, Errc::kTruncated);
  const ByteVec good = initial_index_blocks(geo(131072, 256))[0].serialize();
  EXPECT_EQ(LabelIndex::decode(Bytes(good).first(71)).error().code, Errc::kTruncated);
  EXPECT_EQ(LabelIndex::parse(Bytes(good).first(71)).error().code, Errc::kTruncated);
  // len-1 of a whole block still decodes (72 bytes suffice) but the checksum no longer fits.
  auto shorter = LabelIndex::decode(Bytes(good).first(good.size() - 1));
  ASSERT_TRUE(shorter);
  EXPECT_FALSE(shorter->kernel_accepts(0, 131072, 256, 256));
  EXPECT_FALSE(shorter->computed_checksum(256).has_value());
}

TEST(LabelIndexDecode, ZeroAndFfBlocks) {
  for (std::uint8_t fill : {std::uint8_t{0}, std::uint8_t{0xff}}) {
    const ByteVec b(256, fill);
    auto x = LabelIndex::decode(b);
    ASSERT_TRUE(x);
    EXPECT_EQ(x->serialize(), b);
    EXPECT_EQ(LabelIndex::parse(b).error().code, Errc::kBadSignature);
    EXPECT_FALSE(x->kernel_accepts(0, 131072, 128, 256));
    EXPECT_FALSE(x->kernel_accepts(1, 131072, 256, 256));
    const auto f = x->validate(0, 131072, 128, 256, 1000);
    EXPECT_TRUE(codes(f).count(Problem::LABEL_INDEX_BAD_SIGNATURE));
    (void)x->check_bitmap_tail("index 0");
  }
}

TEST(LabelIndexDecode, ParseNamesTheBrokenField) {
  ByteVec b = initial_index_blocks(geo(131072, 256))[0].serialize();
  b[100] ^= 1;
  auto r = LabelIndex::parse(b);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kBadChecksum);
  EXPECT_EQ(r.error().field, "checksum");
  EXPECT_EQ(r.error().found, "0xe793e3ed18323c1c");
}

TEST(LabelIndexLabelSize, VersionRule) {
  LabelIndex x;
  x.major = 1;
  x.minor = 1;
  x.labelsize = 1;
  EXPECT_EQ(x.label_size(), 128u);  // < 1.2 ignores the labelsize byte
  x.labelsize = 200;
  EXPECT_EQ(x.label_size(), 128u);
  x.minor = 2;
  x.labelsize = 0;
  EXPECT_EQ(x.label_size(), 128u);
  x.labelsize = 1;
  EXPECT_EQ(x.label_size(), 256u);
  x.labelsize = 2;
  EXPECT_EQ(x.label_size(), 512u);
  x.labelsize = 57;
  EXPECT_EQ(x.label_size(), 0u);
  x.major = 2;
  x.minor = 1;
  x.labelsize = 1;
  EXPECT_EQ(x.version(), 201u);
  EXPECT_EQ(x.label_size(), 256u);  // CXL LSA 2.1 honours the byte
  x.major = 0;
  x.minor = 99;
  EXPECT_EQ(x.label_size(), 128u);
}

TEST(LabelIndexSeq, NextAndBest) {
  EXPECT_EQ(next_seq(1), 2u);
  EXPECT_EQ(next_seq(2), 3u);
  EXPECT_EQ(next_seq(3), 1u);
  EXPECT_EQ(next_seq(0), 0u);
  EXPECT_EQ(next_seq(6), 3u);  // only the low bits count
  // Exhaustive against the rule "b wins iff a is 0, a == b, or b follows a".
  for (std::uint32_t a = 0; a < 8; ++a)
    for (std::uint32_t b = 0; b < 8; ++b) {
      const std::uint32_t la = a & 3, lb = b & 3;
      std::uint32_t want;
      if (la == 0 || la == lb)
        want = lb;
      else if (lb == 0)
        want = la;
      else
        want = (la % 3) + 1 == lb ? lb : la;
      EXPECT_EQ(best_seq(a, b), want) << a << "," << b;
    }
  EXPECT_EQ(best_seq(1, 3), 1u);  // image f: index 0 (seq 1) is newer than index 1 (seq 3)
  EXPECT_EQ(best_seq(3, 2), 3u);  // freshly initialised: index 0
  EXPECT_EQ(best_seq(2, 1), 2u);  // images a/c/e
}

TEST(LabelIndexSeq, CurrentIndexSelection) {
  auto c = select_current_index(true, 1, true, 3);
  EXPECT_EQ(c.index, 0);
  EXPECT_EQ(c.why, IndexChoice::BestSeq);
  c = select_current_index(true, 2, true, 2);
  EXPECT_EQ(c.index, 1);
  EXPECT_EQ(c.why, IndexChoice::SeqTie);
  c = select_current_index(false, 3, true, 1);
  EXPECT_EQ(c.index, 1);
  EXPECT_EQ(c.why, IndexChoice::OnlyValid);
  c = select_current_index(true, 1, false, 2);
  EXPECT_EQ(c.index, 0);
  c = select_current_index(false, 1, false, 2);
  EXPECT_EQ(c.index, -1);
  EXPECT_EQ(c.why, IndexChoice::None);
  c = select_current_index(true, 3, true, 2);
  EXPECT_EQ(c.index, 0);
  c = select_current_index(true, 2, true, 3);
  EXPECT_EQ(c.index, 1);
}

TEST(LabelIndexBitmap, FreeQueriesAndRanges) {
  auto x = initial_index_blocks(geo(131072, 256))[0];
  EXPECT_EQ(x.used_count(), 0u);
  EXPECT_TRUE(x.used_ranges().empty());
  for (std::uint32_t s : {0u, 1u, 2u, 7u, 8u, 100u, 509u}) x.set_free(s, false);
  EXPECT_FALSE(x.is_free(1));
  EXPECT_TRUE(x.is_free(3));
  EXPECT_TRUE(x.is_free(5000));  // past the block: claims nothing
  const std::vector<SlotRange> want = {{0, 3}, {7, 2}, {100, 1}, {509, 1}};
  EXPECT_EQ(x.used_ranges(), want);
  EXPECT_EQ(x.used_count(), 7u);
  EXPECT_EQ(x.used_slots(9), (std::vector<std::uint32_t>{0, 1, 2, 7, 8}));
  // The kernel clears bits past nslot at init, so bit 510 is clear but outside nslot.
  EXPECT_FALSE(initial_index_blocks(geo(131072, 256))[0].is_free(510));
}

TEST(LabelIndexBitmap, TailChecks) {
  const auto g = geo(131072, 256);
  EXPECT_TRUE(initial_index_blocks(g, InitStyle::Kernel)[0].check_bitmap_tail("index 0").empty());
  auto ndctl = initial_index_blocks(g, InitStyle::Ndctl)[0];
  auto f = ndctl.check_bitmap_tail("index 0", 4096);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].code, Problem::LABEL_BITMAP_NDCTL_TAIL);
  EXPECT_EQ(f[0].severity(), Severity::Info);
  EXPECT_EQ(f[0].offset, 4096u + 72 + 510 / 8);
  ndctl.set_free(1000, true);
  f = ndctl.check_bitmap_tail("index 0");
  EXPECT_TRUE(codes(f).count(Problem::LABEL_BITMAP_TAIL_BITS));
  auto partial = initial_index_blocks(g, InitStyle::Kernel)[0];
  partial.set_free(511, true);  // one of the two rounding bits: not ndctl's pattern
  f = partial.check_bitmap_tail("index 0");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].code, Problem::LABEL_BITMAP_TAIL_BITS);
  auto short_block = initial_index_blocks(g)[0];
  short_block.nslot = 5000;
  EXPECT_TRUE(codes(short_block.check_bitmap_tail("index 0")).count(Problem::LABEL_BITMAP_SHORT));
}

// Each kernel rule, broken alone (checksum refreshed), yields exactly its own code.
TEST(LabelIndexValidate, EachRuleAlone) {
  const auto g = geo(131072, 256);
  const auto good = initial_index_blocks(g);
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(good[i].validate(i, 131072, 256, 256).empty());
    EXPECT_TRUE(good[i].kernel_accepts(i, 131072, 256, 256));
    EXPECT_FALSE(good[i].kernel_accepts(1 - i, 131072, 256, 256));  // wrong position
    EXPECT_FALSE(good[i].kernel_accepts(i, 131072, 128, 256));      // wrong label size
  }
  struct Case {
    const char* what;
    void (*mutate)(LabelIndex&);
    Problem want;
  };
  const Case cases[] = {
      {"sig", [](LabelIndex& x) { x.sig[3] = 'X'; }, Problem::LABEL_INDEX_BAD_SIGNATURE},
      {"labelsize", [](LabelIndex& x) { x.labelsize = 0; }, Problem::LABEL_INDEX_BAD_LABELSIZE},
      {"minor", [](LabelIndex& x) { x.minor = 1; }, Problem::LABEL_INDEX_BAD_LABELSIZE},
      {"seq", [](LabelIndex& x) { x.seq = 4; }, Problem::LABEL_INDEX_BAD_SEQ},
      {"myoff", [](LabelIndex& x) { x.myoff = 512; }, Problem::LABEL_INDEX_BAD_MYOFF},
      {"otheroff", [](LabelIndex& x) { x.otheroff = 0; }, Problem::LABEL_INDEX_BAD_OTHEROFF},
      {"labeloff", [](LabelIndex& x) { x.labeloff = 256; }, Problem::LABEL_INDEX_BAD_LABELOFF},
      {"mysize small", [](LabelIndex& x) { x.mysize = 71; }, Problem::LABEL_INDEX_BAD_MYSIZE},
      {"mysize big", [](LabelIndex& x) { x.mysize = 257; }, Problem::LABEL_INDEX_BAD_MYSIZE},
      {"nslot", [](LabelIndex& x) { x.nslot = 511; }, Problem::LABEL_INDEX_BAD_NSLOT},
      {"nslot huge", [](LabelIndex& x) { x.nslot = 0xffffffff; }, Problem::LABEL_INDEX_BAD_NSLOT},
  };
  for (const auto& c : cases) {
    LabelIndex x = good[0];
    c.mutate(x);
    x = x.with_checksum();
    const auto f = x.validate(0, 131072, 256, 256, 0x1000);
    EXPECT_EQ(error_codes(f), std::set<Problem>{c.want}) << c.what;
    EXPECT_FALSE(x.kernel_accepts(0, 131072, 256, 256)) << c.what;
    for (const auto& fi : f) {
      EXPECT_EQ(fi.where, "index 0");
      ASSERT_TRUE(fi.offset.has_value());
      EXPECT_GE(*fi.offset, 0x1000u);
      EXPECT_LT(*fi.offset, 0x1000u + 72);
    }
  }
  // mysize below ISZ is accepted (72..ISZ), and nslot below the formula too (inequality).
  LabelIndex x = good[0];
  x.mysize = 72;
  x.nslot = 100;
  EXPECT_TRUE(x.with_checksum().kernel_accepts(0, 131072, 256, 256));
  // A stale checksum alone.
  x = good[0];
  x.seq = 1;
  EXPECT_EQ(error_codes(x.validate(0, 131072, 256, 256)),
            std::set<Problem>{Problem::LABEL_INDEX_BAD_CHECKSUM});
}

TEST(LabelIndexValidate, QuirksAreNotErrors) {
  LabelIndex x = initial_index_blocks(geo(131072, 256))[0];
  x.flags[1] = 7;
  x.seq = 0x10000003;
  x = x.with_checksum();
  const auto f = x.validate(0, 131072, 256, 256);
  EXPECT_EQ(codes(f), (std::set<Problem>{Problem::LABEL_INDEX_FLAGS_NONZERO,
                                         Problem::LABEL_INDEX_SEQ_HIGH_BITS}));
  EXPECT_TRUE(x.kernel_accepts(0, 131072, 256, 256));
  x.major = 3;
  x.labelsize = 1;
  x = x.with_checksum();
  EXPECT_TRUE(codes(x.validate(0, 131072, 256, 256)).count(Problem::LABEL_INDEX_UNKNOWN_VERSION));
}

// Every header byte (outside the checksum) flipped: the block is rejected.
TEST(LabelIndexValidate, EveryHeaderByteMatters) {
  const auto good = initial_index_blocks(geo(131072, 256))[0].serialize();
  for (const auto& fd : LabelIndex::fields()) {
    for (std::size_t i = 0; i < fd.size; ++i) {
      ByteVec b = good;
      b[fd.offset + i] ^= 0x40;
      auto x = LabelIndex::decode(b);
      ASSERT_TRUE(x);
      EXPECT_FALSE(x->kernel_accepts(0, 131072, 256, 256)) << fd.name << "+" << i;
    }
  }
}

TEST(LabelIndexValidate, HugeIndexSizeDoesNotOverflow) {
  const auto x = initial_index_blocks(geo(131072, 256))[0];
  const auto f = x.validate(1, UINT64_MAX, 256, UINT64_MAX, UINT64_MAX - 4);
  EXPECT_FALSE(error_codes(f).empty());
  EXPECT_FALSE(x.kernel_accepts(0, 0, 0, 0));
}

TEST(LabelIndexRobust, RandomBlocksNeverCrash) {
  std::mt19937_64 rng(99);
  for (int it = 0; it < 200; ++it) {
    ByteVec b(rng() % 2048);
    for (auto& c : b) c = static_cast<std::uint8_t>(rng());
    if (it % 3 == 0 && b.size() >= 16)
      std::copy(kNsIndexSignature.begin(), kNsIndexSignature.end(), b.begin());
    auto x = LabelIndex::decode(b);
    if (b.size() < 72) {
      EXPECT_FALSE(x);
      continue;
    }
    ASSERT_TRUE(x);
    EXPECT_EQ(x->serialize(), b);
    const std::uint64_t cfg = rng();
    (void)x->validate(static_cast<int>(rng() % 2), cfg, rng() % 2 ? 128 : 256, rng() % 4096, rng());
    (void)x->check_bitmap_tail("index 0", rng());
    (void)x->used_ranges();
    (void)x->label_size();
    (void)LabelIndex::parse(b);
  }
}

}  // namespace
}  // namespace ndtk
