// Undo files: save, verify, roll back byte for byte; corrupt undo files are refused.
#include <gtest/gtest.h>
#include <unistd.h>

#include <random>

#include "ndtk/io/undo.h"
#include "test_helpers.h"

namespace ndtk {
namespace {

TEST(Undo, RollbackRestoresBytes) {
  test::TempDir d;
  ByteVec img(3 << 20);
  std::mt19937 rng(7);
  for (std::size_t i = 0; i < (1 << 20); ++i) img[i] = static_cast<std::uint8_t>(rng());
  test::write_file(d.file("img"), img);
  ASSERT_EQ(::truncate(d.file("img").c_str(), 8 << 20), 0);  // sparse tail
  img.resize(8 << 20, 0);
  auto dev = open_image(d.file("img"), OpenMode::ReadWrite);
  ASSERT_TRUE(dev);
  std::vector<ByteRange> ranges = {{100, 4093}, {5 << 20, 1 << 20}, {(1 << 20) - 10, 20}, {7, 0}};
  ASSERT_TRUE(save_undo(d.file("undo"), **dev, ranges, "test"));
  for (auto r : ranges) ASSERT_TRUE((*dev)->write_at(r.offset, ByteVec(r.length, 0xee)));
  ASSERT_TRUE((*dev)->write_zeros(0, 4096));
  auto u = load_undo(d.file("undo"));
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(u->records.size(), 4u);
  EXPECT_TRUE(u->records[1].zero);
  EXPECT_FALSE(u->records[0].zero);
  EXPECT_EQ(u->tool, "test");
  // write_zeros on [0,4096) was not in the undo ranges: restore it by hand before comparing.
  ASSERT_TRUE((*dev)->write_at(0, Bytes(img).first(4096)));
  ASSERT_TRUE(apply_undo(*u, **dev));
  EXPECT_EQ(test::read_all(**dev), img);
}

TEST(Undo, CorruptFileRefused) {
  test::TempDir d;
  auto mem = make_memory_device(ByteVec(65536, 3), "mem");
  std::vector<ByteRange> ranges = {{0, 100}};
  ASSERT_TRUE(save_undo(d.file("undo"), *mem, ranges, "t"));
  auto raw = test::read_all(**open_image(d.file("undo")));
  for (std::size_t cut : {raw.size() - 1, std::size_t{10}, std::size_t{0}}) {
    test::write_file(d.file("cut"), Bytes(raw).first(cut));
    EXPECT_FALSE(load_undo(d.file("cut"))) << cut;
  }
  ByteVec flipped = raw;
  flipped[60] ^= 1;
  test::write_file(d.file("flip"), flipped);
  auto r = load_undo(d.file("flip"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCorrupt);
  EXPECT_FALSE(load_undo(d.file("missing")));
  auto small = make_memory_device(ByteVec(100), "small");
  auto u = load_undo(d.file("undo"));
  ASSERT_TRUE(u);
  EXPECT_FALSE(apply_undo(*u, *small));  // size differs
}

TEST(Undo, RangePastEndCreatesNothing) {
  test::TempDir d;
  auto mem = make_memory_device(ByteVec(100), "mem");
  std::vector<ByteRange> ranges = {{90, 20}};
  EXPECT_FALSE(save_undo(d.file("undo"), *mem, ranges, "t"));
  EXPECT_FALSE(std::filesystem::exists(d.file("undo")));
  EXPECT_FALSE(std::filesystem::exists(d.file("undo.tmp")));
}

}  // namespace
}  // namespace ndtk

#include "ndtk/repair/write_plan.h"

namespace ndtk {
namespace {

TEST(WritePlan, AppliesInOrderWithUndo) {
  test::TempDir d;
  ByteVec img(1 << 16, 0x11);
  test::write_file(d.file("img"), img);
  auto dev = open_image(d.file("img"), OpenMode::ReadWrite);
  ASSERT_TRUE(dev);
  WritePlan p;
  p.add(10, ByteVec(4, 0xaa), "first");
  p.add(12, ByteVec(4, 0xbb), "second overlaps first");
  p.add_zeros(4096, 8192, "zero");
  ASSERT_TRUE(apply_plan(**dev, p, {d.file("undo"), "test"}));
  auto now = test::read_all(**dev);
  EXPECT_EQ(now[10], 0xaa);
  EXPECT_EQ(now[12], 0xbb);
  EXPECT_EQ(now[15], 0xbb);
  EXPECT_EQ(now[5000], 0);
  auto u = load_undo(d.file("undo"));
  ASSERT_TRUE(u);
  ASSERT_TRUE(apply_undo(*u, **dev));
  EXPECT_EQ(test::read_all(**dev), img);
}

TEST(WritePlan, NothingWrittenWhenAWriteDoesNotFit) {
  auto mem = make_memory_device(ByteVec(100, 1), "mem");
  WritePlan p;
  p.add(0, ByteVec(4, 0), "ok");
  p.add(98, ByteVec(4, 0), "past the end");
  EXPECT_FALSE(apply_plan(*mem, p, {}));
  EXPECT_EQ(test::read_all(*mem), ByteVec(100, 1));
  auto ro = make_memory_device(ByteVec(100, 1), "ro", false);
  WritePlan q;
  q.add(0, ByteVec(1, 0), "x");
  EXPECT_FALSE(apply_plan(*ro, q, {}));
}

}  // namespace
}  // namespace ndtk
