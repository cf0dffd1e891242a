// Check*/Repair*: check_image on the golden images, a 520-byte-sector BTT made with the kernel
// layout formulas, and the plan/overlay/undo cycle on in-memory copies.
#include <gtest/gtest.h>

#include <algorithm>

#include "ndtk/check/check.h"
#include "ndtk/format/btt_map.h"
#include "ndtk/geometry/btt_geometry.h"
#include "ndtk/io/undo.h"
#include "ndtk/render/check_render.h"
#include "ndtk/repair/repair.h"
#include "test_helpers.h"

namespace ndtk {
namespace {

DevicePtr open_golden(const std::string& rel) {
  auto d = open_image(test::image_path(rel));
  EXPECT_TRUE(d.has_value()) << (d ? "" : d.error().message());
  return d ? *d : nullptr;
}

// A writable in-memory copy of the first `len` bytes... of a whole (sparse) device: only the
// chunks the device does not know to be zero are read.
DevicePtr memory_copy(const BlockDevice& src) {
  ByteVec bytes(src.size(), 0);
  constexpr std::uint64_t kChunk = 1 << 20;
  for (std::uint64_t off = 0; off < src.size(); off += kChunk) {
    const std::uint64_t n = std::min(kChunk, src.size() - off);
    if (src.known_zero(off, n)) continue;
    EXPECT_TRUE(src.read_at(off, MutBytes(bytes.data() + off, n)).has_value());
  }
  return make_memory_device(std::move(bytes), src.name() + " (copy)");
}

bool has_code(const CheckReport& r, Problem p) {
  for (const Finding* f : r.all_findings())
    if (f->code == p) return true;
  return false;
}

TEST(CheckImages, ShippedImagesAreClean) {
  for (const char* img : {"kernel/a-sector4096-labels1.1.img.zst", "kernel/c-fsdax-labels1.2.img.zst",
                          "kernel/e-raw-labels1.1.img.zst", "kernel/f-two-namespaces-labels1.2.img.zst",
                          "kernel/i-sector4096-labelless.img.zst", "pmdk/blk4096.pool.zst",
                          "pmdk/blk4096-nolayout.pool.zst"}) {
    auto dev = open_golden(img);
    ASSERT_TRUE(dev);
    auto r = check_image(dev);
    ASSERT_TRUE(r.has_value()) << img;
    EXPECT_TRUE(r->clean()) << img << "\n" << render_check_text(*r);
  }
}

TEST(CheckImages, KernelBttSummaryMatchesManifest) {
  auto r = check_image(open_golden("kernel/a-sector4096-labels1.1.img.zst"));
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->namespaces.size(), 1u);
  ASSERT_TRUE(r->namespaces[0].btt);
  const auto& b = *r->namespaces[0].btt;
  EXPECT_EQ(b.external_nlba, 65208u);
  ASSERT_EQ(b.arenas.size(), 1u);
  EXPECT_EQ(b.arenas[0].offset, 4096u);
  EXPECT_EQ(b.arenas[0].backup_offset, 268431360u);
  EXPECT_TRUE(b.arenas[0].backup_identical);
  EXPECT_EQ(b.arenas[0].map.normal + b.arenas[0].map.initial, 65208u);
  EXPECT_EQ(b.arenas[0].leaked_blocks, 0u);
}

// A memory device of ns_size holding a freshly formatted single-arena BTT `a` (kernel layout:
// initial log groups, info2, then the primary info block).
DevicePtr fresh_btt_device(const ArenaLayout& a, std::uint64_t ns_size) {
  auto dev = make_memory_device(ByteVec(ns_size, 0), "btt520");
  const BttInfo info = make_arena_info(a, Uuid::random(), Uuid{}, BttVersion::V1_1);
  for (std::uint32_t l = 0; l < a.nfree; ++l)
    EXPECT_TRUE(dev->write_at(a.abs(a.logoff) + 64ull * l,
                              btt_kernel_initial_log_group(l, a.external_nlba).serialize()));
  EXPECT_TRUE(dev->write_at(a.abs(a.info2off), info.serialize()));
  EXPECT_TRUE(dev->write_at(a.abs(0), info.serialize()));
  return dev;
}

// The kernel attaches a BTT with 520-byte sectors (internal 576); ndctl check-namespace
// refuses it ("Problem parsing arena[0] metadata": it wants internal == external lbasize).
TEST(CheckBtt520, KernelLayoutWith520ByteSectorsIsClean) {
  const std::uint64_t ns_size = 64ull << 20;
  auto layout = kernel_btt_layout(ns_size, 520, BttVersion::V1_1);
  ASSERT_TRUE(layout.has_value());
  ASSERT_EQ(layout->size(), 1u);
  const ArenaLayout& a = (*layout)[0];
  EXPECT_EQ(a.internal_lbasize, 576u);
  auto dev = fresh_btt_device(a, ns_size);
  CheckOptions o;
  o.location.ns_offset = 0;
  o.location.ns_size = ns_size;
  auto r = check_image(dev, o);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->clean()) << render_check_text(*r);
  ASSERT_TRUE(r->namespaces[0].btt);
  EXPECT_EQ(r->namespaces[0].btt->external_lbasize, 520u);
  EXPECT_EQ(r->namespaces[0].btt->arenas[0].map.initial, a.external_nlba);
}

// The map pass skips runs of initial (zero) entries a cache line at a time. Non-zero entries
// placed around line and chunk boundaries must still be seen one by one: swapped pairs are a
// valid permutation (clean, counted as normal), and a block claimed again from inside a run
// is a duplicate.
TEST(CheckBtt520, InitialRunsAroundLineAndChunkBoundaries) {
  const std::uint64_t ns_size = 64ull << 20;
  auto layout = kernel_btt_layout(ns_size, 520, BttVersion::V1_1);
  ASSERT_TRUE(layout.has_value());
  const ArenaLayout& a = (*layout)[0];
  CheckOptions o;
  o.location.ns_offset = 0;
  o.location.ns_size = ns_size;
  ASSERT_GT(a.external_nlba, o.map_chunk_entries + 64);
  auto make = [&] { return fresh_btt_device(a, ns_size); };
  auto set_entry = [&](BlockDevice& dev, std::uint32_t premap, std::uint32_t block) {
    ByteVec e(4);
    put_le32(e, 0, block | kBttMapNormal);
    EXPECT_TRUE(dev.write_at(a.abs(a.mapoff) + 4ull * premap, e));
  };
  const std::uint32_t c = o.map_chunk_entries;
  const std::vector<std::pair<std::uint32_t, std::uint32_t>> swaps = {
      {15, 16}, {17, 31}, {32, 47}, {100, 200}, {c - 1, c}, {c + 15, c + 33}};
  {
    auto dev = make();
    for (auto [x, y] : swaps) {
      set_entry(*dev, x, y);
      set_entry(*dev, y, x);
    }
    auto r = check_image(dev, o);
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->clean()) << render_check_text(*r);
    const auto& m = r->namespaces[0].btt->arenas[0].map;
    EXPECT_EQ(m.normal, 2 * swaps.size());
    EXPECT_EQ(m.initial, a.external_nlba - 2 * swaps.size());
  }
  for (std::uint32_t victim : {std::uint32_t{5}, std::uint32_t{16}, std::uint32_t{31}, c - 3,
                               c + 20}) {
    // premap 40000 claims a block that an initial entry inside a long run also names.
    auto dev = make();
    set_entry(*dev, 40000, victim);
    auto r = check_image(dev, o);
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(has_code(*r, Problem::BTT_BLOCK_DUPLICATE)) << "block " << victim;
  }
}

TEST(RepairPlan, InfoFlipRestoredFromBackupThroughOverlayAndUndo) {
  auto src = open_golden("pmdk/blk4096-info-flip.pool.zst");
  ASSERT_TRUE(src);
  auto dev = memory_copy(*src);
  auto before = test::read_all(*dev);
  auto r = check_image(dev);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(has_code(*r, Problem::BTT_INFO_BAD_CHECKSUM));
  auto plan = plan_repairs(*r);
  ASSERT_TRUE(plan.has_value()) << plan.error().message();
  ASSERT_EQ(plan->plan.writes.size(), 1u);
  EXPECT_EQ(plan->plan.writes[0].offset, 8192u);
  auto predicted = predict_after(dev, plan->plan, {});
  ASSERT_TRUE(predicted.has_value());
  EXPECT_TRUE(predicted->clean()) << render_check_text(*predicted);
  EXPECT_EQ(test::read_all(*dev), before);  // predicting writes nothing
  test::TempDir tmp;
  ASSERT_TRUE(apply_plan(*dev, plan->plan, {tmp.file("undo"), "test"}));
  auto after = check_image(dev);
  ASSERT_TRUE(after.has_value());
  EXPECT_TRUE(after->clean());
  auto undo = load_undo(tmp.file("undo"));
  ASSERT_TRUE(undo.has_value());
  ASSERT_TRUE(apply_undo(*undo, *dev));
  EXPECT_EQ(test::read_all(*dev), before);
}

TEST(RepairPlan, FlogSeqZeroKeepsWhatTheMapSays) {
  // pmempool check calls this pool consistent; libpmemblk's open would pick the seq-2 entry
  // and "complete" a write that never happened, silently rolling LBA 1 back a generation.
  auto src = open_golden("pmdk/blk4096-flog-seq-zero.pool.zst");
  ASSERT_TRUE(src);
  auto dev = memory_copy(*src);
  auto r = check_image(dev);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(has_code(*r, Problem::BTT_LOG_BAD_SEQ));
  const auto& ar = r->namespaces[0].btt->arenas[0];
  ASSERT_EQ(ar.lane_fixes.size(), 1u);
  EXPECT_EQ(ar.lane_fixes[0].lane, 0u);
  EXPECT_EQ(ar.lane_fixes[0].entry.lba, 1u);
  EXPECT_EQ(ar.lane_fixes[0].entry.new_block(), 16105u);  // what map[1] holds: gen 4
  EXPECT_EQ(ar.lane_fixes[0].entry.old_block(), 15814u);
  auto plan = plan_repairs(*r);
  ASSERT_TRUE(plan.has_value());
  auto predicted = predict_after(dev, plan->plan, {});
  ASSERT_TRUE(predicted.has_value());
  EXPECT_TRUE(predicted->clean()) << render_check_text(*predicted);
}

TEST(RepairPlan, RefusesWritesIntoDataBlocks) {
  auto r = check_image(open_golden("kernel/a-sector4096-labels1.1.img.zst"));
  ASSERT_TRUE(r.has_value());
  auto& ar = r->namespaces[0].btt->arenas[0];
  LaneFix bogus;
  bogus.lane = 0;
  ar.lane_fixes.push_back(bogus);
  ar.info->logoff = 8192;  // pretend the log sat inside the data area
  auto plan = plan_repairs(*r);
  ASSERT_FALSE(plan.has_value());
  EXPECT_NE(plan.error().message().find("data blocks"), std::string::npos);
}

TEST(CheckRender, JsonAndTextCarryTheSameFindings) {
  auto r = check_image(open_golden("pmdk/blk4096-flog-seq-dup.pool.zst"));
  ASSERT_TRUE(r.has_value());
  const auto j = check_to_json(*r);
  const auto text = render_check_text(*r, {true});
  ASSERT_EQ(j["findings"].size(), r->all_findings().size());
  for (const auto& f : j["findings"])
    EXPECT_NE(text.find(f["code"].get<std::string>()), std::string::npos) << f.dump();
  EXPECT_FALSE(j["summary"]["clean"].get<bool>());
}

TEST(CheckRender, ProblemTableListsEveryRow) {
  const std::string md = render_problem_table_markdown();
  for (const auto& p : all_problems()) EXPECT_NE(md.find(p.name), std::string::npos) << p.name;
}

}  // namespace
}  // namespace ndtk
