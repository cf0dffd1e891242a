// Shared by the fuzz targets: seeds cut out of the golden images, and a crash-on-violation check.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ndtk/base/bytes.h"
#include "ndtk/io/block_device.h"

namespace ndtk::fuzz {

/// `len` bytes at `off` of tests/images/<image> (empty if unavailable).
inline ByteVec cut(const std::string& image, std::uint64_t off, std::size_t len) {
  auto dev = open_image(std::string(NDTK_TEST_IMAGES) + "/" + image);
  if (!dev) return {};
  if (off == UINT64_MAX) off = (*dev)->size() - len;  // from the end
  auto v = (*dev)->read_vec(off, len);
  return v ? *v : ByteVec{};
}

/// A property the library promises was broken: report and abort so the fuzzer records it.
[[noreturn]] inline void violated(const char* what) {
  std::fprintf(stderr, "fuzz property violated: %s\n", what);
  std::abort();
}

}  // namespace ndtk::fuzz

/// Each target defines its seeds; the standalone driver and --write-seeds use them.
std::vector<ndtk::ByteVec> fuzz_seeds();
