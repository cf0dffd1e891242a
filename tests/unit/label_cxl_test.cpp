// CXL namespace and region labels: layout, type UUIDs, checksum, validation, round trips.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "ndtk/format/cxl_label.h"
#include "test_helpers.h"

namespace ndtk {
namespace {

std::set<Problem> codes(const Findings& fs) {
  std::set<Problem> s;
  for (const auto& f : fs) s.insert(f.code);
  return s;
}

CxlNamespaceLabel ns_label() {
  CxlNamespaceLabel l;
  l.type = guid_cxl_namespace().uuid;
  l.uuid = *Uuid::parse("00112233-4455-6677-8899-aabbccddeeff");
  const char* n = "cxl-ns";
  std::copy(n, n + 6, l.name.begin());
  l.nrange = 1;
  l.position = 0;
  l.dpa = 0x10000000;
  l.rawsize = 0x10000000;
  l.slot = 2;
  l.align = 1;
  l.region_uuid = *Uuid::parse("11111111-2222-3333-4444-555555555555");
  l.abstraction_uuid = guid_pfn().uuid;
  l.lbasize = 512;
  return l.with_checksum();
}

CxlRegionLabel region_label() {
  CxlRegionLabel r;
  r.type = guid_cxl_region().uuid;
  r.uuid = *Uuid::parse("11111111-2222-3333-4444-555555555555");
  r.nlabel = 2;
  r.position = 1;
  r.dpa = 0;
  r.rawsize = 0x10000000;
  r.hpa = 0x4000000000ull;
  r.slot = 0;
  r.ig = 0;
  r.align = 1;
  return r.with_checksum();
}

TEST(LabelCxlLayout, FieldTables) {
  for (FieldTable t : {CxlNamespaceLabel::fields(), CxlRegionLabel::fields()}) {
    std::size_t next = 0;
    for (const auto& f : t) {
      EXPECT_EQ(f.offset, next) << f.name;
      next = f.offset + f.size;
    }
    EXPECT_EQ(next, 256u);
  }
}

TEST(LabelCxlGuids, TypeUuidsInUuidOrder) {
  EXPECT_EQ(ByteVec(guid_cxl_region().uuid.bytes.begin(), guid_cxl_region().uuid.bytes.end()),
            test::from_hex("52 9d 7c 61 da 07 47 c4 a9 3f ec df 2c 06 f4 44"));
  EXPECT_EQ(ByteVec(guid_cxl_namespace().uuid.bytes.begin(), guid_cxl_namespace().uuid.bytes.end()),
            test::from_hex("68 bb 2c 0a 5a 77 49 37 9f 85 3c af 41 a0 f9 3c"));
  EXPECT_EQ(cxl_label_kind(ns_label().serialize()), CxlLabelKind::Namespace);
  EXPECT_EQ(cxl_label_kind(region_label().serialize()), CxlLabelKind::Region);
  EXPECT_EQ(cxl_label_kind(ByteVec(256, 0)), CxlLabelKind::Unknown);
  EXPECT_EQ(cxl_label_kind(ByteVec(15, 0)), CxlLabelKind::Unknown);
}

TEST(LabelCxlNamespace, RoundTripAndChecks) {
  const auto l = ns_label();
  const ByteVec b = l.serialize();
  ASSERT_EQ(b.size(), 256u);
  // Abstraction uuid in UUID order at 144; lbasize u16 at 160.
  EXPECT_EQ(ByteVec(b.begin() + 144, b.begin() + 160),
            test::from_hex("26 64 00 ba fb 9f 46 77 bc b0 96 8f 11 d0 d2 25"));
  EXPECT_EQ(b[160], 0x00);
  EXPECT_EQ(b[161], 0x02);
  auto p = CxlNamespaceLabel::parse(b);
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, l);
  EXPECT_EQ(p->claim_class(), ClaimClass::Pfn);
  EXPECT_EQ(p->name_string(), "cxl-ns");
  EXPECT_TRUE(p->kernel_slot_valid(2));
  EXPECT_FALSE(p->kernel_slot_valid(3));
  EXPECT_TRUE(p->validate(2).empty());
  ByteVec bad = b;
  bad[40] ^= 1;
  EXPECT_EQ(CxlNamespaceLabel::parse(bad).error().code, Errc::kBadChecksum);
  EXPECT_EQ(CxlNamespaceLabel::parse(region_label().serialize()).error().code, Errc::kBadSignature);
  EXPECT_EQ(CxlNamespaceLabel::decode(Bytes(b).first(255)).error().code, Errc::kTruncated);
  EXPECT_EQ(CxlNamespaceLabel::decode(Bytes{}).error().code, Errc::kTruncated);
}

TEST(LabelCxlNamespace, EachRuleAlone) {
  struct Case {
    const char* what;
    void (*mutate)(CxlNamespaceLabel&);
    Problem want;
  };
  const Case cases[] = {
      {"type", [](CxlNamespaceLabel& l) { l.type = guid_cxl_region().uuid; },
       Problem::LABEL_CXL_BAD_TYPE},
      {"slot", [](CxlNamespaceLabel& l) { l.slot = 9; }, Problem::LABEL_SLOT_MISMATCH},
      {"nrange", [](CxlNamespaceLabel& l) { l.nrange = 2; }, Problem::LABEL_CXL_NRANGE},
      {"flags", [](CxlNamespaceLabel& l) { l.flags = 1; }, Problem::LABEL_UNKNOWN_FLAGS},
      {"updating", [](CxlNamespaceLabel& l) { l.flags = 8; }, Problem::LABEL_UPDATING_FLAG},
      {"reserved", [](CxlNamespaceLabel& l) { l.reserved[10] = 3; },
       Problem::LABEL_RESERVED_NONZERO},
      {"name", [](CxlNamespaceLabel& l) { l.name.fill('x'); }, Problem::LABEL_NAME_UNTERMINATED},
      {"uuid", [](CxlNamespaceLabel& l) { l.uuid = Uuid{}; }, Problem::LABEL_ZERO_UUID},
      {"abstraction", [](CxlNamespaceLabel& l) { l.abstraction_uuid = guid_pfn().efi; },
       Problem::LABEL_UNKNOWN_ABSTRACTION},
      {"lbasize", [](CxlNamespaceLabel& l) { l.lbasize = 520; }, Problem::LABEL_BAD_LBASIZE},
      {"rawsize", [](CxlNamespaceLabel& l) { l.rawsize = 0; }, Problem::LABEL_ZERO_RAWSIZE},
  };
  for (const auto& c : cases) {
    CxlNamespaceLabel l = ns_label();
    c.mutate(l);
    EXPECT_EQ(codes(l.with_checksum().validate(2)), std::set<Problem>{c.want}) << c.what;
  }
  CxlNamespaceLabel l = ns_label();
  l.dpa = 1;
  EXPECT_EQ(codes(l.validate(2)), std::set<Problem>{Problem::LABEL_BAD_CHECKSUM});
}

TEST(LabelCxlRegion, RoundTripAndChecks) {
  const auto r = region_label();
  const ByteVec b = r.serialize();
  auto p = CxlRegionLabel::parse(b);
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, r);
  EXPECT_EQ(p->granularity(), 256u);
  EXPECT_TRUE(p->validate(0).empty());
  CxlRegionLabel x = r;
  x.ig = 4;
  EXPECT_EQ(x.granularity(), 4096u);
  x.ig = 60;
  EXPECT_FALSE(x.granularity());
  x = r;
  x.position = 2;
  EXPECT_EQ(codes(x.with_checksum().validate(0)),
            std::set<Problem>{Problem::LABEL_NLABEL_POSITION});
  x = r;
  x.reserved[0xab] = 1;
  EXPECT_EQ(codes(x.with_checksum().validate(0)),
            std::set<Problem>{Problem::LABEL_RESERVED_NONZERO});
  EXPECT_EQ(CxlRegionLabel::parse(ns_label().serialize()).error().code, Errc::kBadSignature);
  EXPECT_EQ(CxlRegionLabel::decode(Bytes(b).first(255)).error().code, Errc::kTruncated);
}

TEST(LabelCxlRobust, RandomZeroFf) {
  std::mt19937_64 rng(5);
  for (int it = 0; it < 200; ++it) {
    ByteVec b(256);
    if (it == 0)
      std::fill(b.begin(), b.end(), 0);
    else if (it == 1)
      std::fill(b.begin(), b.end(), 0xff);
    else
      for (auto& c : b) c = static_cast<std::uint8_t>(rng());
    auto n = CxlNamespaceLabel::decode(b);
    auto r = CxlRegionLabel::decode(b);
    ASSERT_TRUE(n);
    ASSERT_TRUE(r);
    EXPECT_EQ(n->serialize(), b);
    EXPECT_EQ(r->serialize(), b);
    EXPECT_FALSE(n->validate(0).empty());
    EXPECT_FALSE(r->validate(0).empty());
    EXPECT_FALSE(CxlNamespaceLabel::parse(b));
    EXPECT_FALSE(CxlRegionLabel::parse(b));
  }
}

}  // namespace
}  // namespace ndtk
