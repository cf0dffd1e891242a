// Crash simulation: record every store/flush/drain of a sequence of writes and flag updates,
// cut the record at every point, lose what was not durable (all of it, none of it, or random
// 8-byte units), reopen with load-time recovery and check that each sector holds its old or its
// new contents entirely, completed operations survived, and every internal block is referenced
// exactly once.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "btt_datapath_helpers.h"
#include "ndtk/btt/recording_region.h"
#include "ndtk/format/btt_log.h"
#include "ndtk/format/btt_map.h"

namespace ndtk {
namespace {

using test::stamped_sector;

/// What a sector reads as.
struct SectorState {
  enum Kind { Data, Zero, Error } kind = Zero;
  ByteVec data;
  bool operator==(const SectorState&) const = default;
};

struct Step {
  enum Kind { Write, SetZero, SetError } kind = Write;
  std::uint32_t lba = 0;
};

struct Scenario {
  const char* name;
  BttFlavor flavor;
  std::uint32_t lbasize;
  bool old_padding;  // pre-4.15 kernel log layout (0,2)
  /// Every step on a fresh thread over 8 lanes: consecutive writes of one LBA land on
  /// different lanes, so a writer replaces a map entry whose update another lane has not
  /// drained yet.
  bool many_lanes = false;
};

void PrintTo(const Scenario& s, std::ostream* os) { *os << s.name; }

/// A freshly formatted namespace; with old_padding, lane 0 already holds one write made by a
/// pre-4.15 kernel (sub-slot 1 at slot 2), so the detection must pick (0,2).
ByteVec initial_image(const Scenario& sc, std::map<std::uint32_t, SectorState>& state) {
  ByteVec ns = test::formatted_btt(20ull << 20, sc.lbasize, sc.flavor);
  if (!sc.old_padding) return ns;
  auto region = test::memory_region(ns);
  BttOpenOptions o;
  o.flavor = sc.flavor;
  BttDevice probe = test::open_or_die(region, o);
  const BttInfo& info = probe.arenas()[0].info;
  const std::uint32_t ext = info.external_nlba;
  const std::uint64_t a0 = probe.arena0_offset();
  const ByteVec s = stamped_sector(sc.lbasize, 9, 7, 1);
  std::memcpy(ns.data() + a0 + info.dataoff + std::uint64_t{ext} * info.internal_lbasize, s.data(),
              s.size());
  const auto e = BttLogEntry{9, 9, ext, 2}.serialize();
  std::memcpy(ns.data() + a0 + info.logoff + 32, e.data(), e.size());
  put_le32(ns, a0 + info.mapoff + 4 * 9, ext | kBttMapNormal);
  state[9] = SectorState{SectorState::Data, s};
  return ns;
}

std::vector<Step> steps() {
  using K = Step::Kind;
  return {{K::Write, 0},    {K::Write, 1},    {K::Write, 0},   {K::Write, 2},   {K::SetZero, 1},
          {K::Write, 1},    {K::SetError, 2}, {K::Write, 2},   {K::Write, 3},   {K::Write, 0},
          {K::Write, 3},    {K::Write, 9},    {K::SetError, 5}, {K::Write, 40}, {K::SetZero, 40},
          {K::Write, 5},    {K::Write, 0},    {K::Write, 2},   {K::Write, 1},   {K::Write, 40},
          // Back-to-back writes of LBAs alone in their map cache line (with many lanes: on
          // lanes 4 then 1, 6 then 3, 0 then 5): nothing else flushes the first write's map
          // update before the second one commits.
          {K::Write, 200},  {K::Write, 200},  {K::Write, 300}, {K::Write, 300}, {K::Write, 400},
          {K::Write, 400},
          // Many lanes: 500 goes on lane 2, which is next used 8 steps later (by another
          // thread, for another LBA); nothing in between touches 500's map line.
          {K::Write, 500},  {K::Write, 600},  {K::Write, 700}, {K::Write, 800}, {K::Write, 900},
          {K::Write, 1000}, {K::Write, 1100}, {K::Write, 1200}, {K::Write, 1300}};
}

std::optional<SectorState> read_state(BttDevice& dev, std::uint32_t lba, std::string& err) {
  ByteVec s(dev.external_lbasize());
  auto r = dev.read(lba, s);
  if (!r) {
    if (r.error().code == Errc::kMediaError) return SectorState{SectorState::Error, {}};
    err = r.error().message();
    return std::nullopt;
  }
  if (all_zero(s)) return SectorState{SectorState::Zero, {}};
  return SectorState{SectorState::Data, s};
}

class BttCrash : public ::testing::TestWithParam<Scenario> {};

TEST_P(BttCrash, EveryCutPointRecoversToOldOrNewSectors) {
  const Scenario sc = GetParam();
  std::map<std::uint32_t, SectorState> state;  // LBAs absent: zeros (fresh BTT)
  const ByteVec initial = initial_image(sc, state);
  auto rec = RecordingRegion::create(initial);
  ASSERT_TRUE(rec);
  BttOpenOptions o;
  o.flavor = sc.flavor;
  o.writable = true;
  o.lanes = sc.many_lanes ? 8 : 1;

  // Record the sequence; remember where each operation starts and ends in the op log and the
  // expected contents after each.
  const std::vector<Step> plan = steps();
  std::vector<std::size_t> begin, end;
  std::vector<std::map<std::uint32_t, SectorState>> after;  // after[k] = state after k steps
  after.push_back(state);
  {
    BttDevice dev = test::open_or_die(*rec, o);
    if (sc.old_padding) {
      ASSERT_EQ(dev.arenas()[0].log_indices, kBttLogIndicesOld);
    }
    (*rec)->clear_ops();
    std::vector<Result<void>> results(plan.size());
    auto step = [&](std::size_t k) {
      const Step& st = plan[k];
      begin.push_back((*rec)->op_count());
      if (st.kind == Step::Write) {
        const ByteVec data = stamped_sector(sc.lbasize, st.lba, 1, static_cast<std::uint32_t>(k));
        // Many lanes: step k on lane 5k mod 8, so consecutive writes of one LBA meet on
        // different lanes, in both index orders (recovery walks lanes by index).
        results[k] = sc.many_lanes ? dev.write(st.lba, data, static_cast<unsigned>(5 * k % 8))
                                   : dev.write(st.lba, data);
        state[st.lba] = SectorState{SectorState::Data, data};
      } else if (st.kind == Step::SetZero) {
        results[k] = dev.set_zero(st.lba);
        state[st.lba] = SectorState{SectorState::Zero, {}};
      } else {
        results[k] = dev.set_error(st.lba);
        state[st.lba] = SectorState{SectorState::Error, {}};
      }
      end.push_back((*rec)->op_count());
      after.push_back(state);
    };
    if (sc.many_lanes) {
      // One live thread per step, passing a baton: the steps stay strictly sequential (so
      // the record has a meaningful program order) but come from distinct threads, whose
      // drains cover only their own flushes.
      std::atomic<std::size_t> turn{0};
      std::vector<std::thread> threads;
      for (std::size_t k = 0; k < plan.size(); ++k)
        threads.emplace_back([&, k] {
          while (turn.load(std::memory_order_acquire) != k) std::this_thread::yield();
          step(k);
          turn.store(k + 1, std::memory_order_release);
        });
      for (auto& t : threads) t.join();
    } else {
      for (std::size_t k = 0; k < plan.size(); ++k) step(k);
    }
    for (std::size_t k = 0; k < plan.size(); ++k)
      ASSERT_TRUE(results[k]) << "step " << k << ": " << results[k].error().message();
    if (sc.many_lanes) {
      // Lanes that wrote no longer hold their initial free block (external_nlba + lane).
      const std::uint32_t ext = dev.arenas()[0].info.external_nlba;
      const auto blocks = dev.free_blocks(0);
      unsigned used = 0;
      for (std::uint32_t l = 0; l < 8; ++l) used += blocks[l] != ext + l;
      ASSERT_GE(used, 2u) << "the scenario needs writes on several lanes";
    }
  }
  const std::size_t total = (*rec)->op_count();
  ASSERT_GT(total, plan.size() * 3);

  auto work = RecordingRegion::create(initial);
  ASSERT_TRUE(work);
  std::size_t opened = 0, recovered = 0;
  for (std::size_t cut = 0; cut <= total; ++cut) {
    std::size_t done = 0;
    while (done < plan.size() && end[done] <= cut) ++done;
    const bool in_flight = done < plan.size() && begin[done] < cut;
    for (int variant = 0; variant < 4; ++variant) {
      const CrashLoss loss = variant == 0   ? CrashLoss::DropUnfenced
                             : variant == 1 ? CrashLoss::KeepUnfenced
                                            : CrashLoss::RandomUnfenced;
      SCOPED_TRACE(::testing::Message() << "cut " << cut << "/" << total << " loss " << variant
                                        << " (" << done << " steps done"
                                        << (in_flight ? ", one in flight)" : ")"));
      ASSERT_TRUE((*work)->restore(initial));
      (*rec)->apply_crash(cut, loss, cut * 7919 + variant, **work);
      auto dev = BttDevice::open(*work, o);
      ASSERT_TRUE(dev) << dev.error().message();
      ++opened;
      recovered += dev->arenas()[0].recovered_map_entries;
      for (std::uint32_t lba : {0u, 1u, 2u, 3u, 5u, 9u, 40u, 41u, 200u, 300u, 400u, 500u, 1300u}) {
        std::string err;
        auto got = read_state(*dev, lba, err);
        ASSERT_TRUE(got) << "lba " << lba << ": " << err;
        auto expect = [&](std::size_t k) {
          auto it = after[k].find(lba);
          return it == after[k].end() ? SectorState{} : it->second;
        };
        const bool ok = *got == expect(done) || (in_flight && *got == expect(done + 1));
        ASSERT_TRUE(ok) << "lba " << lba << " holds neither its old nor its new contents (kind "
                        << got->kind << ")";
      }
      auto refs = dev->verify_block_references();
      ASSERT_TRUE(refs) << refs.error().message();
      // The recovered free list is usable: a new write lands, reads back, keeps the invariant
      // (checked for one loss variant per cut: the scan is the slow part).
      if (variant != 0) continue;
      const ByteVec probe = stamped_sector(sc.lbasize, 100, 2, static_cast<std::uint32_t>(cut));
      ASSERT_TRUE(dev->write(100, probe));
      ByteVec back(sc.lbasize);
      ASSERT_TRUE(dev->read(100, back));
      ASSERT_EQ(back, probe);
      refs = dev->verify_block_references();
      ASSERT_TRUE(refs) << "after a post-recovery write: " << refs.error().message();
    }
  }
  EXPECT_EQ(opened, (total + 1) * 4);
  EXPECT_GT(recovered, 0u) << "no cut needed a map recovery: the scenario does not test it";
}

TEST_P(BttCrash, RecoveryItselfIsCrashSafe) {
  // Cut each write right after its log commit (map update lost), then cut the recovery's own
  // stores at every point: the write must survive whichever of them reached the media.
  const Scenario sc = GetParam();
  std::map<std::uint32_t, SectorState> state;
  const ByteVec initial = initial_image(sc, state);
  BttOpenOptions o;
  o.flavor = sc.flavor;
  o.writable = true;
  o.lanes = 1;
  for (std::uint32_t round = 0; round < 3; ++round) {
    auto rec = RecordingRegion::create(initial);
    ASSERT_TRUE(rec);
    const std::uint32_t lba = round == 0 ? 4 : round == 1 ? 9 : 4;
    const ByteVec data = stamped_sector(sc.lbasize, lba, 3, round);
    {
      BttDevice dev = test::open_or_die(*rec, o);
      if (round == 2) {
        ASSERT_TRUE(dev.set_error(lba));  // overwrite an E entry
      }
      (*rec)->clear_ops();
      ASSERT_TRUE(dev.write(lba, data));
    }
    const auto ops = (*rec)->ops();
    // The commit point: the drain right after the log entry's seq half, i.e. the last
    // drain before the 4-byte map store.
    std::size_t commit = 0;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      if (ops[i].kind == PersistOpKind::Store && ops[i].len == 4) break;
      if (ops[i].kind == PersistOpKind::Drain) commit = i + 1;
    }
    ASSERT_GT(commit, 0u);
    // Rebuild the image as it was before the write, crash it at the commit point.
    auto crashed_region = RecordingRegion::create(initial);
    ASSERT_TRUE(crashed_region);
    if (round == 2) {
      BttDevice dev = test::open_or_die(*crashed_region, o);
      ASSERT_TRUE(dev.set_error(lba));
    }
    (*crashed_region)->clear_ops();
    (*rec)->apply_crash(commit, CrashLoss::DropUnfenced, 0, **crashed_region);
    const ByteVec crashed((*crashed_region)->data(), (*crashed_region)->data() + initial.size());

    auto rec2 = RecordingRegion::create(crashed);
    ASSERT_TRUE(rec2);
    {
      BttDevice dev = test::open_or_die(*rec2, o);
      ASSERT_EQ(dev.arenas()[0].recovered_map_entries, 1u);
    }
    const std::size_t total = (*rec2)->op_count();
    ASSERT_GT(total, 0u);
    auto work = RecordingRegion::create(crashed);
    ASSERT_TRUE(work);
    for (std::size_t cut = 0; cut <= total; ++cut)
      for (CrashLoss loss : {CrashLoss::DropUnfenced, CrashLoss::KeepUnfenced}) {
        SCOPED_TRACE(::testing::Message() << "round " << round << " recovery cut " << cut);
        ASSERT_TRUE((*work)->restore(crashed));
        (*rec2)->apply_crash(cut, loss, 0, **work);
        BttDevice dev = test::open_or_die(*work, o);
        ByteVec got(sc.lbasize);
        ASSERT_TRUE(dev.read(lba, got));
        ASSERT_EQ(got, data);
        ASSERT_TRUE(dev.verify_block_references()) << dev.verify_block_references().error().message();
      }
  }
}

INSTANTIATE_TEST_SUITE_P(BttCrash, BttCrash,
                         ::testing::Values(Scenario{"kernel4096", BttFlavor::Kernel, 4096, false},
                                           Scenario{"kernel520", BttFlavor::Kernel, 520, false},
                                           Scenario{"kernelOldPadding", BttFlavor::Kernel, 4096, true},
                                           Scenario{"pmdk4096", BttFlavor::Pmdk, 4096, false},
                                           Scenario{"kernelManyLanes", BttFlavor::Kernel, 4096, false, true},
                                           Scenario{"pmdkManyLanes", BttFlavor::Pmdk, 512, false, true}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(BttCrashRecorder, DurabilityRulesOfTheModel) {
  // copy: durable after a drain; store: durable after flush of its line + drain.
  const ByteVec zeros(4096, 0);
  auto rec = RecordingRegion::create(zeros);
  ASSERT_TRUE(rec);
  RecordingRegion& r = **rec;
  const std::uint8_t a[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  r.copy(0, a, 16);           // op 0
  ASSERT_TRUE(r.drain());     // op 1
  r.store64(128, 0x2222);     // op 2
  r.flush(64, 8);             // op 3: wrong line
  ASSERT_TRUE(r.drain());     // op 4
  r.store64(192, 0x3333);     // op 5
  r.flush(192, 8);            // op 6
  ASSERT_TRUE(r.drain());     // op 7
  r.copy(256, a, 16);         // op 8 (never drained)
  auto target = RecordingRegion::create(zeros);
  ASSERT_TRUE(target);
  auto image = [&](std::size_t cut, CrashLoss loss) {
    EXPECT_TRUE((*target)->restore(zeros));
    r.apply_crash(cut, loss, 1, **target);
    return ByteVec((*target)->data(), (*target)->data() + 4096);
  };
  ByteVec img = image(1, CrashLoss::DropUnfenced);
  EXPECT_TRUE(all_zero(img)) << "copy without its drain is not durable";
  img = image(2, CrashLoss::DropUnfenced);
  EXPECT_EQ(img[0], 1);
  img = image(8, CrashLoss::DropUnfenced);
  EXPECT_EQ(le64(img, 128), 0u) << "a store flushed on another line is not durable";
  EXPECT_EQ(le64(img, 192), 0x3333u);
  img = image(8, CrashLoss::KeepUnfenced);
  EXPECT_EQ(le64(img, 128), 0x2222u);
  img = image(9, CrashLoss::DropUnfenced);
  EXPECT_EQ(img[256], 0);
  img = image(9, CrashLoss::KeepUnfenced);
  EXPECT_EQ(img[256], 1);
  // Random loss tears at 8-byte units only.
  for (std::uint64_t seed = 0; seed < 16; ++seed) {
    EXPECT_TRUE((*target)->restore(zeros));
    r.apply_crash(9, CrashLoss::RandomUnfenced, seed, **target);
    const std::uint8_t* p = (*target)->data() + 256;
    EXPECT_EQ(p[0], p[7]);
    EXPECT_EQ(p[8], p[15]);
  }
  EXPECT_EQ(r.op_count(), 9u);
  EXPECT_EQ(r.payload(r.ops()[2]).size(), 8u);
}

TEST(BttCrashRecorder, DrainsAreDrainsOfTheirOwnThread) {
  // sfence orders only its own core's copies and flushes: thread B's drain does not make
  // thread A's copy or flushed store durable, but B flushing the line again and draining does.
  const ByteVec zeros(4096, 0);
  auto rec = RecordingRegion::create(zeros);
  auto target = RecordingRegion::create(zeros);
  ASSERT_TRUE(rec && target);
  RecordingRegion& r = **rec;
  const std::uint8_t a[8] = {7, 7, 7, 7, 7, 7, 7, 7};
  std::thread([&] {
    r.copy(0, a, 8);
    r.store32(512, 0xAB);
    r.flush(512, 4);
  }).join();
  ASSERT_TRUE(r.drain());  // main thread
  const std::size_t after_foreign_drain = r.op_count();
  r.flush_again(512, 4);
  ASSERT_TRUE(r.drain());
  auto image = [&](std::size_t cut) {
    EXPECT_TRUE((*target)->restore(zeros));
    r.apply_crash(cut, CrashLoss::DropUnfenced, 0, **target);
    return ByteVec((*target)->data(), (*target)->data() + 4096);
  };
  ByteVec img = image(after_foreign_drain);
  EXPECT_EQ(img[0], 0) << "another thread's drain does not cover this thread's copy";
  EXPECT_EQ(le32(img, 512), 0u) << "nor its flush";
  img = image(r.op_count());
  EXPECT_EQ(le32(img, 512), 0xABu) << "flushing the line again and draining does";
  EXPECT_EQ(img[0], 0);
  ASSERT_TRUE(r.sync());
  img = image(r.op_count());
  EXPECT_EQ(img[0], 0) << "nor does a sync() of another thread (pmem has no msync)";
  const auto ops = r.ops();
  EXPECT_EQ(ops[0].thread, 0u);
  EXPECT_EQ(ops[3].thread, 1u);
}

}  // namespace
}  // namespace ndtk
