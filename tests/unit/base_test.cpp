// Fletcher64 vectors (FORMATS.md §10.1), uuid/guid formatting, range arithmetic, Result.
#include <gtest/gtest.h>

#include <set>

#include "ndtk/base/fletcher.h"
#include "ndtk/base/finding.h"
#include "ndtk/base/result.h"
#include "ndtk/base/uuid.h"
#include "test_helpers.h"

namespace ndtk {
namespace {

TEST(Fletcher64, Vectors) {
  ByteVec seq(16);
  for (int i = 0; i < 16; ++i) seq[i] = static_cast<std::uint8_t>(i);
  EXPECT_EQ(fletcher64(seq), 0x463c322824201c18ull);
  EXPECT_EQ(fletcher64(ByteVec(4096, 0)), 0ull);
  EXPECT_EQ(fletcher64(ByteVec(8, 0xff)), 0xfffffffdfffffffeull);
  EXPECT_EQ(fletcher64(ByteVec(4096, 0xff)), 0xfff7fe00fffffc00ull);
  const char idx[16] = "NAMESPACE_INDEX";
  EXPECT_EQ(fletcher64(Bytes(reinterpret_cast<const std::uint8_t*>(idx), 16)),
            0x7be3f9ffd730362aull);
  const char btt[16] = "BTT_ARENA_INFO\0";
  EXPECT_EQ(fletcher64(Bytes(reinterpret_cast<const std::uint8_t*>(btt), 16)),
            0x04b45593fbe3550aull);
}

TEST(Fletcher64, CookieVectors) {
  // cookie1: two 16-byte records {region_offset, serial, pad}
  ByteVec c1(32, 0);
  put_le64(c1, 0, 0);
  put_le32(c1, 8, 0x11111111);
  put_le64(c1, 16, 0x100000000ull);
  put_le32(c1, 24, 0x22222222);
  EXPECT_EQ(fletcher64(c1), 0xaaaaaaad33333334ull);
  ByteVec c2(96, 0);
  for (int i = 0; i < 2; ++i) {
    put_le64(c2, i * 48, i == 0 ? 0 : 0x100000000ull);
    put_le32(c2, i * 48 + 8, i == 0 ? 0x11111111 : 0x22222222);
    put_le16(c2, i * 48 + 12, 0x8086);
    put_le16(c2, i * 48 + 14, 0x1234);
    c2[i * 48 + 16] = 0x01;
  }
  EXPECT_EQ(fletcher64(c2), 0xeef3dca5579c3442ull);
}

TEST(Fletcher64, SkipEqualsZeroedField) {
  ByteVec b(256);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(i * 7);
  ByteVec z = b;
  std::fill(z.begin() + 64, z.begin() + 72, 0);
  EXPECT_EQ(fletcher64_skip(b, 64), fletcher64(z));
}

TEST(Uuid, ParsePrintRoundTrip) {
  auto u = Uuid::parse("45d99587-e15a-41f9-bce2-5733ae2c5442");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->bytes[0], 0x45);
  EXPECT_EQ(u->to_string(), "45d99587-e15a-41f9-bce2-5733ae2c5442");
  EXPECT_FALSE(Uuid::parse("45d99587-e15a-41f9-bce2-5733ae2c544"));
  EXPECT_FALSE(Uuid::parse("45d99587xe15a-41f9-bce2-5733ae2c5442"));
  EXPECT_FALSE(Uuid::parse("zzd99587-e15a-41f9-bce2-5733ae2c5442"));
}

TEST(Uuid, GuidByteOrder) {
  // The BTT2 claim GUID as stored in an EFI label (FORMATS.md §3.4).
  auto g = Uuid::parse_guid("18633bfc-1735-4217-8ac9-17239282d3f8");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->to_string(), "fc3b6318-3517-1742-8ac9-17239282d3f8");
  EXPECT_EQ(g->to_guid_string(), "18633bfc-1735-4217-8ac9-17239282d3f8");
}

TEST(Range, OverflowSafe) {
  EXPECT_TRUE(range_fits(0, 10, 10));
  EXPECT_FALSE(range_fits(1, 10, 10));
  EXPECT_FALSE(range_fits(UINT64_MAX, 2, 10));
  EXPECT_FALSE(range_fits(5, UINT64_MAX, 10));
  EXPECT_FALSE(checked_add(UINT64_MAX, 1));
  EXPECT_EQ(*checked_add(2, 3), 5u);
  EXPECT_FALSE(checked_mul(UINT64_MAX / 2 + 1, 2));
  EXPECT_EQ(*checked_mul(4096, 4096), 4096u * 4096u);
}

TEST(LittleEndian, LoadsNeverReadPastSpan) {
  ByteVec b = {1, 2, 3};
  EXPECT_EQ(le16(b, 1), 0x0302);
  EXPECT_EQ(le32(b, 0), 0u);  // would read past: returns 0
  EXPECT_EQ(le64(b, SIZE_MAX - 2), 0u);
}

Result<int> half(int x) {
  if (x % 2) return fail(Errc::kInvalidArgument, "odd");
  return x / 2;
}
Result<int> quarter(int x) {
  NDTK_TRY(h, half(x));
  return half(h);
}

TEST(ResultT, PropagatesErrors) {
  EXPECT_EQ(*quarter(8), 2);
  auto r = quarter(6);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(r.error().message(), "odd");
}

TEST(ErrorMessage, FieldContext) {
  auto e = field_error(Errc::kBadField, "btt info", "external_lbasize", 0x38, "512..4224", "0x7");
  EXPECT_EQ(e.message(), "btt info: field external_lbasize at +0x38: expected 512..4224, found 0x7");
  e.prefix("arena 1");
  EXPECT_EQ(e.message().rfind("arena 1: btt info", 0), 0u);
}

TEST(ProblemTable, CodesUniqueAndNamed) {
  std::set<std::uint16_t> seen;
  for (const auto& p : all_problems()) {
    EXPECT_TRUE(seen.insert(p.number).second) << p.name;
    EXPECT_NE(std::string(p.title), "");
    EXPECT_EQ(static_cast<std::uint16_t>(p.code), p.number);
  }
}

}  // namespace
}  // namespace ndtk
