// Hostile inputs for every BTT decoder, validator and the geometry: truncated, empty,
// all-zero, all-0xFF and seeded random bytes, offsets near UINT64_MAX. Nothing may crash,
// read out of bounds or overflow (this suite also runs under ASan+UBSan); valid-looking
// garbage must still produce findings or errors.
#include <gtest/gtest.h>

#include <random>

#include "ndtk/format/btt_info.h"
#include "ndtk/format/btt_log.h"
#include "ndtk/format/btt_map.h"
#include "ndtk/geometry/btt_geometry.h"

namespace ndtk {
namespace {

ByteVec random_bytes(std::mt19937_64& rng, std::size_t n) {
  ByteVec b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

/// A random u64 biased towards the edges where arithmetic breaks.
std::uint64_t edgy(std::mt19937_64& rng) {
  static const std::uint64_t kEdges[] = {0,
                                         1,
                                         4095,
                                         4096,
                                         4097,
                                         (1ull << 24) - 1,
                                         1ull << 24,
                                         (1ull << 39),
                                         (1ull << 39) + 1,
                                         UINT32_MAX,
                                         UINT64_MAX - 4096,
                                         UINT64_MAX - 1,
                                         UINT64_MAX};
  switch (rng() % 3) {
    case 0:
      return kEdges[rng() % (sizeof(kEdges) / sizeof(kEdges[0]))];
    case 1:
      return rng() % (1ull << 40);
    default:
      return rng();
  }
}

BttInfoContext random_ctx(std::mt19937_64& rng) {
  BttInfoContext c;
  c.flavor = (rng() & 1) ? BttFlavor::Kernel : BttFlavor::Pmdk;
  if (rng() & 1) c.remaining = edgy(rng);
  if (rng() & 1) c.expected_version = (rng() & 1) ? BttVersion::V1_1 : BttVersion::V2_0;
  if (rng() & 1) {
    Uuid u;
    for (auto& x : u.bytes) x = static_cast<std::uint8_t>(rng() & 1 ? 0 : rng());
    c.namespace_uuid = u;
  }
  c.arena_index = static_cast<std::uint32_t>(rng());
  if (rng() & 1) c.offset = edgy(rng);
  return c;
}

TEST(BttRobustness, InfoDecodeParseValidate) {
  std::mt19937_64 rng(0xb77);
  std::vector<ByteVec> inputs = {ByteVec{}, ByteVec(1, 0), ByteVec(kBttInfoSize - 1, 0),
                                 ByteVec(kBttInfoSize, 0), ByteVec(kBttInfoSize, 0xff)};
  for (int i = 0; i < 200; ++i) inputs.push_back(random_bytes(rng, rng() % (2 * kBttInfoSize)));
  // Random bodies behind a correct signature and checksum reach every validate rule.
  for (int i = 0; i < 200; ++i) {
    auto info = BttInfo::decode(random_bytes(rng, kBttInfoSize));
    info->signature = kBttInfoSignature;
    inputs.push_back(info->with_checksum().serialize());
  }
  for (const auto& in : inputs) {
    auto d = BttInfo::decode(in);
    ASSERT_EQ(d.has_value(), in.size() >= kBttInfoSize);
    if (!d) {
      EXPECT_EQ(d.error().code, Errc::kTruncated);
      EXPECT_FALSE(BttInfo::parse(in));
      continue;
    }
    EXPECT_TRUE(std::equal(in.begin(), in.begin() + kBttInfoSize, d->serialize().begin()));
    auto p = BttInfo::parse(in);
    const bool sane = d->signature_ok() && d->checksum_ok();
    EXPECT_EQ(p.has_value(), sane);
    for (int k = 0; k < 4; ++k) {
      const Findings f = d->validate(random_ctx(rng));
      // Garbage (random, zero, 0xFF) never validates clean.
      if (in.size() == kBttInfoSize && (in[0] == 0 || in[0] == 0xff)) {
        EXPECT_FALSE(f.empty());
      }
      for (const auto& x : f) EXPECT_FALSE(x.to_string().empty());
    }
    (void)d->arena_size();
  }
}

TEST(BttRobustness, InfoFindingOffsetsNeverWrap) {
  BttInfo i;  // all zero: bad signature
  BttInfoContext c;
  c.offset = UINT64_MAX;
  Findings f = i.validate(c);
  ASSERT_FALSE(f.empty());
  EXPECT_EQ(f[0].offset, std::optional<std::uint64_t>(UINT64_MAX));  // signature at +0
  i.signature = kBttInfoSignature;
  i.checksum = 1;
  f = i.validate(c);
  for (const auto& x : f)
    if (x.code == Problem::BTT_INFO_BAD_CHECKSUM) {
      EXPECT_FALSE(x.offset.has_value());
    }
}

TEST(BttRobustness, LogDecodeDetectValidate) {
  std::mt19937_64 rng(0x106);
  for (int round = 0; round < 200; ++round) {
    const std::size_t n = rng() % 2048;
    ByteVec raw;
    switch (round % 4) {
      case 0:
        raw = random_bytes(rng, n);
        break;
      case 1:
        raw.assign(n, 0);
        break;
      case 2:
        raw.assign(n, 0xff);
        break;
      default: {
        // Mostly-initial logs with a few random slots: reaches deep into detection.
        const std::uint32_t lanes = static_cast<std::uint32_t>(n / 64);
        for (std::uint32_t l = 0; l < lanes; ++l) {
          BttLogGroup g = btt_kernel_initial_log_group(l, static_cast<std::uint32_t>(rng()));
          if (rng() % 8 == 0)
            g.slots[rng() % 4] = BttLogEntry{
                static_cast<std::uint32_t>(rng()), static_cast<std::uint32_t>(rng()),
                static_cast<std::uint32_t>(rng()), static_cast<std::uint32_t>(rng() % 5)};
          const ByteVec b = g.serialize();
          raw.insert(raw.end(), b.begin(), b.end());
        }
      }
    }
    const std::uint32_t nfree = static_cast<std::uint32_t>(raw.size() / 64);
    auto groups = decode_log_groups(raw, nfree);
    ASSERT_TRUE(groups);
    EXPECT_FALSE(decode_log_groups(raw, nfree + 1));
    auto idx = detect_log_indices(*groups);
    if (round % 4 == 1) {  // all zero: no live slot anywhere
      EXPECT_FALSE(idx);
    }
    for (std::uint32_t lane = 0; lane < groups->size(); ++lane) {
      BttLaneContext c;
      c.flavor = (rng() & 1) ? BttFlavor::Kernel : BttFlavor::Pmdk;
      c.lane = lane;
      c.external_nlba = static_cast<std::uint32_t>(rng());
      c.internal_nlba = static_cast<std::uint32_t>(rng());
      c.indices = idx ? *idx : (rng() & 1 ? kBttLogIndicesNew : kBttLogIndicesOld);
      if (rng() & 1) c.offset = edgy(rng);
      const Findings f = validate_log_lane((*groups)[lane], c);
      if (round % 4 == 2) {  // all-0xFF: seqs equal and huge
        EXPECT_FALSE(f.empty());
      }
      const auto sel = select_current(lane_of((*groups)[lane], c.indices));
      if (sel.current()) {
        EXPECT_LT(*sel.current(), 2u);
      }
      EXPECT_EQ((*groups)[lane].serialize().size(), kBttLogGroupSize);
    }
  }
  // Every u32 seq pair edge: no crash, picks are sub-slots.
  const std::uint32_t seqs[] = {0, 1,          2,          3,          4,         5,
                                6, 0x7fffffff, 0xfffffffb, 0xfffffffe, 0xffffffff};
  for (auto a : seqs)
    for (auto b : seqs) {
      auto k = kernel_log_current_sub(a, b);
      auto p = pmdk_flog_current_sub(a, b);
      if (k) {
        EXPECT_LT(*k, 2u);
      }
      if (p) {
        EXPECT_LT(*p, 2u);
      }
      (void)classify_seq_pair(a, b);
    }
}

TEST(BttRobustness, MapDecodeRandom) {
  std::mt19937_64 rng(0x3a9);
  for (int round = 0; round < 200; ++round) {
    ByteVec map = random_bytes(rng, rng() % 64);
    const std::uint64_t idx = (rng() & 1) ? rng() % 20 : edgy(rng);
    auto e = decode_map_entry(map, idx);
    const bool fits = idx < map.size() / 4;
    EXPECT_EQ(e.has_value(), fits) << idx << " in " << map.size();
    auto w = encode_map_entry(map, idx, BttMapEntry{static_cast<std::uint32_t>(rng())});
    EXPECT_EQ(w.has_value(), fits);
    if (e) (void)e->effective_postmap(static_cast<std::uint32_t>(idx));
  }
}

TEST(BttRobustness, GeometryAbsurdParameters) {
  std::mt19937_64 rng(0x9e0);
  const std::uint32_t lbas[] = {
      0, 1, 511, 512, 520, 4096, 4224, 65536, 1u << 30, UINT32_MAX - 255, UINT32_MAX};
  const std::uint32_t nfrees[] = {0, 1, 2, 255, 256, 257, 65536, 1u << 26, UINT32_MAX};
  for (int round = 0; round < 400; ++round) {
    BttGeometryParams p;
    p.namespace_size = round < 50 ? edgy(rng) : rng() % (4ull << 40);
    p.external_lbasize = lbas[rng() % (sizeof(lbas) / sizeof(lbas[0]))];
    p.nfree = nfrees[rng() % (sizeof(nfrees) / sizeof(nfrees[0]))];
    p.version = (rng() & 1) ? BttVersion::V1_1 : BttVersion::V2_0;
    p.flavor = (rng() & 1) ? BttFlavor::Kernel : BttFlavor::Pmdk;
    auto l = compute_btt_layout(p);
    if (p.nfree == 0 || p.external_lbasize == 0 || p.namespace_size < (1ull << 24)) {
      EXPECT_FALSE(l);
    }
    if (!l) {
      EXPECT_FALSE(l.error().message().empty());
      continue;
    }
    for (const auto& a : *l) {
      EXPECT_LE(a.abs(a.end()), p.namespace_size);
      EXPECT_GT(a.external_nlba, 0u);
      EXPECT_LE(a.internal_nlba, 1u << 30);
      EXPECT_LE(a.mapoff + 4ull * a.external_nlba, a.logoff);
      EXPECT_LE(a.logoff + 64ull * a.nfree, a.info2off);
      BttInfo i = make_arena_info(a, Uuid{}, Uuid{}, p.version);
      EXPECT_TRUE(compare_info_to_layout(i, a).empty());
    }
    // Garbage info blocks compare without trouble.
    auto junk = BttInfo::decode(random_bytes(rng, kBttInfoSize));
    (void)compare_info_to_layout(*junk, l->front());
    (void)geometry_mismatch_findings(*junk, l->front(), "x", UINT64_MAX - 3);
  }
  // Single arenas of absurd size: too small for the metadata, or too many blocks to map.
  for (std::uint64_t size :
       {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{4096 * 3}, UINT64_MAX}) {
    for (auto f : {BttFlavor::Kernel, BttFlavor::Pmdk})
      EXPECT_FALSE(compute_arena_layout(size, {0, 4096, BttVersion::V1_1, f, 256})) << size;
  }
  auto giant = compute_arena_layout(UINT64_MAX, {0, 512, BttVersion::V1_1, BttFlavor::Pmdk, 256});
  ASSERT_FALSE(giant);  // more blocks than a 30-bit map entry can address
  EXPECT_EQ(giant.error().code, Errc::kUnsupported);
}

}  // namespace
}  // namespace ndtk
