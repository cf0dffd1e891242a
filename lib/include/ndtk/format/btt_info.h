// BTT arena info block ("BTT_ARENA_INFO", 4096 bytes; kernel btt_sb, PMDK btt_info): layout,
// bit-exact decode/serialize, identity checks and the structure-level invariants of one block.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "ndtk/base/bytes.h"
#include "ndtk/base/field_desc.h"
#include "ndtk/base/finding.h"
#include "ndtk/base/result.h"
#include "ndtk/base/uuid.h"

namespace ndtk {

inline constexpr std::size_t kBttInfoSize = 4096;
inline constexpr std::size_t kBttInfoPaddingSize = 3968;
/// Signature: 14 characters and two NULs.
inline constexpr std::array<std::uint8_t, 16> kBttInfoSignature = {
    'B', 'T', 'T', '_', 'A', 'R', 'E', 'N', 'A', '_', 'I', 'N', 'F', 'O', 0, 0};
/// flags bit 0: the arena is in the error state (writes refused).
inline constexpr std::uint32_t kBttInfoFlagError = 0x1;
/// The external LBA sizes the kernel accepts for a BTT (btt_devs.c).
inline constexpr std::array<std::uint32_t, 7> kBttKernelLbaSizes = {512,  520,  528, 4096,
                                                                    4104, 4160, 4224};

/// The on-media layout; every integer little-endian. Offsets are arena-relative.
struct BttInfoRaw {
  std::uint8_t signature[16];
  std::uint8_t uuid[16];
  std::uint8_t parent_uuid[16];
  std::uint32_t flags;
  std::uint16_t version_major;
  std::uint16_t version_minor;
  std::uint32_t external_lbasize;
  std::uint32_t external_nlba;
  std::uint32_t internal_lbasize;
  std::uint32_t internal_nlba;
  std::uint32_t nfree;
  std::uint32_t infosize;
  std::uint64_t nextoff;
  std::uint64_t dataoff;
  std::uint64_t mapoff;
  std::uint64_t logoff;    // PMDK: flogoff
  std::uint64_t info2off;  // PMDK: infooff
  std::uint8_t padding[kBttInfoPaddingSize];
  std::uint64_t checksum;
};
static_assert(sizeof(BttInfoRaw) == kBttInfoSize);
static_assert(offsetof(BttInfoRaw, signature) == 0);
static_assert(offsetof(BttInfoRaw, uuid) == 16);
static_assert(offsetof(BttInfoRaw, parent_uuid) == 32);
static_assert(offsetof(BttInfoRaw, flags) == 48);
static_assert(offsetof(BttInfoRaw, version_major) == 52);
static_assert(offsetof(BttInfoRaw, version_minor) == 54);
static_assert(offsetof(BttInfoRaw, external_lbasize) == 56);
static_assert(offsetof(BttInfoRaw, external_nlba) == 60);
static_assert(offsetof(BttInfoRaw, internal_lbasize) == 64);
static_assert(offsetof(BttInfoRaw, internal_nlba) == 68);
static_assert(offsetof(BttInfoRaw, nfree) == 72);
static_assert(offsetof(BttInfoRaw, infosize) == 76);
static_assert(offsetof(BttInfoRaw, nextoff) == 80);
static_assert(offsetof(BttInfoRaw, dataoff) == 88);
static_assert(offsetof(BttInfoRaw, mapoff) == 96);
static_assert(offsetof(BttInfoRaw, logoff) == 104);
static_assert(offsetof(BttInfoRaw, info2off) == 112);
static_assert(offsetof(BttInfoRaw, padding) == 120);
static_assert(offsetof(BttInfoRaw, checksum) == 4088);

/// The two on-media BTT versions. They differ only in where arena 0 starts.
enum class BttVersion { V1_1, V2_0 };

/// Who wrote (or is expected to have written) the BTT: the rules differ in internal LBA
/// alignment, supported external sizes, parent-uuid matching and log-entry flags.
enum class BttFlavor { Kernel, Pmdk };

/// "1.1" / "2.0".
const char* btt_version_name(BttVersion v);
const char* btt_flavor_name(BttFlavor f);
/// Namespace offset of arena 0 for a version: 4096 for 1.1, 0 for 2.0 (kernel nd_btt_version).
constexpr std::uint64_t btt_initial_offset(BttVersion v) {
  return v == BttVersion::V1_1 ? 4096 : 0;
}
constexpr std::uint16_t btt_version_major(BttVersion v) { return v == BttVersion::V1_1 ? 1 : 2; }
constexpr std::uint16_t btt_version_minor(BttVersion v) { return v == BttVersion::V1_1 ? 1 : 0; }
/// The version for a (major, minor) pair, or nullopt for anything but 1.1 and 2.0.
std::optional<BttVersion> btt_version_from(std::uint16_t major, std::uint16_t minor);
/// True iff `lbasize` is one of the external sizes the kernel supports.
bool btt_kernel_lbasize_supported(std::uint32_t lbasize);

/// What validate() may compare the block against; every member is optional.
struct BttInfoContext {
  BttFlavor flavor = BttFlavor::Kernel;
  /// Bytes from this arena's start to the end of the BTT's raw space (namespace size minus
  /// initial offset minus the arena's start). Enables the "inside the arena" checks.
  std::optional<std::uint64_t> remaining;
  /// The version implied by where the block was found / the label claim class.
  std::optional<BttVersion> expected_version;
  /// The namespace uuid (kernel) or pool poolset uuid (PMDK) for the parent_uuid rule.
  std::optional<Uuid> namespace_uuid;
  std::uint32_t arena_index = 0;
  /// Absolute image offset of the block, so findings can point at the bad field.
  std::optional<std::uint64_t> offset;
  /// Overrides the default "arena N info" in findings (e.g. "arena 0 info2").
  std::string where;
};

/// Host-endian value type. Keeps the padding bytes so serialize(decode(x)) == x for any x.
struct BttInfo {
  std::array<std::uint8_t, 16> signature{};
  Uuid uuid;
  Uuid parent_uuid;
  std::uint32_t flags = 0;
  std::uint16_t version_major = 0;
  std::uint16_t version_minor = 0;
  std::uint32_t external_lbasize = 0;
  std::uint32_t external_nlba = 0;
  std::uint32_t internal_lbasize = 0;
  std::uint32_t internal_nlba = 0;
  std::uint32_t nfree = 0;
  std::uint32_t infosize = 0;
  std::uint64_t nextoff = 0;
  std::uint64_t dataoff = 0;
  std::uint64_t mapoff = 0;
  std::uint64_t logoff = 0;
  std::uint64_t info2off = 0;
  std::array<std::uint8_t, kBttInfoPaddingSize> padding{};
  std::uint64_t checksum = 0;

  /// Field values of the first 4096 bytes of `b`; kTruncated if shorter. No validation.
  static Result<BttInfo> decode(Bytes b);
  /// decode + identity checks: signature (kBadSignature), then checksum (kBadChecksum), each
  /// as a field error with expected/found.
  static Result<BttInfo> parse(Bytes b);
  /// The 4096 on-media bytes, bit-exact (the stored checksum is written as is).
  ByteVec serialize() const;
  /// A copy whose checksum field holds the computed Fletcher64.
  BttInfo with_checksum() const;
  /// Fletcher64 over the serialized block with the checksum field as zero.
  std::uint64_t computed_checksum() const;
  bool checksum_ok() const { return computed_checksum() == checksum; }
  bool signature_ok() const { return signature == kBttInfoSignature; }
  /// The version if (major, minor) is 1.1 or 2.0.
  std::optional<BttVersion> version() const {
    return btt_version_from(version_major, version_minor);
  }
  void set_version(BttVersion v);
  bool error_flag() const { return (flags & kBttInfoFlagError) != 0; }
  bool padding_zero() const;
  /// The arena's extent as the kernel records it on discovery: nextoff when non-zero, else
  /// info2off + 4096; nullopt if that overflows.
  std::optional<std::uint64_t> arena_size() const;

  /// Structure-level invariants (FORMATS.md §9) that need only this block and the context:
  /// signature (stops further checks), checksum, version, infosize, nfree, nlba, lbasizes,
  /// offsets order/containment, info2off/nextoff vs arena size, padding, flags, parent uuid.
  Findings validate(const BttInfoContext& ctx = {}) const;

  /// Name/offset/size of every field (from BttInfoRaw).
  static FieldTable fields();

  bool operator==(const BttInfo&) const = default;
};

}  // namespace ndtk
