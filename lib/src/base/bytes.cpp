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

std::string quoted_printable(Bytes b) {
  std::size_t n = b.size();
  while (n > 0 && b[n - 1] == 0) --n;
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '"' && b[i] != '\\')
      s += static_cast<char>(b[i]);
    else
      s += fmt::format("\\x{:02x}", b[i]);
  }
  return "\"" + s + "\"";
}

}  // namespace ndtk
