// EFI namespace labels v1.1/v1.2: layout, §10.3 checksum vectors, GUID byte orders and claim
// classes (§3.4), validation of each field, round trips and hostile input.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "ndtk/format/namespace_label.h"
#include "test_helpers.h"

namespace ndtk {
namespace {

std::set<Problem> codes(const Findings& fs) {
  std::set<Problem> s;
  for (const auto& f : fs) s.insert(f.code);
  return s;
}

// The §10.3 example label.
NamespaceLabel example_v12() {
  NamespaceLabel l;
  l.label_size = 256;
  for (int i = 0; i < 16; ++i) l.uuid.bytes[i] = static_cast<std::uint8_t>(i + 1);
  const char* n = "test";
  std::copy(n, n + 4, l.name.begin());
  l.nlabel = 1;
  l.position = 0;
  l.isetcookie = 0x1122334455667788ull;
  l.lbasize = 512;
  l.dpa = 0;
  l.rawsize = 0x40000000;
  l.slot = 0;
  l.type_guid = guid_pmem_range().efi;
  l.abstraction_guid = guid_btt2().efi;
  return l.with_checksum();
}

TEST(LabelEfiLayout, FieldTables) {
  const auto t11 = NamespaceLabel::fields(128);
  const auto t12 = NamespaceLabel::fields(256);
  std::size_t n11 = 0, n12 = 0;
  for (const auto& f : t11) n11 += f.size;
  for (const auto& f : t12) n12 += f.size;
  EXPECT_EQ(n11, 128u);
  EXPECT_EQ(n12, 256u);
  EXPECT_EQ(t12.back().offset, 248u);
  EXPECT_STREQ(t12.back().name, "checksum");
  EXPECT_EQ(t11.back().offset, 124u);
}

TEST(LabelEfiVectors, ChecksumOfExample) {
  const NamespaceLabel l = example_v12();
  EXPECT_EQ(l.checksum, 0xcc2aeb2b6f8554daull);
  const ByteVec b = l.serialize();
  ASSERT_EQ(b.size(), 256u);
  EXPECT_EQ(ByteVec(b.begin() + 248, b.end()), test::from_hex("da 54 85 6f 2b eb 2a cc"));
  EXPECT_EQ(ByteVec(b.begin() + 128, b.begin() + 144),
            test::from_hex("79 d3 f0 66 f3 b4 74 40 ac 43 0d 33 18 b7 8c db"));
  EXPECT_EQ(ByteVec(b.begin() + 144, b.begin() + 160),
            test::from_hex("fc 3b 63 18 35 17 17 42 8a c9 17 23 92 82 d3 f8"));
  NamespaceLabel u = l;
  u.flags = kLabelFlagUpdating;
  EXPECT_EQ(u.with_checksum().checksum, 0xcc2aec8b6f8554e2ull);
  EXPECT_FALSE(u.checksum_ok());
  auto p = NamespaceLabel::parse(b, 256);
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, l);
  EXPECT_EQ(p->claim_class(), ClaimClass::Btt2);
  EXPECT_EQ(p->name_string(), "test");
  EXPECT_TRUE(p->validate(0).empty()) << p->validate(0).front().to_string();
}

// §3.4 table: every claim-class identifier in both byte orders.
TEST(LabelEfiGuids, ClaimClassTable) {
  struct Row {
    ClaimClass cc;
    const char* efi;
    const char* uuid;
  };
  const Row rows[] = {
      {ClaimClass::Btt, "a2 63 ed 8a a2 29 66 4c 8b 12 f0 5d 15 d3 92 2a",
       "8a ed 63 a2 29 a2 4c 66 8b 12 f0 5d 15 d3 92 2a"},
      {ClaimClass::Btt2, "fc 3b 63 18 35 17 17 42 8a c9 17 23 92 82 d3 f8",
       "18 63 3b fc 17 35 42 17 8a c9 17 23 92 82 d3 f8"},
      {ClaimClass::Pfn, "ba 00 64 26 9f fb 77 46 bc b0 96 8f 11 d0 d2 25",
       "26 64 00 ba fb 9f 46 77 bc b0 96 8f 11 d0 d2 25"},
      {ClaimClass::Dax, "9c 6d a8 97 dd 3c da 4e 98 6f 50 68 b4 f8 00 88",
       "97 a8 6d 9c 3c dd 4e da 98 6f 50 68 b4 f8 00 88"},
  };
  for (const auto& r : rows) {
    const Uuid e = Uuid::from_bytes(test::from_hex(r.efi));
    const Uuid u = Uuid::from_bytes(test::from_hex(r.uuid));
    EXPECT_EQ(efi_guid_for(r.cc), e) << claim_class_name(r.cc);
    EXPECT_EQ(uuid_for(r.cc), u) << claim_class_name(r.cc);
    EXPECT_EQ(claim_class_from_efi_guid(e), r.cc);
    EXPECT_EQ(claim_class_from_uuid(u), r.cc);
    // The wrong byte order is not recognised.
    EXPECT_EQ(claim_class_from_efi_guid(u), ClaimClass::Unknown);
    EXPECT_EQ(claim_class_from_uuid(e), ClaimClass::Unknown);
  }
  EXPECT_EQ(claim_class_from_efi_guid(Uuid{}), ClaimClass::None);
  EXPECT_EQ(claim_class_from_uuid(Uuid{}), ClaimClass::None);
  EXPECT_EQ(efi_guid_for(ClaimClass::None), Uuid{});
  EXPECT_EQ(efi_guid_for(ClaimClass::Unknown), Uuid{});
  EXPECT_EQ(efi_guid_name(guid_pmem_range().efi), "pmem-range");
  EXPECT_EQ(efi_guid_name(guid_pfn().efi), "pfn");
  EXPECT_EQ(efi_guid_name(Uuid{}), "");
  // ndctl read-labels prints the raw bytes: 79d3f066-f3b4-7440-... for the pmem range GUID.
  EXPECT_EQ(guid_pmem_range().efi.to_string(), "79d3f066-f3b4-7440-ac43-0d3318b78cdb");
  EXPECT_EQ(guid_pmem_range().efi.to_guid_string(), "66f0d379-b4f3-4074-ac43-0d3318b78cdb");
  EXPECT_STREQ(claim_class_name(ClaimClass::Btt2), "btt2");
  EXPECT_STREQ(claim_class_mode(ClaimClass::Pfn), "fsdax");
}

TEST(LabelEfiFlags, Names) {
  EXPECT_EQ(label_flag_names(0), "0");
  EXPECT_EQ(label_flag_names(0x8), "UPDATING");
  EXPECT_EQ(label_flag_names(0xf), "ROLABEL|LOCAL|BTT|UPDATING");
  EXPECT_EQ(label_flag_names(0x30 | 0x4), "BTT|0x30");
  EXPECT_EQ(label_flag_names(0x100), "0x100");
}

TEST(LabelEfiV11, NoChecksumNoGuids) {
  NamespaceLabel l = example_v12();
  l.label_size = 128;
  const ByteVec b = l.serialize();
  ASSERT_EQ(b.size(), 128u);
  auto d = NamespaceLabel::decode(b, 128);
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->has_checksum());
  EXPECT_FALSE(d->computed_checksum());
  EXPECT_TRUE(d->checksum_ok());
  EXPECT_EQ(d->claim_class(), ClaimClass::None);
  EXPECT_TRUE(d->type_guid.is_zero());
  EXPECT_TRUE(d->kernel_slot_valid(0));
  EXPECT_FALSE(d->kernel_slot_valid(1));
  EXPECT_TRUE(d->validate(0).empty());
  d->unused = 5;
  EXPECT_EQ(codes(d->validate(0)), std::set<Problem>{Problem::LABEL_RESERVED_NONZERO});
  EXPECT_EQ(d->serialize()[124], 5);
}

TEST(LabelEfiDecode, RoundTripAnyBytes) {
  std::mt19937_64 rng(7);
  for (int it = 0; it < 200; ++it) {
    const std::size_t lsz = it % 2 ? 128 : 256;
    ByteVec b(lsz);
    for (auto& c : b) c = static_cast<std::uint8_t>(rng());
    auto l = NamespaceLabel::decode(b, lsz);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->serialize(), b);
    (void)l->validate(static_cast<std::uint32_t>(rng()), rng());
    (void)l->claim_class();
    (void)NamespaceLabel::parse(b, lsz);
    // A longer span decodes only the first label_size bytes.
    ByteVec longer = b;
    longer.push_back(0x55);
    EXPECT_EQ(NamespaceLabel::decode(longer, lsz)->serialize(), b);
  }
}

TEST(LabelEfiDecode, BadSizes) {
  const ByteVec b = example_v12().serialize();
  EXPECT_EQ(NamespaceLabel::decode(Bytes(b).first(255), 256).error().code, Errc::kTruncated);
  EXPECT_EQ(NamespaceLabel::decode(Bytes(b).first(127), 128).error().code, Errc::kTruncated);
  EXPECT_EQ(NamespaceLabel::decode(Bytes{}, 256).error().code, Errc::kTruncated);
  EXPECT_EQ(NamespaceLabel::decode(b, 512).error().code, Errc::kUnsupported);
  EXPECT_EQ(NamespaceLabel::decode(b, 0).error().code, Errc::kUnsupported);
  EXPECT_EQ(NamespaceLabel::parse(Bytes(b).first(255), 256).error().code, Errc::kTruncated);
}

TEST(LabelEfiDecode, ZeroAndFf) {
  const ByteVec z(256, 0), f(256, 0xff);
  auto lz = NamespaceLabel::decode(z, 256);
  ASSERT_TRUE(lz);
  EXPECT_TRUE(lz->checksum_ok());  // Fletcher64 of zeros is zero
  EXPECT_TRUE(lz->kernel_slot_valid(0));
  EXPECT_TRUE(codes(lz->validate(0)).count(Problem::LABEL_ZERO_UUID));
  EXPECT_TRUE(codes(lz->validate(0)).count(Problem::LABEL_NLABEL_POSITION));
  auto lf = NamespaceLabel::decode(f, 256);
  ASSERT_TRUE(lf);
  EXPECT_FALSE(lf->kernel_slot_valid(0xffffffff));  // checksum wrong
  EXPECT_EQ(NamespaceLabel::parse(f, 256).error().code, Errc::kBadChecksum);
  const auto c = codes(lf->validate(3));
  for (Problem p :
       {Problem::LABEL_SLOT_MISMATCH, Problem::LABEL_BAD_CHECKSUM, Problem::LABEL_NAME_UNTERMINATED,
        Problem::LABEL_RESERVED_NONZERO, Problem::LABEL_UNKNOWN_FLAGS, Problem::LABEL_UPDATING_FLAG,
        Problem::LABEL_BAD_LBASIZE, Problem::LABEL_EXTENT_OUTSIDE_DIMM,
        Problem::LABEL_UNALIGNED_EXTENT, Problem::LABEL_UNKNOWN_ABSTRACTION,
        Problem::LABEL_UNEXPECTED_TYPE_GUID})
    EXPECT_TRUE(c.count(p)) << problem_info(p).name;
  // Flags 0xffffffff include LOCAL (BLK), whose nlabel/position rules differ: not checked.
  EXPECT_FALSE(c.count(Problem::LABEL_NLABEL_POSITION));
}

// Each validation rule broken alone on the §10.3 label (checksum refreshed).
TEST(LabelEfiValidate, EachRuleAlone) {
  struct Case {
    const char* what;
    void (*mutate)(NamespaceLabel&);
    Problem want;
  };
  const Case cases[] = {
      {"slot", [](NamespaceLabel& l) { l.slot = 4; }, Problem::LABEL_SLOT_MISMATCH},
      {"uuid", [](NamespaceLabel& l) { l.uuid = Uuid{}; }, Problem::LABEL_ZERO_UUID},
      {"name", [](NamespaceLabel& l) { l.name.fill('a'); }, Problem::LABEL_NAME_UNTERMINATED},
      {"reserved", [](NamespaceLabel& l) { l.reserved[2] = 1; }, Problem::LABEL_RESERVED_NONZERO},
      {"reserved2", [](NamespaceLabel& l) { l.reserved2[87] = 1; },
       Problem::LABEL_RESERVED_NONZERO},
      {"updating", [](NamespaceLabel& l) { l.flags = kLabelFlagUpdating; },
       Problem::LABEL_UPDATING_FLAG},
      {"flags", [](NamespaceLabel& l) { l.flags = 0x40; }, Problem::LABEL_UNKNOWN_FLAGS},
      {"nlabel", [](NamespaceLabel& l) { l.nlabel = 0; }, Problem::LABEL_NLABEL_POSITION},
      {"position", [](NamespaceLabel& l) { l.position = 1; }, Problem::LABEL_NLABEL_POSITION},
      {"lbasize", [](NamespaceLabel& l) { l.lbasize = 1000; }, Problem::LABEL_BAD_LBASIZE},
      // pmem_sector_size() takes only 0/512/4096; 520 is a BTT (info block) sector size.
      {"lbasize 520", [](NamespaceLabel& l) { l.lbasize = 520; }, Problem::LABEL_BAD_LBASIZE},
      {"rawsize", [](NamespaceLabel& l) { l.rawsize = 0; }, Problem::LABEL_ZERO_RAWSIZE},
      {"dpa", [](NamespaceLabel& l) { l.dpa = 512; }, Problem::LABEL_UNALIGNED_EXTENT},
      {"abstraction", [](NamespaceLabel& l) { l.abstraction_guid = guid_btt2().uuid; },
       Problem::LABEL_UNKNOWN_ABSTRACTION},
      {"type", [](NamespaceLabel& l) { l.type_guid = Uuid{}; },
       Problem::LABEL_UNEXPECTED_TYPE_GUID},
  };
  for (const auto& c : cases) {
    NamespaceLabel l = example_v12();
    c.mutate(l);
    l = l.with_checksum();
    const auto f = l.validate(0, 0x10000);
    EXPECT_EQ(codes(f), std::set<Problem>{c.want}) << c.what;
    for (const auto& x : f) {
      EXPECT_EQ(x.where, "label slot 0");
      ASSERT_TRUE(x.offset);
      EXPECT_GE(*x.offset, 0x10000u);
      EXPECT_LT(*x.offset, 0x10000u + 256);
    }
  }
  // dpa + rawsize overflowing u64.
  NamespaceLabel l = example_v12();
  l.dpa = 0xfffffffffffff000ull;
  l.rawsize = 0x2000;
  EXPECT_TRUE(codes(l.with_checksum().validate(0)).count(Problem::LABEL_EXTENT_OUTSIDE_DIMM));
  EXPECT_FALSE(l.dpa_end());
  // BLK (LOCAL) labels use nlabel 0 / position 0xffff legitimately.
  l = example_v12();
  l.flags = kLabelFlagLocal;
  l.nlabel = 0;
  l.position = 0xffff;
  EXPECT_TRUE(l.with_checksum().validate(0).empty());
  l.lbasize = 520;  // a blk_lbasize_supported[] size
  EXPECT_TRUE(l.with_checksum().validate(0).empty());
  // A stale checksum alone.
  l = example_v12();
  l.dpa = 4096;
  EXPECT_EQ(codes(l.validate(0)), std::set<Problem>{Problem::LABEL_BAD_CHECKSUM});
  EXPECT_FALSE(l.kernel_slot_valid(0));
}

TEST(LabelEfiValidate, EveryByteIsCoveredByTheChecksum) {
  const ByteVec good = example_v12().serialize();
  for (std::size_t i = 0; i < 256; ++i) {
    ByteVec b = good;
    b[i] ^= 0x01;
    auto l = NamespaceLabel::decode(b, 256);
    ASSERT_TRUE(l);
    EXPECT_FALSE(l->kernel_slot_valid(0)) << i;
  }
}

}  // namespace
}  // namespace ndtk
