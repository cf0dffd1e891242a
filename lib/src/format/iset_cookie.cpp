// Interleave-set cookie computation, mirroring the NFIT driver's record layout and sort orders.
#include "ndtk/format/iset_cookie.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "ndtk/base/fletcher.h"

namespace ndtk {

ByteVec iset_record_v11(const IsetMapping& m) {
  ByteVec r(kIsetRecordV11Size, 0);
  put_le64(r, 0, m.region_offset);
  put_le32(r, 8, m.serial_number);
  return r;
}

ByteVec iset_record_v12(const IsetMapping& m) {
  ByteVec r(kIsetRecordV12Size, 0);
  put_le64(r, 0, m.region_offset);
  put_le32(r, 8, m.serial_number);
  put_le16(r, 12, m.vendor_id);
  put_le16(r, 14, m.manufacturing_date);
  r[16] = m.manufacturing_location;
  return r;
}

namespace {

std::uint64_t cookie_over(std::span<const IsetMapping> maps, const std::vector<std::size_t>& order,
                          ByteVec (*record)(const IsetMapping&)) {
  ByteVec buf;
  for (std::size_t i : order) {
    const ByteVec r = record(maps[i]);
    buf.insert(buf.end(), r.begin(), r.end());
  }
  return fletcher64(buf);
}

}  // namespace

IsetCookies compute_iset_cookies(std::span<const IsetMapping> maps) {
  IsetCookies c;
  std::vector<std::size_t> numeric(maps.size());
  std::iota(numeric.begin(), numeric.end(), std::size_t{0});
  std::stable_sort(numeric.begin(), numeric.end(), [&](std::size_t a, std::size_t b) {
    return maps[a].region_offset < maps[b].region_offset;
  });
  // Early kernels compared the u64 with memcmp: on little-endian media that orders by the
  // least significant byte first.
  std::vector<std::size_t> bytewise(numeric.size());
  std::iota(bytewise.begin(), bytewise.end(), std::size_t{0});
  std::stable_sort(bytewise.begin(), bytewise.end(), [&](std::size_t a, std::size_t b) {
    const ByteVec ra = iset_record_v11(maps[a]), rb = iset_record_v11(maps[b]);
    return std::memcmp(ra.data(), rb.data(), 8) < 0;
  });
  c.cookie1 = cookie_over(maps, numeric, iset_record_v11);
  c.cookie2 = cookie_over(maps, numeric, iset_record_v12);
  c.altcookie = cookie_over(maps, bytewise, iset_record_v11);
  c.positions.assign(maps.size(), 0);
  for (std::size_t pos = 0; pos < numeric.size(); ++pos)
    c.positions[numeric[pos]] = static_cast<std::uint16_t>(pos);
  return c;
}

std::uint64_t expected_cookie(const IsetCookies& c, std::uint16_t major, std::uint16_t minor) {
  if (major == 1 && minor == 1) return c.cookie1;
  // CXL LSA 2.1 describes interleave sets with region labels instead of a cookie.
  if (major == 2 && minor == 1) return 0;
  return c.cookie2;
}

bool cookie_matches(const IsetCookies& c, std::uint16_t major, std::uint16_t minor,
                    std::uint64_t label_cookie) {
  // The kernel falls back to the altcookie whatever the index version.
  return label_cookie == expected_cookie(c, major, minor) || label_cookie == c.altcookie;
}

}  // namespace ndtk
