// Shared fixtures for the BTT data-path tests: golden images in memory, freshly formatted BTTs,
// stamped sector contents that reveal torn reads, manifests.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "ndtk/base/bytes.h"
#include "ndtk/btt/btt_device.h"
#include "ndtk/btt/persist.h"
#include "ndtk/format/btt_info.h"
#include "ndtk/io/pmem_map.h"

namespace ndtk::test {

/// The JSON manifest tests/images/<rel>.
nlohmann::json load_manifest(const std::string& rel);

/// A sparse in-memory copy of the golden image tests/images/<rel> (.zst decompressed).
PmemMapping golden_copy(const std::string& rel);

/// Decompress tests/images/<rel> into a sparse file at `path` (holes for zero chunks).
void decompress_to_file(const std::string& rel, const std::string& path);

/// A namespace of `ns_size` bytes holding a freshly laid out BTT (write_btt_layout), as bytes.
ByteVec formatted_btt(std::uint64_t ns_size, std::uint32_t lbasize, BttFlavor flavor,
                      BttVersion version = BttVersion::V1_1, std::uint32_t nfree = 256);

/// A memory region holding `bytes` (aborts the test binary on failure: fixtures only).
PersistRegionPtr memory_region(Bytes bytes);

/// Open a BTT or fail the calling test with the error message.
BttDevice open_or_die(PersistRegionPtr region, const BttOpenOptions& opts);

/// Sector content whose every 8-byte word is the same stamp (lba, writer, seq): a mix of two
/// writes (a torn read) can never pass check_stamp().
ByteVec stamped_sector(std::uint32_t size, std::uint64_t lba, std::uint32_t writer,
                       std::uint32_t seq);
struct Stamp {
  std::uint64_t lba = 0;
  std::uint32_t writer = 0;
  std::uint32_t seq = 0;
};
/// The stamp of a sector, or nullopt if its words differ (torn) or it is not stamped.
std::optional<Stamp> read_stamp(Bytes sector);

/// The libpmemblk image generator's pattern: 'lba=%010u gen=%02u bs=%04u #\n' repeated.
ByteVec pmdk_pattern_block(std::uint32_t lba, std::uint32_t gen, std::uint32_t bs);

}  // namespace ndtk::test
