// Image access: files, views, zstd images, and every failure mode naming the file.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zstd.h>

#include "ndtk/io/block_device.h"
#include "test_helpers.h"

namespace ndtk {
namespace {

ByteVec compress(Bytes in) {
  ByteVec out(ZSTD_compressBound(in.size()));
  out.resize(ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3));
  return out;
}

TEST(FileDevice, ReadOnlyByDefault) {
  test::TempDir d;
  ByteVec data(10000);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i);
  test::write_file(d.file("img"), data);
  auto dev = open_image(d.file("img"));
  ASSERT_TRUE(dev) << dev.error().message();
  EXPECT_EQ((*dev)->size(), 10000u);
  EXPECT_FALSE((*dev)->writable());
  ByteVec buf(16);
  ASSERT_TRUE((*dev)->read_at(4096, buf));
  EXPECT_EQ(buf[0], static_cast<std::uint8_t>(4096));
  auto w = (*dev)->write_at(0, buf);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, Errc::kReadOnly);
  auto past = (*dev)->read_at(9990, buf);
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().code, Errc::kOutOfRange);
  EXPECT_NE(past.error().message().find(d.file("img")), std::string::npos);
}

TEST(FileDevice, ReadWrite) {
  test::TempDir d;
  test::write_file(d.file("img"), ByteVec(8192, 0));
  auto dev = open_image(d.file("img"), OpenMode::ReadWrite);
  ASSERT_TRUE(dev);
  ByteVec x(8, 0xab);
  ASSERT_TRUE((*dev)->write_at(100, x));
  ASSERT_TRUE((*dev)->flush());
  auto again = open_image(d.file("img"));
  auto v = (*again)->read_vec(100, 8);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, x);
}

TEST(FileDevice, Errors) {
  test::TempDir d;
  auto missing = open_image(d.file("nope"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_NE(missing.error().message().find("nope"), std::string::npos);
  auto dir = open_image(d.path().string());
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().code, Errc::kIsDirectory);
  auto dirrw = open_image(d.path().string(), OpenMode::ReadWrite);
  ASSERT_FALSE(dirrw);
  EXPECT_EQ(dirrw.error().code, Errc::kIsDirectory);
  if (::geteuid() != 0) {
    test::write_file(d.file("locked"), ByteVec(10));
    ::chmod(d.file("locked").c_str(), 0);
    auto perm = open_image(d.file("locked"));
    ASSERT_FALSE(perm);
    EXPECT_EQ(perm.error().code, Errc::kPermission);
  }
}

TEST(FileDevice, HolesAreKnownZero) {
  test::TempDir d;
  {
    test::write_file(d.file("sparse"), ByteVec{});
    ASSERT_EQ(::truncate(d.file("sparse").c_str(), 64 << 20), 0);
  }
  auto dev = open_image(d.file("sparse"), OpenMode::ReadWrite);
  ASSERT_TRUE(dev);
  EXPECT_TRUE((*dev)->known_zero(0, 64 << 20));
  ASSERT_TRUE((*dev)->write_at(1 << 20, ByteVec(4096, 1)));
  EXPECT_FALSE((*dev)->known_zero(0, 64 << 20));
  EXPECT_TRUE((*dev)->known_zero(8 << 20, 1 << 20));
}

TEST(ZstdDevice, TransparentAndSparse) {
  test::TempDir d;
  ByteVec raw(1 << 20, 0);
  for (std::size_t i = 300000; i < 300100; ++i) raw[i] = 0x5a;
  test::write_file(d.file("x.zst"), compress(raw));
  auto dev = open_image(d.file("x.zst"));
  ASSERT_TRUE(dev) << dev.error().message();
  EXPECT_EQ((*dev)->size(), raw.size());
  EXPECT_EQ(test::read_all(**dev), raw);
  EXPECT_TRUE((*dev)->known_zero(0, 65536));
  EXPECT_FALSE((*dev)->known_zero(0, raw.size()));
  auto rw = open_image(d.file("x.zst"), OpenMode::ReadWrite);
  ASSERT_FALSE(rw);
  EXPECT_EQ(rw.error().code, Errc::kReadOnly);
}

TEST(ZstdDevice, CorruptAndTruncatedFrames) {
  test::TempDir d;
  ByteVec raw(200000);
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<std::uint8_t>(i * 31 + (i >> 9));
  ByteVec z = compress(raw);
  ByteVec trunc(z.begin(), z.begin() + z.size() / 2);
  test::write_file(d.file("t.zst"), trunc);
  auto t = open_image(d.file("t.zst"));
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message().find("t.zst"), std::string::npos);
  ByteVec bad = z;
  for (std::size_t i = 8; i < bad.size(); i += 7) bad[i] ^= 0xff;
  test::write_file(d.file("b.zst"), bad);
  auto b = open_image(d.file("b.zst"));
  ASSERT_FALSE(b);
  EXPECT_TRUE(b.error().code == Errc::kCorrupt || b.error().code == Errc::kTruncated);
}

TEST(ViewDevice, WindowAndBounds) {
  ByteVec raw(1000);
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<std::uint8_t>(i);
  auto mem = make_memory_device(raw, "mem");
  auto v = make_view(mem, 100, 200);
  ASSERT_TRUE(v);
  ByteVec b(4);
  ASSERT_TRUE((*v)->read_at(0, b));
  EXPECT_EQ(b[0], 100);
  EXPECT_FALSE((*v)->read_at(198, b));
  EXPECT_FALSE(make_view(mem, 900, 200));
  EXPECT_FALSE(make_view(mem, UINT64_MAX, 2));
}

TEST(SharedImages, KernelImageOpens) {
  auto dev = open_image(test::image_path("kernel/a-sector4096-labels1.1.img.zst"));
  ASSERT_TRUE(dev) << dev.error().message();
  EXPECT_EQ((*dev)->size(), 268566528u);
  auto sig = (*dev)->read_vec(4096, 16);
  ASSERT_TRUE(sig);
  EXPECT_EQ(std::string(sig->begin(), sig->begin() + 14), "BTT_ARENA_INFO");
}

}  // namespace
}  // namespace ndtk
