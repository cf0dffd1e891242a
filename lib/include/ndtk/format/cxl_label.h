// CXL 2.0 LSA labels (FORMATS.md §3.2): the namespace label and the region label, 256 bytes
// each with Fletcher64 at 248; identifiers in UUID (textual) byte order.
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
#include "ndtk/format/namespace_label.h"

namespace ndtk {

inline constexpr std::size_t kCxlLabelSize = 256;

/// The `type` UUID that starts every CXL label.
const WellKnownGuid& guid_cxl_namespace();  // 68bb2c0a-5a77-4937-9f85-3caf41a0f93c
const WellKnownGuid& guid_cxl_region();     // 529d7c61-da07-47c4-a93f-ecdf2c06f444

enum class CxlLabelKind { Namespace, Region, Unknown };
/// Which kind of CXL label `b` starts with, by its type UUID (Unknown if shorter than 16).
CxlLabelKind cxl_label_kind(Bytes b);

/// CXL namespace label (kernel struct nvdimm_cxl_label, CXL 2.0 table 212).
struct CxlNamespaceLabelRaw {
  std::uint8_t type[16];
  std::uint8_t uuid[16];
  std::uint8_t name[kLabelNameLen];
  std::uint32_t flags;
  std::uint16_t nrange;
  std::uint16_t position;
  std::uint64_t dpa;
  std::uint64_t rawsize;
  std::uint32_t slot;
  std::uint32_t align;
  std::uint8_t region_uuid[16];
  std::uint8_t abstraction_uuid[16];
  std::uint16_t lbasize;
  std::uint8_t reserved[0x56];
  std::uint64_t checksum;
};
static_assert(sizeof(CxlNamespaceLabelRaw) == kCxlLabelSize);
static_assert(offsetof(CxlNamespaceLabelRaw, type) == 0);
static_assert(offsetof(CxlNamespaceLabelRaw, uuid) == 16);
static_assert(offsetof(CxlNamespaceLabelRaw, name) == 32);
static_assert(offsetof(CxlNamespaceLabelRaw, flags) == 96);
static_assert(offsetof(CxlNamespaceLabelRaw, nrange) == 100);
static_assert(offsetof(CxlNamespaceLabelRaw, position) == 102);
static_assert(offsetof(CxlNamespaceLabelRaw, dpa) == 104);
static_assert(offsetof(CxlNamespaceLabelRaw, rawsize) == 112);
static_assert(offsetof(CxlNamespaceLabelRaw, slot) == 120);
static_assert(offsetof(CxlNamespaceLabelRaw, align) == 124);
static_assert(offsetof(CxlNamespaceLabelRaw, region_uuid) == 128);
static_assert(offsetof(CxlNamespaceLabelRaw, abstraction_uuid) == 144);
static_assert(offsetof(CxlNamespaceLabelRaw, lbasize) == 160);
static_assert(offsetof(CxlNamespaceLabelRaw, reserved) == 162);
static_assert(offsetof(CxlNamespaceLabelRaw, checksum) == 248);

/// CXL region label (kernel struct cxl_region_label, CXL 2.0 table 211).
struct CxlRegionLabelRaw {
  std::uint8_t type[16];
  std::uint8_t uuid[16];
  std::uint32_t flags;
  std::uint16_t nlabel;
  std::uint16_t position;
  std::uint64_t dpa;
  std::uint64_t rawsize;
  std::uint64_t hpa;
  std::uint32_t slot;
  std::uint32_t ig;
  std::uint32_t align;
  std::uint8_t reserved[0xac];
  std::uint64_t checksum;
};
static_assert(sizeof(CxlRegionLabelRaw) == kCxlLabelSize);
static_assert(offsetof(CxlRegionLabelRaw, type) == 0);
static_assert(offsetof(CxlRegionLabelRaw, uuid) == 16);
static_assert(offsetof(CxlRegionLabelRaw, flags) == 32);
static_assert(offsetof(CxlRegionLabelRaw, nlabel) == 36);
static_assert(offsetof(CxlRegionLabelRaw, position) == 38);
static_assert(offsetof(CxlRegionLabelRaw, dpa) == 40);
static_assert(offsetof(CxlRegionLabelRaw, rawsize) == 48);
static_assert(offsetof(CxlRegionLabelRaw, hpa) == 56);
static_assert(offsetof(CxlRegionLabelRaw, slot) == 64);
static_assert(offsetof(CxlRegionLabelRaw, ig) == 68);
static_assert(offsetof(CxlRegionLabelRaw, align) == 72);
static_assert(offsetof(CxlRegionLabelRaw, reserved) == 76);
static_assert(offsetof(CxlRegionLabelRaw, checksum) == 248);

/// One CXL namespace label, host-endian.
struct CxlNamespaceLabel {
  Uuid type;
  Uuid uuid;
  std::array<std::uint8_t, kLabelNameLen> name{};
  std::uint32_t flags = 0;
  std::uint16_t nrange = 0;
  std::uint16_t position = 0;
  std::uint64_t dpa = 0;
  std::uint64_t rawsize = 0;
  std::uint32_t slot = 0;
  std::uint32_t align = 0;  // in 256 MiB units
  Uuid region_uuid;
  Uuid abstraction_uuid;  // UUID byte order
  std::uint16_t lbasize = 0;
  std::array<std::uint8_t, 0x56> reserved{};
  std::uint64_t checksum = 0;

  /// Decode 256 bytes; fails only if `b` is shorter. The type UUID is not checked.
  static Result<CxlNamespaceLabel> decode(Bytes b);
  /// decode + type UUID + checksum.
  static Result<CxlNamespaceLabel> parse(Bytes b);
  ByteVec serialize() const;
  std::uint64_t computed_checksum() const;
  bool checksum_ok() const { return computed_checksum() == checksum; }
  CxlNamespaceLabel with_checksum() const;
  std::string name_string() const;
  ClaimClass claim_class() const { return claim_class_from_uuid(abstraction_uuid); }
  std::optional<std::uint64_t> dpa_end() const { return checked_add(dpa, rawsize); }
  /// slot field == slot_number and checksum (CXL labels always carry one).
  bool kernel_slot_valid(std::uint32_t slot_number) const;
  /// type, slot, checksum, reserved, name, nrange, flags, uuid, extent checks.
  Findings validate(std::uint32_t slot_number,
                    std::optional<std::uint64_t> at = std::nullopt) const;
  static FieldTable fields();
  bool operator==(const CxlNamespaceLabel&) const = default;
};

/// One CXL region label, host-endian.
struct CxlRegionLabel {
  Uuid type;
  Uuid uuid;
  std::uint32_t flags = 0;
  std::uint16_t nlabel = 0;
  std::uint16_t position = 0;
  std::uint64_t dpa = 0;
  std::uint64_t rawsize = 0;
  std::uint64_t hpa = 0;
  std::uint32_t slot = 0;
  std::uint32_t ig = 0;     // interleave granularity = (1 << ig) * 256 bytes
  std::uint32_t align = 0;  // in 256 MiB units
  std::array<std::uint8_t, 0xac> reserved{};
  std::uint64_t checksum = 0;

  static Result<CxlRegionLabel> decode(Bytes b);
  static Result<CxlRegionLabel> parse(Bytes b);
  ByteVec serialize() const;
  std::uint64_t computed_checksum() const;
  bool checksum_ok() const { return computed_checksum() == checksum; }
  CxlRegionLabel with_checksum() const;
  /// Interleave granularity in bytes, nullopt if ig is too large to express.
  std::optional<std::uint64_t> granularity() const;
  bool kernel_slot_valid(std::uint32_t slot_number) const;
  /// type, slot, checksum, reserved, nlabel/position, flags, uuid, extent checks.
  Findings validate(std::uint32_t slot_number,
                    std::optional<std::uint64_t> at = std::nullopt) const;
  static FieldTable fields();
  bool operator==(const CxlRegionLabel&) const = default;
};

}  // namespace ndtk
