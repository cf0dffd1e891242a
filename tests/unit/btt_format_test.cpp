// btt-format in the library: the kernel's BTT write plan checked against the kernel-written
// golden images byte for byte (a, i: BTT 1.1 over 256 MiB; f btt-one: BTT 2.0, 64 MiB), multi-
// arena layouts against the kernel formulas and FORMATS §10.6, the existing-content guard, and
// kernel-style namespace creation in blank and initialised label areas.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "ndtk/btt/btt_image.h"
#include "ndtk/discover/discovery.h"
#include "ndtk/discover/label_area.h"
#include "ndtk/format/btt_log.h"
#include "ndtk/format/btt_map.h"
#include "ndtk/repair/btt_format_plan.h"
#include "ndtk/repair/label_create_plan.h"
#include "test_helpers.h"

namespace ndtk {
namespace {

using json = nlohmann::json;
constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::uint64_t kGiB = 1ull << 30;
constexpr std::uint64_t kLabelArea = 128 * 1024;

DevicePtr must_open(const std::string& path, OpenMode mode = OpenMode::ReadOnly) {
  auto d = open_image(path, mode);
  if (!d) throw std::runtime_error(d.error().message());
  return *d;
}

ByteVec must_read(const BlockDevice& dev, std::uint64_t off, std::uint64_t len) {
  auto v = dev.read_vec(off, static_cast<std::size_t>(len));
  if (!v) throw std::runtime_error(v.error().message());
  return std::move(*v);
}

/// A sparse file of `size` bytes (all holes), opened read-write.
DevicePtr sparse_image(const test::TempDir& tmp, const std::string& name, std::uint64_t size) {
  const std::string path = tmp.file(name);
  { std::ofstream f(path, std::ios::binary | std::ios::trunc); }
  std::filesystem::resize_file(path, size);
  return must_open(path, OpenMode::ReadWrite);
}

std::string kernel_image(const std::string& name) {
  return test::image_path("kernel/" + name + ".img.zst");
}

/// One BTT the kernel wrote into a golden image.
struct GoldenBtt {
  const char* image;
  std::uint64_t ns_offset;
  std::uint64_t ns_size;
  BttVersion version;
};

class BttFormatGolden : public ::testing::TestWithParam<GoldenBtt> {};

TEST_P(BttFormatGolden, FreshFormatMatchesTheKernelsLayoutByteForByte) {
  const GoldenBtt& c = GetParam();
  const DevicePtr kimg = must_open(kernel_image(c.image));
  const std::uint64_t k_arena = c.ns_offset + btt_initial_offset(c.version);
  auto kinfo = BttInfo::parse(must_read(*kimg, k_arena, kBttInfoSize));
  ASSERT_TRUE(kinfo) << kinfo.error().message();

  // Format a blank sparse image of the same namespace size with the kernel's uuids.
  BttFormatRequest req;
  req.namespace_offset = 0;
  req.namespace_size = c.ns_size;
  req.external_lbasize = kinfo->external_lbasize;
  req.version = c.version;
  req.uuid = kinfo->uuid;
  req.parent_uuid = kinfo->parent_uuid;
  auto plan = plan_btt_format(req);
  ASSERT_TRUE(plan) << plan.error().message();
  ASSERT_EQ(plan->arenas.size(), 1u);  // the kernel's chain: one arena, nextoff 0
  EXPECT_EQ(kinfo->nextoff, 0u);
  test::TempDir tmp;
  DevicePtr ours = sparse_image(tmp, "fresh.img", c.ns_size);
  ASSERT_TRUE(apply_plan(*ours, plan->plan, {}));

  const ArenaLayout& a = plan->arenas[0];
  EXPECT_EQ(a.offset, btt_initial_offset(c.version));
  // Info and info2: byte-identical to the kernel's (same uuids, so same checksum too).
  const ByteVec kernel_info = must_read(*kimg, k_arena, kBttInfoSize);
  EXPECT_EQ(must_read(*ours, a.offset, kBttInfoSize), kernel_info);
  EXPECT_EQ(must_read(*ours, a.offset + a.info2off, kBttInfoSize), kernel_info);
  EXPECT_EQ(must_read(*kimg, k_arena + kinfo->info2off, kBttInfoSize), kernel_info);

  // Map: the kernel's entries of LBAs written after the format are the only difference.
  const json manifest = [&] {
    std::ifstream f(test::image_path(std::string("kernel/") + c.image + ".json"));
    return json::parse(f);
  }();
  std::set<std::uint64_t> written;
  for (const auto& w : manifest["writes_in_order"])
    if (w["dev"].get<std::string>().ends_with("s")) written.insert(w["lba"].get<std::uint64_t>());
  ASSERT_FALSE(written.empty());
  const ByteVec kmap = must_read(*kimg, k_arena + a.mapoff, a.logoff - a.mapoff);
  const ByteVec omap = must_read(*ours, a.offset + a.mapoff, a.logoff - a.mapoff);
  std::size_t differing = 0;
  for (std::uint64_t premap = 0; premap < kmap.size() / 4; ++premap) {
    const std::uint32_t k = le32(kmap, premap * 4);
    EXPECT_EQ(le32(omap, premap * 4), 0u);
    if (k != 0) {
      ++differing;
      EXPECT_TRUE(written.count(premap)) << "kernel map entry " << premap << " set but never written";
    }
  }
  EXPECT_GT(differing, 0u);  // the comparison is not vacuous
  EXPECT_LE(differing, written.size());

  // Log: every lane the kernel never used is identical; the padding up to info2 too.
  const ByteVec klog = must_read(*kimg, k_arena + a.logoff, a.info2off - a.logoff);
  const ByteVec olog = must_read(*ours, a.offset + a.logoff, a.info2off - a.logoff);
  std::size_t used = 0;
  for (std::uint32_t lane = 0; lane < a.nfree; ++lane) {
    const auto off = std::size_t{lane} * kBttLogGroupSize;
    const Bytes kg(klog.data() + off, kBttLogGroupSize);
    const Bytes og(olog.data() + off, kBttLogGroupSize);
    EXPECT_TRUE(std::equal(og.begin(), og.end(),
                           btt_kernel_initial_log_group(lane, a.external_nlba).serialize().begin()));
    if (!std::equal(kg.begin(), kg.end(), og.begin())) ++used;
  }
  EXPECT_GE(used, 1u);
  EXPECT_LE(used, 2u);  // two vCPUs: at most two lanes carried writes
  const std::size_t groups_end = std::size_t{a.nfree} * kBttLogGroupSize;
  EXPECT_TRUE(std::equal(klog.begin() + static_cast<std::ptrdiff_t>(groups_end), klog.end(),
                         olog.begin() + static_cast<std::ptrdiff_t>(groups_end)));

  // What precedes arena 0 (v1.1: the reserved first 4 KiB) is left alone.
  if (a.offset) {
    EXPECT_TRUE(ours->known_zero(0, a.offset));
  }
}

TEST_P(BttFormatGolden, WriteOrderIsTheKernelsAndTheDataPathUsesTheResult) {
  const GoldenBtt& c = GetParam();
  BttFormatRequest req;
  req.namespace_offset = 0;
  req.namespace_size = c.ns_size;
  req.external_lbasize = 4096;
  req.version = c.version;
  req.uuid = Uuid::random();
  req.parent_uuid = Uuid::random();
  auto plan = plan_btt_format(req);
  ASSERT_TRUE(plan);
  const ArenaLayout& a = plan->arenas[0];
  const auto& w = plan->plan.writes;
  ASSERT_EQ(w.size(), 5u);
  EXPECT_EQ(w[0].offset, a.offset + a.mapoff);  // zero map
  EXPECT_EQ(w[0].zero_length, a.logoff - a.mapoff);
  EXPECT_EQ(w[1].offset, a.offset + a.logoff);  // zero log
  EXPECT_EQ(w[1].zero_length, a.info2off - a.logoff);
  EXPECT_EQ(w[2].offset, a.offset + a.logoff);  // initial log groups
  EXPECT_EQ(w[2].bytes.size(), 256u * 64);
  EXPECT_EQ(w[3].offset, a.offset + a.info2off);  // info2 first
  EXPECT_EQ(w[4].offset, a.offset);               // the primary last: the commit
  EXPECT_EQ(w[3].bytes, w[4].bytes);

  // The data path opens what was written, and sectors round-trip.
  test::TempDir tmp;
  const std::string path = tmp.file("dp.img");
  {
    DevicePtr dev = sparse_image(tmp, "dp.img", c.ns_size);
    ASSERT_TRUE(apply_plan(*dev, plan->plan, {}));
  }
  BttImageOptions io;
  io.writable = true;
  io.offset = 0;
  io.size = c.ns_size;
  io.parent_uuid = req.parent_uuid;
  auto img = open_btt_image(path, io);
  ASSERT_TRUE(img) << img.error().message();
  BttDevice& dev = img->device;
  EXPECT_EQ(dev.version(), c.version);
  EXPECT_EQ(dev.sector_count(), plan->external_lbas);
  ByteVec sector(4096);
  for (std::size_t i = 0; i < sector.size(); ++i) sector[i] = static_cast<std::uint8_t>(i * 7);
  for (std::uint64_t lba : {std::uint64_t{0}, std::uint64_t{1}, plan->external_lbas - 1}) {
    ASSERT_TRUE(dev.write(lba, sector));
    ByteVec back(4096);
    ASSERT_TRUE(dev.read(lba, back));
    EXPECT_EQ(back, sector);
  }
  EXPECT_TRUE(dev.verify_block_references()) << dev.verify_block_references().error().message();
}

INSTANTIATE_TEST_SUITE_P(
    BttFormat, BttFormatGolden,
    ::testing::Values(GoldenBtt{"a-sector4096-labels1.1", 0, 256 * kMiB, BttVersion::V1_1},
                      GoldenBtt{"i-sector4096-labelless", 0, 256 * kMiB, BttVersion::V1_1},
                      GoldenBtt{"f-two-namespaces-labels1.2", 0, 64 * kMiB, BttVersion::V2_0}),
    [](const auto& info) { return std::string(1, info.param.image[0]); });

// ---- multi-arena --------------------------------------------------------------------------

/// Walk the arena chain on media from arena 0 and compare every info block with the layout.
void expect_chain(const BlockDevice& dev, const BttFormatRequest& req, const BttFormatPlan& plan) {
  std::uint64_t at = req.namespace_offset + btt_initial_offset(req.version);
  for (std::size_t i = 0; i < plan.arenas.size(); ++i) {
    const ArenaLayout& a = plan.arenas[i];
    EXPECT_EQ(at, req.namespace_offset + a.offset) << "arena " << i;
    auto info = BttInfo::parse(must_read(dev, at, kBttInfoSize));
    ASSERT_TRUE(info) << "arena " << i << ": " << info.error().message();
    EXPECT_EQ(*info, make_arena_info(a, req.uuid, req.parent_uuid, req.version));
    EXPECT_EQ(must_read(dev, at + a.info2off, kBttInfoSize), info->serialize());
    auto lane255 = BttLogGroup::decode(
        must_read(dev, at + a.logoff + 255 * kBttLogGroupSize, kBttLogGroupSize));
    ASSERT_TRUE(lane255);
    EXPECT_EQ(*lane255, btt_kernel_initial_log_group(255, a.external_nlba));
    if (info->nextoff == 0) {
      EXPECT_EQ(i + 1, plan.arenas.size());
      break;
    }
    at += info->nextoff;
  }
}

TEST(BttFormatMultiArena, SixHundredGiBMatchesTheKernelFormulasAndFormats106) {
  BttFormatRequest req;
  req.namespace_size = 600 * kGiB;
  req.external_lbasize = 4096;
  req.uuid = Uuid::random();
  req.parent_uuid = Uuid::random();
  auto plan = plan_btt_format(req);
  ASSERT_TRUE(plan) << plan.error().message();
  auto kernel = kernel_btt_layout(600 * kGiB, 4096, BttVersion::V1_1);
  ASSERT_TRUE(kernel);
  EXPECT_EQ(plan->arenas, *kernel);
  ASSERT_EQ(plan->arenas.size(), 2u);
  const ArenaLayout& a0 = plan->arenas[0];
  const ArenaLayout& a1 = plan->arenas[1];
  // FORMATS.md §10.6, worked by hand from the kernel formulas.
  EXPECT_EQ(a0.offset, 0x1000u);
  EXPECT_EQ(a0.internal_nlba, 134086776u);
  EXPECT_EQ(a0.external_nlba, 134086520u);
  EXPECT_EQ(a0.mapoff, 0x7fe007b000u);
  EXPECT_EQ(a0.logoff, 0x7fffffb000u);
  EXPECT_EQ(a0.info2off, 0x7ffffff000u);
  EXPECT_EQ(a0.nextoff, 0x8000000000u);
  EXPECT_EQ(a1.offset, 0x8000001000u);
  EXPECT_EQ(a1.size, 94489276416u);
  EXPECT_EQ(a1.internal_nlba, 23046157u);
  EXPECT_EQ(a1.external_nlba, 23045901u);
  EXPECT_EQ(a1.mapoff, 0x15fa810000u);
  EXPECT_EQ(a1.logoff, 0x15ffffa000u);
  EXPECT_EQ(a1.info2off, 0x15ffffe000u);
  EXPECT_EQ(a1.nextoff, 0u);
  EXPECT_EQ(plan->external_lbas, 157132421u);
  for (std::size_t i = 0; i < 2; ++i)
    EXPECT_EQ(plan->infos[i], make_arena_info(plan->arenas[i], req.uuid, req.parent_uuid,
                                              BttVersion::V1_1));

  // Applied to a sparse 600 GiB file inside a larger image at an offset: holes stay holes.
  test::TempDir tmp;
  req.namespace_offset = 16 * kMiB;
  auto shifted = plan_btt_format(req);
  ASSERT_TRUE(shifted);
  DevicePtr dev = sparse_image(tmp, "600g.img", 600 * kGiB + 32 * kMiB);
  ASSERT_TRUE(apply_plan(*dev, shifted->plan, {}));
  expect_chain(*dev, req, *shifted);
  EXPECT_TRUE(dev->known_zero(16 * kMiB + a0.mapoff, 64 * kMiB));  // the map was a hole
  EXPECT_TRUE(dev->known_zero(0, 16 * kMiB));                      // before the namespace
}

TEST(BttFormatMultiArena, FourTiBVersion2AndOddSectorSizes) {
  for (const std::uint32_t lbasize : kBttKernelLbaSizes) {
    BttFormatRequest req;
    req.namespace_size = 4ull << 40;
    req.external_lbasize = lbasize;
    req.version = BttVersion::V2_0;
    req.uuid = Uuid::random();
    auto plan = plan_btt_format(req);
    ASSERT_TRUE(plan) << lbasize << ": " << plan.error().message();
    auto kernel = kernel_btt_layout(4ull << 40, lbasize, BttVersion::V2_0);
    ASSERT_TRUE(kernel);
    EXPECT_EQ(plan->arenas, *kernel);
    // 4 TiB at offset 0 (v2.0): eight whole 512 GiB arenas; the kernel rule for the last.
    ASSERT_EQ(plan->arenas.size(), 8u);
    for (const auto& a : plan->arenas) {
      EXPECT_EQ(a.offset, std::uint64_t{a.index} * kBttArenaMaxSize);
      EXPECT_EQ(a.nextoff, a.index == 7 ? 0 : kBttArenaMaxSize);
      EXPECT_EQ(a.info2off + kBttInfoSize, kBttArenaMaxSize);
      EXPECT_EQ(a.internal_lbasize, align_up(lbasize, 64));
    }
    EXPECT_EQ(plan->plan.writes.size(), 8u * 5);
    EXPECT_EQ(plan->plan.writes.back().offset, plan->arenas.back().offset);
  }
  // v1.1: the 4 KiB initial offset makes the last arena 4 KiB short.
  auto v11 = plan_btt_format({0, 4ull << 40, 4096, BttVersion::V1_1, 256, Uuid::random(), {}});
  ASSERT_TRUE(v11);
  ASSERT_EQ(v11->arenas.size(), 8u);
  EXPECT_EQ(v11->arenas[7].size, kBttArenaMaxSize - 4096);
  // A namespace whose tail is under 16 MiB leaves it unused (create_arenas).
  auto tail = plan_btt_format({0, 512 * kGiB + 4096 + 8 * kMiB, 512, BttVersion::V1_1, 256,
                               Uuid::random(), {}});
  ASSERT_TRUE(tail);
  ASSERT_EQ(tail->arenas.size(), 1u);
  EXPECT_EQ(tail->arenas[0].nextoff, 0u);
}

TEST(BttFormatPlan, RefusesWhatTheKernelRefuses) {
  auto bad_size = plan_btt_format({0, 256 * kMiB, 1024, BttVersion::V1_1, 256, {}, {}});
  ASSERT_FALSE(bad_size);
  EXPECT_EQ(bad_size.error().code, Errc::kUnsupported);
  auto small = plan_btt_format({0, 16 * kMiB, 4096, BttVersion::V1_1, 256, {}, {}});
  ASSERT_FALSE(small);  // 16 MiB - 4 KiB left after the initial offset
  EXPECT_TRUE(plan_btt_format({0, 16 * kMiB, 4096, BttVersion::V2_0, 256, {}, {}}));
  EXPECT_FALSE(plan_btt_format({0, 256 * kMiB, 4096, BttVersion::V1_1, 0, {}, {}}));
  EXPECT_FALSE(plan_btt_format({UINT64_MAX - 10, 256 * kMiB, 4096, BttVersion::V1_1, 256, {}, {}}));
  EXPECT_FALSE(plan_btt_format({0, (1ull << 52) + 1, 4096, BttVersion::V1_1, 256, {}, {}}));
}

// ---- existing content ---------------------------------------------------------------------

TEST(BttFormatDetect, FindsKernelBttPfnAndFilesystems) {
  const DevicePtr a = must_open(kernel_image("a-sector4096-labels1.1"));
  auto fa = detect_existing_content(*a, 0, 256 * kMiB);
  ASSERT_TRUE(fa);
  ASSERT_EQ(fa->size(), 1u);
  EXPECT_EQ((*fa)[0].offset, 4096u);
  EXPECT_NE((*fa)[0].what.find("valid BTT 1.1"), std::string::npos) << (*fa)[0].what;

  const DevicePtr f = must_open(kernel_image("f-two-namespaces-labels1.2"));
  auto btt2 = detect_existing_content(*f, 0, 64 * kMiB);
  ASSERT_TRUE(btt2);
  ASSERT_FALSE(btt2->empty());
  EXPECT_NE((*btt2)[0].what.find("valid BTT 2.0"), std::string::npos);
  auto pfn = detect_existing_content(*f, 64 * kMiB, 128 * kMiB);
  ASSERT_TRUE(pfn);
  ASSERT_EQ(pfn->size(), 1u);
  EXPECT_EQ((*pfn)[0].offset, 64 * kMiB + 4096);
  EXPECT_NE((*pfn)[0].what.find("pfn"), std::string::npos);
  auto free_space = detect_existing_content(*f, 192 * kMiB, 64 * kMiB);
  ASSERT_TRUE(free_space);
  EXPECT_TRUE(free_space->empty());

  ByteVec img(128 * 1024);
  put_le16(img, 1080, 0xEF53);
  auto ext = detect_existing_content(*make_memory_device(img), 0, img.size());
  ASSERT_TRUE(ext);
  ASSERT_EQ(ext->size(), 1u);
  EXPECT_NE((*ext)[0].what.find("ext2/3/4"), std::string::npos);
  ByteVec xfs(128 * 1024);
  std::memcpy(xfs.data(), "XFSB", 4);
  std::memcpy(xfs.data() + 65600, "_BHRfS_M", 8);
  auto two = detect_existing_content(*make_memory_device(xfs), 0, xfs.size());
  ASSERT_TRUE(two);
  ASSERT_EQ(two->size(), 2u);
  EXPECT_NE((*two)[0].what.find("XFS"), std::string::npos);
  EXPECT_NE((*two)[1].what.find("btrfs"), std::string::npos);
  // Outside the window: not looked at; a damaged BTT still counts.
  auto narrow = detect_existing_content(*make_memory_device(xfs), 4096, 60000);
  ASSERT_TRUE(narrow);
  EXPECT_TRUE(narrow->empty());
  ByteVec damaged = must_read(*a, 0, 128 * 1024);
  damaged[4096 + 100] ^= 1;
  auto dmg = detect_existing_content(*make_memory_device(damaged), 0, damaged.size());
  ASSERT_TRUE(dmg);
  ASSERT_EQ(dmg->size(), 1u);
  EXPECT_NE((*dmg)[0].what.find("bad checksum"), std::string::npos);
  EXPECT_FALSE(detect_existing_content(*make_memory_device(damaged), 4096, damaged.size()));
}

// ---- namespace creation in the labels -----------------------------------------------------

/// A QEMU-layout image (256 MiB pmem + 128 KiB labels), sparse, optionally holding the label
/// area of a golden image.
DevicePtr dimm_image(const test::TempDir& tmp, const std::string& name,
                     const std::string& labels_from = {}) {
  DevicePtr dev = sparse_image(tmp, name, 256 * kMiB + kLabelArea);
  if (!labels_from.empty()) {
    const DevicePtr k = must_open(kernel_image(labels_from));
    const ByteVec area = must_read(*k, 256 * kMiB, kLabelArea);
    if (!dev->write_at(256 * kMiB, area)) throw std::runtime_error("write failed");
  }
  return dev;
}

NamespaceCreateRequest dimm_request(const Uuid& uuid) {
  NamespaceCreateRequest r;
  r.label_offset = 256 * kMiB;
  r.label_size = kLabelArea;
  r.dimm_size = 256 * kMiB;
  r.uuid = uuid;
  r.lbasize = 4096;
  return r;
}

ByteVec without_seq_and_tail(LabelIndex x, const LabelGeometry& g) {
  x.seq = 0;
  x.checksum = 0;
  for (std::uint64_t s = g.nslot; s < x.bitmap_capacity(); ++s) x.set_free(s, false);
  return x.serialize();
}

TEST(BttFormatLabels, BlankV11AreaReproducesImageAsLabels) {
  // Image a: `ndctl init-labels -V 1.1` + `create-namespace -m sector -l 4096` (whole region).
  const DevicePtr k = must_open(kernel_image("a-sector4096-labels1.1"));
  auto karea = read_qemu_label_area(*k);
  ASSERT_TRUE(karea);
  ASSERT_EQ(karea->namespaces.size(), 1u);
  const Uuid kuuid = karea->namespaces[0].uuid;

  test::TempDir tmp;
  DevicePtr dev = dimm_image(tmp, "blank.img");
  auto req = dimm_request(kuuid);
  req.label_version = LabelVersion::V1_1;
  auto lp = plan_namespace_create(*dev, req);
  ASSERT_TRUE(lp) << lp.error().message();
  EXPECT_TRUE(lp->initialised);
  EXPECT_EQ(lp->dpa, 0u);
  EXPECT_EQ(lp->size, 256 * kMiB);  // default: the largest free extent
  EXPECT_EQ(lp->btt_version, BttVersion::V1_1);
  EXPECT_EQ(lp->isetcookie, 10248187106440278u);  // QEMU's cookie1, computed
  EXPECT_EQ(lp->pass1_slot, 0u);
  EXPECT_EQ(lp->pass2_slot, 1u);
  // Order: index 0, index 1 (init), label 0, index 1, label 1, index 0.
  const auto& w = lp->plan.writes;
  ASSERT_EQ(w.size(), 6u);
  const std::uint64_t base = 256 * kMiB;
  const std::vector<std::uint64_t> order = {base, base + 256, base + 512, base + 256,
                                            base + 512 + 128, base};
  for (std::size_t i = 0; i < w.size(); ++i) EXPECT_EQ(w[i].offset, order[i]) << i;
  ASSERT_TRUE(apply_plan(*dev, lp->plan, {}));

  // Both label slots are byte-identical to the kernel's (same uuid, cookie, no name).
  EXPECT_EQ(must_read(*dev, base + 512, 256), must_read(*k, base + 512, 256));
  auto area = read_qemu_label_area(*dev);
  ASSERT_TRUE(area);
  EXPECT_EQ(area->current.index, 0);
  EXPECT_EQ(area->namespaces.size(), 1u);
  EXPECT_EQ(area->count(SlotState::Active), 1u);
  EXPECT_EQ(area->count(SlotState::Stale), 1u);
  const auto* stale = area->find_slot(0);
  ASSERT_TRUE(stale && stale->efi());
  EXPECT_EQ(stale->efi()->flags, kLabelFlagUpdating);
  // Index blocks: the kernel's current index 0 modulo seq and the bits past nslot (ndctl
  // init-labels sets them, the kernel's own init clears them).
  const LabelGeometry& g = lp->geometry;
  for (int i = 0; i < 2; ++i) {
    auto ours = LabelIndex::parse(must_read(*dev, base + i * 256, 256));
    auto theirs = LabelIndex::parse(must_read(*k, base + i * 256, 256));
    ASSERT_TRUE(ours && theirs);
    EXPECT_EQ(without_seq_and_tail(*ours, g), without_seq_and_tail(*theirs, g)) << "index " << i;
  }
  // Seqs: init 3/2, pass 1 commits index 1 with nd_inc_seq(2) = 3, pass 2 index 0 with 1.
  EXPECT_EQ(area->indexes[0].index->seq, 1u);
  EXPECT_EQ(area->indexes[1].index->seq, 3u);
  EXPECT_EQ(karea->indexes[0].index->seq, 2u);  // ndctl's init + a reload copy: 2/1

  // Then the BTT: discovery sees a sector namespace of the kernel's capacity.
  BttFormatRequest br{0, lp->size, 4096, BttVersion::V1_1, 256, Uuid::random(), kuuid};
  auto bp = plan_btt_format(br);
  ASSERT_TRUE(bp);
  ASSERT_TRUE(apply_plan(*dev, bp->plan, {}));
  auto d = discover(dev);
  ASSERT_TRUE(d) << d.error().message();
  ASSERT_EQ(d->namespaces.size(), 1u);
  EXPECT_EQ(d->namespaces[0].mode, NsMode::Sector);
  EXPECT_EQ(d->namespaces[0].capacity(), 267091968u);  // = ndctl's "size" for image a
}

TEST(BttFormatLabels, BlankV12AreaReproducesBttOnesLabel) {
  // Image f's btt-one: `create-namespace -m sector -l 4096 -s 64M -n btt-one`, first namespace.
  const DevicePtr k = must_open(kernel_image("f-two-namespaces-labels1.2"));
  const std::uint64_t base = 256 * kMiB;
  auto kslot1 = NamespaceLabel::parse(must_read(*k, base + 512 + 256, 256), 256);
  ASSERT_TRUE(kslot1);
  ASSERT_EQ(kslot1->name_string(), "btt-one");

  test::TempDir tmp;
  DevicePtr dev = dimm_image(tmp, "blank12.img");
  auto req = dimm_request(kslot1->uuid);
  req.size = 64 * kMiB;
  req.name = "btt-one";
  auto lp = plan_namespace_create(*dev, req);
  ASSERT_TRUE(lp) << lp.error().message();
  EXPECT_EQ(lp->label_version, LabelVersion::V1_2);  // the kernel's default for a blank area
  EXPECT_EQ(lp->btt_version, BttVersion::V2_0);
  EXPECT_EQ(lp->isetcookie, 52512752653219036u);  // QEMU's cookie2
  EXPECT_EQ(lp->pass2_slot, 1u);
  ASSERT_TRUE(apply_plan(*dev, lp->plan, {}));
  // The live label is byte-identical to the kernel's, checksum included.
  EXPECT_EQ(must_read(*dev, base + 512 + 256, 256), kslot1->serialize());
  EXPECT_EQ(lp->label.abstraction_guid, guid_btt2().efi);
  EXPECT_EQ(lp->label.type_guid, guid_pmem_range().efi);
  auto area = read_qemu_label_area(*dev);
  ASSERT_TRUE(area);
  EXPECT_EQ(area->namespaces.size(), 1u);
  EXPECT_EQ(area->count(SlotState::Stale), 1u);
  EXPECT_EQ(area->find_slot(0)->efi()->flags, kLabelFlagUpdating);
  EXPECT_EQ(area->namespaces[0].claim_class, ClaimClass::Btt2);
  // Kernel-init bitmap: bits past nslot (510..511) clear, FORMATS §10.2.
  EXPECT_EQ(area->current_index()->tail[63], 0x3f);
  EXPECT_EQ(area->current_index()->tail[0], 0xfd);  // slot 1 in use, slot 0 free (stale)
}

TEST(BttFormatLabels, InitialisedAreaGetsAThirdNamespaceWithoutTouchingTheOthers) {
  test::TempDir tmp;
  DevicePtr dev = dimm_image(tmp, "f.img", "f-two-namespaces-labels1.2");
  const std::uint64_t base = 256 * kMiB;
  const ByteVec before = must_read(*dev, base, kLabelArea);
  auto req = dimm_request(Uuid::random());
  req.size = 64 * kMiB;
  req.name = "third";
  auto lp = plan_namespace_create(*dev, req);
  ASSERT_TRUE(lp) << lp.error().message();
  EXPECT_FALSE(lp->initialised);
  EXPECT_EQ(lp->dpa, 192 * kMiB);  // after btt-one (0, 64M) and fsdax-two (64M, 128M)
  EXPECT_EQ(lp->isetcookie, 52512752653219036u);
  EXPECT_EQ(lp->cookie_source, "the existing labels");
  // Current index 0 (seq 1) uses slots 1, 2: pass 1 takes slot 0 (a stale copy), pass 2 slot 3.
  EXPECT_EQ(lp->pass1_slot, 0u);
  EXPECT_EQ(lp->pass2_slot, 3u);
  ASSERT_EQ(lp->plan.writes.size(), 4u);
  ASSERT_TRUE(apply_plan(*dev, lp->plan, {}));
  const ByteVec after = must_read(*dev, base, kLabelArea);
  // Slots 1 and 2 (the existing namespaces' live labels) are untouched.
  EXPECT_TRUE(std::equal(before.begin() + 512 + 256, before.begin() + 512 + 768,
                         after.begin() + 512 + 256));
  auto area = read_qemu_label_area(*dev);
  ASSERT_TRUE(area);
  EXPECT_EQ(area->namespaces.size(), 3u);
  EXPECT_EQ(area->indexes[1].index->seq, 2u);  // nd_inc_seq(1)
  EXPECT_EQ(area->indexes[0].index->seq, 3u);
  EXPECT_EQ(area->current.index, 0);
  EXPECT_EQ(*area->current_index(), lp->final_indexes[0]);
  // ndctl init-labels left bits 510, 511 set: the copies keep them (the kernel copies too).
  EXPECT_EQ(area->current_index()->tail[63] & 0xc0, 0xc0);
  // No room for another 128 MiB; 64 MiB more is gone too.
  req.uuid = Uuid::random();
  req.size = 64 * kMiB;
  auto full = plan_namespace_create(*dev, req);
  ASSERT_FALSE(full);
  EXPECT_NE(full.error().message().find("no free extent"), std::string::npos);
}

TEST(BttFormatLabels, Refusals) {
  test::TempDir tmp;
  DevicePtr dev = dimm_image(tmp, "r.img");
  auto req = dimm_request(Uuid::random());
  req.size = 512 * kMiB;
  EXPECT_FALSE(plan_namespace_create(*dev, req));  // too big
  req.size = 24 * kMiB;
  EXPECT_FALSE(plan_namespace_create(*dev, req));  // not a multiple of 16 MiB
  req.size = 16 * kMiB;
  req.name = std::string(64, 'x');
  EXPECT_FALSE(plan_namespace_create(*dev, req));  // name too long
  req.name = "ok";
  req.label_version = LabelVersion::V1_1;
  req.btt_version = BttVersion::V2_0;
  EXPECT_FALSE(plan_namespace_create(*dev, req));  // BTT 2.0 needs v1.2 labels
  req.btt_version.reset();
  EXPECT_FALSE(plan_namespace_create(*dev, [&] {
    auto r = req;
    r.uuid = Uuid{};
    return r;
  }()));
  // Garbage (bytes but no valid index): refused unless forced.
  ByteVec junk(4096, 0x5a);
  ASSERT_TRUE(dev->write_at(256 * kMiB + 8192, junk));
  auto garbage = plan_namespace_create(*dev, req);
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.error().message().find("no valid index"), std::string::npos);
  req.force = true;
  EXPECT_TRUE(plan_namespace_create(*dev, req));
  // An initialised area keeps its label size; an existing uuid is refused.
  DevicePtr f = dimm_image(tmp, "f2.img", "f-two-namespaces-labels1.2");
  auto freq = dimm_request(Uuid::random());
  freq.label_version = LabelVersion::V1_1;
  EXPECT_FALSE(plan_namespace_create(*f, freq));
  freq.label_version.reset();
  freq.uuid = *Uuid::parse("59ba662e-56ce-48b3-b34e-71a0aeda22d3");
  EXPECT_FALSE(plan_namespace_create(*f, freq));
}

TEST(BttFormatLabels, IndexWriteMatchesFormats102) {
  auto g = label_geometry(kLabelArea, 256);
  ASSERT_TRUE(g);
  const auto init = initial_index_blocks(*g, InitStyle::Kernel);
  // Re-writing the init block through the kernel's writer with the same seq changes nothing.
  EXPECT_EQ(kernel_index_write(init[0], 0, 3, *g), init[0]);
  EXPECT_EQ(kernel_index_write(init[0], 1, 2, *g), init[1]);
  EXPECT_EQ(init[0].checksum, 0xe793e3ed18323c1cull);
}

// ---- the job -----------------------------------------------------------------------------

TEST(BttFormatJob, ResolvesNamespacesVersionsAndRefusals) {
  const DevicePtr f = must_open(kernel_image("f-two-namespaces-labels1.2"));
  BttFormatJobOptions o;
  o.sector_size = 4096;
  o.namespace_id = "btt-one";
  auto refused = plan_btt_format_job(f, o);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("valid BTT 2.0"), std::string::npos);
  o.force = true;
  auto forced = plan_btt_format_job(f, o);
  ASSERT_TRUE(forced) << forced.error().message();
  EXPECT_EQ(forced->request.version, BttVersion::V2_0);
  EXPECT_EQ(forced->request.parent_uuid.to_string(), "59ba662e-56ce-48b3-b34e-71a0aeda22d3");
  EXPECT_EQ(forced->namespace_size, 64 * kMiB);
  EXPECT_EQ(forced->overwritten.size(), 1u);

  o.namespace_id = "no-such";
  EXPECT_EQ(plan_btt_format_job(f, o).error().code, Errc::kNotFound);
  o.namespace_id.clear();
  auto ambiguous = plan_btt_format_job(f, o);  // a label area: must say which namespace
  ASSERT_FALSE(ambiguous);
  EXPECT_NE(ambiguous.error().message().find("--namespace"), std::string::npos);

  const DevicePtr e = must_open(kernel_image("e-raw-labels1.1"));
  BttFormatJobOptions oe;
  oe.sector_size = 512;
  auto de = discover(e);
  ASSERT_TRUE(de);
  ASSERT_EQ(de->namespaces.size(), 1u);
  oe.namespace_id = de->namespaces[0].uuid.to_string();
  auto raw = plan_btt_format_job(e, oe);
  ASSERT_TRUE(raw) << raw.error().message();
  EXPECT_EQ(raw->request.version, BttVersion::V1_1);  // v1.1 labels

  const DevicePtr i = must_open(kernel_image("i-sector4096-labelless"));
  BttFormatJobOptions oi;
  oi.sector_size = 520;
  oi.force = true;
  auto whole = plan_btt_format_job(i, oi);
  ASSERT_TRUE(whole) << whole.error().message();
  EXPECT_EQ(whole->namespace_size, 256 * kMiB);
  EXPECT_TRUE(whole->request.parent_uuid.is_zero());
  EXPECT_EQ(whole->request.version, BttVersion::V1_1);
  oi.sector_size = 1000;
  EXPECT_FALSE(plan_btt_format_job(i, oi));
  oi.sector_size = 4096;
  oi.offset = 0;
  oi.size = 512 * kMiB;
  EXPECT_EQ(plan_btt_format_job(i, oi).error().code, Errc::kOutOfRange);
}

TEST(BttFormatJob, CreateNamespacePlansLabelsThenTheBtt) {
  test::TempDir tmp;
  DevicePtr dev = dimm_image(tmp, "c.img");
  BttFormatJobOptions o;
  o.sector_size = 4096;
  o.create_namespace = true;
  o.size = 64 * kMiB;
  o.name = "made";
  auto job = plan_btt_format_job(dev, o);
  ASSERT_TRUE(job) << job.error().message();
  ASSERT_TRUE(job->labels);
  EXPECT_EQ(job->request.version, BttVersion::V2_0);
  EXPECT_EQ(job->request.parent_uuid, job->labels->label.uuid);
  const std::size_t nlabel_writes = job->labels->plan.writes.size();
  ASSERT_EQ(job->plan.writes.size(), nlabel_writes + 5);
  EXPECT_EQ(job->plan.writes.back().offset, 0u);  // BTT 2.0 primary info at DPA 0, last
  ASSERT_TRUE(apply_plan(*dev, job->plan, {}));
  auto d = discover(dev);
  ASSERT_TRUE(d);
  ASSERT_EQ(d->namespaces.size(), 1u);
  EXPECT_EQ(d->namespaces[0].mode, NsMode::Sector);
  EXPECT_EQ(d->namespaces[0].name, "made");
  EXPECT_EQ(d->namespaces[0].capacity(), 65966080u);  // ndctl's size for btt-one (64 MiB)
  EXPECT_EQ(describe_plan(job->plan).size(), job->plan.writes.size());
}

}  // namespace
}  // namespace ndtk
