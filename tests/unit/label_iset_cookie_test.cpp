// Interleave-set cookies: §10.1 vectors, the QEMU DIMM cookies seen in the kernel images, the
// wrong-sort altcookie and positions.
#include <gtest/gtest.h>

#include "ndtk/base/fletcher.h"
#include "ndtk/format/iset_cookie.h"
#include "test_helpers.h"

namespace ndtk {
namespace {

TEST(LabelIsetCookie, SpecVectors) {
  // Given out of order: the sort by region_offset must put 0 first.
  const IsetMapping maps[] = {
      {0x100000000ull, 0x22222222, 0x8086, 0x1234, 0x01},
      {0, 0x11111111, 0x8086, 0x1234, 0x01},
  };
  const auto c = compute_iset_cookies(maps);
  EXPECT_EQ(c.cookie1, 0xaaaaaaad33333334ull);
  EXPECT_EQ(c.cookie2, 0xeef3dca5579c3442ull);
  ASSERT_EQ(c.positions.size(), 2u);
  EXPECT_EQ(c.positions[0], 1);
  EXPECT_EQ(c.positions[1], 0);
  // memcmp of LE 0x100000000 (00 00 00 00 01 ...) vs 0 (00 ...): 0 still first here.
  EXPECT_EQ(c.altcookie, c.cookie1);
  EXPECT_EQ(expected_cookie(c, 1, 1), c.cookie1);
  EXPECT_EQ(expected_cookie(c, 1, 2), c.cookie2);
  EXPECT_EQ(expected_cookie(c, 2, 1), 0u);
}

TEST(LabelIsetCookie, RecordLayouts) {
  const IsetMapping m{0x0102030405060708ull, 0xaabbccdd, 0x8086, 0x1234, 0x56};
  EXPECT_EQ(iset_record_v11(m), test::from_hex("08 07 06 05 04 03 02 01 dd cc bb aa 00 00 00 00"));
  const ByteVec r2 = iset_record_v12(m);
  ASSERT_EQ(r2.size(), 48u);
  EXPECT_EQ(ByteVec(r2.begin(), r2.begin() + 17),
            test::from_hex("08 07 06 05 04 03 02 01 dd cc bb aa 86 80 34 12 56"));
  for (std::size_t i = 17; i < 48; ++i) EXPECT_EQ(r2[i], 0) << i;
}

// The QEMU NVDIMM of the kernel images: serial 0x00123456 ("id": "8680-56341200"), vendor
// 0x8086, no manufacturing data, region offset 0. Its cookies are what the labels carry.
TEST(LabelIsetCookie, QemuDimmMatchesKernelImages) {
  const IsetMapping m[] = {{0, 0x00123456, 0x8086, 0, 0}};
  const auto c = compute_iset_cookies(m);
  EXPECT_EQ(c.cookie1, 10248187106440278ull);  // labels of images a and e (v1.1)
  EXPECT_EQ(c.cookie2, 52512752653219036ull);  // labels of images c and f (v1.2)
  EXPECT_EQ(c.altcookie, c.cookie1);           // one mapping: both sort orders agree
  EXPECT_TRUE(cookie_matches(c, 1, 1, 10248187106440278ull));
  EXPECT_TRUE(cookie_matches(c, 1, 2, 52512752653219036ull));
  EXPECT_FALSE(cookie_matches(c, 1, 1, 52512752653219036ull));
  EXPECT_FALSE(cookie_matches(c, 1, 2, 52512752653219036ull + 1));
  EXPECT_EQ(c.positions, std::vector<std::uint16_t>{0});
}

TEST(LabelIsetCookie, AltcookieUsesByteOrder) {
  // Numerically 0x1 < 0x100; bytewise (LE) 0x100 = 00 01 .. sorts before 0x1 = 01 00 ..
  const IsetMapping maps[] = {{0x1, 0xa, 0, 0, 0}, {0x100, 0xb, 0, 0, 0}};
  const auto c = compute_iset_cookies(maps);
  const auto concat = [](const IsetMapping& x, const IsetMapping& y) {
    ByteVec v = iset_record_v11(x);
    const ByteVec w = iset_record_v11(y);
    v.insert(v.end(), w.begin(), w.end());
    return v;
  };
  EXPECT_EQ(c.cookie1, fletcher64(concat(maps[0], maps[1])));
  EXPECT_EQ(c.altcookie, fletcher64(concat(maps[1], maps[0])));
  EXPECT_NE(c.altcookie, c.cookie1);
  EXPECT_TRUE(cookie_matches(c, 1, 1, c.altcookie));
  EXPECT_TRUE(cookie_matches(c, 1, 2, c.altcookie));  // the kernel tries it for any version
  EXPECT_FALSE(cookie_matches(c, 1, 2, 0));
  EXPECT_EQ(c.positions, (std::vector<std::uint16_t>{0, 1}));
}

TEST(LabelIsetCookie, EmptySet) {
  const auto c = compute_iset_cookies({});
  EXPECT_EQ(c.cookie1, 0u);
  EXPECT_EQ(c.cookie2, 0u);
  EXPECT_TRUE(c.positions.empty());
}

}  // namespace
}  // namespace ndtk
