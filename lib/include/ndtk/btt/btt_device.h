// BttDevice: the in-process BTT data path. Reads and writes sectors of a BTT exactly as the
// Linux kernel (drivers/nvdimm/btt.c) or libpmemblk would, over any PersistRegion.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ndtk/base/bytes.h"
#include "ndtk/base/result.h"
#include "ndtk/base/uuid.h"
#include "ndtk/btt/persist.h"
#include "ndtk/format/btt_info.h"
#include "ndtk/format/btt_log.h"
#include "ndtk/format/btt_map.h"

namespace ndtk {

/// Where the BTT is and how to treat it.
struct BttOpenOptions {
  /// Byte offset of the namespace inside the region.
  std::uint64_t namespace_offset = 0;
  /// Namespace size; default: the rest of the region.
  std::optional<std::uint64_t> namespace_size;
  /// Namespace offset of arena 0's info block. Default: Kernel flavour tries 4096 (must be
  /// version 1.1), then 0 (must be 2.0), like ndctl check; PMDK flavour uses 0. An explicit
  /// offset accepts version 1.1 or 2.0.
  std::optional<std::uint64_t> arena0_offset;
  /// Whose semantics: Kernel (initial map entries read block `premap`, plain LBAs in the log)
  /// or Pmdk (initial entries read zeros, full map-entry values in the log, libpmemblk's
  /// recovery and error rules).
  BttFlavor flavor = BttFlavor::Kernel;
  /// The namespace uuid (Kernel: a non-zero parent_uuid must equal it) or the pool's
  /// poolset uuid (Pmdk: parent_uuid must equal it). nullopt: not checked.
  std::optional<Uuid> parent_uuid;
  /// Pmdk: the pool's bsize; every arena's external_lbasize must equal it.
  std::optional<std::uint32_t> expected_lbasize;
  /// Pmdk: when arena 0 holds no info block at all (no signature: a pool that was created but
  /// never written), open an unformatted device: every sector reads zeros and the first write,
  /// set_zero or set_error lays the BTT out the way libpmemblk does. Requires
  /// expected_lbasize. An info block with a signature but a bad checksum/uuid is never
  /// treated as absent (libpmemblk would; that would overwrite a recoverable BTT).
  bool allow_unformatted = false;
  /// Pmdk unformatted pools: the pool was created zero-filled (pmemblk is_zeroed), so the
  /// lazy layout need not zero the map.
  bool pool_is_zeroed = false;
  /// Open for writing (needs a writable region). A read-only open never stores anything: the
  /// load-time recovery is computed in memory only.
  bool writable = false;
  /// Concurrent operations (lanes). 0 = automatic: min(smallest nfree, max(4, 2 x hardware
  /// threads), 64).
  unsigned lanes = 0;
  /// Lock-free read attempts per sector (a seqlock on the block, see docs/data-path.md)
  /// before the reader takes the sector's map lock and copies under it. 0: every read of a
  /// writable device takes the map lock. Read-only devices never lock.
  unsigned optimistic_reads = 8;
};

/// One arena as found on media.
struct BttArenaInfo {
  std::uint32_t index = 0;
  std::uint64_t offset = 0;  // namespace offset of its info block
  std::uint64_t size = 0;    // nextoff, or info2off + 4096 for the last arena
  std::uint64_t first_lba = 0;
  BttInfo info;              // the primary info block as decoded
  BttLogIndices log_indices;
  /// Map entries the load-time recovery completed (a logged write whose map update was lost).
  std::uint32_t recovered_map_entries = 0;
  /// Lanes whose free block carried the E flag (zeroed before reuse).
  std::uint32_t lanes_with_error = 0;
  /// Why writes to this arena are refused ("" when they are not): the info ERROR flag, a log
  /// lane PMDK rejects, a free block out of range or shared by two lanes.
  std::string write_refused;
};

/// Where a sector lives right now (for tools and tests).
struct BttSectorInfo {
  std::uint32_t arena = 0;
  std::uint32_t premap = 0;
  BttMapEntry entry;          // as stored (or as recovered, for a read-only open)
  BttMapState state = BttMapState::Initial;
  std::uint32_t postmap = 0;  // internal block a read uses (identity for initial entries)
  std::uint64_t data_offset = 0;  // region offset of that block
};

/// A BTT opened over a byte region. RAII handle; movable. All I/O members are thread-safe and
/// may be called concurrently from any number of threads (see docs/data-path.md).
///
/// Sectors are external_lbasize() bytes: the data (512 or 4096 bytes) followed by the
/// integrity metadata for 520/528/4104/4160/4224-byte formats.
class BttDevice {
 public:
  /// Discover the arenas, detect the log padding scheme and run the load-time recovery
  /// (kernel btt_freelist_init / libpmemblk read_flog_pair). Fails with a one-line error if
  /// arena 0 is not a valid BTT (kNotPresent / kBadSignature / kBadChecksum / kBadField), a
  /// later arena is invalid (kCorrupt "corrupted metadata"), the log cannot be interpreted
  /// (kCorrupt, Kernel flavour: the kernel refuses such a BTT), or the geometry does not fit
  /// the namespace (kBadField / kOutOfRange).
  static Result<BttDevice> open(PersistRegionPtr region, const BttOpenOptions& opts = {});

  BttDevice(BttDevice&&) noexcept;
  BttDevice& operator=(BttDevice&&) noexcept;
  BttDevice(const BttDevice&) = delete;
  BttDevice& operator=(const BttDevice&) = delete;
  ~BttDevice();

  /// Bytes per sector as read/written here (data + integrity metadata).
  std::uint32_t external_lbasize() const;
  /// Data bytes per sector: 4096 if external_lbasize >= 4096, else min(512, lbasize).
  std::uint32_t sector_size() const;
  /// Integrity bytes per sector (external_lbasize - sector_size).
  std::uint32_t integrity_size() const;
  std::uint64_t sector_count() const;
  BttFlavor flavor() const;
  bool writable() const;
  /// False for a PMDK pool whose layout is not written yet (every sector reads zeros).
  bool formatted() const;
  unsigned lanes() const;
  /// Namespace offset of arena 0's info block.
  std::uint64_t arena0_offset() const;
  /// Version of arena 0 (1.1 or 2.0; PMDK writes 1.1).
  BttVersion version() const;
  /// Arenas in order (empty while unformatted). Fixed once the BTT is open (or laid out):
  /// the reference stays valid as long as the device.
  const std::vector<BttArenaInfo>& arenas() const;
  const PersistRegion& region() const;

  /// Read sectors [lba, lba + out.size()/external_lbasize()). out.size() must be a non-zero
  /// multiple of external_lbasize() (kInvalidArgument), the range inside the device
  /// (kOutOfRange). An error-flagged sector fails with kMediaError ("lba N: media error (map
  /// entry flagged E)"); sectors before it are filled, the rest of `out` is unspecified.
  Result<void> read(std::uint64_t lba, MutBytes out);
  /// Write sectors atomically one by one (each sector is all old or all new after a crash);
  /// durable when this returns. kReadOnly for a read-only open; kCorrupt when the arena
  /// refuses writes (BttArenaInfo::write_refused).
  Result<void> write(std::uint64_t lba, Bytes in);
  /// The same on a lane the caller chooses (0 <= lane < lanes()), waiting while another
  /// thread holds it: for callers that assign lanes to their threads themselves, as
  /// libpmemblk's btt_write(lane) does. kInvalidArgument for a lane out of range.
  Result<void> write(std::uint64_t lba, Bytes in, unsigned lane);
  /// Make the sector read as zeros (map entry Z flag, the block stays allocated).
  Result<void> set_zero(std::uint64_t lba);
  /// Make reads of the sector fail with kMediaError (map entry E flag) until it is written.
  Result<void> set_error(std::uint64_t lba);
  /// Make every completed write durable (msync for Durability::kDeferred files).
  Result<void> flush();

  /// Current mapping of a sector.
  Result<BttSectorInfo> sector_info(std::uint64_t lba) const;
  /// Each arena's free blocks, one per log lane (nfree entries), as the recovery derived them
  /// and the writes since have updated them.
  std::vector<std::uint32_t> free_blocks(std::uint32_t arena) const;
  /// The BTT's block-ownership invariant: in every arena, the post-map blocks of all map
  /// entries (identity for initial ones) and the lanes' free blocks name every internal block
  /// exactly once. kCorrupt naming the first duplicate or missing block. Not thread-safe
  /// against concurrent writes.
  Result<void> verify_block_references() const;

  class Impl;

 private:
  explicit BttDevice(std::unique_ptr<Impl> impl);
  Result<void> write_on_lane(std::uint64_t lba, Bytes in, std::optional<unsigned> lane);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ndtk
