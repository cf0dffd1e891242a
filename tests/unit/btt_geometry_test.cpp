// BTT geometry: every FORMATS.md §10.6 row and the 600 GiB two-arena case, PMDK's variant,
// info-block synthesis against §10.4, the layout comparison, and absurd inputs.
#include "ndtk/geometry/btt_geometry.h"

#include <gtest/gtest.h>

#include <random>

namespace ndtk {
namespace {

constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::uint64_t kGiB = 1ull << 30;

struct SpecRow {
  const char* name;
  BttVersion version;
  std::uint64_t ns_size;
  std::uint32_t lbasize;
  std::uint64_t rawsize;
  std::uint32_t internal_nlba, external_nlba;
  std::uint64_t mapsize, datasize;
  std::uint64_t data, map, log, info2;  // arena-relative
  std::uint64_t abs_info, abs_data, abs_map, abs_log, abs_info2;
  std::uint64_t capacity;
};

// FORMATS.md §10.6, copied row by row.
const SpecRow kRows[] = {
    {"v1.1 256MiB 512", BttVersion::V1_1, 256 * kMiB, 512, 268431360, 520160, 519904, 2080768,
     266326016, 0x1000, 0xfdfe000, 0xfffa000, 0xfffe000, 0x1000, 0x2000, 0xfdff000, 0xfffb000,
     0xffff000, 266190848},
    {"v1.1 256MiB 4096", BttVersion::V1_1, 256 * kMiB, 4096, 268431360, 65464, 65208, 262144,
     268144640, 0x1000, 0xffba000, 0xfffa000, 0xfffe000, 0x1000, 0x2000, 0xffbb000, 0xfffb000,
     0xffff000, 267091968},
    {"v1.1 1GiB 512", BttVersion::V1_1, kGiB, 512, 1073737728, 2080831, 2080575, 8323072,
     1065390080, 0x1000, 0x3f80a000, 0x3fffa000, 0x3fffe000, 0x1000, 0x2000, 0x3f80b000, 0x3fffb000,
     0x3ffff000, 1065254400},
    {"v1.1 1GiB 4096", BttVersion::V1_1, kGiB, 4096, 1073737728, 261880, 261624, 1048576,
     1072664576, 0x1000, 0x3fefa000, 0x3fffa000, 0x3fffe000, 0x1000, 0x2000, 0x3fefb000, 0x3fffb000,
     0x3ffff000, 1071611904},
    {"v2.0 256MiB 512", BttVersion::V2_0, 256 * kMiB, 512, 268435456, 520168, 519912, 2080768,
     266330112, 0x1000, 0xfdff000, 0xfffb000, 0xffff000, 0x0, 0x1000, 0xfdff000, 0xfffb000,
     0xffff000, 266194944},
    {"v2.0 1GiB 4096", BttVersion::V2_0, kGiB, 4096, 1073741824, 261881, 261625, 1048576,
     1072668672, 0x1000, 0x3fefb000, 0x3fffb000, 0x3ffff000, 0x0, 0x1000, 0x3fefb000, 0x3fffb000,
     0x3ffff000, 1071616000},
    {"v1.1 1GiB 520", BttVersion::V1_1, kGiB, 520, 1073737728, 1851222, 1850966, 7405568,
     1066307584, 0x1000, 0x3f8ea000, 0x3fffa000, 0x3fffe000, 0x1000, 0x2000, 0x3f8eb000, 0x3fffb000,
     0x3ffff000, 947694592},
};

TEST(BttGeometry, SpecArenaLayoutRows) {
  for (const auto& r : kRows) {
    SCOPED_TRACE(r.name);
    auto l = kernel_btt_layout(r.ns_size, r.lbasize, r.version);
    ASSERT_TRUE(l) << l.error().message();
    ASSERT_EQ(l->size(), 1u);
    const ArenaLayout& a = (*l)[0];
    EXPECT_EQ(r.ns_size - btt_initial_offset(r.version), r.rawsize);
    EXPECT_EQ(a.size, r.rawsize);
    EXPECT_EQ(a.internal_nlba, r.internal_nlba);
    EXPECT_EQ(a.external_nlba, r.external_nlba);
    EXPECT_EQ(a.nfree, 256u);
    EXPECT_EQ(a.logsize, 16384u);
    EXPECT_EQ(a.mapsize, r.mapsize);
    EXPECT_EQ(a.datasize, r.datasize);
    EXPECT_EQ(a.dataoff, r.data);
    EXPECT_EQ(a.mapoff, r.map);
    EXPECT_EQ(a.logoff, r.log);
    EXPECT_EQ(a.info2off, r.info2);
    EXPECT_EQ(a.nextoff, 0u);
    EXPECT_EQ(a.offset, r.abs_info);
    EXPECT_EQ(a.abs(a.dataoff), r.abs_data);
    EXPECT_EQ(a.abs(a.mapoff), r.abs_map);
    EXPECT_EQ(a.abs(a.logoff), r.abs_log);
    EXPECT_EQ(a.abs(a.info2off), r.abs_info2);
    EXPECT_EQ(a.abs(a.end()), r.ns_size);  // info2 ends at the namespace end
    EXPECT_EQ(a.first_external_lba, 0u);
    const std::uint64_t sector = r.lbasize >= 4096 ? 4096 : 512;
    EXPECT_EQ(btt_total_external_lbas(*l) * sector, r.capacity);
    // The data area holds every internal block.
    EXPECT_LE(a.data_block_offset(a.internal_nlba), a.mapoff);
  }
}

TEST(BttGeometry, InternalLbaSizeByFlavour) {
  EXPECT_EQ(*btt_internal_lbasize(520, BttFlavor::Kernel), 576u);
  EXPECT_EQ(*btt_internal_lbasize(528, BttFlavor::Kernel), 576u);
  EXPECT_EQ(*btt_internal_lbasize(4104, BttFlavor::Kernel), 4160u);
  EXPECT_EQ(*btt_internal_lbasize(4224, BttFlavor::Kernel), 4224u);
  EXPECT_EQ(*btt_internal_lbasize(512, BttFlavor::Kernel), 512u);
  EXPECT_EQ(*btt_internal_lbasize(520, BttFlavor::Pmdk), 768u);
  EXPECT_EQ(*btt_internal_lbasize(1, BttFlavor::Pmdk), 512u);
  EXPECT_EQ(*btt_internal_lbasize(4096, BttFlavor::Pmdk), 4096u);
  EXPECT_EQ(*btt_internal_lbasize(4104, BttFlavor::Pmdk), 4352u);
  EXPECT_EQ(btt_internal_lbasize(1000, BttFlavor::Kernel).error().code, Errc::kUnsupported);
  EXPECT_EQ(btt_internal_lbasize(0, BttFlavor::Kernel).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(btt_internal_lbasize(0, BttFlavor::Pmdk).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(btt_internal_lbasize(UINT32_MAX, BttFlavor::Pmdk).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(*btt_internal_lbasize(UINT32_MAX - 255, BttFlavor::Pmdk), UINT32_MAX - 255);
}

TEST(BttGeometry, SixHundredGiBTwoArenas) {
  auto l = kernel_btt_layout(600 * kGiB, 4096, BttVersion::V1_1);
  ASSERT_TRUE(l) << l.error().message();
  ASSERT_EQ(l->size(), 2u);
  const ArenaLayout& a0 = (*l)[0];
  const ArenaLayout& a1 = (*l)[1];
  EXPECT_EQ(a0.offset, 0x1000u);
  EXPECT_EQ(a0.size, 512 * kGiB);
  EXPECT_EQ(a0.internal_nlba, 134086776u);
  EXPECT_EQ(a0.external_nlba, 134086520u);
  EXPECT_EQ(a0.mapoff, 0x7fe007b000u);
  EXPECT_EQ(a0.logoff, 0x7fffffb000u);
  EXPECT_EQ(a0.info2off, 0x7ffffff000u);
  EXPECT_EQ(a0.nextoff, 0x8000000000u);
  EXPECT_EQ(a1.index, 1u);
  EXPECT_EQ(a1.offset, 0x8000001000u);
  EXPECT_EQ(a1.size, 94489276416u);
  EXPECT_EQ(a1.internal_nlba, 23046157u);
  EXPECT_EQ(a1.external_nlba, 23045901u);
  EXPECT_EQ(a1.mapoff, 0x15fa810000u);
  EXPECT_EQ(a1.logoff, 0x15ffffa000u);
  EXPECT_EQ(a1.info2off, 0x15ffffe000u);
  EXPECT_EQ(a1.nextoff, 0u);
  EXPECT_EQ(a1.first_external_lba, 134086520u);
  EXPECT_EQ(btt_total_external_lbas(*l), 157132421u);
  EXPECT_EQ(a1.abs(a1.end()), 600 * kGiB);
}

TEST(BttGeometry, ArenaSplitTail) {
  // A tail below 16 MiB after a full arena is left unused and the first arena is the last.
  auto l = kernel_btt_layout(512 * kGiB + 4096 + 8 * kMiB, 4096, BttVersion::V1_1);
  ASSERT_TRUE(l);
  ASSERT_EQ(l->size(), 1u);
  EXPECT_EQ((*l)[0].nextoff, 0u);
  EXPECT_EQ((*l)[0].size, 512 * kGiB);
  // Exactly 16 MiB more makes a second, minimal arena.
  l = kernel_btt_layout(512 * kGiB + 4096 + 16 * kMiB, 4096, BttVersion::V1_1);
  ASSERT_TRUE(l);
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[0].nextoff, 512 * kGiB);
  EXPECT_EQ((*l)[1].size, 16 * kMiB);
  EXPECT_EQ((*l)[1].abs((*l)[1].end()), 512 * kGiB + 4096 + 16 * kMiB);
  // An unaligned namespace end: the kernel rounds the last arena down to 4 KiB.
  l = kernel_btt_layout(256 * kMiB + 100, 4096, BttVersion::V2_0);
  ASSERT_TRUE(l);
  EXPECT_EQ((*l)[0].size, 256 * kMiB + 100);
  EXPECT_EQ((*l)[0].info2off, 0xffff000u);
  EXPECT_EQ((*l)[0].internal_nlba, 65465u);
}

TEST(BttGeometry, KernelImagesLayouts) {
  // a / i: BTT 1.1 over the whole 256 MiB region; f btt-one: BTT 2.0 in a 64 MiB namespace.
  auto a = kernel_btt_layout(256 * kMiB, 4096, BttVersion::V1_1);
  ASSERT_TRUE(a);
  EXPECT_EQ((*a)[0].mapoff, 268148736u);
  EXPECT_EQ((*a)[0].logoff, 268410880u);
  EXPECT_EQ((*a)[0].info2off, 268427264u);
  auto f = kernel_btt_layout(64 * kMiB, 4096, BttVersion::V2_0);
  ASSERT_TRUE(f);
  EXPECT_EQ((*f)[0].offset, 0u);
  EXPECT_EQ((*f)[0].external_nlba, 16105u);
  EXPECT_EQ((*f)[0].internal_nlba, 16361u);
  EXPECT_EQ((*f)[0].mapoff, 67022848u);
  EXPECT_EQ((*f)[0].logoff, 67088384u);
  EXPECT_EQ((*f)[0].info2off, 67104768u);
}

TEST(BttGeometry, PmdkVariant) {
  // 64 MiB pmemblk pool: BTT raw size = file size - 8192 (the golden pools' layout).
  auto p = pmdk_btt_layout(64 * kMiB - 8192, 4096);
  ASSERT_TRUE(p) << p.error().message();
  ASSERT_EQ(p->size(), 1u);
  const ArenaLayout& a = (*p)[0];
  EXPECT_EQ(a.offset, 0u);
  EXPECT_EQ(a.flavor, BttFlavor::Pmdk);
  EXPECT_EQ(a.version, BttVersion::V1_1);
  EXPECT_EQ(a.internal_nlba, 16359u);
  EXPECT_EQ(a.external_nlba, 16103u);
  EXPECT_EQ(a.dataoff, 4096u);
  EXPECT_EQ(a.mapoff, 67014656u);
  EXPECT_EQ(a.logoff, 67080192u);
  EXPECT_EQ(a.info2off, 67096576u);
  EXPECT_EQ(a.end(), 64 * kMiB - 8192);

  // Same size, same numbers as the kernel formulas for 512/4096 ...
  for (std::uint32_t lb : {512u, 4096u}) {
    auto k = compute_arena_layout(
        256 * kMiB, BttGeometryParams{0, lb, BttVersion::V1_1, BttFlavor::Kernel, 256});
    auto m = compute_arena_layout(256 * kMiB,
                                  BttGeometryParams{0, lb, BttVersion::V1_1, BttFlavor::Pmdk, 256});
    ASSERT_TRUE(k && m);
    EXPECT_EQ(k->internal_nlba, m->internal_nlba) << lb;
    EXPECT_EQ(k->mapoff, m->mapoff) << lb;
    EXPECT_EQ(k->logoff, m->logoff) << lb;
    EXPECT_EQ(k->info2off, m->info2off) << lb;
  }
  // ... but not for 520 (ilbasize 768 vs 576).
  auto k520 = kernel_btt_layout(kGiB, 520, BttVersion::V1_1);
  auto p520 = pmdk_btt_layout(kGiB - 4096, 520);
  ASSERT_TRUE(k520 && p520);
  EXPECT_EQ((*k520)[0].internal_lbasize, 576u);
  EXPECT_EQ((*p520)[0].internal_lbasize, 768u);
  EXPECT_EQ((*p520)[0].internal_nlba, (1073737728u - 8192 - 16384 - 4096) / 772);
  // Unaligned raw size: PMDK places info2 at the very end, the kernel rounds down.
  auto pu = pmdk_btt_layout(64 * kMiB - 8192 + 100, 4096);
  auto ku = compute_arena_layout(
      64 * kMiB - 8192 + 100, BttGeometryParams{0, 4096, BttVersion::V1_1, BttFlavor::Kernel, 256});
  ASSERT_TRUE(pu && ku);
  EXPECT_EQ((*pu)[0].info2off, 67096576u + 100);
  EXPECT_EQ((*pu)[0].mapoff, 67014656u + 100);
  EXPECT_EQ(ku->info2off, 67096576u);
  // Any non-zero lbasize works for PMDK, not for the kernel.
  EXPECT_TRUE(pmdk_btt_layout(64 * kMiB, 1000));
  EXPECT_EQ(kernel_btt_layout(64 * kMiB, 1000, BttVersion::V1_1).error().code, Errc::kUnsupported);
  // PMDK needs at least 2 x nfree internal blocks.
  auto tiny = pmdk_btt_layout(16 * kMiB, 64 * 1024);
  ASSERT_FALSE(tiny);
  EXPECT_EQ(tiny.error().code, Errc::kInvalidArgument);
  EXPECT_NE(tiny.error().message().find("2 x nfree"), std::string::npos) << tiny.error().message();
}

TEST(BttGeometry, MakeArenaInfoReproducesSpecBlock) {
  auto l = kernel_btt_layout(256 * kMiB, 4096, BttVersion::V1_1);
  ASSERT_TRUE(l);
  Uuid u, p;
  u.bytes.fill(0x11);
  p.bytes.fill(0x22);
  const BttInfo info = make_arena_info((*l)[0], u, p, BttVersion::V1_1);
  EXPECT_EQ(info.checksum, 0x66e86adcf8ae8147ull);
  EXPECT_TRUE(info.checksum_ok());
  EXPECT_TRUE(info.signature_ok());
  EXPECT_TRUE(compare_info_to_layout(info, (*l)[0]).empty());
  BttInfoContext ctx;
  ctx.remaining = 256 * kMiB - 4096;
  ctx.expected_version = BttVersion::V1_1;
  ctx.namespace_uuid = p;
  EXPECT_TRUE(info.validate(ctx).empty());
  // Every arena of a multi-arena layout validates against its own remaining space.
  auto big = kernel_btt_layout(600 * kGiB, 512, BttVersion::V1_1);
  ASSERT_TRUE(big);
  for (const auto& a : *big) {
    BttInfoContext c;
    c.remaining = 600 * kGiB - a.offset;
    c.arena_index = a.index;
    const BttInfo i = make_arena_info(a, u, Uuid{}, BttVersion::V1_1);
    const Findings f = i.validate(c);
    EXPECT_TRUE(f.empty()) << a.index << ": " << (f.empty() ? "" : f[0].to_string());
  }
}

TEST(BttGeometry, CompareListsEveryDifferingField) {
  auto l = kernel_btt_layout(256 * kMiB, 4096, BttVersion::V1_1);
  ASSERT_TRUE(l);
  BttInfo info = make_arena_info((*l)[0], Uuid{}, Uuid{}, BttVersion::V1_1);
  info.mapoff += 4096;
  info.external_nlba ^= 0xff;
  info.set_version(BttVersion::V2_0);
  const auto diffs = compare_info_to_layout(info, (*l)[0]);
  ASSERT_EQ(diffs.size(), 4u);
  EXPECT_EQ(diffs[0], (BttFieldDiff{"version_major", 52, 2, 1}));
  EXPECT_EQ(diffs[1], (BttFieldDiff{"version_minor", 54, 0, 1}));
  EXPECT_EQ(diffs[2], (BttFieldDiff{"external_nlba", 60, 65208u ^ 0xff, 65208}));
  EXPECT_EQ(diffs[3], (BttFieldDiff{"mapoff", 96, 0xffbb000, 0xffba000}));
  const Findings f = geometry_mismatch_findings(info, (*l)[0], "arena 0 info", 4096);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[3].code, Problem::BTT_INFO_GEOMETRY_MISMATCH);
  EXPECT_EQ(f[3].offset, std::optional<std::uint64_t>(4096 + 96));
  EXPECT_NE(f[3].detail.find("0xffba000"), std::string::npos) << f[3].detail;
}

TEST(BttGeometry, TooSmallAndAbsurdInputs) {
  auto expect_err = [](const BttGeometryParams& p, Errc code) {
    auto l = compute_btt_layout(p);
    ASSERT_FALSE(l) << p.namespace_size << " " << p.external_lbasize << " " << p.nfree;
    EXPECT_EQ(l.error().code, code) << l.error().message();
  };
  const auto K = BttFlavor::Kernel;
  const auto P = BttFlavor::Pmdk;
  for (std::uint64_t ns :
       {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{4096}, 16 * kMiB + 4095, 16 * kMiB - 1}) {
    expect_err({ns, 4096, BttVersion::V1_1, K, 256}, Errc::kInvalidArgument);
    if (ns < 16 * kMiB) {
      expect_err({ns, 4096, BttVersion::V2_0, K, 256}, Errc::kInvalidArgument);
      expect_err({ns, 4096, BttVersion::V1_1, P, 256}, Errc::kInvalidArgument);
    }
  }
  // Exactly 16 MiB after the initial offset is enough.
  EXPECT_TRUE(compute_btt_layout({16 * kMiB + 4096, 4096, BttVersion::V1_1, K, 256}));
  EXPECT_TRUE(compute_btt_layout({16 * kMiB, 4224, BttVersion::V2_0, K, 256}));
  EXPECT_TRUE(compute_btt_layout({16 * kMiB, 4096, BttVersion::V1_1, P, 256}));
  auto msg = compute_btt_layout({16 * kMiB + 4095, 4096, BttVersion::V1_1, K, 256});
  EXPECT_NE(msg.error().message().find("16 MiB"), std::string::npos) << msg.error().message();

  expect_err({UINT64_MAX, 4096, BttVersion::V1_1, K, 256}, Errc::kUnsupported);
  expect_err({UINT64_MAX, 4096, BttVersion::V1_1, P, 256}, Errc::kUnsupported);
  expect_err({kBttMaxNamespaceSize + 1, 4096, BttVersion::V2_0, K, 256}, Errc::kUnsupported);
  expect_err({kGiB, 0, BttVersion::V1_1, K, 256}, Errc::kInvalidArgument);
  expect_err({kGiB, 0, BttVersion::V1_1, P, 256}, Errc::kInvalidArgument);
  expect_err({kGiB, UINT32_MAX, BttVersion::V1_1, K, 256}, Errc::kUnsupported);
  expect_err({kGiB, UINT32_MAX, BttVersion::V1_1, P, 256}, Errc::kInvalidArgument);
  expect_err({kGiB, UINT32_MAX - 255, BttVersion::V1_1, P, 256}, Errc::kInvalidArgument);
  expect_err({kGiB, 4096, BttVersion::V1_1, K, 0}, Errc::kInvalidArgument);
  expect_err({kGiB, 4096, BttVersion::V1_1, P, 0}, Errc::kInvalidArgument);
  expect_err({kGiB, 4096, BttVersion::V1_1, K, UINT32_MAX}, Errc::kInvalidArgument);
  expect_err({kGiB, 4096, BttVersion::V1_1, P, UINT32_MAX}, Errc::kInvalidArgument);
  expect_err({16 * kMiB, 4096, BttVersion::V2_0, K, 4100}, Errc::kInvalidArgument);
  // The error for a later arena names it.
  auto late = compute_btt_layout({512 * kGiB + 16 * kMiB, 4224, BttVersion::V2_0, K, 3960});
  ASSERT_FALSE(late);
  EXPECT_NE(late.error().message().find("arena 1"), std::string::npos) << late.error().message();

  // The largest accepted namespace: 8192 arenas, counts without overflow.
  auto huge = compute_btt_layout({kBttMaxNamespaceSize, 512, BttVersion::V1_1, K, 256});
  ASSERT_TRUE(huge) << huge.error().message();
  EXPECT_EQ(huge->size(), 8192u);
  EXPECT_EQ(huge->back().nextoff, 0u);
  EXPECT_EQ(huge->back().offset, 4096 + 8191 * (512 * kGiB));
  std::uint64_t sum = 0;
  for (const auto& a : *huge) {
    EXPECT_EQ(a.first_external_lba, sum);
    sum += a.external_nlba;
    EXPECT_LE(a.internal_nlba, 1u << 30);
  }
  EXPECT_EQ(btt_total_external_lbas(*huge), sum);
}

TEST(BttGeometry, RandomSizesKeepInvariants) {
  std::mt19937_64 rng(1234);
  const std::uint32_t sizes[] = {512, 520, 528, 4096, 4104, 4160, 4224};
  for (int round = 0; round < 300; ++round) {
    const std::uint64_t ns = rng() % (2 * 1024 * kGiB);
    const std::uint32_t lb = sizes[rng() % 7];
    const auto flavor = (rng() & 1) ? BttFlavor::Kernel : BttFlavor::Pmdk;
    const auto version = (rng() & 1) ? BttVersion::V1_1 : BttVersion::V2_0;
    auto l = compute_btt_layout({ns, lb, version, flavor, 256});
    const std::uint64_t init = flavor == BttFlavor::Kernel ? btt_initial_offset(version) : 0;
    if (ns < init + 16 * kMiB) {
      EXPECT_FALSE(l);
      continue;
    }
    ASSERT_TRUE(l) << ns << " " << lb << ": " << l.error().message();
    std::uint64_t expect_off = init;
    for (const auto& a : *l) {
      EXPECT_EQ(a.offset, expect_off);
      EXPECT_LE(a.abs(a.end()), ns);
      EXPECT_EQ(a.internal_nlba - a.external_nlba, 256u);
      EXPECT_LE(a.dataoff + std::uint64_t{a.internal_nlba} * a.internal_lbasize, a.mapoff);
      EXPECT_LE(a.mapoff + 4ull * a.external_nlba, a.logoff);
      EXPECT_EQ(a.logoff + a.logsize, a.info2off);
      if (a.nextoff) {
        EXPECT_EQ(a.nextoff, 512 * kGiB);
      }
      const BttInfo i = make_arena_info(a, Uuid{}, Uuid{}, version);
      BttInfoContext c;
      c.flavor = flavor;
      c.remaining = ns - a.offset;
      c.arena_index = a.index;
      EXPECT_TRUE(i.validate(c).empty()) << ns << " " << lb << " arena " << a.index;
      expect_off += a.size;
    }
    EXPECT_LT(ns - expect_off, 16 * kMiB);  // only a sub-16 MiB tail stays unused
  }
}

}  // namespace
}  // namespace ndtk
