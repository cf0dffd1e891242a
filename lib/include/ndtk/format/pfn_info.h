// pfn / dax info block ("NVDIMM_PFN_INFO" / "NVDIMM_DAX_INFO", 4096 bytes; kernel nd_pfn_sb):
// layout, bit-exact decode/serialize, minor-version defaults, and the kernel's probe-time rules.
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

namespace ndtk {

inline constexpr std::size_t kPfnInfoSize = 4096;
inline constexpr std::size_t kPfnInfoPaddingSize = 3994;
/// Namespace offset of the block, for fsdax and devdax alike.
inline constexpr std::uint64_t kPfnInfoOffset = 4096;
/// Bytes at the namespace start the kernel keeps for itself (nd_info_block_reserve() for a 4 KiB
/// PAGE_SIZE): the unused first 4 KiB plus the info block. The memmap (PMEM mode) follows it.
inline constexpr std::uint64_t kPfnInfoReserve = 8192;
/// The newest minor version this code knows (page_size / page_struct_size appeared in 4).
inline constexpr std::uint16_t kPfnInfoLatestMinor = 4;
/// struct page reservation per data page the kernel plans with (MAX_STRUCT_PAGE_SIZE).
inline constexpr std::uint64_t kPfnMaxStructPageSize = 64;

inline constexpr std::array<std::uint8_t, 16> kPfnSignature = {
    'N', 'V', 'D', 'I', 'M', 'M', '_', 'P', 'F', 'N', '_', 'I', 'N', 'F', 'O', 0};
inline constexpr std::array<std::uint8_t, 16> kDaxSignature = {
    'N', 'V', 'D', 'I', 'M', 'M', '_', 'D', 'A', 'X', '_', 'I', 'N', 'F', 'O', 0};

/// The on-media layout; every integer little-endian. Offsets are relative to the block.
struct PfnInfoRaw {
  std::uint8_t signature[16];
  std::uint8_t uuid[16];
  std::uint8_t parent_uuid[16];
  std::uint32_t flags;
  std::uint16_t version_major;
  std::uint16_t version_minor;
  std::uint64_t dataoff;  // relative to namespace start + start_pad
  std::uint64_t npfns;
  std::uint32_t mode;
  std::uint32_t start_pad;  // minor >= 1
  std::uint32_t end_trunc;  // minor >= 1
  std::uint32_t align;      // minor >= 2
  std::uint32_t page_size;  // minor >= 4
  std::uint16_t page_struct_size;  // minor >= 4
  std::uint8_t padding[kPfnInfoPaddingSize];
  std::uint64_t checksum;
};
static_assert(sizeof(PfnInfoRaw) == kPfnInfoSize);
static_assert(offsetof(PfnInfoRaw, signature) == 0);
static_assert(offsetof(PfnInfoRaw, uuid) == 16);
static_assert(offsetof(PfnInfoRaw, parent_uuid) == 32);
static_assert(offsetof(PfnInfoRaw, flags) == 48);
static_assert(offsetof(PfnInfoRaw, version_major) == 52);
static_assert(offsetof(PfnInfoRaw, version_minor) == 54);
static_assert(offsetof(PfnInfoRaw, dataoff) == 56);
static_assert(offsetof(PfnInfoRaw, npfns) == 64);
static_assert(offsetof(PfnInfoRaw, mode) == 72);
static_assert(offsetof(PfnInfoRaw, start_pad) == 76);
static_assert(offsetof(PfnInfoRaw, end_trunc) == 80);
static_assert(offsetof(PfnInfoRaw, align) == 84);
static_assert(offsetof(PfnInfoRaw, page_size) == 88);
static_assert(offsetof(PfnInfoRaw, page_struct_size) == 92);
static_assert(offsetof(PfnInfoRaw, padding) == 94);
static_assert(offsetof(PfnInfoRaw, checksum) == 4088);

/// Which personality a block describes, from its signature: fsdax ("pfn") or devdax ("dax").
enum class PfnKind { Unknown, Pfn, Dax };
/// Where the struct page array lives (the `mode` field). None is never valid on media.
enum class PfnMode : std::uint32_t { None = 0, Ram = 1, Pmem = 2 };

/// "pfn" / "dax" / "unknown".
const char* pfn_kind_name(PfnKind k);
/// ndctl/sysfs spelling of a mode value: "none", "ram", "pmem"; "unknown" for anything else.
const char* pfn_mode_name(std::uint32_t mode);
/// The 16 signature bytes for a kind (Unknown gets the pfn signature).
const std::array<std::uint8_t, 16>& pfn_signature(PfnKind k);

/// The namespace's claim class (label abstraction GUID), as far as pfn/dax probing cares:
/// nd_pfn_probe runs for None/Pfn only, nd_dax_probe for None/Dax only. Label-less namespaces
/// and v1.1 labels are None.
enum class PfnClaim { None, Pfn, Dax, Btt, Other };
const char* pfn_claim_name(PfnClaim c);

/// The field values with the kernel's minor-version defaults applied (FORMATS.md §4.2 item 3).
struct PfnEffective {
  std::uint32_t start_pad = 0;
  std::uint32_t end_trunc = 0;
  std::uint32_t align = 0;            // after the minor<2 reset; 0 means "not recorded"
  std::uint64_t effective_align = 0;  // align, or the largest power of two <= dataoff if 0
  std::uint32_t page_size = 0;
  std::uint16_t page_struct_size = 0;
};

/// Host-endian value type. Keeps the padding bytes so serialize(decode(x)) == x for any x.
struct PfnInfo {
  std::array<std::uint8_t, 16> signature{};
  Uuid uuid;
  Uuid parent_uuid;
  std::uint32_t flags = 0;
  std::uint16_t version_major = 0;
  std::uint16_t version_minor = 0;
  std::uint64_t dataoff = 0;
  std::uint64_t npfns = 0;
  std::uint32_t mode = 0;
  std::uint32_t start_pad = 0;
  std::uint32_t end_trunc = 0;
  std::uint32_t align = 0;
  std::uint32_t page_size = 0;
  std::uint16_t page_struct_size = 0;
  std::array<std::uint8_t, kPfnInfoPaddingSize> padding{};
  std::uint64_t checksum = 0;

  /// Field values of the first 4096 bytes of `b`; kTruncated if shorter. No validation.
  static Result<PfnInfo> decode(Bytes b);
  /// decode + identity checks: signature is the pfn or dax one (kBadSignature), then the
  /// checksum (kBadChecksum), each as a field error with expected/found.
  static Result<PfnInfo> parse(Bytes b);
  /// The 4096 on-media bytes, bit-exact (the stored checksum is written as is).
  ByteVec serialize() const;
  /// Fletcher64 over the serialized block with the checksum field as zero.
  std::uint64_t computed_checksum() const;
  /// A copy whose checksum field holds the computed Fletcher64.
  PfnInfo with_checksum() const;
  bool checksum_ok() const { return computed_checksum() == checksum; }
  /// A copy with every byte the kernel ignores zeroed (the padding, and fields newer than the
  /// block's minor version: nd_pfn_validate replaces those with defaults) and a fresh checksum.
  PfnInfo with_padding_cleared() const;

  /// Pfn or Dax from the signature; Unknown if it is neither.
  PfnKind kind() const;
  bool padding_zero() const;
  /// The values the kernel works with after applying the minor-version defaults; `page_size`
  /// stands in for a minor<4 block's page_size (the running kernel's PAGE_SIZE).
  PfnEffective effective(std::uint32_t running_page_size = 4096) const;
  /// "1.4".
  std::string version_string() const;

  /// Block-only checks that need no namespace: signature, checksum, version, flags, mode,
  /// padding. `offset` (absolute image offset of the block) locates the findings.
  Findings validate(std::optional<std::uint64_t> offset = std::nullopt) const;

  /// Name/offset/size of every field (from PfnInfoRaw).
  static FieldTable fields();

  bool operator==(const PfnInfo&) const = default;
};

/// The namespace a block is checked against.
struct PfnNamespace {
  std::uint64_t start = 0;  // physical start address (alignment is judged on it)
  std::uint64_t size = 0;   // namespace size in bytes (nvdimm_namespace_capacity)
  Uuid uuid;                // namespace uuid; all-zero for a label-less namespace
  PfnClaim claim = PfnClaim::None;
  /// Absolute image offset of the info block, so findings can point at the bad field.
  std::optional<std::uint64_t> block_offset;
};

/// The running kernel the block is judged for.
struct PfnKernelEnv {
  std::uint32_t page_size = 4096;                  // PAGE_SIZE
  std::uint32_t struct_page_size = 64;             // sizeof(struct page)
  std::uint64_t compat_align = 2ull << 20;         // memremap_compat_align() (x86-64: 2 MiB)
  /// nd_pfn_supported_alignments(): PAGE_SIZE, PMD, PUD on x86-64 with THP.
  std::vector<std::uint64_t> dax_alignments = {4096, 2ull << 20, 1ull << 30};
};

/// What nd_pmem_probe does with the namespace after nd_pfn_probe/nd_dax_probe ran on it.
enum class PfnVerdict {
  Accepted,     // the pfn/dax personality attaches
  NotDetected,  // -ENODEV (signature, checksum, parent uuid, claim class): next probe, else raw
  Rejected,     // -ENXIO (bad mode): next probe, else the namespace comes up raw
  Unusable,     // -EOPNOTSUPP at probe: the namespace is left without a driver
  SetupFailed,  // probe succeeded but pfn setup fails (-EINVAL: RAM-mode dataoff < reserve)
};
const char* pfn_verdict_name(PfnVerdict v);

/// The outcome of applying nd_pfn_validate (+ the setup-time check) to a block.
struct PfnValidation {
  Findings findings;            // every problem found, not just the first the kernel hits
  PfnVerdict verdict = PfnVerdict::NotDetected;
  std::string kernel_error;     // "-EOPNOTSUPP: resource start misaligned"; empty if accepted
  PfnEffective effective;
  /// Usable data range [data_start, data_end) in the namespace's physical address space and
  /// its length (== what `ndctl list` reports as the fsdax/devdax size). Filled whenever the
  /// fields describe a non-empty range, even if the kernel refuses the block (that is where
  /// the data would be); zero when start_pad/end_trunc/dataoff leave nothing or overflow.
  std::uint64_t data_start = 0;
  std::uint64_t data_end = 0;
  std::uint64_t usable_bytes = 0;
  /// Pages the kernel maps: recomputed from the range in PMEM mode, the stored npfns in RAM mode.
  std::uint64_t npfns = 0;

  bool kernel_accepts() const { return verdict == PfnVerdict::Accepted; }
};

/// Apply the kernel's probe rules (FORMATS.md §4.2, nd_pfn_validate + __nvdimm_setup_pfn) to
/// `info` for namespace `ns` on kernel `env`. The verdict follows the kernel's order of checks
/// exactly; the findings go on past the first failure so every bad field is reported.
PfnValidation kernel_validate(const PfnInfo& info, const PfnNamespace& ns,
                              const PfnKernelEnv& env = {});

}  // namespace ndtk
