// Shared fixtures for the BTT data-path tests.
#include "btt_datapath_helpers.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "ndtk/btt/btt_layout_writer.h"
#include "ndtk/geometry/btt_geometry.h"
#include "ndtk/io/block_device.h"
#include "ndtk/io/file_util.h"
#include "test_helpers.h"

namespace ndtk::test {

namespace {
[[noreturn]] void die(const std::string& what) { throw std::runtime_error(what); }
}  // namespace

nlohmann::json load_manifest(const std::string& rel) {
  std::ifstream f(image_path(rel));
  if (!f) die("cannot open manifest " + image_path(rel));
  return nlohmann::json::parse(f);
}

PmemMapping golden_copy(const std::string& rel) {
  auto dev = open_image(image_path(rel));
  if (!dev) die(dev.error().message());
  auto m = PmemMapping::copy_of(**dev);
  if (!m) die(m.error().message());
  return std::move(*m);
}

void decompress_to_file(const std::string& rel, const std::string& path) {
  auto dev = open_image(image_path(rel));
  if (!dev) die(dev.error().message());
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) die("cannot create " + path);
  const std::uint64_t size = (*dev)->size();
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) die("ftruncate " + path);
  constexpr std::uint64_t kChunk = 64 * 1024;
  ByteVec buf(kChunk);
  for (std::uint64_t off = 0; off < size; off += kChunk) {
    const std::uint64_t n = std::min(kChunk, size - off);
    if ((*dev)->known_zero(off, n)) continue;
    MutBytes b(buf.data(), n);
    if (!(*dev)->read_at(off, b)) die("read " + rel);
    if (all_zero(b)) continue;
    if (::pwrite(fd.get(), b.data(), b.size(), static_cast<off_t>(off)) != static_cast<ssize_t>(n))
      die("write " + path);
  }
}

ByteVec formatted_btt(std::uint64_t ns_size, std::uint32_t lbasize, BttFlavor flavor,
                      BttVersion version, std::uint32_t nfree) {
  BttGeometryParams p;
  p.namespace_size = ns_size;
  p.external_lbasize = lbasize;
  p.version = version;
  p.flavor = flavor;
  p.nfree = nfree;
  auto layout = compute_btt_layout(p);
  if (!layout) die(layout.error().message());
  ByteVec zeros(ns_size, 0);
  auto region = make_memory_region(zeros);
  if (!region) die(region.error().message());
  auto r = write_btt_layout(**region, 0, *layout, Uuid::random(), Uuid{}, version, flavor);
  if (!r) die(r.error().message());
  return ByteVec((*region)->data(), (*region)->data() + ns_size);
}

PersistRegionPtr memory_region(Bytes bytes) {
  auto r = make_memory_region(bytes);
  if (!r) die(r.error().message());
  return *r;
}

BttDevice open_or_die(PersistRegionPtr region, const BttOpenOptions& opts) {
  auto d = BttDevice::open(std::move(region), opts);
  if (!d) die("BttDevice::open: " + d.error().message());
  return std::move(*d);
}

ByteVec stamped_sector(std::uint32_t size, std::uint64_t lba, std::uint32_t writer,
                       std::uint32_t seq) {
  ByteVec out(size);
  // 23 bits of lba, 8 bits of writer, 32 bits of seq; the top bit keeps stamps non-zero.
  const std::uint64_t word = (std::uint64_t{1} << 63) | ((lba & 0x7FFFFF) << 40) |
                             (std::uint64_t{writer & 0xFF} << 32) | seq;
  for (std::size_t i = 0; i + 8 <= out.size(); i += 8) put_le64(out, i, word);
  for (std::size_t i = out.size() / 8 * 8; i < out.size(); ++i)
    out[i] = static_cast<std::uint8_t>(word >> (8 * (i % 8)));
  return out;
}

std::optional<Stamp> read_stamp(Bytes sector) {
  if (sector.size() < 8) return std::nullopt;
  const std::uint64_t word = le64(sector, 0);
  if ((word >> 63) == 0) return std::nullopt;
  for (std::size_t i = 8; i + 8 <= sector.size(); i += 8)
    if (le64(sector, i) != word) return std::nullopt;
  for (std::size_t i = sector.size() / 8 * 8; i < sector.size(); ++i)
    if (sector[i] != static_cast<std::uint8_t>(word >> (8 * (i % 8)))) return std::nullopt;
  Stamp s;
  s.lba = (word >> 40) & 0x7FFFFF;
  s.writer = static_cast<std::uint32_t>((word >> 32) & 0xFF);
  s.seq = static_cast<std::uint32_t>(word);
  return s;
}

ByteVec pmdk_pattern_block(std::uint32_t lba, std::uint32_t gen, std::uint32_t bs) {
  const std::string rec = fmt::format("lba={:010} gen={:02} bs={:04} #\n", lba, gen, bs);
  ByteVec out;
  while (out.size() < bs) out.insert(out.end(), rec.begin(), rec.end());
  out.resize(bs);
  return out;
}

}  // namespace ndtk::test
