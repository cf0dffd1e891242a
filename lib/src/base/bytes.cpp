// Small byte helpers shared by every parser.
#include "ndtk/base/bytes.h"

#include <algorithm>

#include <fmt/format.h>

namespace ndtk {

bool all_zero(Bytes b) {
  return std::all_of(b.begin(), b.end(), [](std::uint8_t x) { return x == 0; });
}

std::string hex(std::uint64_t v) { return fmt::format("{:#x}", v); }

std::string fixed_string(Bytes b) {
  auto end = std::find(b.begin(), b.end(), std::uint8_t{0});
  return std::string(b.begin(), end);
}

}  // namespace ndtk
