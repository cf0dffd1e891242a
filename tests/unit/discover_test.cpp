// Discovery agrees with what ndctl listed for every kernel image, and with PMDK for pools.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "ndtk/discover/discovery.h"
#include "ndtk/geometry/btt_geometry.h"
#include "test_helpers.h"

namespace ndtk {
namespace {

nlohmann::json manifest(const std::string& name) {
  std::ifstream f(test::image_path("kernel/" + name + ".json"));
  return nlohmann::json::parse(f);
}

class DiscoverKernelImage : public ::testing::TestWithParam<std::string> {};

TEST_P(DiscoverKernelImage, MatchesNdctlList) {
  const std::string name = GetParam();
  auto m = manifest(name);
  auto img = open_image(test::image_path("kernel/" + name + ".img.zst"));
  ASSERT_TRUE(img) << img.error().message();
  auto d = discover(*img);
  ASSERT_TRUE(d) << d.error().message();

  std::vector<nlohmann::json> expected;
  for (const auto& ns : m["ndctl"]["list"]["regions"][0]["namespaces"])
    if (ns["size"].get<std::uint64_t>() > 0) expected.push_back(ns);
  ASSERT_EQ(d->namespaces.size(), expected.size());
  for (const auto& e : expected) {
    const Namespace* ns = nullptr;
    for (const auto& n : d->namespaces)
      if (n.display_uuid().to_string() == e["uuid"].get<std::string>()) ns = &n;
    ASSERT_NE(ns, nullptr) << "namespace " << e["uuid"] << " not discovered";
    EXPECT_EQ(ns_mode_name(ns->mode), e["mode"].get<std::string>());
    EXPECT_EQ(ns->capacity(), e["size"].get<std::uint64_t>());
    EXPECT_EQ(ns->sector_size(), e["sector_size"].get<std::uint32_t>());
    if (e.contains("raw_uuid")) {
      EXPECT_EQ(ns->uuid.to_string(), e["raw_uuid"].get<std::string>());
    }
    if (e.contains("name")) {
      EXPECT_EQ(ns->name, e["name"].get<std::string>());
    }
    if (e.contains("align")) {
      ASSERT_TRUE(ns->align());
      EXPECT_EQ(*ns->align(), e["align"].get<std::uint64_t>());
    }
    EXPECT_FALSE(ns->personality_missing) << ns->personality_note;
    if (ns->btt) {
      // The kernel's layout for this namespace size equals the info block it wrote.
      auto layout = kernel_btt_layout(ns->size, ns->btt->info.external_lbasize,
                                      ns->btt->version, ns->btt->info.nfree);
      ASSERT_TRUE(layout) << layout.error().message();
      ASSERT_EQ(layout->size(), 1u);
      const auto& a = (*layout)[0];
      const auto& info = ns->btt->info;
      EXPECT_TRUE(compare_info_to_layout(info, a).empty());
      EXPECT_EQ(a.internal_nlba, info.internal_nlba);
      EXPECT_EQ(a.external_nlba, info.external_nlba);
      EXPECT_EQ(a.internal_lbasize, info.internal_lbasize);
      EXPECT_EQ(a.dataoff, info.dataoff);
      EXPECT_EQ(a.mapoff, info.mapoff);
      EXPECT_EQ(a.logoff, info.logoff);
      EXPECT_EQ(a.info2off, info.info2off);
      EXPECT_EQ(a.nextoff, info.nextoff);
      EXPECT_EQ(ns->btt->info_offset, ns->btt->version == BttVersion::V2_0 ? 0u : 4096u);
    }
  }
  for (const auto& f : d->findings) EXPECT_NE(f.severity(), Severity::Error) << f.to_string();
}

INSTANTIATE_TEST_SUITE_P(All, DiscoverKernelImage,
                         ::testing::Values("a-sector4096-labels1.1", "c-fsdax-labels1.2",
                                           "e-raw-labels1.1", "f-two-namespaces-labels1.2",
                                           "i-sector4096-labelless"),
                         [](const auto& info) {
                           std::string s = info.param.substr(0, 1);
                           return s;
                         });

TEST(Discover, ImageKinds) {
  auto a = discover(*open_image(test::image_path("kernel/a-sector4096-labels1.1.img.zst")));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->kind, ImageKind::DimmWithLabels);
  EXPECT_EQ(a->pmem_size, 256u << 20);
  auto i = discover(*open_image(test::image_path("kernel/i-sector4096-labelless.img.zst")));
  ASSERT_TRUE(i);
  EXPECT_EQ(i->kind, ImageKind::Labelless);
  ASSERT_EQ(i->namespaces.size(), 1u);
  EXPECT_TRUE(i->namespaces[0].uuid.is_zero());
  EXPECT_EQ(i->namespaces[0].mode, NsMode::Sector);
}

TEST(Discover, BareLabelArea) {
  auto img = open_image(test::image_path("kernel/f-two-namespaces-labels1.2.img.zst"));
  ASSERT_TRUE(img);
  auto bytes = (*img)->read_vec((*img)->size() - (128 << 10), 128 << 10);
  ASSERT_TRUE(bytes);
  auto d = discover(make_memory_device(*bytes, "labels.bin", false));
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->kind, ImageKind::LabelAreaOnly);
  ASSERT_EQ(d->namespaces.size(), 2u);
  EXPECT_EQ(d->namespaces[0].name, "btt-one");
  EXPECT_EQ(d->namespaces[0].mode, NsMode::Sector);
  EXPECT_EQ(d->namespaces[1].name, "fsdax-two");
  EXPECT_EQ(d->namespaces[1].mode, NsMode::Fsdax);
}

TEST(Discover, ExplicitWindowFindsBtt2AtZero) {
  auto img = open_image(test::image_path("kernel/f-two-namespaces-labels1.2.img.zst"));
  ASSERT_TRUE(img);
  DiscoverOptions o;
  o.ns_offset = 0;
  o.ns_size = 64 << 20;
  auto d = discover(*img, o);
  ASSERT_TRUE(d) << d.error().message();
  ASSERT_EQ(d->namespaces.size(), 1u);
  ASSERT_TRUE(d->namespaces[0].btt);
  EXPECT_EQ(d->namespaces[0].btt->version, BttVersion::V2_0);
  o.ns_offset = (*img)->size() + 1;
  EXPECT_FALSE(discover(*img, o));
  o.ns_offset = 4096;
  o.ns_size = UINT64_MAX;
  EXPECT_FALSE(discover(*img, o));
}

TEST(Discover, PmemBlkPools) {
  for (std::string name : {"blk4096", "blk4096-flog-seq-dup", "blk4096-flog-seq-zero"}) {
    auto img = open_image(test::image_path("pmdk/" + name + ".pool.zst"));
    ASSERT_TRUE(img);
    auto d = discover(*img);
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(d->kind, ImageKind::PmemBlkPool);
    ASSERT_EQ(d->namespaces.size(), 1u);
    const auto& ns = d->namespaces[0];
    EXPECT_EQ(ns.offset, 8192u);
    ASSERT_TRUE(ns.btt) << name << ": " << ns.personality_note;
    EXPECT_EQ(ns.btt->external_nlba, 16103u);
    EXPECT_EQ(ns.capacity(), 16103u * 4096u);
  }
  auto nolayout = discover(*open_image(test::image_path("pmdk/blk4096-nolayout.pool.zst")));
  ASSERT_TRUE(nolayout);
  ASSERT_EQ(nolayout->namespaces.size(), 1u);
  EXPECT_FALSE(nolayout->namespaces[0].btt);
  ASSERT_FALSE(nolayout->findings.empty());
  EXPECT_EQ(nolayout->findings[0].code, Problem::POOL_LAYOUT_NOT_WRITTEN);
  auto flip = discover(*open_image(test::image_path("pmdk/blk4096-info-flip.pool.zst")));
  ASSERT_TRUE(flip);
  EXPECT_TRUE(flip->namespaces[0].personality_missing);
}

TEST(Discover, GarbageAndTinyImages) {
  for (std::size_t n : {0, 1, 100, 4096, 200000}) {
    ByteVec junk(n);
    for (std::size_t k = 0; k < n; ++k) junk[k] = static_cast<std::uint8_t>(k * 131 + 7);
    auto d = discover(make_memory_device(junk, "junk", false));
    ASSERT_TRUE(d) << n;
    EXPECT_EQ(d->kind, ImageKind::Labelless);
    for (const auto& ns : d->namespaces) EXPECT_EQ(ns.mode, NsMode::Raw);
  }
}

}  // namespace
}  // namespace ndtk
