// Uuid parsing/printing in byte order and EFI GUID order.
#include "ndtk/base/uuid.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include <fmt/format.h>

namespace ndtk {

namespace {
int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
// GUID order swaps bytes within the first three groups.
constexpr int kGuidOrder[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
}  // namespace

Uuid Uuid::from_bytes(Bytes b) {
  Uuid u;
  std::copy_n(b.begin(), std::min<std::size_t>(16, b.size()), u.bytes.begin());
  return u;
}

std::optional<Uuid> Uuid::parse(std::string_view s) {
  if (s.size() != 36) return std::nullopt;
  Uuid u;
  std::size_t bi = 0;
  for (std::size_t i = 0; i < s.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    const int h = hexval(s[i]), l = hexval(s[i + 1]);
    if (h < 0 || l < 0) return std::nullopt;
    u.bytes[bi++] = static_cast<std::uint8_t>(h * 16 + l);
    i += 2;
  }
  return u;
}

std::optional<Uuid> Uuid::parse_guid(std::string_view s) {
  auto u = parse(s);
  if (!u) return std::nullopt;
  Uuid g;
  for (int i = 0; i < 16; ++i) g.bytes[i] = u->bytes[kGuidOrder[i]];
  return g;
}

Uuid Uuid::random() {
  Uuid u;
  std::random_device rd;
  for (auto& b : u.bytes) b = static_cast<std::uint8_t>(rd());
  u.bytes[6] = static_cast<std::uint8_t>((u.bytes[6] & 0x0f) | 0x40);
  u.bytes[8] = static_cast<std::uint8_t>((u.bytes[8] & 0x3f) | 0x80);
  return u;
}

bool Uuid::is_zero() const {
  return std::all_of(bytes.begin(), bytes.end(), [](auto b) { return b == 0; });
}

std::string Uuid::to_string() const {
  const auto& b = bytes;
  return fmt::format(
      "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-"
      "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
      b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
      b[14], b[15]);
}

std::string Uuid::to_guid_string() const {
  Uuid t;
  for (int i = 0; i < 16; ++i) t.bytes[kGuidOrder[i]] = bytes[i];
  return t.to_string();
}

}  // namespace ndtk
