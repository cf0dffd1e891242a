// Interleave-set cookies (FORMATS.md §3.6): cookie1 (v1.1 labels), cookie2 (v1.2 labels) and
// the wrong-sort altcookie, computed from the NFIT records of each DIMM mapping of a region.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ndtk/base/bytes.h"

namespace ndtk {

/// What the ACPI NFIT says about one DIMM mapping of an interleave set.
struct IsetMapping {
  std::uint64_t region_offset = 0;  // memory-device-to-SPA mapping "region offset"
  std::uint32_t serial_number = 0;  // control region serial number
  std::uint16_t vendor_id = 0;
  std::uint16_t manufacturing_date = 0;
  std::uint8_t manufacturing_location = 0;
};

inline constexpr std::size_t kIsetRecordV11Size = 16;
inline constexpr std::size_t kIsetRecordV12Size = 48;

struct IsetCookies {
  std::uint64_t cookie1 = 0;    // v1.1 records sorted by region_offset (numeric)
  std::uint64_t cookie2 = 0;    // v1.2 records sorted by region_offset (numeric)
  std::uint64_t altcookie = 0;  // v1.1 records sorted by memcmp of the LE region_offset
  /// For each input mapping, its position in the interleave set (index in the cookie2 order):
  /// what its labels' `position` field must hold.
  std::vector<std::uint16_t> positions;
};

/// The 16-byte v1.1 record of a mapping: u64 region_offset, u32 serial, u32 pad (LE).
ByteVec iset_record_v11(const IsetMapping& m);
/// The 48-byte v1.2 record: u64 region_offset, u32 serial, u16 vendor, u16 date, u8 location,
/// 31 reserved zero bytes (LE).
ByteVec iset_record_v12(const IsetMapping& m);

/// All three cookies and the positions for a region's mappings (in any order). Mappings with
/// equal region_offset keep their input order (the kernel's heap sort leaves it unspecified).
IsetCookies compute_iset_cookies(std::span<const IsetMapping> mappings);

/// The cookie labels must carry under an index of this version (kernel
/// nd_region_interleave_set_cookie): 1.1 -> cookie1, 2.1 (CXL LSA) -> 0, otherwise cookie2.
std::uint64_t expected_cookie(const IsetCookies& c, std::uint16_t major, std::uint16_t minor);
/// True iff the kernel accepts a label's isetcookie: the expected cookie or, whatever the
/// version, the altcookie (create_namespace_pmem).
bool cookie_matches(const IsetCookies& c, std::uint16_t major, std::uint16_t minor,
                    std::uint64_t label_cookie);

}  // namespace ndtk
