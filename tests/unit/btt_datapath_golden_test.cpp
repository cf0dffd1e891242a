// BttDevice against the golden images: every sector the kernel read back through /dev/pmem0s
// and every block libpmemblk returned must come back bit for bit, errors and zeros included.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <set>

#include "btt_datapath_helpers.h"
#include "ndtk/base/fletcher.h"
#include "ndtk/btt/btt_image.h"
#include "ndtk/format/btt_map.h"
#include "sha256.h"
#include "test_helpers.h"

namespace ndtk {
namespace {

using test::load_manifest;
using test::sha256_hex;

std::string str_sha(const std::string& s) {
  return sha256_hex(Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

TEST(BttDeviceSha256, StandardVectors) {
  EXPECT_EQ(sha256_hex(Bytes()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(str_sha("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(str_sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(str_sha(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Incremental updates across block boundaries give the same digest.
  ByteVec v;
  for (int r = 0; r < 3; ++r)
    for (int i = 0; i < 256; ++i) v.push_back(static_cast<std::uint8_t>(i));
  v.push_back('x');
  v.push_back('y');
  v.push_back('z');
  test::Sha256 s;
  for (std::size_t i = 0; i < v.size(); i += 37)
    s.update(Bytes(v).subspan(i, std::min<std::size_t>(37, v.size() - i)));
  const auto d = s.finish();
  EXPECT_EQ(sha256_hex(v), "c88b6dc887c181168f0090f9b194fa95a4941342d49ba8bec914fd7ce64881a7");
  EXPECT_EQ(d[0], 0xc8);
  EXPECT_EQ(d[31], 0xa7);
}

// ---------------------------------------------------------------------------------------------
// Kernel images

struct KernelCase {
  const char* name;
  std::uint64_t offset;  // namespace window in the image
  std::uint64_t size;    // 0 = whole image
  BttVersion version;
  std::uint64_t arena0;  // namespace offset of arena 0
  std::uint64_t nlba;
};

void PrintTo(const KernelCase& c, std::ostream* os) { *os << c.name; }

class BttDeviceKernelImage : public ::testing::TestWithParam<KernelCase> {};

void expect_readback(BttDevice& dev, const nlohmann::json& manifest) {
  ByteVec sector(dev.external_lbasize());
  std::size_t checked = 0;
  for (const auto& rb : manifest.at("readback")) {
    const std::uint64_t lba = rb.at("lba").get<std::uint64_t>();
    ASSERT_EQ(rb.at("ss").get<std::uint32_t>(), dev.external_lbasize());
    auto r = dev.read(lba, sector);
    ASSERT_TRUE(r) << "lba " << lba << ": " << r.error().message();
    EXPECT_EQ(sha256_hex(sector), rb.at("readback_sha256").get<std::string>()) << "lba " << lba;
    ++checked;
  }
  EXPECT_GE(checked, 50u);
}

TEST_P(BttDeviceKernelImage, ReadsEverySectorAsTheKernelReadItBack) {
  const KernelCase& c = GetParam();
  const auto manifest = load_manifest(std::string("kernel/") + c.name + ".json");
  BttImageOptions o;
  if (c.size) {
    o.offset = c.offset;
    o.size = c.size;
  }
  auto img = open_btt_image(test::image_path(std::string("kernel/") + c.name + ".img.zst"), o);
  ASSERT_TRUE(img) << img.error().message();
  BttDevice& dev = img->device;
  EXPECT_TRUE(img->in_memory_copy);
  EXPECT_EQ(dev.flavor(), BttFlavor::Kernel);
  EXPECT_EQ(dev.version(), c.version);
  EXPECT_EQ(dev.arena0_offset(), c.arena0);
  EXPECT_EQ(dev.sector_count(), c.nlba);
  EXPECT_EQ(dev.external_lbasize(), 4096u);
  EXPECT_EQ(dev.sector_size(), 4096u);
  EXPECT_EQ(dev.integrity_size(), 0u);
  EXPECT_FALSE(dev.writable());
  ASSERT_EQ(dev.arenas().size(), 1u);
  EXPECT_EQ(dev.arenas()[0].log_indices, kBttLogIndicesNew);
  EXPECT_EQ(dev.arenas()[0].recovered_map_entries, 0u);
  EXPECT_TRUE(dev.arenas()[0].write_refused.empty()) << dev.arenas()[0].write_refused;
  expect_readback(dev, manifest);
  EXPECT_TRUE(dev.verify_block_references()) << dev.verify_block_references().error().message();
}

TEST_P(BttDeviceKernelImage, SameThroughAnExplicitRegionAndAFileMapping) {
  const KernelCase& c = GetParam();
  const auto manifest = load_manifest(std::string("kernel/") + c.name + ".json");
  // 1. BttDevice::open over a memory region holding the decompressed image.
  PmemMapping copy = test::golden_copy(std::string("kernel/") + c.name + ".img.zst");
  const std::uint64_t size = c.size ? c.size : copy.size();
  BttOpenOptions o;
  o.namespace_offset = c.offset;
  o.namespace_size = size;
  auto dev = BttDevice::open(make_mapped_region(std::move(copy)), o);
  ASSERT_TRUE(dev) << dev.error().message();
  EXPECT_EQ(dev->arena0_offset(), c.arena0);
  expect_readback(*dev, manifest);

  // 2. The decompressed image as a file, mapped read-only.
  test::TempDir tmp;
  const std::string path = tmp.file("image.img");
  test::decompress_to_file(std::string("kernel/") + c.name + ".img.zst", path);
  BttImageOptions io;
  if (c.size) {
    io.offset = c.offset;
    io.size = c.size;
  }
  auto img = open_btt_image(path, io);
  ASSERT_TRUE(img) << img.error().message();
  EXPECT_FALSE(img->in_memory_copy);
  EXPECT_EQ(img->container, c.size ? BttContainer::Window : BttContainer::WholeImage);
  expect_readback(img->device, manifest);
}

INSTANTIATE_TEST_SUITE_P(
    BttDevice, BttDeviceKernelImage,
    ::testing::Values(
        // a: v1.1 labels, one sector namespace over the whole 256 MiB: BTT 1.1 at 4096.
        KernelCase{"a-sector4096-labels1.1", 0, 256ull << 20, BttVersion::V1_1, 4096, 65208},
        // i: label-less DIMM (the file is exactly the pmem): BTT 1.1 at 4096.
        KernelCase{"i-sector4096-labelless", 0, 0, BttVersion::V1_1, 4096, 65208},
        // f: namespace btt-one at DPA 0, 64 MiB, BTT 2.0 at namespace offset 0.
        KernelCase{"f-two-namespaces-labels1.2", 0, 64ull << 20, BttVersion::V2_0, 0, 16105}),
    [](const auto& info) {
      return std::string(1, info.param.name[0]);
    });

TEST(BttDeviceKernelImage, InitialEntriesReadTheStaleBlockAtTheirOwnIndex) {
  // LBA 16 of image a was never written: the kernel returns data block 16 (stale contents).
  PmemMapping copy = test::golden_copy("kernel/a-sector4096-labels1.1.img.zst");
  const ByteVec block16(copy.data() + 8192 + 16 * 4096, copy.data() + 8192 + 17 * 4096);
  BttOpenOptions o;
  o.namespace_size = 256ull << 20;
  auto dev = BttDevice::open(make_mapped_region(std::move(copy)), o);
  ASSERT_TRUE(dev) << dev.error().message();
  auto info = dev->sector_info(16);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->state, BttMapState::Initial);
  EXPECT_EQ(info->postmap, 16u);
  ByteVec got(4096);
  ASSERT_TRUE(dev->read(16, got));
  EXPECT_EQ(got, block16);
  EXPECT_FALSE(test::read_stamp(got).has_value());
}

TEST(BttDeviceKernelImage, ProbeOrderRejectsAV2ArenaAt4096AndAV1ArenaAt0) {
  // f's namespace holds BTT 2.0 at 0; forcing arena 0 at 4096 finds no info block there.
  PmemMapping copy = test::golden_copy("kernel/f-two-namespaces-labels1.2.img.zst");
  auto region = make_mapped_region(std::move(copy));
  BttOpenOptions o;
  o.namespace_size = 64ull << 20;
  o.arena0_offset = 4096;
  auto dev = BttDevice::open(region, o);
  ASSERT_FALSE(dev);
  EXPECT_EQ(dev.error().code, Errc::kBadSignature) << dev.error().message();
  // The fsdax namespace after it has no BTT at all.
  BttOpenOptions fsdax;
  fsdax.namespace_offset = 64ull << 20;
  fsdax.namespace_size = 128ull << 20;
  auto none = BttDevice::open(region, fsdax);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::kNotPresent);
  EXPECT_NE(none.error().message().find("no valid BTT"), std::string::npos)
      << none.error().message();
}

TEST(BttDeviceKernelImage, ParentUuidMustMatchTheNamespaceWhenGiven) {
  PmemMapping copy = test::golden_copy("kernel/f-two-namespaces-labels1.2.img.zst");
  auto region = make_mapped_region(std::move(copy));
  BttOpenOptions o;
  o.namespace_size = 64ull << 20;
  o.parent_uuid = Uuid::parse("59ba662e-56ce-48b3-b34e-71a0aeda22d3");  // btt-one's label uuid
  auto ok_dev = BttDevice::open(region, o);
  EXPECT_TRUE(ok_dev) << ok_dev.error().message();
  o.parent_uuid = Uuid::parse("47b9ac95-bfc9-4be2-937b-f0aedee7d83c");  // fsdax-two's
  auto bad = BttDevice::open(region, o);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("parent_uuid"), std::string::npos) << bad.error().message();
}

TEST(BttDeviceKernelImage, NamespacesAreFoundLikeTheKernelFindsThem) {
  // a: v1.1 labels; i: label-less; f: two namespaces, by uuid and by name.
  const auto ma = load_manifest("kernel/a-sector4096-labels1.1.json");
  auto a = open_btt_in_image(test::image_path("kernel/a-sector4096-labels1.1.img.zst"), {});
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->container, BttContainer::Namespace);
  EXPECT_EQ(a->namespace_uuid, *Uuid::parse("45d99587-e15a-41f9-bce2-5733ae2c5442"));
  EXPECT_EQ(a->namespace_size, 256ull << 20);
  expect_readback(a->device, ma);

  auto i = open_btt_in_image(test::image_path("kernel/i-sector4096-labelless.img.zst"), {});
  ASSERT_TRUE(i) << i.error().message();
  EXPECT_EQ(i->container, BttContainer::Namespace);
  EXPECT_TRUE(i->namespace_uuid.is_zero());
  EXPECT_EQ(i->device.version(), BttVersion::V1_1);

  const std::string f = test::image_path("kernel/f-two-namespaces-labels1.2.img.zst");
  for (const char* key : {"59ba662e-56ce-48b3-b34e-71a0aeda22d3", "btt-one", ""}) {
    BttLocate where;
    where.namespace_key = key;
    auto dev = open_btt_in_image(f, where);
    ASSERT_TRUE(dev) << key << ": " << dev.error().message();
    EXPECT_EQ(dev->namespace_name, "btt-one");
    EXPECT_EQ(dev->device.version(), BttVersion::V2_0);
    EXPECT_EQ(dev->device.sector_count(), 16105u);
  }
  BttLocate fsdax;
  fsdax.namespace_key = "47b9ac95-bfc9-4be2-937b-f0aedee7d83c";
  auto not_btt = open_btt_in_image(f, fsdax);
  ASSERT_FALSE(not_btt);
  EXPECT_EQ(not_btt.error().code, Errc::kNotPresent);
  EXPECT_NE(not_btt.error().message().find("fsdax"), std::string::npos) << not_btt.error().message();
  BttLocate missing;
  missing.namespace_key = "nope";
  auto none = open_btt_in_image(f, missing);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::kNotFound);
  EXPECT_NE(none.error().message().find("btt-one"), std::string::npos) << none.error().message();
  BttLocate on_pool;
  on_pool.namespace_key = "btt-one";
  auto pool = open_btt_in_image(test::image_path("pmdk/blk4096.pool.zst"), on_pool);
  ASSERT_FALSE(pool);
  EXPECT_EQ(pool.error().code, Errc::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// PMDK pools

void expect_pmemblk_contents(BttDevice& dev, const nlohmann::json& m,
                             const std::map<std::uint64_t, ByteVec>& overrides = {}) {
  const std::uint32_t bs = m.at("bsize").get<std::uint32_t>();
  ASSERT_EQ(dev.external_lbasize(), bs);
  ASSERT_EQ(dev.sector_count(), m.at("nblock").get<std::uint64_t>());
  std::map<std::uint64_t, std::string> written;
  if (m.contains("written"))
    for (const auto& w : m.at("written"))
      written[w.at("lba").get<std::uint64_t>()] = w.at("sha256").get<std::string>();
  std::set<std::uint64_t> errors, zeros;
  if (m.contains("error_blocks"))
    for (const auto& e : m.at("error_blocks")) errors.insert(e.at("lba").get<std::uint64_t>());
  if (m.contains("zero_blocks"))
    for (const auto& z : m.at("zero_blocks")) zeros.insert(z.at("lba").get<std::uint64_t>());
  const std::string zero_sha = sha256_hex(ByteVec(bs, 0));
  ByteVec sector(bs);
  std::size_t n_err = 0, n_written = 0;
  for (std::uint64_t lba = 0; lba < dev.sector_count(); ++lba) {
    auto r = dev.read(lba, sector);
    if (errors.count(lba)) {
      ASSERT_FALSE(r) << "lba " << lba << " should fail";
      EXPECT_EQ(r.error().code, Errc::kMediaError);
      EXPECT_NE(r.error().message().find("media error"), std::string::npos);
      ++n_err;
      continue;
    }
    ASSERT_TRUE(r) << "lba " << lba << ": " << r.error().message();
    if (auto o = overrides.find(lba); o != overrides.end()) {
      EXPECT_EQ(sector, o->second) << "lba " << lba;
    } else if (auto w = written.find(lba); w != written.end()) {
      EXPECT_EQ(sha256_hex(sector), w->second) << "lba " << lba;
      ++n_written;
    } else {
      EXPECT_EQ(sha256_hex(sector), zero_sha) << "lba " << lba << (zeros.count(lba) ? " (zeroed)" : "");
    }
  }
  EXPECT_EQ(n_err, errors.size());
}

nlohmann::json clean_pmemblk_manifest() { return load_manifest("pmdk/blk4096.manifest.json"); }

TEST(BttDevicePmdkPool, ReadsEveryBlockAsLibpmemblkReturnedIt) {
  const auto m = clean_pmemblk_manifest();
  auto img = open_btt_image(test::image_path("pmdk/blk4096.pool.zst"));
  ASSERT_TRUE(img) << img.error().message();
  BttDevice& dev = img->device;
  EXPECT_EQ(img->container, BttContainer::PmemBlkPool);
  EXPECT_EQ(img->namespace_offset, 8192u);
  EXPECT_EQ(dev.flavor(), BttFlavor::Pmdk);
  EXPECT_EQ(dev.arena0_offset(), 0u);
  EXPECT_EQ(dev.version(), BttVersion::V1_1);
  EXPECT_TRUE(dev.formatted());
  EXPECT_EQ(m.at("written").size(), m.at("written_count").get<std::size_t>());
  expect_pmemblk_contents(dev, m);
  // The block bookkeeping libpmemblk left is consistent (pmempool check said so too).
  EXPECT_TRUE(dev.verify_block_references()) << dev.verify_block_references().error().message();
  // The zeroed and error entries keep their block, as pmemblk_set_zero/set_error do.
  auto z40 = dev.sector_info(40);
  ASSERT_TRUE(z40);
  EXPECT_EQ(z40->state, BttMapState::Zero);
  EXPECT_EQ(z40->postmap, 40u);
  auto e41 = dev.sector_info(41);
  ASSERT_TRUE(e41);
  EXPECT_EQ(e41->state, BttMapState::Error);
  EXPECT_EQ(e41->postmap, 41u);
}

TEST(BttDevicePmdkPool, AnUnwrittenLayoutReadsZerosEverywhere) {
  const auto m = load_manifest("pmdk/blk4096-nolayout.manifest.json");
  auto img = open_btt_image(test::image_path("pmdk/blk4096-nolayout.pool.zst"));
  ASSERT_TRUE(img) << img.error().message();
  EXPECT_FALSE(img->device.formatted());
  EXPECT_TRUE(img->device.arenas().empty());
  expect_pmemblk_contents(img->device, m);
}

TEST(BttDevicePmdkPool, SeqZeroRecoversTheWriteLibpmemblkRecovers) {
  // Pair 0's current entry lost its seq: libpmemblk takes the older entry as current and
  // "completes" it, so LBA 1 reads its generation 3 (manifest: "other data"). So do we, and a
  // read-only open does it in memory only.
  const auto m = clean_pmemblk_manifest();
  const auto corrupted = load_manifest("pmdk/blk4096-flog-seq-zero.manifest.json");
  ASSERT_EQ(corrupted.at("libpmemblk_open_and_read_all").at("blocks_differing_count"), 1);
  PmemMapping copy = test::golden_copy("pmdk/blk4096-flog-seq-zero.pool.zst");
  const std::uint64_t before = fletcher64(copy.bytes());
  auto region = make_mapped_region(std::move(copy));
  BttOpenOptions o;
  o.namespace_offset = 8192;
  o.flavor = BttFlavor::Pmdk;
  o.expected_lbasize = 4096;
  auto dev = BttDevice::open(region, o);
  ASSERT_TRUE(dev) << dev.error().message();
  EXPECT_EQ(dev->arenas()[0].recovered_map_entries, 1u);
  const ByteVec gen3 = test::pmdk_pattern_block(1, 3, 4096);
  expect_pmemblk_contents(*dev, m, {{1, gen3}});
  EXPECT_EQ(fletcher64(region->bytes()), before) << "a read-only open must not write";
  EXPECT_TRUE(dev->verify_block_references()) << dev->verify_block_references().error().message();

  // A writable open persists the same repair: map[1] (file offset 67022852) changes, as
  // libpmemblk's open changed it.
  auto w = BttDevice::open(region, [&] { auto x = o; x.writable = true; return x; }());
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_NE(fletcher64(region->bytes()), before);
  const std::uint32_t map1 = le32(region->bytes(), 67022852 - 0);
  EXPECT_EQ(map1 & kBttMapFlagMask, kBttMapNormal);
  ByteVec got(4096);
  ASSERT_TRUE(w->read(1, got));
  EXPECT_EQ(got, gen3);
}

TEST(BttDevicePmdkPool, SeqDupReadsButRefusesWritesLikeLibpmemblk) {
  const auto m = clean_pmemblk_manifest();
  PmemMapping copy = test::golden_copy("pmdk/blk4096-flog-seq-dup.pool.zst");
  auto region = make_mapped_region(std::move(copy));
  BttOpenOptions o;
  o.namespace_offset = 8192;
  o.flavor = BttFlavor::Pmdk;
  o.writable = true;
  auto dev = BttDevice::open(region, o);
  ASSERT_TRUE(dev) << dev.error().message();
  ASSERT_EQ(dev->arenas().size(), 1u);
  EXPECT_NE(dev->arenas()[0].write_refused.find("equal sequence"), std::string::npos)
      << dev->arenas()[0].write_refused;
  expect_pmemblk_contents(*dev, m);
  const ByteVec data(4096, 0x5a);
  auto w = dev->write(3, data);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, Errc::kCorrupt);
  EXPECT_FALSE(dev->set_zero(3));
  // The kernel's rule rejects the whole BTT on equal seqs.
  BttOpenOptions k;
  k.namespace_offset = 8192;
  k.flavor = BttFlavor::Kernel;
  k.arena0_offset = 0;
  auto kd = BttDevice::open(region, k);
  ASSERT_FALSE(kd);
  EXPECT_EQ(kd.error().code, Errc::kCorrupt);
  EXPECT_NE(kd.error().message().find("log corruption"), std::string::npos) << kd.error().message();
}

TEST(BttDevicePmdkPool, InfoFlipIsReportedNotTreatedAsUnformatted) {
  // libpmemblk treats a bad primary info block as "no layout" and would overwrite the BTT on
  // the next write; the data path refuses to open it instead, naming the bad field.
  auto img = open_btt_image(test::image_path("pmdk/blk4096-info-flip.pool.zst"));
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code, Errc::kBadChecksum) << img.error().message();
  EXPECT_NE(img.error().message().find("checksum"), std::string::npos);
  EXPECT_NE(img.error().message().find("blk4096-info-flip"), std::string::npos);
}

TEST(BttDevicePmdkPool, KernelFlavourReadsInitialEntriesFromTheirBlock) {
  // Same pool, kernel semantics: unwritten LBAs read block premap (zeros in a fresh pool),
  // written, zeroed and error blocks as before.
  const auto m = clean_pmemblk_manifest();
  PmemMapping copy = test::golden_copy("pmdk/blk4096.pool.zst");
  BttOpenOptions o;
  o.namespace_offset = 8192;
  o.flavor = BttFlavor::Kernel;
  o.arena0_offset = 0;
  auto dev = BttDevice::open(make_mapped_region(std::move(copy)), o);
  ASSERT_TRUE(dev) << dev.error().message();
  ByteVec sector(4096);
  // LBA 100 has been written 3 times: its identity block 100 may hold an older generation or
  // something else; what matters is that the kernel rule reads the block with index premap.
  auto info = dev->sector_info(500);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->state, BttMapState::Initial);
  ASSERT_TRUE(dev->read(500, sector));
  const PersistRegion& r = dev->region();
  EXPECT_EQ(0, std::memcmp(sector.data(), r.data() + info->data_offset, 4096));
  for (const auto& w : m.at("written")) {
    ASSERT_TRUE(dev->read(w.at("lba").get<std::uint64_t>(), sector));
    EXPECT_EQ(sha256_hex(sector), w.at("sha256").get<std::string>());
  }
  EXPECT_EQ(dev->read(6, sector).error().code, Errc::kMediaError);
}

// ---------------------------------------------------------------------------------------------
// Argument and open errors

TEST(BttDeviceErrors, BadArgumentsFailWithPreciseCodes) {
  auto img = open_btt_image(test::image_path("pmdk/blk4096.pool.zst"));
  ASSERT_TRUE(img);
  BttDevice& dev = img->device;
  ByteVec sector(4096);
  ByteVec odd(4095);
  EXPECT_EQ(dev.read(0, odd).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(dev.read(0, MutBytes()).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(dev.read(dev.sector_count(), sector).error().code, Errc::kOutOfRange);
  ByteVec two(8192);
  EXPECT_EQ(dev.read(dev.sector_count() - 1, two).error().code, Errc::kOutOfRange);
  EXPECT_EQ(dev.read(UINT64_MAX, sector).error().code, Errc::kOutOfRange);
  EXPECT_EQ(dev.write(0, sector).error().code, Errc::kReadOnly);
  EXPECT_EQ(dev.set_zero(0).error().code, Errc::kReadOnly);
  EXPECT_EQ(dev.set_error(0).error().code, Errc::kReadOnly);
  EXPECT_EQ(dev.sector_info(dev.sector_count()).error().code, Errc::kOutOfRange);
  EXPECT_TRUE(dev.flush());
  // A multi-sector read stops at the error block and names it.
  ByteVec many(4096 * 10);
  auto r = dev.read(0, many);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kMediaError);
  EXPECT_NE(r.error().message().find("lba 6"), std::string::npos) << r.error().message();
}

TEST(BttDeviceErrors, ImageErrorsAreOneLineAndPrecise) {
  test::TempDir tmp;
  auto missing = open_btt_image(tmp.file("nope.img"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  auto dir = open_btt_image(tmp.path().string());
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().code, Errc::kIsDirectory);
  test::write_file(tmp.file("empty.img"), Bytes());
  auto empty = open_btt_image(tmp.file("empty.img"));
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, Errc::kOutOfRange);
  ByteVec garbage(1 << 20);
  for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<std::uint8_t>(i * 131 + 7);
  test::write_file(tmp.file("garbage.img"), garbage);
  auto g = open_btt_image(tmp.file("garbage.img"));
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code, Errc::kNotPresent) << g.error().message();
  BttImageOptions win;
  win.offset = 1 << 19;
  win.size = 1 << 20;
  auto past = open_btt_image(tmp.file("garbage.img"), win);
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().code, Errc::kOutOfRange);
  BttImageOptions rw;
  rw.writable = true;
  auto zst = open_btt_image(test::image_path("pmdk/blk4096.pool.zst"), rw);
  ASSERT_FALSE(zst);
  EXPECT_EQ(zst.error().code, Errc::kUnsupported);
  EXPECT_NE(zst.error().message().find("zstd -d"), std::string::npos);
  for (const auto* e : {&missing.error(), &dir.error(), &empty.error(), &g.error(), &past.error(),
                        &zst.error()})
    EXPECT_EQ(e->message().find('\n'), std::string::npos) << e->message();
}

}  // namespace
}  // namespace ndtk
