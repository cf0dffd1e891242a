// BttDevice writes: a reference model over random writes, reopen, every kernel lbasize
// (integrity bytes included), multi-arena, both log padding schemes, error/zero flags, the
// arena ERROR flag, lazy PMDK layout, and the on-media form of what each flavour writes.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>

#include "btt_datapath_helpers.h"
#include "ndtk/base/fletcher.h"
#include "ndtk/btt/btt_image.h"
#include "ndtk/btt/btt_layout_writer.h"
#include "ndtk/btt/recording_region.h"
#include "ndtk/format/btt_log.h"
#include "ndtk/format/btt_map.h"
#include "ndtk/geometry/btt_geometry.h"
#include "sha256.h"
#include "test_helpers.h"

namespace ndtk {
namespace {

using test::stamped_sector;

BttOpenOptions writable_opts(BttFlavor f = BttFlavor::Kernel) {
  BttOpenOptions o;
  o.flavor = f;
  o.writable = true;
  return o;
}

/// Random writes against a reference model; unwritten sectors keep what they read before.
void random_writes_with_model(BttDevice& dev, std::uint64_t span, int n, std::uint32_t seed,
                              std::map<std::uint64_t, ByteVec>& model) {
  std::mt19937 rng(seed);
  const std::uint32_t ls = dev.external_lbasize();
  for (int i = 0; i < n; ++i) {
    const std::uint64_t lba = rng() % span;
    const std::uint32_t count = 1 + rng() % 3;
    if (lba + count > dev.sector_count()) continue;
    ByteVec buf;
    for (std::uint32_t k = 0; k < count; ++k) {
      ByteVec s = stamped_sector(ls, lba + k, 1, static_cast<std::uint32_t>(i));
      model[lba + k] = s;
      buf.insert(buf.end(), s.begin(), s.end());
    }
    auto r = dev.write(lba, buf);
    ASSERT_TRUE(r) << r.error().message();
  }
}

void expect_model(BttDevice& dev, const std::map<std::uint64_t, ByteVec>& model) {
  ByteVec got(dev.external_lbasize());
  for (const auto& [lba, want] : model) {
    auto r = dev.read(lba, got);
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(got, want) << "lba " << lba;
  }
}

TEST(BttDeviceWrite, RandomWritesMatchAModelAndSurviveReopen) {
  PmemMapping copy = test::golden_copy("kernel/f-two-namespaces-labels1.2.img.zst");
  auto region = make_mapped_region(std::move(copy));
  BttOpenOptions o = writable_opts();
  o.namespace_size = 64ull << 20;
  // What every sector reads before we touch anything.
  std::map<std::uint64_t, ByteVec> before;
  {
    auto ro = BttDevice::open(region, [&] { auto x = o; x.writable = false; return x; }());
    ASSERT_TRUE(ro) << ro.error().message();
    ByteVec s(4096);
    for (std::uint64_t lba = 0; lba < 300; ++lba) {
      ASSERT_TRUE(ro->read(lba, s));
      before[lba] = s;
    }
  }
  std::map<std::uint64_t, ByteVec> model;
  {
    auto dev = BttDevice::open(region, o);
    ASSERT_TRUE(dev) << dev.error().message();
    EXPECT_TRUE(dev->writable());
    random_writes_with_model(*dev, 300, 1500, 7, model);
    expect_model(*dev, model);
    EXPECT_TRUE(dev->verify_block_references()) << dev->verify_block_references().error().message();
    ASSERT_TRUE(dev->flush());
  }
  auto dev = BttDevice::open(region, o);
  ASSERT_TRUE(dev) << dev.error().message();
  EXPECT_EQ(dev->arenas()[0].recovered_map_entries, 0u);
  expect_model(*dev, model);
  ByteVec s(4096);
  for (const auto& [lba, old] : before) {
    if (model.count(lba)) continue;
    ASSERT_TRUE(dev->read(lba, s));
    EXPECT_EQ(s, old) << "unwritten lba " << lba << " changed";
  }
  EXPECT_TRUE(dev->verify_block_references()) << dev->verify_block_references().error().message();
}

TEST(BttDeviceWrite, FileMappingThroughLibpmemPersistsAcrossReopen) {
  test::TempDir tmp;
  const std::string path = tmp.file("a.img");
  test::decompress_to_file("kernel/a-sector4096-labels1.1.img.zst", path);
  BttImageOptions o;
  o.offset = 0;
  o.size = 256ull << 20;
  o.writable = true;
  std::map<std::uint64_t, ByteVec> model;
  for (Durability d : {Durability::kStrict, Durability::kDeferred}) {
    o.durability = d;
    auto img = open_btt_image(path, o);
    ASSERT_TRUE(img) << img.error().message();
    random_writes_with_model(img->device, 65208, d == Durability::kStrict ? 12 : 60,
                             d == Durability::kStrict ? 1 : 2, model);
    ASSERT_TRUE(img->device.flush());
  }
  BttImageOptions ro = o;
  ro.writable = false;
  auto img = open_btt_image(path, ro);
  ASSERT_TRUE(img) << img.error().message();
  expect_model(img->device, model);
  // The kernel's readback of sectors we did not write is unchanged.
  const auto manifest = test::load_manifest("kernel/a-sector4096-labels1.1.json");
  ByteVec s(4096);
  for (const auto& rb : manifest.at("readback")) {
    const auto lba = rb.at("lba").get<std::uint64_t>();
    if (model.count(lba)) continue;
    ASSERT_TRUE(img->device.read(lba, s));
    EXPECT_EQ(test::sha256_hex(s), rb.at("readback_sha256").get<std::string>());
  }
}

TEST(BttDeviceWrite, EveryKernelSectorSizeKeepsItsIntegrityBytes) {
  for (std::uint32_t ls : kBttKernelLbaSizes) {
    SCOPED_TRACE(ls);
    const ByteVec ns = test::formatted_btt(20ull << 20, ls, BttFlavor::Kernel, BttVersion::V2_0);
    auto region = test::memory_region(ns);
    BttDevice dev = test::open_or_die(region, writable_opts());
    EXPECT_EQ(dev.external_lbasize(), ls);
    EXPECT_EQ(dev.sector_size(), ls >= 4096 ? 4096u : 512u);
    EXPECT_EQ(dev.integrity_size(), ls - dev.sector_size());
    EXPECT_EQ(dev.arenas()[0].info.internal_lbasize, align_up(ls, 64));
    std::map<std::uint64_t, ByteVec> model;
    random_writes_with_model(dev, 64, 200, ls, model);
    // The last byte of the integrity area is data like any other.
    ByteVec tail = stamped_sector(ls, 9, 2, 99);
    tail.back() ^= 0xFF;
    ASSERT_TRUE(dev.write(9, tail));
    model[9] = tail;
    expect_model(dev, model);
    BttDevice again = test::open_or_die(region, writable_opts());
    expect_model(again, model);
    EXPECT_TRUE(again.verify_block_references());
  }
}

TEST(BttDeviceWrite, WritesAndReadsSpanArenas) {
  // Two hand-made 16 MiB arenas (real arenas are 512 GiB) chained through nextoff.
  BttGeometryParams p;
  p.external_lbasize = 512;
  p.flavor = BttFlavor::Kernel;
  std::vector<ArenaLayout> arenas;
  std::uint64_t first = 0;
  for (std::uint32_t i = 0; i < 2; ++i) {
    auto a = compute_arena_layout(16ull << 20, p);
    ASSERT_TRUE(a) << a.error().message();
    a->index = i;
    a->offset = i * (16ull << 20);
    a->nextoff = i == 0 ? (16ull << 20) : 0;
    a->first_external_lba = first;
    first += a->external_nlba;
    arenas.push_back(*a);
  }
  ByteVec zeros(32ull << 20, 0);
  auto region = test::memory_region(zeros);
  ASSERT_TRUE(write_btt_layout(*region, 0, arenas, Uuid::random(), Uuid{}, BttVersion::V2_0,
                               BttFlavor::Kernel));
  BttDevice dev = test::open_or_die(region, writable_opts());
  ASSERT_EQ(dev.arenas().size(), 2u);
  EXPECT_EQ(dev.sector_count(), first);
  EXPECT_EQ(dev.arenas()[1].first_lba, arenas[0].external_nlba);
  EXPECT_EQ(dev.arenas()[1].offset, 16ull << 20);
  // A multi-sector write straddling the boundary.
  const std::uint64_t boundary = arenas[0].external_nlba;
  ByteVec buf;
  std::map<std::uint64_t, ByteVec> model;
  for (std::uint64_t lba = boundary - 2; lba < boundary + 2; ++lba) {
    ByteVec s = stamped_sector(512, lba, 3, 1);
    model[lba] = s;
    buf.insert(buf.end(), s.begin(), s.end());
  }
  ASSERT_TRUE(dev.write(boundary - 2, buf));
  ByteVec got(buf.size());
  ASSERT_TRUE(dev.read(boundary - 2, got));
  EXPECT_EQ(got, buf);
  auto s = dev.sector_info(boundary);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->arena, 1u);
  EXPECT_EQ(s->premap, 0u);
  random_writes_with_model(dev, dev.sector_count(), 300, 11, model);
  BttDevice again = test::open_or_die(region, writable_opts());
  expect_model(again, model);
  EXPECT_TRUE(again.verify_block_references()) << again.verify_block_references().error().message();
  // A broken second arena makes the whole BTT unusable, as in the kernel.
  region->data()[(16ull << 20) + 100] ^= 1;
  auto bad = BttDevice::open(region, writable_opts());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kCorrupt);
  EXPECT_NE(bad.error().message().find("corrupted metadata"), std::string::npos)
      << bad.error().message();
}

/// The log slots of lane `lane` in arena 0 of a namespace at region offset 0.
BttLogGroup log_group(const PersistRegion& r, const BttDevice& dev, std::uint32_t lane) {
  const auto& info = dev.arenas()[0].info;
  const std::uint64_t off = dev.arena0_offset() + info.logoff + std::uint64_t{lane} * kBttLogGroupSize;
  return *BttLogGroup::decode(r.bytes().subspan(off, kBttLogGroupSize));
}

std::uint32_t map_raw(const PersistRegion& r, const BttDevice& dev, std::uint32_t premap) {
  const auto& info = dev.arenas()[0].info;
  return le32(r.bytes(), dev.arena0_offset() + info.mapoff + 4ull * premap);
}

TEST(BttDeviceWrite, KernelLogEntriesHoldPlainBlocksAndAlternateSubSlots) {
  const ByteVec ns = test::formatted_btt(20ull << 20, 4096, BttFlavor::Kernel);
  auto region = test::memory_region(ns);
  BttOpenOptions o = writable_opts();
  o.lanes = 1;
  BttDevice dev = test::open_or_die(region, o);
  EXPECT_EQ(dev.lanes(), 1u);
  const std::uint32_t ext = dev.arenas()[0].info.external_nlba;
  ASSERT_TRUE(dev.write(5, stamped_sector(4096, 5, 0, 1)));
  BttLogGroup g = log_group(*region, dev, 0);
  // First write: sub-slot 1 (slot 1), seq 2, old = identity block 5, new = the lane's block.
  EXPECT_EQ(g.slots[1], (BttLogEntry{5, 5, ext, 2}));
  EXPECT_EQ(map_raw(*region, dev, 5), ext | kBttMapNormal);
  ASSERT_TRUE(dev.write(6, stamped_sector(4096, 6, 0, 2)));
  g = log_group(*region, dev, 0);
  EXPECT_EQ(g.slots[0], (BttLogEntry{6, 6, 5, 3}));
  ASSERT_TRUE(dev.write(5, stamped_sector(4096, 5, 0, 3)));
  g = log_group(*region, dev, 0);
  EXPECT_EQ(g.slots[1], (BttLogEntry{5, ext, 6, 1}));  // seq wraps 3 -> 1
  EXPECT_TRUE(g.slots[2].is_padding());
  EXPECT_TRUE(g.slots[3].is_padding());
  EXPECT_EQ(dev.free_blocks(0)[0], ext);
  EXPECT_TRUE(dev.verify_block_references());
}

TEST(BttDeviceWrite, PmdkLogEntriesHoldFullMapEntries) {
  const ByteVec ns = test::formatted_btt(20ull << 20, 4096, BttFlavor::Pmdk);
  auto region = test::memory_region(ns);
  BttOpenOptions o = writable_opts(BttFlavor::Pmdk);
  o.lanes = 1;
  BttDevice dev = test::open_or_die(region, o);
  const std::uint32_t ext = dev.arenas()[0].info.external_nlba;
  // Initial PMDK lane 0: {0, ext|Z, ext|Z, 1}; unwritten sectors read zeros.
  ByteVec got(4096);
  ASSERT_TRUE(dev.read(5, got));
  EXPECT_TRUE(all_zero(got));
  ASSERT_TRUE(dev.write(5, stamped_sector(4096, 5, 0, 1)));
  BttLogGroup g = log_group(*region, dev, 0);
  EXPECT_EQ(g.slots[1], (BttLogEntry{5, 5 | kBttMapNormal, ext | kBttMapNormal, 2}));
  ASSERT_TRUE(dev.set_zero(5));
  EXPECT_EQ(map_raw(*region, dev, 5), ext | kBttMapZeroFlag);
  ASSERT_TRUE(dev.write(5, stamped_sector(4096, 5, 0, 2)));
  g = log_group(*region, dev, 0);
  EXPECT_EQ(g.slots[0], (BttLogEntry{5, ext | kBttMapZeroFlag, 5 | kBttMapNormal, 3}));
  // set_zero on an initial entry is a no-op (libpmemblk), set_error keeps the identity block.
  ASSERT_TRUE(dev.set_zero(40));
  EXPECT_EQ(map_raw(*region, dev, 40), 0u);
  ASSERT_TRUE(dev.set_error(41));
  EXPECT_EQ(map_raw(*region, dev, 41), 41 | kBttMapErrorFlag);
  EXPECT_EQ(dev.read(41, got).error().code, Errc::kMediaError);
  EXPECT_TRUE(dev.verify_block_references());
}

TEST(BttDeviceWrite, ZeroAndErrorFlagsAndOverwritingThem) {
  for (BttFlavor f : {BttFlavor::Kernel, BttFlavor::Pmdk}) {
    SCOPED_TRACE(btt_flavor_name(f));
    const ByteVec ns = test::formatted_btt(20ull << 20, 512, f);
    auto region = test::memory_region(ns);
    BttDevice dev = test::open_or_die(region, writable_opts(f));
    const ByteVec a = stamped_sector(512, 3, 0, 1);
    ASSERT_TRUE(dev.write(3, a));
    ASSERT_TRUE(dev.set_zero(3));
    ByteVec got(512);
    ASSERT_TRUE(dev.read(3, got));
    EXPECT_TRUE(all_zero(got));
    ASSERT_TRUE(dev.set_error(3));
    auto r = dev.read(3, got);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kMediaError);
    EXPECT_NE(r.error().message().find("lba 3: media error (map entry flagged E)"), std::string::npos);
    // Reopen: the flags are on media.
    BttDevice again = test::open_or_die(region, writable_opts(f));
    EXPECT_EQ(again.read(3, got).error().code, Errc::kMediaError);
    EXPECT_EQ(again.sector_info(3)->state, BttMapState::Error);
    // A write maps the LBA to a fresh block and clears the error.
    const ByteVec b = stamped_sector(512, 3, 0, 2);
    ASSERT_TRUE(again.write(3, b));
    ASSERT_TRUE(again.read(3, got));
    EXPECT_EQ(got, b);
    EXPECT_TRUE(again.verify_block_references()) << again.verify_block_references().error().message();
  }
}

TEST(BttDeviceWrite, KernelErrorBlockIsZeroedBeforeReuse) {
  // Kernel: writing over an E entry logs old_map|E; the lane's next free block is that block
  // and is overwritten with zeros (poison clearing) before it takes data.
  const ByteVec ns = test::formatted_btt(20ull << 20, 4096, BttFlavor::Kernel);
  auto rec = RecordingRegion::create(ns);
  ASSERT_TRUE(rec);
  BttOpenOptions o = writable_opts();
  o.lanes = 1;
  BttDevice dev = test::open_or_die(*rec, o);
  ASSERT_TRUE(dev.write(7, stamped_sector(4096, 7, 0, 1)));
  ASSERT_TRUE(dev.set_error(7));
  const std::uint32_t bad_block = dev.sector_info(7)->postmap;
  ASSERT_TRUE(dev.write(7, stamped_sector(4096, 7, 0, 2)));
  const BttLogGroup g = log_group(**rec, dev, 0);
  const BttLogEntry& cur = g.slots[0].seq == 3 ? g.slots[0] : g.slots[1];
  EXPECT_EQ(cur.old_map, bad_block | kBttMapErrorFlag);
  EXPECT_EQ(dev.free_blocks(0)[0], bad_block);
  // Reopen (writable) scrubs the block at load, as btt_freelist_init does.
  std::memset((*rec)->data() + dev.arenas()[0].offset + dev.arenas()[0].info.dataoff +
                  std::uint64_t{bad_block} * 4096,
              0xEE, 4096);
  {
    BttDevice re = test::open_or_die(*rec, o);
    EXPECT_EQ(re.arenas()[0].lanes_with_error, 1u);
    const std::uint8_t* blk = (*rec)->data() + re.arenas()[0].offset +
                              re.arenas()[0].info.dataoff + std::uint64_t{bad_block} * 4096;
    EXPECT_TRUE(all_zero(Bytes(blk, 4096)));
  }
  // Without a reopen, the next write zeroes it first, then writes the data into it.
  (*rec)->clear_ops();
  ASSERT_TRUE(dev.write(8, stamped_sector(4096, 8, 0, 1)));
  const auto ops = (*rec)->ops();
  const std::uint64_t blk_off = dev.arenas()[0].offset + dev.arenas()[0].info.dataoff +
                                std::uint64_t{bad_block} * 4096;
  ASSERT_GE(ops.size(), 3u);
  EXPECT_EQ(ops[0].kind, PersistOpKind::Copy);
  EXPECT_EQ(ops[0].off, blk_off);
  EXPECT_TRUE(all_zero((*rec)->payload(ops[0])));
  EXPECT_EQ(ops[1].kind, PersistOpKind::Drain);
  EXPECT_EQ(ops[2].kind, PersistOpKind::Copy);
  EXPECT_EQ(ops[2].off, blk_off);
  EXPECT_EQ(dev.sector_info(8)->postmap, bad_block);
}

TEST(BttDeviceWrite, OldPaddingSchemeIsDetectedAndKept) {
  // A pre-4.15 kernel wrote sub-slot 1 at slot 2. Build that state: lane 0 wrote LBA 5 once.
  ByteVec ns = test::formatted_btt(20ull << 20, 4096, BttFlavor::Kernel);
  auto region = test::memory_region(ns);
  BttOpenOptions o = writable_opts();
  o.lanes = 1;
  std::uint32_t ext = 0;
  std::uint64_t log0 = 0, map5 = 0;
  {
    BttDevice probe = test::open_or_die(region, o);
    const auto& info = probe.arenas()[0].info;
    ext = info.external_nlba;
    log0 = probe.arena0_offset() + info.logoff;
    map5 = probe.arena0_offset() + info.mapoff + 20;
    const std::uint64_t data = probe.arena0_offset() + info.dataoff + std::uint64_t{ext} * 4096;
    const ByteVec s = stamped_sector(4096, 5, 9, 1);
    std::memcpy(region->data() + data, s.data(), s.size());
  }
  const BttLogEntry old_write{5, 5, ext, 2};
  const auto bytes = old_write.serialize();
  std::memcpy(region->data() + log0 + 32, bytes.data(), bytes.size());
  put_le32(MutBytes(region->data(), region->size()), map5, ext | kBttMapNormal);

  BttDevice dev = test::open_or_die(region, o);
  EXPECT_EQ(dev.arenas()[0].log_indices, kBttLogIndicesOld);
  ByteVec got(4096);
  ASSERT_TRUE(dev.read(5, got));
  EXPECT_EQ(got, stamped_sector(4096, 5, 9, 1));
  EXPECT_EQ(dev.free_blocks(0)[0], 5u);
  ASSERT_TRUE(dev.write(6, stamped_sector(4096, 6, 0, 1)));
  const BttLogGroup g = log_group(*region, dev, 0);
  EXPECT_EQ(g.slots[0], (BttLogEntry{6, 6, 5, 3}));  // sub-slot 0 = slot 0, seq after 2
  EXPECT_EQ(g.slots[2], old_write);
  EXPECT_TRUE(g.slots[1].is_padding());
  EXPECT_TRUE(g.slots[3].is_padding());
  BttDevice again = test::open_or_die(region, o);
  EXPECT_EQ(again.arenas()[0].log_indices, kBttLogIndicesOld);
  ASSERT_TRUE(again.read(6, got));
  EXPECT_EQ(got, stamped_sector(4096, 6, 0, 1));
  EXPECT_TRUE(again.verify_block_references()) << again.verify_block_references().error().message();
}

TEST(BttDeviceWrite, ArenaErrorFlagRefusesWritesButNotReads) {
  ByteVec ns = test::formatted_btt(20ull << 20, 4096, BttFlavor::Kernel);
  auto region = test::memory_region(ns);
  {
    BttDevice dev = test::open_or_die(region, writable_opts());
    ASSERT_TRUE(dev.write(1, stamped_sector(4096, 1, 0, 1)));
  }
  auto info = BttInfo::decode(Bytes(region->data() + 4096, kBttInfoSize));
  ASSERT_TRUE(info);
  info->flags |= kBttInfoFlagError;
  const ByteVec blk = info->with_checksum().serialize();
  std::memcpy(region->data() + 4096, blk.data(), blk.size());
  BttDevice dev = test::open_or_die(region, writable_opts());
  EXPECT_NE(dev.arenas()[0].write_refused.find("ERROR"), std::string::npos);
  ByteVec got(4096);
  ASSERT_TRUE(dev.read(1, got));
  EXPECT_EQ(got, stamped_sector(4096, 1, 0, 1));
  auto w = dev.write(1, got);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, Errc::kCorrupt);
  EXPECT_EQ(dev.set_error(2).error().code, Errc::kCorrupt);
}

TEST(BttDeviceWrite, LostMapUpdateIsCompletedAtOpen) {
  for (BttFlavor f : {BttFlavor::Kernel, BttFlavor::Pmdk}) {
    SCOPED_TRACE(btt_flavor_name(f));
    const ByteVec ns = test::formatted_btt(20ull << 20, 4096, f);
    auto rec = RecordingRegion::create(ns);
    ASSERT_TRUE(rec);
    BttOpenOptions o = writable_opts(f);
    o.lanes = 1;
    {
      BttDevice dev = test::open_or_die(*rec, o);
      (*rec)->clear_ops();
      ASSERT_TRUE(dev.write(4, stamped_sector(4096, 4, 0, 1)));
    }
    // Cut right after the log commit (the drain following the seq half), drop the rest.
    const auto ops = (*rec)->ops();
    // The commit point: the drain right after the log entry's seq half, i.e. the last
    // drain before the 4-byte map store.
    std::size_t cut = 0;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      if (ops[i].kind == PersistOpKind::Store && ops[i].len == 4) break;
      if (ops[i].kind == PersistOpKind::Drain) cut = i + 1;
    }
    ASSERT_GT(cut, 0u);
    auto work = RecordingRegion::create(ns);
    ASSERT_TRUE(work);
    (*rec)->apply_crash(cut, CrashLoss::DropUnfenced, 0, **work);
    // Read-only: the recovered mapping is used, nothing is written.
    const std::uint64_t sum = fletcher64((*work)->bytes());
    BttOpenOptions ro = o;
    ro.writable = false;
    BttDevice rdev = test::open_or_die(*work, ro);
    EXPECT_EQ(rdev.arenas()[0].recovered_map_entries, 1u);
    ByteVec got(4096);
    ASSERT_TRUE(rdev.read(4, got));
    EXPECT_EQ(got, stamped_sector(4096, 4, 0, 1));
    EXPECT_EQ(rdev.sector_info(4)->state, BttMapState::Normal);
    EXPECT_EQ(fletcher64((*work)->bytes()), sum);
    // Writable: the map entry is written; a second open has nothing left to do.
    { BttDevice wdev = test::open_or_die(*work, o); EXPECT_EQ(wdev.arenas()[0].recovered_map_entries, 1u); }
    BttDevice again = test::open_or_die(*work, o);
    EXPECT_EQ(again.arenas()[0].recovered_map_entries, 0u);
    ASSERT_TRUE(again.read(4, got));
    EXPECT_EQ(got, stamped_sector(4096, 4, 0, 1));
    EXPECT_TRUE(again.verify_block_references());
  }
}

TEST(BttDeviceWrite, UnformattedPmdkPoolIsLaidOutByTheFirstWrite) {
  PmemMapping copy = test::golden_copy("pmdk/blk4096-nolayout.pool.zst");
  auto region = make_mapped_region(std::move(copy));
  BttOpenOptions o = writable_opts(BttFlavor::Pmdk);
  o.namespace_offset = 8192;
  o.expected_lbasize = 4096;
  o.allow_unformatted = true;
  o.pool_is_zeroed = true;
  o.parent_uuid = Uuid::from_bytes(Bytes(region->data() + 24, 16));
  BttDevice dev = test::open_or_die(region, o);
  EXPECT_FALSE(dev.formatted());
  EXPECT_EQ(dev.sector_count(), 16103u);
  ASSERT_TRUE(dev.set_zero(3));  // a no-op before the layout exists (libpmemblk)
  EXPECT_FALSE(dev.formatted());
  ASSERT_TRUE(dev.write(10, stamped_sector(4096, 10, 0, 1)));
  EXPECT_TRUE(dev.formatted());
  ASSERT_EQ(dev.arenas().size(), 1u);
  // libpmemblk's numbers for this pool (blk4096 manifest layout).
  const BttInfo& info = dev.arenas()[0].info;
  EXPECT_EQ(info.external_nlba, 16103u);
  EXPECT_EQ(info.internal_nlba, 16359u);
  EXPECT_EQ(info.mapoff, 67014656u);
  EXPECT_EQ(info.logoff, 67080192u);
  EXPECT_EQ(info.info2off, 67096576u);
  EXPECT_EQ(info.parent_uuid, *o.parent_uuid);
  // Backup info block written and identical.
  EXPECT_EQ(0, std::memcmp(region->data() + 8192, region->data() + 8192 + info.info2off, 4096));
  BttOpenOptions reopen = o;
  reopen.allow_unformatted = false;
  BttDevice again = test::open_or_die(region, reopen);
  ByteVec got(4096);
  ASSERT_TRUE(again.read(10, got));
  EXPECT_EQ(got, stamped_sector(4096, 10, 0, 1));
  ASSERT_TRUE(again.read(11, got));
  EXPECT_TRUE(all_zero(got));
  EXPECT_TRUE(again.verify_block_references());
}

TEST(BttDeviceWrite, ReadOnlyRegionCannotBeOpenedWritable) {
  test::TempDir tmp;
  const std::string path = tmp.file("f.img");
  test::decompress_to_file("kernel/f-two-namespaces-labels1.2.img.zst", path);
  auto m = PmemMapping::open(path);
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->writable());
  auto region = make_mapped_region(std::move(*m));
  BttOpenOptions o = writable_opts();
  o.namespace_size = 64ull << 20;
  auto dev = BttDevice::open(region, o);
  ASSERT_FALSE(dev);
  EXPECT_EQ(dev.error().code, Errc::kReadOnly);
}

}  // namespace
}  // namespace ndtk
