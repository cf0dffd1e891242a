// Fletcher64 (FORMATS.md §1): 32-bit LE words, both halves mod 2^32.
#include "ndtk/base/fletcher.h"

namespace ndtk {

namespace {
inline void step(std::uint32_t w, std::uint32_t& lo, std::uint32_t& hi) {
  lo += w;
  hi += lo;
}
}  // namespace

std::uint64_t fletcher64(Bytes data) {
  std::uint32_t lo = 0, hi = 0;
  const std::size_t n = data.size() / 4;
  for (std::size_t i = 0; i < n; ++i) step(le32(data, i * 4), lo, hi);
  return (std::uint64_t{hi} << 32) | lo;
}

std::uint64_t fletcher64_skip(Bytes data, std::size_t checksum_off) {
  std::uint32_t lo = 0, hi = 0;
  const std::size_t n = data.size() / 4;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t off = i * 4;
    const bool in_sum = off >= checksum_off && off < checksum_off + 8;
    step(in_sum ? 0u : le32(data, off), lo, hi);
  }
  return (std::uint64_t{hi} << 32) | lo;
}

}  // namespace ndtk
