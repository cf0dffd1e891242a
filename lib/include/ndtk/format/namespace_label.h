// EFI namespace labels v1.1 (128 bytes, no checksum) and v1.2 (256 bytes, Fletcher64 at 248)
// (FORMATS.md §3.1, §3.3-3.5): layouts, bit-exact decode/serialize, claim classes, validation.
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

inline constexpr std::size_t kLabelSizeV11 = 128;
inline constexpr std::size_t kLabelSizeV12 = 256;
inline constexpr std::size_t kLabelNameLen = 64;

/// Label flags (kernel NSLABEL_FLAG_*).
inline constexpr std::uint32_t kLabelFlagRoLabel = 0x1;   // read-only label
inline constexpr std::uint32_t kLabelFlagLocal = 0x2;     // DIMM-local (BLK) namespace
inline constexpr std::uint32_t kLabelFlagBtt = 0x4;       // namespace holds a BTT (v1.1 era)
inline constexpr std::uint32_t kLabelFlagUpdating = 0x8;  // label being updated
inline constexpr std::uint32_t kLabelFlagsKnown = 0xf;

/// v1.1 layout (struct nd_namespace_label of v1.1-era kernels).
struct NamespaceLabelV11Raw {
  std::uint8_t uuid[16];
  std::uint8_t name[kLabelNameLen];
  std::uint32_t flags;
  std::uint16_t nlabel;
  std::uint16_t position;
  std::uint64_t isetcookie;
  std::uint64_t lbasize;
  std::uint64_t dpa;
  std::uint64_t rawsize;
  std::uint32_t slot;
  std::uint32_t unused;
};
static_assert(sizeof(NamespaceLabelV11Raw) == kLabelSizeV11);
static_assert(offsetof(NamespaceLabelV11Raw, uuid) == 0);
static_assert(offsetof(NamespaceLabelV11Raw, name) == 16);
static_assert(offsetof(NamespaceLabelV11Raw, flags) == 80);
static_assert(offsetof(NamespaceLabelV11Raw, nlabel) == 84);
static_assert(offsetof(NamespaceLabelV11Raw, position) == 86);
static_assert(offsetof(NamespaceLabelV11Raw, isetcookie) == 88);
static_assert(offsetof(NamespaceLabelV11Raw, lbasize) == 96);
static_assert(offsetof(NamespaceLabelV11Raw, dpa) == 104);
static_assert(offsetof(NamespaceLabelV11Raw, rawsize) == 112);
static_assert(offsetof(NamespaceLabelV11Raw, slot) == 120);
static_assert(offsetof(NamespaceLabelV11Raw, unused) == 124);

/// v1.2 layout (kernel struct nvdimm_efi_label). Identical to v1.1 up to slot.
struct NamespaceLabelV12Raw {
  std::uint8_t uuid[16];
  std::uint8_t name[kLabelNameLen];
  std::uint32_t flags;
  std::uint16_t nlabel;
  std::uint16_t position;
  std::uint64_t isetcookie;
  std::uint64_t lbasize;
  std::uint64_t dpa;
  std::uint64_t rawsize;
  std::uint32_t slot;
  std::uint8_t align;
  std::uint8_t reserved[3];
  std::uint8_t type_guid[16];
  std::uint8_t abstraction_guid[16];
  std::uint8_t reserved2[88];
  std::uint64_t checksum;
};
static_assert(sizeof(NamespaceLabelV12Raw) == kLabelSizeV12);
static_assert(offsetof(NamespaceLabelV12Raw, uuid) == 0);
static_assert(offsetof(NamespaceLabelV12Raw, name) == 16);
static_assert(offsetof(NamespaceLabelV12Raw, flags) == 80);
static_assert(offsetof(NamespaceLabelV12Raw, nlabel) == 84);
static_assert(offsetof(NamespaceLabelV12Raw, position) == 86);
static_assert(offsetof(NamespaceLabelV12Raw, isetcookie) == 88);
static_assert(offsetof(NamespaceLabelV12Raw, lbasize) == 96);
static_assert(offsetof(NamespaceLabelV12Raw, dpa) == 104);
static_assert(offsetof(NamespaceLabelV12Raw, rawsize) == 112);
static_assert(offsetof(NamespaceLabelV12Raw, slot) == 120);
static_assert(offsetof(NamespaceLabelV12Raw, align) == 124);
static_assert(offsetof(NamespaceLabelV12Raw, reserved) == 125);
static_assert(offsetof(NamespaceLabelV12Raw, type_guid) == 128);
static_assert(offsetof(NamespaceLabelV12Raw, abstraction_guid) == 144);
static_assert(offsetof(NamespaceLabelV12Raw, reserved2) == 160);
static_assert(offsetof(NamespaceLabelV12Raw, checksum) == 248);

/// Personality of a namespace, from the label's abstraction GUID (include/linux/nd.h order).
enum class ClaimClass { None = 0, Btt = 1, Btt2 = 2, Pfn = 3, Dax = 4, Unknown = 5 };

/// "none", "btt", "btt2", "pfn", "dax", "unknown".
const char* claim_class_name(ClaimClass c);
/// What the claim class means to a user: "raw", "sector (BTT 1.1)", "fsdax", ...
const char* claim_class_mode(ClaimClass c);

/// The well-known identifiers. `efi` = on-media bytes in EFI GUID (mixed-endian) order as EFI
/// labels store them; `uuid` = textual byte order as CXL labels store them.
struct WellKnownGuid {
  const char* name;  // "btt", "pmem-range", ...
  const char* text;  // canonical string, e.g. "8aed63a2-29a2-4c66-8b12-f05d15d3922a"
  Uuid efi;
  Uuid uuid;
};
const WellKnownGuid& guid_btt();         // claim class BTT (BTT 1.1)
const WellKnownGuid& guid_btt2();        // claim class BTT2 (BTT 2.0)
const WellKnownGuid& guid_pfn();         // claim class PFN (fsdax)
const WellKnownGuid& guid_dax();         // claim class DAX (devdax)
const WellKnownGuid& guid_pmem_range();  // ACPI NFIT SPA "persistent memory" range type
/// Claim class of an EFI label abstraction GUID (EFI byte order); zero -> None.
ClaimClass claim_class_from_efi_guid(const Uuid& g);
/// Claim class of a CXL label abstraction UUID (UUID byte order); zero -> None.
ClaimClass claim_class_from_uuid(const Uuid& u);
/// The EFI-order GUID the kernel writes for a claim class (zero for None and Unknown).
Uuid efi_guid_for(ClaimClass c);
/// The UUID-order identifier for a claim class (zero for None and Unknown).
Uuid uuid_for(ClaimClass c);
/// Name of a well-known type/abstraction GUID given in EFI order, or "" if unknown.
std::string efi_guid_name(const Uuid& g);

/// "UPDATING|BTT" for the known bits, plus "0x30" for any others; "0" when none are set.
std::string label_flag_names(std::uint32_t flags);

/// One EFI namespace label, host-endian. Fields of the other version are zero and ignored by
/// serialize: v1.1 uses `unused` at 124; v1.2 uses align/reserved/GUIDs/reserved2/checksum.
struct NamespaceLabel {
  std::size_t label_size = kLabelSizeV12;  // 128 (v1.1) or 256 (v1.2)
  Uuid uuid;
  std::array<std::uint8_t, kLabelNameLen> name{};
  std::uint32_t flags = 0;
  std::uint16_t nlabel = 0;
  std::uint16_t position = 0;
  std::uint64_t isetcookie = 0;
  std::uint64_t lbasize = 0;
  std::uint64_t dpa = 0;
  std::uint64_t rawsize = 0;
  std::uint32_t slot = 0;
  std::uint32_t unused = 0;  // v1.1 only
  std::uint8_t align = 0;    // v1.2 only (from here on)
  std::array<std::uint8_t, 3> reserved{};
  Uuid type_guid;         // EFI byte order, as stored
  Uuid abstraction_guid;  // EFI byte order, as stored
  std::array<std::uint8_t, 88> reserved2{};
  std::uint64_t checksum = 0;

  /// Decode `label_size` (128 or 256) bytes from the start of `b`. Fails if `b` is shorter
  /// (kTruncated) or label_size is another value (kUnsupported). No validation.
  static Result<NamespaceLabel> decode(Bytes b, std::size_t label_size);
  /// decode + the checksum check for v1.2 (kBadChecksum naming both values).
  static Result<NamespaceLabel> parse(Bytes b, std::size_t label_size);

  /// label_size bytes, bit for bit.
  ByteVec serialize() const;
  bool has_checksum() const { return label_size >= kLabelSizeV12; }
  /// Fletcher64 over label_size bytes with the checksum field zero; nullopt for v1.1.
  std::optional<std::uint64_t> computed_checksum() const;
  /// True for v1.1 (nothing to check) or when the stored checksum matches.
  bool checksum_ok() const;
  /// A copy with the checksum recomputed (no-op for v1.1).
  NamespaceLabel with_checksum() const;

  /// Name up to the first NUL.
  std::string name_string() const;
  /// NONE for v1.1 labels (they have no abstraction GUID), else by abstraction_guid.
  ClaimClass claim_class() const;
  /// Absolute end of the extent, nullopt on u64 overflow.
  std::optional<std::uint64_t> dpa_end() const { return checked_add(dpa, rawsize); }

  /// The current kernel's slot_valid(): slot field == slot_number and (v1.2) checksum.
  bool kernel_slot_valid(std::uint32_t slot_number) const;
  /// Every check of one label in isolation (FORMATS.md §3, §9): slot, checksum, unused /
  /// reserved bytes, name termination, nlabel/position, zero uuid, flags, lbasize, 4 KiB
  /// alignment, extent overflow, unknown abstraction/type GUID. where = "label slot N";
  /// `at` = absolute image offset of the label.
  Findings validate(std::uint32_t slot_number,
                    std::optional<std::uint64_t> at = std::nullopt) const;

  /// Fields of a label of the given size (128 -> v1.1 table, 256 -> v1.2 table).
  static FieldTable fields(std::size_t label_size);

  bool operator==(const NamespaceLabel&) const = default;
};

}  // namespace ndtk
