// nd_pfn_init's layout: §10.5 vectors, the kernel-written blocks of images c and f rebuilt
// bit-exact from their namespace, refusals, and "whatever we create, the kernel accepts".
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "ndtk/geometry/pfn_geometry.h"
#include "ndtk/io/block_device.h"
#include "test_helpers.h"

namespace ndtk {
namespace {

using json = nlohmann::json;
constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::uint64_t kGiB = 1ull << 30;

PfnGeometryParams params(std::uint64_t start, std::uint64_t size, PfnMode mode,
                         std::uint64_t align = 2 * kMiB) {
  PfnGeometryParams p;
  p.start = start;
  p.size = size;
  p.mode = mode;
  p.align = align;
  return p;
}

TEST(PfnGeometry, SpecVectors) {
  for (std::uint64_t start : {std::uint64_t{0}, 2 * kMiB, std::uint64_t{0x240000000}}) {
    SCOPED_TRACE(start);
    auto g = compute_pfn_geometry(params(start, kGiB, PfnMode::Pmem));
    ASSERT_TRUE(g) << g.error().message();
    EXPECT_EQ(g->dataoff, 0x1200000u);
    EXPECT_EQ(g->npfns, 257536u);
    EXPECT_EQ(g->end_trunc, 0u);
    EXPECT_EQ(g->layout_align, 2 * kMiB);
    EXPECT_EQ(g->memmap_bytes, 64u * 262142);
    EXPECT_EQ(g->usable_bytes, kGiB - 18 * kMiB);

    auto r = compute_pfn_geometry(params(start, kGiB, PfnMode::Ram));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->dataoff, 0x200000u);
    EXPECT_EQ(r->npfns, 261632u);
    EXPECT_EQ(r->memmap_bytes, 0u);
  }
  auto small = compute_pfn_geometry(params(0, 256 * kMiB, PfnMode::Pmem));
  ASSERT_TRUE(small);
  EXPECT_EQ(small->dataoff, 0x600000u);
  EXPECT_EQ(small->npfns, 64000u);

  Uuid u, parent;
  u.bytes.fill(0x33);
  parent.bytes.fill(0x44);
  auto info = make_pfn_info(params(0, kGiB, PfnMode::Pmem), PfnKind::Pfn, u, parent);
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->checksum, 0x60e8acd2c278144eull);
  EXPECT_EQ(info->version_major, 1u);
  EXPECT_EQ(info->version_minor, 4u);
  EXPECT_EQ(info->align, 2 * kMiB);
  EXPECT_EQ(info->page_size, 4096u);
  EXPECT_EQ(info->page_struct_size, 64u);
  EXPECT_TRUE(info->padding_zero());
  EXPECT_TRUE(PfnInfo::parse(info->serialize()));
}

struct ImageCase {
  const char* image;
};

class PfnGeometryImage : public ::testing::TestWithParam<ImageCase> {};

TEST_P(PfnGeometryImage, RebuildsTheKernelBlock) {
  std::ifstream f(test::image_path(std::string("kernel/") + GetParam().image + ".json"));
  const json m = json::parse(f);
  json ib;
  for (const auto& b : m["infoblocks"])
    if (b["kind"] == "pfn") ib = b;
  ASSERT_FALSE(ib.is_null());
  const std::string raw_uuid = ib["namespace_uuid"];
  std::uint64_t start = 0, size = 0;
  for (const auto& l : m["labels"])
    if (l["uuid"] == raw_uuid && l["flags"] == 0) {
      start = l["dpa"];
      size = l["rawsize"];
    }
  ASSERT_NE(size, 0u);
  json listed;
  for (const auto& r : m["ndctl"]["list"]["regions"])
    for (const auto& n : r["namespaces"])
      if (n.contains("raw_uuid") && n["raw_uuid"] == raw_uuid) listed = n;
  ASSERT_FALSE(listed.is_null());

  PfnGeometryParams p;
  p.start = start;
  p.size = size;
  p.mode = listed["map"] == "dev" ? PfnMode::Pmem : PfnMode::Ram;
  p.align = listed["align"];
  auto g = compute_pfn_geometry(p);
  ASSERT_TRUE(g) << g.error().message();

  auto dev = open_image(test::image_path(std::string("kernel/") + GetParam().image + ".img.zst"));
  ASSERT_TRUE(dev);
  const ByteVec bytes = *(*dev)->read_vec(ib["file_offset"], kPfnInfoSize);
  const PfnInfo onmedia = *PfnInfo::parse(bytes);
  EXPECT_EQ(g->dataoff, onmedia.dataoff);
  EXPECT_EQ(g->npfns, onmedia.npfns);
  EXPECT_EQ(g->end_trunc, onmedia.end_trunc);
  EXPECT_EQ(g->page_struct_size, onmedia.page_struct_size);
  EXPECT_EQ(g->usable_bytes, listed["size"].get<std::uint64_t>());

  auto built = make_pfn_info(p, PfnKind::Pfn, onmedia.uuid, *Uuid::parse(raw_uuid));
  ASSERT_TRUE(built);
  EXPECT_EQ(built->serialize(), bytes) << "the kernel's block differs from nd_pfn_init's";
}

INSTANTIATE_TEST_SUITE_P(PfnGeometryImages, PfnGeometryImage,
                         ::testing::Values(ImageCase{"c-fsdax-labels1.2"},
                                           ImageCase{"f-two-namespaces-labels1.2"}));

TEST(PfnGeometry, EndTruncAndLargeAlign) {
  // A 257 MiB namespace loses its last MiB to the 2 MiB layout alignment.
  auto g = compute_pfn_geometry(params(0, 257 * kMiB, PfnMode::Pmem));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->end_trunc, 1 * kMiB);
  EXPECT_EQ(g->dataoff, 6 * kMiB);
  EXPECT_EQ(g->npfns, 64000u);
  auto info = make_pfn_info(params(0, 257 * kMiB, PfnMode::Pmem), PfnKind::Pfn, Uuid{}, Uuid{});
  ASSERT_TRUE(info);
  PfnNamespace ns;
  ns.size = 257 * kMiB;
  const auto v = kernel_validate(*info, ns);
  EXPECT_TRUE(v.kernel_accepts()) << v.kernel_error;
  EXPECT_EQ(v.usable_bytes, 250 * kMiB);

  // 1 GiB devdax alignment on a 4 GiB namespace at 1 GiB: dataoff and end round to 1 GiB.
  auto d = compute_pfn_geometry(params(kGiB, 4 * kGiB + 3 * kMiB, PfnMode::Pmem, kGiB));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->layout_align, kGiB);
  EXPECT_EQ(d->dataoff, kGiB);
  EXPECT_EQ(d->end_trunc, 3 * kMiB);
  EXPECT_EQ(d->npfns, 3 * kGiB / 4096);

  // An align below the compat alignment is recorded as requested, laid out at compat.
  auto small = make_pfn_info(params(64 * kMiB, 128 * kMiB, PfnMode::Ram, 4096), PfnKind::Pfn,
                             Uuid{}, Uuid{});
  ASSERT_TRUE(small);
  EXPECT_EQ(small->align, 4096u);
  EXPECT_EQ(small->dataoff, 2 * kMiB);
  EXPECT_EQ(small->npfns, 32256u);
}

TEST(PfnGeometry, StructPageSizes) {
  // The KMSAN-era MAX_STRUCT_PAGE_SIZE of 128 reserves twice the memmap.
  auto p = params(0, 256 * kMiB, PfnMode::Pmem);
  p.max_struct_page_size = 128;
  auto g = compute_pfn_geometry(p);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->dataoff, 10 * kMiB);
  EXPECT_EQ(g->page_struct_size, 128u);
  // A debug kernel's larger struct page is refused unless the override is on.
  p = params(0, 256 * kMiB, PfnMode::Pmem);
  p.struct_page_size = 80;
  auto refused = compute_pfn_geometry(p);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kUnsupported);
  p.page_struct_override = true;
  g = compute_pfn_geometry(p);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->page_struct_size, 80u);
  EXPECT_EQ(g->dataoff, align_up(8192 + 80ull * 65534, 2 * kMiB));
  // RAM mode does not depend on it.
  p.mode = PfnMode::Ram;
  EXPECT_EQ(compute_pfn_geometry(p)->dataoff, 2 * kMiB);
}

TEST(PfnGeometry, Refusals) {
  auto expect_err = [](const PfnGeometryParams& p, Errc code, const char* needle) {
    auto g = compute_pfn_geometry(p);
    ASSERT_FALSE(g);
    EXPECT_EQ(g.error().code, code) << g.error().message();
    EXPECT_NE(g.error().message().find(needle), std::string::npos) << g.error().message();
  };
  expect_err(params(4096, kGiB, PfnMode::Pmem), Errc::kInvalidArgument, "misaligned");
  expect_err(params(0, kGiB, PfnMode::None), Errc::kInvalidArgument, "mode");
  expect_err(params(0, kGiB, PfnMode::Pmem, 3 * kMiB), Errc::kInvalidArgument, "power of two");
  expect_err(params(0, kGiB, PfnMode::Pmem, 0), Errc::kInvalidArgument, "power of two");
  expect_err(params(0, 4096, PfnMode::Ram), Errc::kInvalidArgument, "reserve");
  expect_err(params(0, 2 * kMiB, PfnMode::Ram), Errc::kOutOfRange, "requested alignment");
  expect_err(params(0, kGiB, PfnMode::Ram, kGiB), Errc::kOutOfRange, "requested alignment");
  expect_err(params(~0ull - (2 * kMiB - 1) - 2 * kMiB + 1, 8 * kMiB, PfnMode::Pmem),
             Errc::kInvalidArgument, "overflows");
  expect_err(params(0, kGiB, PfnMode::Pmem, 1ull << 33), Errc::kOutOfRange, "32-bit");
  // A 1 GiB alignment on a 68 MiB namespace that does not start on 1 GiB: end_trunc (70 MiB)
  // exceeds the size; the kernel's unsigned check would wrap and write a nonsense block.
  expect_err(params(kGiB + 2 * kMiB, 68 * kMiB, PfnMode::Pmem, kGiB), Errc::kOutOfRange,
             "larger than the namespace");
  auto compat = params(0, kGiB, PfnMode::Pmem);
  compat.compat_align = 3;
  expect_err(compat, Errc::kInvalidArgument, "compat");
  auto page = params(0, kGiB, PfnMode::Pmem);
  page.page_size = 0;
  expect_err(page, Errc::kInvalidArgument, "PAGE_SIZE");
  auto k = make_pfn_info(params(0, kGiB, PfnMode::Pmem), PfnKind::Unknown, Uuid{}, Uuid{});
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().code, Errc::kInvalidArgument);
  // Near the top of the address space the rounding itself would overflow.
  expect_err(params(~0ull - 2 * kMiB + 1, 2 * kMiB - 1, PfnMode::Pmem), Errc::kOutOfRange,
             "overflows");
}

TEST(PfnGeometry, WhatWeCreateTheKernelAccepts) {
  std::mt19937_64 rng(0x5eed0002);
  const std::uint64_t aligns[] = {4096, 64 * 1024, 2 * kMiB, 16 * kMiB, kGiB};
  int created = 0;
  for (int i = 0; i < 4000; ++i) {
    PfnGeometryParams p;
    p.page_size = (i % 5 == 0) ? 65536 : 4096;
    p.compat_align = (i % 7 == 0) ? 16 * kMiB : 2 * kMiB;
    p.start = (rng() % (1ull << 20)) * p.compat_align;
    p.size = 16 * kMiB + (rng() % (1ull << 14)) * (rng() % 3 == 0 ? 4096 : kMiB);
    p.mode = (rng() % 2) ? PfnMode::Pmem : PfnMode::Ram;
    const PfnKind kind = (rng() % 2) ? PfnKind::Pfn : PfnKind::Dax;
    // devdax only takes the sizes the kernel maps with: PAGE_SIZE, PMD, PUD.
    const std::uint64_t dax_aligns[] = {p.page_size, 2 * kMiB, kGiB};
    p.align = kind == PfnKind::Dax ? dax_aligns[rng() % 3] : aligns[rng() % std::size(aligns)];
    Uuid u, parent;
    for (auto& x : u.bytes) x = static_cast<std::uint8_t>(rng());
    for (auto& x : parent.bytes) x = static_cast<std::uint8_t>(rng());
    auto info = make_pfn_info(p, kind, u, parent);
    if (!info) {
      EXPECT_TRUE(info.error().code == Errc::kOutOfRange) << info.error().message();
      continue;
    }
    ++created;
    const auto g = *compute_pfn_geometry(p);
    // Invariants of the layout itself.
    EXPECT_EQ((p.start + g.dataoff) % g.layout_align, 0u);
    EXPECT_EQ((p.start + p.size - g.end_trunc) % g.layout_align, 0u);
    EXPECT_LT(g.dataoff + g.end_trunc, p.size);
    EXPECT_EQ(g.npfns, (p.size - g.dataoff - g.end_trunc) / p.page_size);
    EXPECT_GE(g.dataoff, 8192u + g.memmap_bytes);

    PfnNamespace ns;
    ns.start = p.start;
    ns.size = p.size;
    ns.uuid = parent;
    ns.claim = kind == PfnKind::Pfn ? PfnClaim::Pfn : PfnClaim::Dax;
    PfnKernelEnv env;
    env.page_size = p.page_size;
    env.compat_align = p.compat_align;
    env.dax_alignments = {p.page_size, 2 * kMiB, kGiB};
    const auto v = kernel_validate(*info, ns, env);
    ASSERT_TRUE(v.kernel_accepts()) << v.kernel_error;
    for (const auto& f : v.findings) ADD_FAILURE() << f.to_string();
    EXPECT_EQ(v.usable_bytes, g.usable_bytes);
    EXPECT_EQ(v.npfns, g.npfns);
  }
  EXPECT_GT(created, 3000);
}

}  // namespace
}  // namespace ndtk
