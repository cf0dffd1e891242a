// PMDK pool header (4096 bytes, common to every PMDK pool; pool_hdr.h) and the libpmemblk
// descriptor that follows it in a pmemblk pool file, plus reading a whole pmemblk pool's frame.
//
// UUIDs: PMDK stores uuids as its `struct uuid` (time_low, time_mid, time_hi_and_ver as native
// little-endian integers, then 8 bytes), so `pmempool info` prints them in EFI-GUID order.
// Uuid values here keep the raw on-media bytes; print them with pmdk_uuid_string(). The BTT
// info block inside the pool holds the same 16 bytes in its parent_uuid (compare raw bytes).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ndtk/base/bytes.h"
#include "ndtk/base/field_desc.h"
#include "ndtk/base/finding.h"
#include "ndtk/base/result.h"
#include "ndtk/base/uuid.h"
#include "ndtk/io/block_device.h"

namespace ndtk {

inline constexpr std::size_t kPoolHdrSize = 4096;
inline constexpr std::size_t kPoolHdrUnusedSize = 1904;
inline constexpr std::size_t kPoolHdrUnused2Size = 1976;
inline constexpr std::size_t kPoolSdsReservedSize = 39;
/// With CKSUM_2K the checksum covers only bytes [0, 2048); the rest counts as zero.
inline constexpr std::size_t kPoolHdrChecksum2kEnd = 2048;

inline constexpr std::array<std::uint8_t, 8> kPmemBlkSignature = {'P', 'M', 'E', 'M', 'B', 'L', 'K', 0};
inline constexpr std::array<std::uint8_t, 8> kPmemLogSignature = {'P', 'M', 'E', 'M', 'L', 'O', 'G', 0};
inline constexpr std::array<std::uint8_t, 8> kPmemObjSignature = {'P', 'M', 'E', 'M', 'O', 'B', 'J', 0};

/// Format major versions of PMDK 1.x pools (BLK_FORMAT_MAJOR, LOG_FORMAT_MAJOR, OBJ_FORMAT_MAJOR).
inline constexpr std::uint32_t kPmemBlkFormatMajor = 1;
inline constexpr std::uint32_t kPmemLogFormatMajor = 1;
inline constexpr std::uint32_t kPmemObjFormatMajor = 6;

// Feature bits (pool_hdr.h).
inline constexpr std::uint32_t kPoolFeatCheckBadBlocks = 0x1;  // compat
inline constexpr std::uint32_t kPoolFeatSingleHdr = 0x1;       // incompat
inline constexpr std::uint32_t kPoolFeatCksum2K = 0x2;         // incompat
inline constexpr std::uint32_t kPoolFeatSds = 0x4;             // incompat
inline constexpr std::uint32_t kPoolCompatKnown = kPoolFeatCheckBadBlocks;
inline constexpr std::uint32_t kPoolIncompatKnown = kPoolFeatSingleHdr | kPoolFeatCksum2K | kPoolFeatSds;
inline constexpr std::uint32_t kPoolRoCompatKnown = 0;

// Architecture flags (values follow the ELF header constants).
inline constexpr std::uint8_t kPmdkMachineClass64 = 2;
inline constexpr std::uint8_t kPmdkDataLe = 1;
inline constexpr std::uint8_t kPmdkDataBe = 2;
inline constexpr std::uint16_t kPmdkMachineX86_64 = 62;
inline constexpr std::uint16_t kPmdkMachineAarch64 = 183;
inline constexpr std::uint16_t kPmdkMachinePpc64 = 21;
inline constexpr std::uint16_t kPmdkMachineRiscv64 = 243;
inline constexpr std::uint16_t kPmdkMachineLoongarch64 = 258;
/// alignment_desc of every LP64 Linux target PMDK supports: (alignof(T) - 1) per 4-bit nibble
/// for char, short, int, long, long long, size_t, off_t, float, double, long double, void*.
inline constexpr std::uint64_t kPmdkAlignmentDescLp64 = 0x000007f737777310ull;

/// The on-media layout; integers little-endian. Offsets are file offsets (the header is at 0).
struct PoolHdrRaw {
  std::uint8_t signature[8];
  std::uint32_t major;
  std::uint32_t compat_features;
  std::uint32_t incompat_features;
  std::uint32_t ro_compat_features;
  std::uint8_t poolset_uuid[16];
  std::uint8_t uuid[16];
  std::uint8_t prev_part_uuid[16];
  std::uint8_t next_part_uuid[16];
  std::uint8_t prev_repl_uuid[16];
  std::uint8_t next_repl_uuid[16];
  std::uint64_t crtime;
  std::uint64_t alignment_desc;  // arch_flags
  std::uint8_t machine_class;
  std::uint8_t data;
  std::uint8_t arch_reserved[4];
  std::uint16_t machine;
  std::uint8_t unused[kPoolHdrUnusedSize];
  std::uint8_t unused2[kPoolHdrUnused2Size];  // outside the checksum with CKSUM_2K
  std::uint64_t sds_usc;                      // struct shutdown_state (64 bytes)
  std::uint64_t sds_uuid;                     // checksum of the device ids
  std::uint8_t sds_dirty;
  std::uint8_t sds_reserved[kPoolSdsReservedSize];
  std::uint64_t sds_checksum;
  std::uint64_t checksum;
};
static_assert(sizeof(PoolHdrRaw) == kPoolHdrSize);
static_assert(offsetof(PoolHdrRaw, signature) == 0);
static_assert(offsetof(PoolHdrRaw, major) == 8);
static_assert(offsetof(PoolHdrRaw, compat_features) == 12);
static_assert(offsetof(PoolHdrRaw, incompat_features) == 16);
static_assert(offsetof(PoolHdrRaw, ro_compat_features) == 20);
static_assert(offsetof(PoolHdrRaw, poolset_uuid) == 24);
static_assert(offsetof(PoolHdrRaw, uuid) == 40);
static_assert(offsetof(PoolHdrRaw, prev_part_uuid) == 56);
static_assert(offsetof(PoolHdrRaw, next_part_uuid) == 72);
static_assert(offsetof(PoolHdrRaw, prev_repl_uuid) == 88);
static_assert(offsetof(PoolHdrRaw, next_repl_uuid) == 104);
static_assert(offsetof(PoolHdrRaw, crtime) == 120);
static_assert(offsetof(PoolHdrRaw, alignment_desc) == 128);
static_assert(offsetof(PoolHdrRaw, machine_class) == 136);
static_assert(offsetof(PoolHdrRaw, data) == 137);
static_assert(offsetof(PoolHdrRaw, arch_reserved) == 138);
static_assert(offsetof(PoolHdrRaw, machine) == 142);
static_assert(offsetof(PoolHdrRaw, unused) == 144);
static_assert(offsetof(PoolHdrRaw, unused2) == kPoolHdrChecksum2kEnd);
static_assert(offsetof(PoolHdrRaw, sds_usc) == 4024);
static_assert(offsetof(PoolHdrRaw, sds_uuid) == 4032);
static_assert(offsetof(PoolHdrRaw, sds_dirty) == 4040);
static_assert(offsetof(PoolHdrRaw, sds_reserved) == 4041);
static_assert(offsetof(PoolHdrRaw, sds_checksum) == 4080);
static_assert(offsetof(PoolHdrRaw, checksum) == 4088);

/// The libpmemblk descriptor right after the pool header (struct pmemblk's on-media part).
struct PmemBlkDescRaw {
  std::uint32_t bsize;      // block size (external LBA size of the BTT)
  std::uint32_t is_zeroed;  // C int: pool created zero-filled
};
static_assert(sizeof(PmemBlkDescRaw) == 8);
static_assert(offsetof(PmemBlkDescRaw, bsize) == 0);
static_assert(offsetof(PmemBlkDescRaw, is_zeroed) == 4);

enum class PmdkPoolType { Unknown, Blk, Log, Obj };
/// "blk" / "log" / "obj" / "unknown".
const char* pmdk_pool_type_name(PmdkPoolType t);
/// The signature bytes of a pool type (Unknown gets PMEMBLK's).
const std::array<std::uint8_t, 8>& pmdk_pool_signature(PmdkPoolType t);
/// BLK/LOG/OBJ format major.
std::uint32_t pmdk_format_major(PmdkPoolType t);

enum class PoolFeatureSet { Compat, Incompat, RoCompat };
/// Names of the bits set in `mask`, as pmempool spells them ("CKSUM_2K", "SHUTDOWN_STATE",
/// "SINGLEHDR", "CHECK_BAD_BLOCKS"); unknown bits as "0x8".
std::vector<std::string> pool_feature_names(PoolFeatureSet set, std::uint32_t mask);
/// "x86-64", "aarch64", "ppc64", "riscv64", "loongarch64", or "unknown (N)".
std::string pmdk_machine_name(std::uint16_t machine);
/// A PMDK uuid as pmempool prints it (first three groups little-endian).
std::string pmdk_uuid_string(const Uuid& u);

/// What PoolHeader::validate() compares against; every member optional.
struct PoolValidateOptions {
  /// The pool type the caller expects (its signature); Unknown accepts any known PMDK pool.
  PmdkPoolType expected_type = PmdkPoolType::Blk;
  /// The pool is one plain file (no poolset): every part/replica link is the pool's own uuid.
  bool single_file = true;
  /// File modification time (seconds since the epoch): pmempool rejects a later crtime.
  std::optional<std::uint64_t> file_mtime;
  /// Absolute image offset of the header (0 for a pool file).
  std::uint64_t offset = 0;
};

/// Host-endian value type. Keeps every byte so serialize(decode(x)) == x for any x.
struct PoolHeader {
  std::array<std::uint8_t, 8> signature{};
  std::uint32_t major = 0;
  std::uint32_t compat_features = 0;
  std::uint32_t incompat_features = 0;
  std::uint32_t ro_compat_features = 0;
  Uuid poolset_uuid;
  Uuid uuid;
  Uuid prev_part_uuid;
  Uuid next_part_uuid;
  Uuid prev_repl_uuid;
  Uuid next_repl_uuid;
  std::uint64_t crtime = 0;
  std::uint64_t alignment_desc = 0;
  std::uint8_t machine_class = 0;
  std::uint8_t data = 0;
  std::array<std::uint8_t, 4> arch_reserved{};
  std::uint16_t machine = 0;
  std::array<std::uint8_t, kPoolHdrUnusedSize> unused{};
  std::array<std::uint8_t, kPoolHdrUnused2Size> unused2{};
  std::uint64_t sds_usc = 0;
  std::uint64_t sds_uuid = 0;
  std::uint8_t sds_dirty = 0;
  std::array<std::uint8_t, kPoolSdsReservedSize> sds_reserved{};
  std::uint64_t sds_checksum = 0;
  std::uint64_t checksum = 0;

  /// Field values of the first 4096 bytes of `b`; kTruncated if shorter. No validation.
  static Result<PoolHeader> decode(Bytes b);
  /// decode + identity checks: signature equals `expected`'s (any known PMDK signature for
  /// Unknown; kBadSignature), then checksum (kBadChecksum), as field errors.
  static Result<PoolHeader> parse(Bytes b, PmdkPoolType expected = PmdkPoolType::Blk);
  /// The 4096 on-media bytes, bit-exact (the stored checksum is written as is).
  ByteVec serialize() const;
  /// Fletcher64 the way PMDK computes it: checksum field as zero and, when incompat CKSUM_2K
  /// is set, bytes 2048..4095 as zero too.
  std::uint64_t computed_checksum() const;
  PoolHeader with_checksum() const;
  bool checksum_ok() const { return computed_checksum() == checksum; }
  /// A copy with `unused` and `unused2` zeroed (pmempool check -r's "fill it up",
  /// check_pool_hdr.c Q_ZERO_UNUSED_AREA); the checksum is left as stored.
  PoolHeader with_unused_cleared() const;
  /// Fletcher64 of the 64-byte shutdown state with its own checksum field as zero.
  std::uint64_t computed_sds_checksum() const;
  /// The shutdown-state record, re-checksummed (for tools that reset it).
  PoolHeader with_sds_checksum() const;

  PmdkPoolType type() const;
  bool cksum_2k() const { return (incompat_features & kPoolFeatCksum2K) != 0; }
  bool sds_enabled() const { return (incompat_features & kPoolFeatSds) != 0; }
  bool is_zero() const;

  /// Semantic checks (pmempool check's pool-header step plus libpmem's open-time checks):
  /// empty header (stops), signature, checksum, major, feature bits, arch flags, unused
  /// areas, uuid links, crtime, shutdown state.
  Findings validate(const PoolValidateOptions& opt = {}) const;

  /// Name/offset/size of every field (from PoolHdrRaw).
  static FieldTable fields();

  bool operator==(const PoolHeader&) const = default;
};

/// The pmemblk descriptor (bsize, is_zeroed) at file offset PMEM_PAGESIZE.
struct PmemBlkDesc {
  std::uint32_t bsize = 0;
  std::uint32_t is_zeroed = 0;

  /// The first 8 bytes of `b`; kTruncated if shorter.
  static Result<PmemBlkDesc> decode(Bytes b);
  ByteVec serialize() const;
  static FieldTable fields();
  bool operator==(const PmemBlkDesc&) const = default;
};

/// File offset of the pmemblk descriptor: the header is padded to PMEM_PAGESIZE.
constexpr std::uint64_t pmemblk_desc_offset(std::uint64_t pmem_pagesize = 4096) {
  return pmem_pagesize;
}
/// File offset of the BTT namespace: ALIGN(sizeof(struct pmemblk), PMEM_PAGESIZE), i.e. two
/// pages (header page + descriptor/run-time page): 8192 on 4 KiB builds.
constexpr std::uint64_t pmemblk_btt_offset(std::uint64_t pmem_pagesize = 4096) {
  return 2 * pmem_pagesize;
}
/// PMEMBLK_MIN_POOL: 16 MiB of BTT + the 8 KiB frame (4 KiB-page builds).
inline constexpr std::uint64_t kPmemBlkMinPool = (16ull << 20) + 8192;

struct PmemBlkReadOptions {
  /// PMEM_PAGESIZE of the PMDK build that wrote the pool (4096 on x86-64/aarch64).
  std::uint64_t pmem_pagesize = 4096;
  bool single_file = true;
  std::optional<std::uint64_t> file_mtime;
  /// The caller knows from the BTT behind it that this is a pmemblk pool: read an all-zero or
  /// wrongly signed header too and report it (POOL_EMPTY_HEADER / POOL_BAD_SIGNATURE).
  bool damaged_header_ok = false;
};

/// A pmemblk pool as found in a file: its header, descriptor and where the BTT lives.
struct PmemBlkPool {
  PoolHeader header;
  PmemBlkDesc desc;
  std::uint64_t btt_offset = 0;  // file offset of the BTT namespace (arena 0 info block)
  std::uint64_t btt_size = 0;    // bytes from btt_offset to the end of the file
  /// False when the BTT area starts with an all-zero 4 KiB (pool created, never written:
  /// libpmemblk writes the layout lazily on the first write).
  bool layout_written = false;
  /// Header findings plus the descriptor's (bsize, is_zeroed, size).
  Findings findings;

  std::uint32_t bsize() const { return desc.bsize; }
  bool is_zeroed() const { return desc.is_zeroed != 0; }
  /// Cross-checks with the BTT's arena 0 info block, which the caller has parsed:
  /// bsize == external_lbasize and poolset_uuid == parent_uuid (raw bytes).
  Findings cross_check_btt(std::uint32_t btt_external_lbasize, const Uuid& btt_parent_uuid) const;
};

/// Read the header and descriptor of a pmemblk pool on `dev`. Fails only when the device is
/// too short to hold the frame (kTruncated), the header cannot be read (kIo...), or the
/// signature is not PMEMBLK (kBadSignature; all-zero header: kNotPresent) unless
/// `damaged_header_ok`. Everything else, including a bad checksum, is reported in `findings`.
Result<PmemBlkPool> read_pmemblk_pool(const BlockDevice& dev, const PmemBlkReadOptions& opt = {});

}  // namespace ndtk
