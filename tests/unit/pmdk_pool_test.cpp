// PMDK pool header and pmemblk frame: every golden pool (round trip, CKSUM_2K checksum, bsize,
// BTT offset, uuids as pmempool prints them), per-field corruption, the 2K rule, robustness.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ndtk/base/fletcher.h"
#include "ndtk/format/pmdk_pool.h"
#include "ndtk/io/block_device.h"
#include "test_helpers.h"

namespace ndtk {
namespace {

using json = nlohmann::json;

std::vector<std::string> pool_names() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(test::image_path("pmdk"))) {
    const std::string f = e.path().filename().string();
    const std::string suffix = ".pool.zst";
    if (f.size() > suffix.size() && f.compare(f.size() - suffix.size(), suffix.size(), suffix) == 0)
      names.push_back(f.substr(0, f.size() - suffix.size()));
  }
  std::sort(names.begin(), names.end());
  return names;
}

DevicePtr open_pool(const std::string& name) {
  auto dev = open_image(test::image_path("pmdk/" + name + ".pool.zst"));
  EXPECT_TRUE(dev) << dev.error().message();
  return *dev;
}

json manifest(const std::string& name) {
  std::ifstream f(test::image_path("pmdk/" + name + ".manifest.json"));
  return json::parse(f);
}

/// `pmempool info` output stored next to the pool ("Key   : value" lines).
std::string pmempool_info_value(const std::string& name, const std::string& key) {
  auto dev = open_image(test::image_path("pmdk/" + name + ".pmempool-info.txt.zst"));
  EXPECT_TRUE(dev);
  const ByteVec all = test::read_all(**dev);
  const std::string text(all.begin(), all.end());
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(" : ");
    if (colon == std::string::npos) continue;
    std::string k = line.substr(0, colon);
    k.erase(k.find_last_not_of(' ') + 1);
    if (k == key) return line.substr(colon + 3);
  }
  return {};
}

bool has(const Findings& f, Problem p) {
  return std::any_of(f.begin(), f.end(), [&](const Finding& x) { return x.code == p; });
}

std::string dump(const Findings& f) {
  std::string s;
  for (const auto& x : f) s += x.to_string() + "\n";
  return s;
}

TEST(PmdkPoolHeader, FieldTableMatchesLayout) {
  std::size_t next = 0;
  for (const auto& d : PoolHeader::fields()) {
    EXPECT_EQ(d.offset, next) << d.name;
    next = d.offset + d.size;
  }
  EXPECT_EQ(next, kPoolHdrSize);
  EXPECT_EQ(PmemBlkDesc::fields().size(), 2u);
  EXPECT_EQ(pmemblk_btt_offset(), 8192u);
  EXPECT_EQ(pmemblk_desc_offset(), 4096u);
  EXPECT_EQ(pmemblk_btt_offset(65536), 131072u);
}

TEST(PmdkPoolImages, EveryPoolHeaderAndFrame) {
  const auto names = pool_names();
  ASSERT_GE(names.size(), 5u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const auto dev = open_pool(name);
    const json m = manifest(name);
    const ByteVec raw = *dev->read_vec(0, kPoolHdrSize);
    auto d = PoolHeader::decode(raw);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->serialize(), raw);
    auto h = PoolHeader::parse(raw);
    ASSERT_TRUE(h) << h.error().message();
    EXPECT_TRUE(h->cksum_2k());
    EXPECT_TRUE(h->checksum_ok());
    EXPECT_EQ(h->type(), PmdkPoolType::Blk);
    EXPECT_EQ(h->major, 1u);
    EXPECT_EQ(h->with_checksum(), *h);
    EXPECT_TRUE(h->validate().empty()) << dump(h->validate());

    auto pool = read_pmemblk_pool(*dev);
    ASSERT_TRUE(pool) << pool.error().message();
    EXPECT_EQ(pool->header, *h);
    EXPECT_EQ(pool->bsize(), 4096u);
    EXPECT_EQ(pool->bsize(), m["bsize"].get<std::uint32_t>());
    EXPECT_TRUE(pool->is_zeroed());
    EXPECT_EQ(pool->btt_offset, 8192u);
    EXPECT_EQ(pool->btt_size, m["image_bytes"].get<std::uint64_t>() - 8192);
    const bool nolayout = m.contains("layout") && m["layout"]["layout_written"] == false;
    EXPECT_EQ(pool->layout_written, !nolayout);
    for (const auto& f : pool->findings) {
      EXPECT_TRUE(nolayout && f.code == Problem::POOL_BTT_LAYOUT_NOT_WRITTEN) << f.to_string();
    }
    if (m.contains("layout")) {
      EXPECT_EQ(m["layout"]["btt_file_offset"].get<std::uint64_t>(), pool->btt_offset);
      EXPECT_EQ(m["layout"]["pmemblk_descriptor"]["bsize_at_4096"].get<std::uint32_t>(),
                pool->bsize());
    }
    const ByteVec desc = *dev->read_vec(4096, 8);
    EXPECT_EQ(pool->desc.serialize(), desc);

    // uuids print the way pmempool info prints them (struct uuid: first three fields LE).
    EXPECT_EQ(pmdk_uuid_string(h->poolset_uuid), pmempool_info_value(name, "Pool set UUID"));
    EXPECT_EQ(pmdk_uuid_string(h->uuid), pmempool_info_value(name, "UUID"));
    EXPECT_EQ(pmdk_uuid_string(h->next_repl_uuid), pmempool_info_value(name, "Next replica UUID"));
    EXPECT_EQ(pmempool_info_value(name, "Checksum"), hex(h->checksum) + " [OK]");
    EXPECT_EQ(pmempool_info_value(name, "Alignment Descriptor"),
              fmt::format("{:#018x}[OK]", h->alignment_desc));
    EXPECT_EQ(pmempool_info_value(name, "Block size"), std::to_string(pool->bsize()));
    const auto features = pool_feature_names(PoolFeatureSet::Incompat, h->incompat_features);
    EXPECT_EQ(pmempool_info_value(name, "Mandatory features"),
              fmt::format("{:#x} [{}]", h->incompat_features, fmt::join(features, ", ")));

    // The BTT inside the pool: its parent_uuid (info block offset 32) holds the poolset uuid's
    // raw bytes and its external_lbasize (offset 56) the bsize.
    if (pool->layout_written) {
      const ByteVec info = *dev->read_vec(pool->btt_offset, 4096);
      EXPECT_EQ(std::string(info.begin(), info.begin() + 14), "BTT_ARENA_INFO");
      const Uuid parent = Uuid::from_bytes(Bytes(info).subspan(32, 16));
      EXPECT_EQ(parent, h->poolset_uuid);
      EXPECT_TRUE(pool->cross_check_btt(le32(info, 56), parent).empty());
      const auto bad = pool->cross_check_btt(512, Uuid{});
      EXPECT_TRUE(has(bad, Problem::POOL_BSIZE_MISMATCH));
      EXPECT_TRUE(has(bad, Problem::POOL_POOLSET_UUID_MISMATCH));
    }
  }
}

TEST(PmdkPoolImages, ManifestParentUuidIsThePoolsetUuid) {
  const auto dev = open_pool("blk4096");
  const json m = manifest("blk4096");
  const auto pool = *read_pmemblk_pool(*dev);
  EXPECT_EQ(pmdk_uuid_string(pool.header.poolset_uuid),
            m["layout"]["arenas"][0]["parent_uuid"].get<std::string>());
  // The raw (byte-order) rendering is different: PMDK uuids need the GUID-style print.
  EXPECT_NE(pool.header.poolset_uuid.to_string(), pmdk_uuid_string(pool.header.poolset_uuid));
}

TEST(PmdkPoolHeader, Checksum2KRule) {
  const auto dev = open_pool("blk4096");
  const PoolHeader h = *PoolHeader::parse(*dev->read_vec(0, kPoolHdrSize));
  ASSERT_TRUE(h.cksum_2k());
  // Bytes from 2048 on do not count with CKSUM_2K...
  PoolHeader upper = h;
  upper.unused2[100] = 0x77;
  upper.sds_usc = 12345;
  EXPECT_EQ(upper.computed_checksum(), h.checksum);
  EXPECT_TRUE(PoolHeader::parse(upper.serialize()));
  EXPECT_TRUE(has(upper.validate(), Problem::POOL_UNUSED_NONZERO));
  EXPECT_FALSE(has(upper.validate(), Problem::POOL_BAD_CHECKSUM));
  // ...but a byte below 2048 does.
  PoolHeader lower = h;
  lower.unused[0] = 1;
  EXPECT_NE(lower.computed_checksum(), h.checksum);
  // Without CKSUM_2K the whole 4 KiB counts (except the checksum field).
  PoolHeader full = h;
  full.incompat_features &= ~kPoolFeatCksum2K;
  full = full.with_checksum();
  EXPECT_NE(full.checksum, h.checksum);
  EXPECT_TRUE(full.checksum_ok());
  PoolHeader full_upper = full;
  full_upper.unused2[100] = 0x77;
  EXPECT_NE(full_upper.computed_checksum(), full.checksum);
  // Independent recomputation: Fletcher64 of the whole block with the checksum field zeroed.
  EXPECT_EQ(fletcher64_skip(full.serialize(), 4088), full.checksum);
  ByteVec half = h.serialize();
  std::fill(half.begin() + 2048, half.end(), std::uint8_t{0});
  EXPECT_EQ(fletcher64(half), h.checksum);
}

TEST(PmdkPoolHeader, UnusedClearedAndDamagedHeaderRead) {
  const auto dev = open_pool("blk4096");
  const PoolHeader h = *PoolHeader::parse(*dev->read_vec(0, kPoolHdrSize));
  PoolHeader junk = h;
  junk.unused[3] = 1;
  junk.unused2[5] = 2;
  const PoolHeader c = junk.with_unused_cleared().with_checksum();
  EXPECT_EQ(c, h);  // the golden header has zero unused areas
  // A wrongly signed or zeroed header is read (and reported) when the caller knows better.
  ByteVec v = *dev->read_vec(0, 16 << 20);
  v[7] = 'X';
  PmemBlkReadOptions o;
  o.damaged_header_ok = true;
  auto bad = read_pmemblk_pool(*make_memory_device(v, "bad-sig"), o);
  ASSERT_TRUE(bad) << bad.error().message();
  EXPECT_TRUE(has(bad->findings, Problem::POOL_BAD_SIGNATURE));
  std::fill(v.begin(), v.begin() + kPoolHdrSize, std::uint8_t{0});
  auto zero = read_pmemblk_pool(*make_memory_device(v, "zero-hdr"), o);
  ASSERT_TRUE(zero) << zero.error().message();
  EXPECT_TRUE(has(zero->findings, Problem::POOL_EMPTY_HEADER));
  EXPECT_FALSE(read_pmemblk_pool(*make_memory_device(v, "zero-hdr")));
}

TEST(PmdkPoolHeader, FeatureAndMachineNames) {
  EXPECT_EQ(pool_feature_names(PoolFeatureSet::Incompat, 0x7),
            (std::vector<std::string>{"SINGLEHDR", "CKSUM_2K", "SHUTDOWN_STATE"}));
  EXPECT_EQ(pool_feature_names(PoolFeatureSet::Compat, 0x1),
            (std::vector<std::string>{"CHECK_BAD_BLOCKS"}));
  EXPECT_EQ(pool_feature_names(PoolFeatureSet::Incompat, 0x80000008),
            (std::vector<std::string>{"0x8", "0x80000000"}));
  EXPECT_EQ(pool_feature_names(PoolFeatureSet::RoCompat, 0x1), (std::vector<std::string>{"0x1"}));
  EXPECT_EQ(pmdk_machine_name(62), "x86-64");
  EXPECT_EQ(pmdk_machine_name(183), "aarch64");
  EXPECT_EQ(pmdk_machine_name(7), "unknown (7)");
  EXPECT_STREQ(pmdk_pool_type_name(PmdkPoolType::Obj), "obj");
  EXPECT_EQ(pmdk_format_major(PmdkPoolType::Obj), 6u);
  Uuid u = *Uuid::parse("00112233-4455-6677-8899-aabbccddeeff");
  EXPECT_EQ(pmdk_uuid_string(u), "33221100-5544-7766-8899-aabbccddeeff");
}

TEST(PmdkPoolCorrupt, PerFieldTable) {
  const auto dev = open_pool("blk4096");
  const ByteVec good = *dev->read_vec(0, kPoolHdrSize);
  const PoolHeader orig = *PoolHeader::parse(good);
  ASSERT_TRUE(orig.sds_enabled());
  PoolValidateOptions opt;
  opt.file_mtime = orig.crtime;
  ASSERT_TRUE(orig.validate(opt).empty());
  struct Expect {
    const char* field;
    std::optional<Problem> problem;
    std::size_t byte = 0;  // which byte of the field to flip
  };
  const Expect expect[] = {
      {"signature", Problem::POOL_BAD_SIGNATURE},
      {"major", Problem::POOL_BAD_MAJOR},
      {"compat_features", Problem::POOL_COMPAT_FEATURES},
      {"incompat_features", Problem::POOL_INCOMPAT_FEATURES},
      {"ro_compat_features", Problem::POOL_RO_COMPAT_FEATURES},
      {"poolset_uuid", std::nullopt},  // only the BTT's parent_uuid can tell (cross_check_btt)
      {"uuid", Problem::POOL_UUID_LINK},
      {"prev_part_uuid", Problem::POOL_UUID_LINK},
      {"next_part_uuid", Problem::POOL_UUID_LINK},
      {"prev_repl_uuid", Problem::POOL_UUID_LINK},
      {"next_repl_uuid", Problem::POOL_UUID_LINK},
      {"crtime", Problem::POOL_CRTIME, 4},  // a later creation time than the file's mtime
      {"arch_flags.alignment_desc", Problem::POOL_ARCH_FLAGS},
      {"arch_flags.machine_class", Problem::POOL_ARCH_FLAGS},
      {"arch_flags.data", Problem::POOL_ARCH_FLAGS},
      {"arch_flags.reserved", Problem::POOL_ARCH_FLAGS},
      {"arch_flags.machine", Problem::POOL_ARCH_FLAGS},
      {"unused", Problem::POOL_UNUSED_NONZERO},
      {"unused2", Problem::POOL_UNUSED_NONZERO},
      {"sds.usc", Problem::POOL_SDS_BAD_CHECKSUM},
      {"sds.uuid", Problem::POOL_SDS_BAD_CHECKSUM},
      {"sds.dirty", Problem::POOL_SDS_DIRTY},
      {"sds.reserved", Problem::POOL_SDS_BAD_CHECKSUM},
      {"sds.checksum", Problem::POOL_SDS_BAD_CHECKSUM},
      {"checksum", Problem::POOL_BAD_CHECKSUM},
  };
  ASSERT_EQ(std::size(expect), PoolHeader::fields().size());
  for (const auto& fd : PoolHeader::fields()) {
    SCOPED_TRACE(fd.name);
    const auto* e = std::find_if(std::begin(expect), std::end(expect),
                                 [&](const Expect& x) { return std::string(x.field) == fd.name; });
    ASSERT_NE(e, std::end(expect));
    ByteVec b = good;
    b[fd.offset + e->byte] ^= 0x5a;
    PoolHeader h = *PoolHeader::decode(b);
    EXPECT_EQ(h.serialize(), b);
    if (std::string(fd.name) != "checksum") h = h.with_checksum();
    const auto f = h.validate(opt);
    if (e->problem) {
      EXPECT_TRUE(has(f, *e->problem)) << dump(f);
      for (const auto& x : f) {
        ASSERT_TRUE(x.offset.has_value());
        EXPECT_LT(*x.offset, kPoolHdrSize);
      }
    } else {
      EXPECT_TRUE(f.empty()) << dump(f);
    }
  }
}

TEST(PmdkPoolCorrupt, SdsDirtyWithValidChecksumAndForeignArch) {
  const auto dev = open_pool("blk4096");
  PoolHeader h = *PoolHeader::parse(*dev->read_vec(0, kPoolHdrSize));
  h.sds_dirty = 1;
  h.sds_usc = 42;
  h = h.with_sds_checksum().with_checksum();
  auto f = h.validate();
  EXPECT_TRUE(has(f, Problem::POOL_SDS_DIRTY));
  EXPECT_FALSE(has(f, Problem::POOL_SDS_BAD_CHECKSUM)) << dump(f);
  // With the SDS feature off, PMDK ignores the shutdown state entirely.
  h.incompat_features &= ~kPoolFeatSds;
  h = h.with_checksum();
  EXPECT_TRUE(h.validate().empty()) << dump(h.validate());
  // A big-endian pool is flagged for its data encoding.
  PoolHeader be = h;
  be.data = kPmdkDataBe;
  f = be.with_checksum().validate();
  ASSERT_TRUE(has(f, Problem::POOL_ARCH_FLAGS));
  // aarch64 pools share the LP64 descriptor and are fine.
  PoolHeader arm = h;
  arm.machine = kPmdkMachineAarch64;
  EXPECT_TRUE(arm.with_checksum().validate().empty());
  // A pool set part has other uuids as neighbours.
  PoolHeader part = h;
  part.next_part_uuid = Uuid::random();
  part = part.with_checksum();
  EXPECT_TRUE(has(part.validate(), Problem::POOL_UUID_LINK));
  PoolValidateOptions poolset;
  poolset.single_file = false;
  EXPECT_TRUE(part.validate(poolset).empty());
  // Expected type: a PMEMOBJ header is not a blk pool, but a fine PMDK pool.
  PoolHeader obj = h;
  obj.signature = kPmemObjSignature;
  obj.major = kPmemObjFormatMajor;
  obj = obj.with_checksum();
  EXPECT_TRUE(has(obj.validate(), Problem::POOL_BAD_SIGNATURE));
  PoolValidateOptions any;
  any.expected_type = PmdkPoolType::Unknown;
  EXPECT_TRUE(obj.validate(any).empty()) << dump(obj.validate(any));
  EXPECT_TRUE(PoolHeader::parse(obj.serialize(), PmdkPoolType::Unknown));
  auto wrong = PoolHeader::parse(obj.serialize());
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Errc::kBadSignature);
  EXPECT_EQ(wrong.error().field, "signature");
  PoolValidateOptions objopt;
  objopt.expected_type = PmdkPoolType::Obj;
  obj.major = 1;
  EXPECT_TRUE(has(obj.with_checksum().validate(objopt), Problem::POOL_BAD_MAJOR));
}

/// A pmemblk frame in memory: the golden header, a chosen descriptor, optional BTT bytes.
DevicePtr synthetic_pool(std::uint64_t size, std::uint32_t bsize, std::uint32_t is_zeroed,
                         bool with_btt) {
  const auto gold = open_pool("blk4096");
  ByteVec v(size, 0);
  const ByteVec hdr = *gold->read_vec(0, kPoolHdrSize);
  std::copy(hdr.begin(), hdr.begin() + std::min<std::size_t>(hdr.size(), v.size()), v.begin());
  if (size >= 4104) {
    put_le32(v, 4096, bsize);
    put_le32(v, 4100, is_zeroed);
  }
  if (with_btt && size >= 8192 + 4096) {
    const ByteVec info = *gold->read_vec(8192, 4096);
    std::copy(info.begin(), info.end(), v.begin() + 8192);
  }
  return make_memory_device(std::move(v), "synthetic.pool", false);
}

TEST(PmdkPoolFrame, DescriptorAndSizeFindings) {
  const std::uint64_t size = 20ull << 20;
  auto ok = read_pmemblk_pool(*synthetic_pool(size, 4096, 1, true));
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_TRUE(ok->findings.empty()) << dump(ok->findings);
  EXPECT_TRUE(ok->layout_written);

  auto zero_bsize = read_pmemblk_pool(*synthetic_pool(size, 0, 1, true));
  ASSERT_TRUE(zero_bsize);
  EXPECT_TRUE(has(zero_bsize->findings, Problem::POOL_BSIZE_INVALID));
  auto huge = read_pmemblk_pool(*synthetic_pool(size, 1u << 20, 1, true));
  ASSERT_TRUE(huge);
  EXPECT_TRUE(has(huge->findings, Problem::POOL_BSIZE_INVALID)) << dump(huge->findings);
  auto odd = read_pmemblk_pool(*synthetic_pool(size, 520, 7, true));
  ASSERT_TRUE(odd);
  EXPECT_FALSE(has(odd->findings, Problem::POOL_BSIZE_INVALID));
  EXPECT_TRUE(has(odd->findings, Problem::POOL_IS_ZEROED_INVALID));
  // The descriptor's findings point at the descriptor's bytes.
  for (const auto& f : odd->findings)
    if (f.code == Problem::POOL_IS_ZEROED_INVALID) {
      EXPECT_EQ(f.offset, 4100u);
    }

  auto small = read_pmemblk_pool(*synthetic_pool(1ull << 20, 4096, 1, false));
  ASSERT_TRUE(small);
  EXPECT_TRUE(has(small->findings, Problem::POOL_TOO_SMALL));
  EXPECT_TRUE(has(small->findings, Problem::POOL_BTT_LAYOUT_NOT_WRITTEN));
  EXPECT_FALSE(small->layout_written);
  EXPECT_EQ(small->btt_size, (1ull << 20) - 8192);

  // Only the frame: no BTT bytes at all.
  auto frame = read_pmemblk_pool(*synthetic_pool(8192, 4096, 1, false));
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->btt_size, 0u);
  EXPECT_FALSE(frame->layout_written);
}

TEST(PmdkPoolFrame, Refusals) {
  auto expect_err = [](const BlockDevice& dev, Errc code, const PmemBlkReadOptions& o = {}) {
    auto r = read_pmemblk_pool(dev, o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, code) << r.error().message();
    EXPECT_FALSE(r.error().message().empty());
  };
  expect_err(*make_memory_device(ByteVec{}, "empty"), Errc::kTruncated);
  expect_err(*synthetic_pool(4103, 4096, 1, false), Errc::kTruncated);
  expect_err(*make_memory_device(ByteVec(1 << 20, 0), "zeros"), Errc::kNotPresent);
  ByteVec ff(1 << 20, 0xff);
  expect_err(*make_memory_device(ff, "ff"), Errc::kBadSignature);
  PmemBlkReadOptions o;
  o.pmem_pagesize = 3000;
  expect_err(*synthetic_pool(1 << 20, 4096, 1, false), Errc::kInvalidArgument, o);
  // 64 KiB PMEM_PAGESIZE: the descriptor moves to 65536 and the BTT to 131072.
  o.pmem_pagesize = 65536;
  ByteVec v(1 << 20, 0);
  const ByteVec hdr = *open_pool("blk4096")->read_vec(0, kPoolHdrSize);
  std::copy(hdr.begin(), hdr.end(), v.begin());
  put_le32(v, 65536, 512);
  auto big = read_pmemblk_pool(*make_memory_device(v, "ppc64.pool"), o);
  ASSERT_TRUE(big);
  EXPECT_EQ(big->bsize(), 512u);
  EXPECT_EQ(big->btt_offset, 131072u);
  // A damaged header is read, and the damage reported.
  ByteVec dmg(1 << 20, 0);
  std::copy(hdr.begin(), hdr.end(), dmg.begin());
  dmg[200] = 1;
  auto d = read_pmemblk_pool(*make_memory_device(dmg, "damaged.pool"));
  ASSERT_TRUE(d);
  EXPECT_TRUE(has(d->findings, Problem::POOL_BAD_CHECKSUM));
  EXPECT_TRUE(has(d->findings, Problem::POOL_UNUSED_NONZERO));
}

TEST(PmdkPoolRobust, ShortEmptyZeroFf) {
  const ByteVec good = *open_pool("blk4096")->read_vec(0, kPoolHdrSize);
  auto t = PoolHeader::decode(Bytes(good).first(kPoolHdrSize - 1));
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, Errc::kTruncated);
  EXPECT_FALSE(PoolHeader::parse(Bytes(good).first(kPoolHdrSize - 1)));
  EXPECT_EQ(PoolHeader::decode(Bytes{}).error().code, Errc::kTruncated);
  EXPECT_EQ(PmemBlkDesc::decode(ByteVec(7)).error().code, Errc::kTruncated);
  EXPECT_EQ(PmemBlkDesc::decode(Bytes{}).error().code, Errc::kTruncated);

  const ByteVec zero(kPoolHdrSize, 0);
  auto z = PoolHeader::decode(zero);
  ASSERT_TRUE(z);
  EXPECT_TRUE(z->is_zero());
  EXPECT_EQ(z->serialize(), zero);
  EXPECT_EQ(PoolHeader::parse(zero).error().code, Errc::kBadSignature);
  const auto zf = z->validate();
  ASSERT_EQ(zf.size(), 1u);
  EXPECT_EQ(zf[0].code, Problem::POOL_EMPTY_HEADER);

  const ByteVec ff(kPoolHdrSize, 0xff);
  auto f = PoolHeader::decode(ff);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->serialize(), ff);
  EXPECT_EQ(PoolHeader::parse(ff).error().code, Errc::kBadSignature);
  const auto ffv = f->validate();
  for (Problem p : {Problem::POOL_BAD_SIGNATURE, Problem::POOL_BAD_CHECKSUM,
                    Problem::POOL_BAD_MAJOR, Problem::POOL_INCOMPAT_FEATURES,
                    Problem::POOL_ARCH_FLAGS, Problem::POOL_UNUSED_NONZERO})
    EXPECT_TRUE(has(ffv, p)) << problem_info(p).name << "\n" << dump(ffv);
  // Offsets near the top of the address space do not wrap.
  PoolValidateOptions top;
  top.offset = ~0ull - 10;
  for (const auto& x : f->validate(top))
    if (x.offset) {
      EXPECT_GE(*x.offset, top.offset);
    }
}

TEST(PmdkPoolRobust, RandomHeadersAndDevices) {
  std::mt19937_64 rng(0x5eed0003);
  const ByteVec good = *open_pool("blk4096")->read_vec(0, kPoolHdrSize);
  for (int i = 0; i < 2000; ++i) {
    ByteVec b = good;
    if (i % 2 == 0) {
      for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    } else {
      for (int k = 0; k < 1 + i % 6; ++k) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
    }
    auto h = PoolHeader::decode(b);
    ASSERT_TRUE(h);
    ASSERT_EQ(h->serialize(), b);
    auto p = PoolHeader::parse(b, static_cast<PmdkPoolType>(rng() % 4));
    if (p) {
      EXPECT_TRUE(p->checksum_ok());
    }
    PoolValidateOptions o;
    o.expected_type = static_cast<PmdkPoolType>(rng() % 4);
    o.single_file = rng() % 2;
    if (rng() % 2) o.file_mtime = rng();
    o.offset = rng();
    for (const auto& f : h->validate(o)) EXPECT_FALSE(f.to_string().empty());
  }
  const std::uint64_t sizes[] = {0, 1, 4095, 4096, 4103, 4104, 8191, 8192, 12287, 12288, 65536};
  for (int i = 0; i < 400; ++i) {
    ByteVec v(sizes[rng() % std::size(sizes)] + (i % 3 == 0 ? rng() % 50000 : 0));
    for (auto& x : v) x = static_cast<std::uint8_t>(rng());
    if (v.size() >= kPoolHdrSize && i % 2 == 0)
      std::copy(good.begin(), good.begin() + 64 + rng() % 4000, v.begin());
    const auto dev = make_memory_device(v, "random.pool");
    auto r = read_pmemblk_pool(*dev);
    if (r) {
      EXPECT_GE(v.size(), 4104u);
      EXPECT_EQ(r->btt_offset, 8192u);
      EXPECT_LE(r->btt_size, v.size());
      (void)r->cross_check_btt(static_cast<std::uint32_t>(rng()), Uuid::random());
    } else {
      EXPECT_FALSE(r.error().message().empty());
    }
  }
}

TEST(PmdkPoolRobust, ProblemRows) {
  int n = 0;
  for (const auto& row : all_problems()) {
    if ((row.number >> 8) != 0x07) continue;
    ++n;
    EXPECT_EQ(std::string(row.name).rfind("POOL_", 0), 0u) << row.name;
  }
  EXPECT_GE(n, 20);
  EXPECT_EQ(problem_info(Problem::POOL_BAD_CHECKSUM).repair, RepairAction::RewriteChecksum);
  EXPECT_EQ(problem_info(Problem::POOL_BSIZE_MISMATCH).severity, Severity::Error);
}

}  // namespace
}  // namespace ndtk
