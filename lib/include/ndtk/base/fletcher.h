// Fletcher64 as used by every NVDIMM metadata structure (FORMATS.md §1).
#pragma once

#include <cstdint>

#include "ndtk/base/bytes.h"

namespace ndtk {

/// Fletcher64 over 32-bit little-endian words; a trailing partial word is ignored.
std::uint64_t fletcher64(Bytes data);

/// Fletcher64 of `data` with the 8 bytes at `checksum_off` treated as zero (how every
/// structure's own checksum is defined). Requires checksum_off+8 <= data.size().
std::uint64_t fletcher64_skip(Bytes data, std::size_t checksum_off);

}  // namespace ndtk
