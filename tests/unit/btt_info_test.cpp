// BTT info block: FORMATS.md §10.4 vector, field table, codec round trips, parse errors and
// every validate() rule with the finding it must produce.
#include "ndtk/format/btt_info.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <set>

#include "test_helpers.h"

namespace ndtk {
namespace {

Uuid filled(std::uint8_t b) {
  Uuid u;
  u.bytes.fill(b);
  return u;
}

/// Arena 0 of a 256 MiB BTT 1.1 namespace with 4096-byte blocks (FORMATS.md §10.4).
BttInfo spec_info() {
  BttInfo i;
  i.signature = kBttInfoSignature;
  i.uuid = filled(0x11);
  i.parent_uuid = filled(0x22);
  i.flags = 0;
  i.set_version(BttVersion::V1_1);
  i.external_lbasize = 4096;
  i.external_nlba = 65208;
  i.internal_lbasize = 4096;
  i.internal_nlba = 65464;
  i.nfree = 256;
  i.infosize = 4096;
  i.nextoff = 0;
  i.dataoff = 0x1000;
  i.mapoff = 0xffba000;
  i.logoff = 0xfffa000;
  i.info2off = 0xfffe000;
  return i.with_checksum();
}

/// The context that makes spec_info() fully valid: 256 MiB namespace, arena 0 at 4096.
BttInfoContext spec_ctx() {
  BttInfoContext c;
  c.remaining = (256u << 20) - 4096;
  c.expected_version = BttVersion::V1_1;
  c.namespace_uuid = filled(0x22);
  c.offset = 4096;
  return c;
}

std::set<Problem> codes(const Findings& f) {
  std::set<Problem> s;
  for (const auto& x : f) s.insert(x.code);
  return s;
}

std::string dump(const Findings& f) {
  std::string s;
  for (const auto& x : f) s += x.to_string() + "\n";
  return s;
}

TEST(BttInfo, SpecVectorChecksumAndBytes) {
  const BttInfo info = spec_info();
  EXPECT_EQ(info.checksum, 0x66e86adcf8ae8147ull);
  const ByteVec expect = test::from_hex(
      "42 54 54 5f 41 52 45 4e 41 5f 49 4e 46 4f 00 00"
      "11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11"
      "22 22 22 22 22 22 22 22 22 22 22 22 22 22 22 22"
      "00 00 00 00 01 00 01 00 00 10 00 00 b8 fe 00 00"
      "00 10 00 00 b8 ff 00 00 00 01 00 00 00 10 00 00"
      "00 00 00 00 00 00 00 00 00 10 00 00 00 00 00 00"
      "00 a0 fb 0f 00 00 00 00 00 a0 ff 0f 00 00 00 00"
      "00 e0 ff 0f 00 00 00 00");
  ASSERT_EQ(expect.size(), 120u);
  const ByteVec bytes = info.serialize();
  ASSERT_EQ(bytes.size(), kBttInfoSize);
  EXPECT_TRUE(std::equal(expect.begin(), expect.end(), bytes.begin()));
  EXPECT_TRUE(
      std::all_of(bytes.begin() + 120, bytes.begin() + 4088, [](auto b) { return b == 0; }));
  EXPECT_EQ(le64(bytes, 4088), 0x66e86adcf8ae8147ull);
  auto parsed = BttInfo::parse(bytes);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(*parsed, info);
  EXPECT_EQ(parsed->version(), BttVersion::V1_1);
  EXPECT_EQ(parsed->arena_size(), std::optional<std::uint64_t>(0xffff000));
}

TEST(BttInfo, FieldTableCoversTheBlockInOrder) {
  const FieldTable t = BttInfo::fields();
  ASSERT_EQ(t.size(), 19u);
  std::size_t next = 0;
  std::set<std::string> names;
  for (const auto& f : t) {
    EXPECT_EQ(f.offset, next) << f.name;
    next = f.offset + f.size;
    names.insert(f.name);
  }
  EXPECT_EQ(next, kBttInfoSize);
  EXPECT_EQ(names.size(), t.size());
  for (const char* n : {"external_lbasize", "external_nlba", "internal_lbasize", "internal_nlba",
                        "nfree", "infosize", "nextoff", "dataoff", "mapoff", "logoff", "info2off",
                        "parent_uuid", "checksum", "padding"})
    EXPECT_TRUE(names.count(n)) << n;
  EXPECT_EQ(t.back().offset, 4088u);
}

TEST(BttInfo, DecodeSerializeIsBitExactForAnyBytes) {
  std::mt19937_64 rng(20240511);
  for (int round = 0; round < 64; ++round) {
    ByteVec b(kBttInfoSize);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    auto d = BttInfo::decode(b);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->serialize(), b);
  }
  for (std::uint8_t fill : {0x00, 0xff, 0x5a}) {
    ByteVec b(kBttInfoSize, fill);
    auto d = BttInfo::decode(b);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->serialize(), b);
  }
}

TEST(BttInfo, DecodeReadsEveryFieldAtItsOffset) {
  ByteVec b(kBttInfoSize, 0);
  // Distinct marker per field so a swapped offset cannot go unnoticed.
  put_le32(b, 48, 0xa1a2a3a4);
  put_le16(b, 52, 0xb1b2);
  put_le16(b, 54, 0xc1c2);
  put_le32(b, 56, 0x01020304);
  put_le32(b, 60, 0x05060708);
  put_le32(b, 64, 0x090a0b0c);
  put_le32(b, 68, 0x0d0e0f10);
  put_le32(b, 72, 0x11121314);
  put_le32(b, 76, 0x15161718);
  put_le64(b, 80, 0x2122232425262728);
  put_le64(b, 88, 0x3132333435363738);
  put_le64(b, 96, 0x4142434445464748);
  put_le64(b, 104, 0x5152535455565758);
  put_le64(b, 112, 0x6162636465666768);
  b[120] = 0x77;
  b[4087] = 0x78;
  put_le64(b, 4088, 0x8182838485868788);
  for (int i = 0; i < 16; ++i) {
    b[16 + i] = static_cast<std::uint8_t>(0x90 + i);
    b[32 + i] = static_cast<std::uint8_t>(0xe0 + i);
  }
  auto d = BttInfo::decode(b);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->flags, 0xa1a2a3a4u);
  EXPECT_EQ(d->version_major, 0xb1b2);
  EXPECT_EQ(d->version_minor, 0xc1c2);
  EXPECT_EQ(d->external_lbasize, 0x01020304u);
  EXPECT_EQ(d->external_nlba, 0x05060708u);
  EXPECT_EQ(d->internal_lbasize, 0x090a0b0cu);
  EXPECT_EQ(d->internal_nlba, 0x0d0e0f10u);
  EXPECT_EQ(d->nfree, 0x11121314u);
  EXPECT_EQ(d->infosize, 0x15161718u);
  EXPECT_EQ(d->nextoff, 0x2122232425262728ull);
  EXPECT_EQ(d->dataoff, 0x3132333435363738ull);
  EXPECT_EQ(d->mapoff, 0x4142434445464748ull);
  EXPECT_EQ(d->logoff, 0x5152535455565758ull);
  EXPECT_EQ(d->info2off, 0x6162636465666768ull);
  EXPECT_EQ(d->padding.front(), 0x77);
  EXPECT_EQ(d->padding.back(), 0x78);
  EXPECT_EQ(d->checksum, 0x8182838485868788ull);
  EXPECT_EQ(d->uuid.bytes[0], 0x90);
  EXPECT_EQ(d->uuid.bytes[15], 0x9f);
  EXPECT_EQ(d->parent_uuid.bytes[0], 0xe0);
  EXPECT_EQ(d->parent_uuid.bytes[15], 0xef);
}

TEST(BttInfo, TruncatedAndEmptyInputsFail) {
  const ByteVec full = spec_info().serialize();
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{120}, kBttInfoSize - 1}) {
    Bytes b(full.data(), n);
    auto d = BttInfo::decode(b);
    ASSERT_FALSE(d) << n;
    EXPECT_EQ(d.error().code, Errc::kTruncated);
    auto p = BttInfo::parse(b);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code, Errc::kTruncated);
  }
  // Longer input: only the first 4096 bytes count.
  ByteVec longer = full;
  longer.resize(3 * kBttInfoSize, 0xee);
  auto p = BttInfo::parse(longer);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->serialize(), full);
}

TEST(BttInfo, ParseReportsSignatureThenChecksumPrecisely) {
  ByteVec b = spec_info().serialize();
  b[3] = 'X';
  auto p = BttInfo::parse(b);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::kBadSignature);
  EXPECT_EQ(p.error().field, "signature");
  EXPECT_EQ(p.error().offset, std::optional<std::uint64_t>(0));
  EXPECT_NE(p.error().found.find("BTTXARENA_INFO"), std::string::npos) << p.error().message();
  EXPECT_NE(p.error().expected.find("BTT_ARENA_INFO\\x00\\x00"), std::string::npos);

  b = spec_info().serialize();
  b[60] ^= 0xff;  // external_nlba, the PMDK info-flip corruption
  p = BttInfo::parse(b);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::kBadChecksum);
  EXPECT_EQ(p.error().field, "checksum");
  EXPECT_EQ(p.error().offset, std::optional<std::uint64_t>(4088));
  EXPECT_EQ(p.error().found, "0x66e86adcf8ae8147");
  auto d = BttInfo::decode(b);
  ASSERT_TRUE(d);
  EXPECT_EQ(p.error().expected, hex(d->computed_checksum()));
  EXPECT_NE(p.error().message().find("expected"), std::string::npos);
}

TEST(BttInfo, ChecksumHelpers) {
  BttInfo i = spec_info();
  EXPECT_TRUE(i.checksum_ok());
  EXPECT_EQ(i.with_checksum(), i);
  i.nextoff = 1;
  EXPECT_FALSE(i.checksum_ok());
  EXPECT_NE(i.computed_checksum(), i.checksum);
  EXPECT_TRUE(i.with_checksum().checksum_ok());
  // The checksum field itself is excluded from the sum.
  BttInfo j = spec_info();
  j.checksum = 0x1234;
  EXPECT_EQ(j.computed_checksum(), spec_info().checksum);
}

TEST(BttInfo, VersionHelpers) {
  EXPECT_EQ(btt_initial_offset(BttVersion::V1_1), 4096u);
  EXPECT_EQ(btt_initial_offset(BttVersion::V2_0), 0u);
  EXPECT_EQ(btt_version_from(1, 1), BttVersion::V1_1);
  EXPECT_EQ(btt_version_from(2, 0), BttVersion::V2_0);
  EXPECT_FALSE(btt_version_from(1, 0));
  EXPECT_FALSE(btt_version_from(2, 1));
  EXPECT_FALSE(btt_version_from(0, 0));
  EXPECT_STREQ(btt_version_name(BttVersion::V2_0), "2.0");
  BttInfo i;
  i.set_version(BttVersion::V2_0);
  EXPECT_EQ(i.version_major, 2);
  EXPECT_EQ(i.version_minor, 0);
  for (std::uint32_t s : {512u, 520u, 528u, 4096u, 4104u, 4160u, 4224u})
    EXPECT_TRUE(btt_kernel_lbasize_supported(s)) << s;
  for (std::uint32_t s : {0u, 1u, 511u, 576u, 1024u, 2048u, 4097u, 8192u})
    EXPECT_FALSE(btt_kernel_lbasize_supported(s)) << s;
}

TEST(BttInfo, ValidSpecBlockHasNoFindings) {
  const Findings f = spec_info().validate(spec_ctx());
  EXPECT_TRUE(f.empty()) << dump(f);
  // Without any context the block-only rules still pass.
  EXPECT_TRUE(spec_info().validate().empty());
}

/// Apply `mutate`, recompute the checksum, and expect exactly `want` among the codes.
void expect_codes(const std::function<void(BttInfo&)>& mutate, std::set<Problem> want,
                  BttInfoContext ctx = spec_ctx()) {
  BttInfo i = spec_info();
  mutate(i);
  i = i.with_checksum();
  const Findings f = i.validate(ctx);
  EXPECT_EQ(codes(f), want) << dump(f);
}

TEST(BttInfo, ValidateEachRule) {
  using P = Problem;
  expect_codes([](BttInfo& i) { i.version_minor = 2; }, {P::BTT_INFO_VERSION_UNKNOWN});
  expect_codes([](BttInfo& i) { i.set_version(BttVersion::V2_0); }, {P::BTT_INFO_VERSION_OFFSET});
  expect_codes([](BttInfo& i) { i.infosize = 512; }, {P::BTT_INFO_INFOSIZE});
  expect_codes([](BttInfo& i) { i.external_nlba += 1; }, {P::BTT_INFO_NLBA_MISMATCH});
  expect_codes([](BttInfo& i) { i.nfree = 0; }, {P::BTT_INFO_NFREE, P::BTT_INFO_NLBA_MISMATCH});
  expect_codes([](BttInfo& i) { i.external_lbasize = 1000; }, {P::BTT_INFO_LBASIZE});
  expect_codes([](BttInfo& i) { i.external_lbasize = 0; }, {P::BTT_INFO_LBASIZE});
  expect_codes([](BttInfo& i) { i.internal_lbasize = 4032; },
               {P::BTT_INFO_LBASIZE});  // smaller than external
  expect_codes([](BttInfo& i) { i.internal_lbasize = 4100; },
               {P::BTT_INFO_LBASIZE, P::BTT_INFO_OFFSETS});  // not 64-aligned; data overruns
  expect_codes([](BttInfo& i) { i.dataoff = 8192; }, {P::BTT_INFO_OFFSETS});
  expect_codes([](BttInfo& i) { i.mapoff -= 8192; }, {P::BTT_INFO_OFFSETS});
  expect_codes([](BttInfo& i) { i.mapoff += 1; }, {P::BTT_INFO_OFFSETS});  // kernel: unaligned
  expect_codes([](BttInfo& i) { i.logoff = i.mapoff + 4096; }, {P::BTT_INFO_OFFSETS});
  expect_codes([](BttInfo& i) { i.info2off = i.logoff + 8192; },
               {P::BTT_INFO_OFFSETS, P::BTT_INFO_INFO2OFF});
  expect_codes([](BttInfo& i) { i.info2off -= 4096; },
               {P::BTT_INFO_INFO2OFF, P::BTT_INFO_OFFSETS});  // and the log now overlaps info2
  expect_codes([](BttInfo& i) { i.info2off = UINT64_MAX - 100; },
               {P::BTT_INFO_OFFSETS});  // overflowing end, never wraps into a match
  expect_codes([](BttInfo& i) { i.nextoff = std::uint64_t{1} << 39; },
               {P::BTT_INFO_NEXTOFF, P::BTT_INFO_INFO2OFF});
  expect_codes([](BttInfo& i) { i.padding[100] = 1; }, {P::BTT_INFO_PADDING_NONZERO});
  expect_codes([](BttInfo& i) { i.flags = kBttInfoFlagError; }, {P::BTT_INFO_ERROR_FLAG});
  expect_codes([](BttInfo& i) { i.flags = 0x10; }, {P::BTT_INFO_FLAGS_UNKNOWN});
  expect_codes([](BttInfo& i) { i.parent_uuid = filled(0x33); }, {P::BTT_INFO_PARENT_UUID});
  // The kernel's parent rule: an all-zero parent matches any namespace.
  expect_codes([](BttInfo& i) { i.parent_uuid = Uuid{}; }, {});
}

TEST(BttInfo, ValidateFlavourRules) {
  using P = Problem;
  BttInfoContext pmdk = spec_ctx();
  pmdk.flavor = BttFlavor::Pmdk;
  expect_codes([](BttInfo&) {}, {}, pmdk);
  // PMDK compares parent_uuid with the poolset uuid even when zero.
  expect_codes([](BttInfo& i) { i.parent_uuid = Uuid{}; }, {P::BTT_INFO_PARENT_UUID}, pmdk);
  // 520-byte sectors: 576 is the kernel's internal size (64-aligned), PMDK needs 768.
  auto five_twenty = [](std::uint32_t internal) {
    return [internal](BttInfo& i) {
      i.external_lbasize = 520;
      i.internal_lbasize = internal;
      i.internal_nlba = 1000;
      i.external_nlba = 744;
    };
  };
  expect_codes(five_twenty(576), {}, spec_ctx());
  expect_codes(five_twenty(576), {P::BTT_INFO_LBASIZE}, pmdk);
  expect_codes(five_twenty(768), {}, pmdk);
  // An lbasize outside the kernel's set is fine for a PMDK pool.
  auto odd = [](BttInfo& i) {
    i.external_lbasize = 1000;
    i.internal_lbasize = 1024;
    i.internal_nlba = 1000;
    i.external_nlba = 744;
  };
  expect_codes(odd, {}, pmdk);
  expect_codes(odd, {P::BTT_INFO_LBASIZE}, spec_ctx());
  // PMDK's last arena is not rounded down to 4 KiB: info2 ends at the exact end.
  BttInfoContext unaligned = pmdk;
  unaligned.remaining = *spec_ctx().remaining + 100;
  expect_codes([](BttInfo& i) { i.info2off += 100; }, {}, unaligned);
  BttInfoContext kernel_unaligned = spec_ctx();
  kernel_unaligned.remaining = *spec_ctx().remaining + 100;
  expect_codes([](BttInfo&) {}, {}, kernel_unaligned);
}

TEST(BttInfo, ValidateStopsAtBadSignatureAndLocatesFindings) {
  ByteVec zero(kBttInfoSize, 0);
  auto z = BttInfo::decode(zero);
  ASSERT_TRUE(z);
  Findings f = z->validate(spec_ctx());
  ASSERT_EQ(f.size(), 1u) << dump(f);
  EXPECT_EQ(f[0].code, Problem::BTT_INFO_BAD_SIGNATURE);
  EXPECT_NE(f[0].detail.find("whole block is zero"), std::string::npos);
  EXPECT_EQ(f[0].offset, std::optional<std::uint64_t>(4096));
  EXPECT_EQ(f[0].where, "arena 0 info");

  BttInfo i = spec_info();
  i.padding[200] = 9;  // stale checksum as well
  BttInfoContext ctx = spec_ctx();
  ctx.where = "arena 0 info2";
  f = i.validate(ctx);
  EXPECT_EQ(codes(f),
            (std::set<Problem>{Problem::BTT_INFO_BAD_CHECKSUM, Problem::BTT_INFO_PADDING_NONZERO}));
  for (const auto& x : f) {
    EXPECT_EQ(x.where, "arena 0 info2");
    if (x.code == Problem::BTT_INFO_PADDING_NONZERO) {
      EXPECT_EQ(x.offset, std::optional<std::uint64_t>(4096 + 120 + 200));
    }
    if (x.code == Problem::BTT_INFO_BAD_CHECKSUM) {
      EXPECT_EQ(x.offset, std::optional<std::uint64_t>(4096 + 4088));
    }
  }
}

TEST(BttInfo, EveryFieldCorruptionIsDetected) {
  // Flipping any bit of any field must produce at least one finding (the checksum catches
  // fields no rule inspects); after re-checksumming, fields with rules must still be caught.
  const ByteVec good = spec_info().serialize();
  const std::set<std::string> semantic = {"signature",     "parent_uuid",      "flags",
                                          "version_major", "version_minor",    "external_lbasize",
                                          "external_nlba", "internal_lbasize", "internal_nlba",
                                          "nfree",         "infosize",         "nextoff",
                                          "dataoff",       "mapoff",           "logoff",
                                          "info2off",      "padding"};
  for (const auto& fd : BttInfo::fields()) {
    for (std::size_t k : {std::size_t{0}, fd.size - 1}) {
      ByteVec b = good;
      b[fd.offset + k] ^= 0x01;
      auto d = BttInfo::decode(b);
      ASSERT_TRUE(d);
      EXPECT_FALSE(d->validate(spec_ctx()).empty()) << fd.name << "+" << k;
      if (semantic.count(fd.name)) {
        const Findings f = d->with_checksum().validate(spec_ctx());
        EXPECT_FALSE(f.empty()) << fd.name << "+" << k << " re-checksummed";
      }
    }
  }
}

}  // namespace
}  // namespace ndtk
