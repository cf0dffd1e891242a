// Label-area geometry: current and older nslot/index-size formulas, limits, initial indexes.
#include "ndtk/geometry/label_geometry.h"

#include <gtest/gtest.h>

namespace ndtk {
namespace {

TEST(LabelGeometry, Current128KiB) {
  auto g = label_geometry(131072, 256);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->nslot, 510u);
  EXPECT_EQ(g->index_size, 256u);
  EXPECT_EQ(g->slot_offset(0), 512u);
  EXPECT_EQ(g->slot_offset(509), 512u + 509 * 256);
  g = label_geometry(131072, 128);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->nslot, 1020u);
  EXPECT_EQ(g->index_size, 256u);
  EXPECT_EQ(kernel_index_size(131072, 128), 256u);
}

// Worked by hand: 1 MiB, 128-B labels: tmp 8192 -> isize 1280 (k=5) -> nslot (1 MiB - 2560)/128
// = 8172 -> ISZ = ALIGN(72 + 1022, 256) = 1280; the slots end exactly at the end of the area.
TEST(LabelGeometry, CurrentMultiBlockIndex) {
  auto g = label_geometry(1048576, 128);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->nslot, 8172u);
  EXPECT_EQ(g->index_size, 1280u);
  EXPECT_EQ(g->slot_offset(g->nslot), 1048576u);
}

TEST(LabelGeometry, OlderFormulas) {
  auto g = label_geometry(131072, 128, LabelFormula::V4_6);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->nslot, 1016u);
  EXPECT_EQ(g->index_size, 256u);
  g = label_geometry(131072, 128, LabelFormula::LabelPlusOne);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->nslot, 1016u);
  g = label_geometry(131072, 256, LabelFormula::LabelPlusOne);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->nslot, 510u);
  EXPECT_FALSE(label_geometry(131072, 256, LabelFormula::V4_6));
  // Where the formulas disagree on ISZ (index 1 sits elsewhere).
  g = label_geometry(132096, 128, LabelFormula::V4_6);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->index_size, 512u);
  EXPECT_EQ(g->nslot, 1024u);
  EXPECT_EQ(kernel_index_size(132096, 128), 256u);
  EXPECT_EQ(identify_formula(132096, 128, 512, 1024), LabelFormula::V4_6);
  EXPECT_EQ(identify_formula(131072, 128, 256, 1020), LabelFormula::Current);
  EXPECT_EQ(identify_formula(131072, 128, 256, 1016), LabelFormula::LabelPlusOne);
  EXPECT_FALSE(identify_formula(131072, 128, 256, 7));
  const auto c = candidate_geometries(132096, 128);
  ASSERT_GE(c.size(), 2u);
  EXPECT_EQ(c[0].formula, LabelFormula::Current);
}

TEST(LabelGeometry, Limits) {
  auto g = label_geometry(1024, 256);  // ND_LABEL_MIN_SIZE: 2 index blocks + 2 labels
  ASSERT_TRUE(g);
  EXPECT_EQ(g->nslot, 2u);
  EXPECT_EQ(g->index_size, 256u);
  EXPECT_FALSE(label_geometry(1023, 256));
  EXPECT_EQ(label_geometry(1023, 256).error().code, Errc::kOutOfRange);
  EXPECT_TRUE(label_geometry(1024, 128));
  EXPECT_FALSE(label_geometry(0, 128));
  EXPECT_FALSE(label_geometry(100, 128));
  EXPECT_EQ(label_geometry(131072, 512).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(label_geometry(131072, 0).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(label_geometry(1ull << 33, 256).error().code, Errc::kOutOfRange);
  EXPECT_EQ(kernel_index_size(1000, 256), 0u);
  EXPECT_TRUE(label_geometry(0xffffffffull, 256));
}

TEST(LabelGeometry, InequalityAcceptsOlderSlotCounts) {
  EXPECT_TRUE(nslot_fits(131072, 128, 256, 1020));
  EXPECT_TRUE(nslot_fits(131072, 128, 256, 1016));
  EXPECT_FALSE(nslot_fits(131072, 128, 256, 1021));
  EXPECT_FALSE(nslot_fits(131072, 256, 256, 511));
  EXPECT_FALSE(nslot_fits(UINT64_MAX, 256, 256, UINT64_MAX));
  EXPECT_FALSE(nslot_fits(UINT64_MAX, 256, UINT64_MAX, 1));
}

// For every area size (step 256) and label size the current formula yields an area the kernel
// accepts, whose initial blocks validate with index 0 current.
TEST(LabelGeometry, InitialBlocksAlwaysValidate) {
  for (std::uint64_t cfg = 1024; cfg <= 300000; cfg += 1792) {
    for (std::uint32_t lsz : {128u, 256u}) {
      auto g = label_geometry(cfg, lsz);
      ASSERT_TRUE(g) << cfg << " " << lsz;
      EXPECT_EQ(g->index_size % 256, 0u);
      EXPECT_GE(g->index_size, 72 + (g->nslot + 7) / 8u);
      EXPECT_TRUE(nslot_fits(cfg, lsz, g->index_size, g->nslot));
      for (InitStyle st : {InitStyle::Kernel, InitStyle::Ndctl}) {
        const auto idx = initial_index_blocks(*g, st);
        for (int i = 0; i < 2; ++i) {
          EXPECT_EQ(idx[i].block_size(), g->index_size);
          EXPECT_TRUE(kernel_accepts_index(idx[i], i, cfg, lsz)) << cfg << " " << lsz;
          EXPECT_TRUE(validate_index(idx[i], i, cfg, lsz).empty());
          EXPECT_EQ(idx[i].used_count(), 0u);
        }
        EXPECT_EQ(select_current_index(true, idx[0].seq, true, idx[1].seq).index, 0);
      }
    }
  }
}

TEST(LabelGeometry, ValidateIndexOnTooSmallArea) {
  const auto idx = initial_index_blocks(*label_geometry(131072, 256));
  const auto f = validate_index(idx[0], 0, 1000, 256, 5);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].code, Problem::LABEL_INDEX_BAD_NSLOT);
  EXPECT_FALSE(kernel_accepts_index(idx[0], 0, 1000, 256));
  // In a 256 KiB area the kernel's ISZ is still 256 and nslot 510 satisfies the inequality.
  EXPECT_TRUE(kernel_accepts_index(idx[0], 0, 262144, 256));
}

}  // namespace
}  // namespace ndtk
