// Reading a DIMM's label storage area as the kernel does (FORMATS.md §2-§3.7): both index
// blocks with their validity, the current index and why, every slot that holds anything with
// its state, the namespaces the active labels describe, and the deleted ones still on media.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "ndtk/base/bytes.h"
#include "ndtk/base/finding.h"
#include "ndtk/base/result.h"
#include "ndtk/base/uuid.h"
#include "ndtk/format/cxl_label.h"
#include "ndtk/format/label_index.h"
#include "ndtk/format/namespace_label.h"
#include "ndtk/geometry/label_geometry.h"
#include "ndtk/io/block_device.h"

namespace ndtk {

/// Largest area read_label_area() loads into memory. Real LSAs are 128 KiB to a few MiB.
inline constexpr std::uint64_t kLabelAreaReadCap = 64ull << 20;
/// The label area of a QEMU NVDIMM backing file (`label-size=128K`) is its last 128 KiB.
inline constexpr std::uint64_t kQemuDefaultLabelSize = 128 * 1024;

enum class SlotState {
  Active,   // bit clear in the current index and the label passes slot_valid
  Stale,    // bit set (free) but the slot holds a label that passes slot_valid
  Garbage,  // non-zero but not a valid label, or in use per the bitmap but invalid
};
const char* slot_state_name(SlotState s);

/// A decoded label: EFI for version 1.x areas, CXL (by its type UUID) for version 2.x areas.
using LabelRecord = std::variant<NamespaceLabel, CxlNamespaceLabel, CxlRegionLabel>;

struct IndexBlockState {
  int number = 0;
  std::uint64_t offset = 0;         // absolute device offset of the block
  std::optional<LabelIndex> index;  // the decoded block (absent only if no geometry fits)
  bool valid = false;               // accepted by the kernel rules (with `geometry`)
  Findings problems;                // each kernel rule it fails (empty when valid)
};

struct LabelSlot {
  std::uint32_t slot = 0;
  std::uint64_t offset = 0;  // absolute device offset
  SlotState state = SlotState::Garbage;
  bool in_use = false;        // bit clear in the current index's free bitmap
  bool kernel_valid = false;  // slot_valid(): slot field matches, checksum (v1.2 / CXL)
  std::optional<LabelRecord> label;
  std::string note;  // why Garbage, or what a Stale label is ("older copy of ...")
  ByteVec raw;       // the slot's bytes as on media

  const NamespaceLabel* efi() const;
  const CxlNamespaceLabel* cxl_namespace() const;
  const CxlRegionLabel* cxl_region() const;
};

/// One DIMM's extent of a namespace.
struct LabelExtent {
  std::uint32_t slot = 0;
  std::uint64_t dpa = 0;
  std::uint64_t rawsize = 0;
  std::uint16_t position = 0;
  std::uint32_t flags = 0;
  bool operator==(const LabelExtent&) const = default;
};

/// A namespace as the labels of one DIMM describe it. Identity fields come from the label at
/// position 0 (else the lowest position present).
struct LabelNamespace {
  Uuid uuid;
  std::string name;
  ClaimClass claim_class = ClaimClass::None;
  Uuid abstraction;  // as stored (EFI GUID order, or UUID order for CXL)
  Uuid type_guid;    // EFI v1.2 only
  std::uint64_t lbasize = 0;
  std::uint64_t isetcookie = 0;  // EFI only
  std::uint16_t nlabel = 0;      // EFI: DIMMs in the interleave set; CXL: 0 (not recorded)
  std::uint32_t flags = 0;
  bool cxl = false;
  Uuid region_uuid;  // CXL only
  std::vector<LabelExtent> extents;
  std::uint64_t size = 0;  // sum of rawsize (saturating)
};

struct LabelAreaOptions {
  /// Bytes of pmem on the DIMM (its DPA range); label extents past it are reported.
  std::optional<std::uint64_t> dimm_size;
};

struct LabelArea {
  std::string device;        // BlockDevice::name()
  std::uint64_t offset = 0;  // where the area starts on the device
  std::uint64_t size = 0;    // config size
  std::array<IndexBlockState, 2> indexes;
  CurrentIndex current;                   // index -1 when no index is valid
  std::optional<LabelGeometry> geometry;  // the label size / ISZ the indexes validated with
  std::uint32_t nslot = 0;                // from the current index (what the kernel iterates)
  std::optional<std::uint64_t> dimm_size;
  std::vector<LabelSlot> slots;            // every slot holding bytes or marked in use, by slot
  std::vector<LabelNamespace> namespaces;  // from active labels
  std::vector<LabelNamespace> stale_namespaces;  // from stale labels whose uuid is not active
  Findings findings;

  bool has_valid_index() const { return current.index >= 0; }
  const LabelIndex* current_index() const;
  std::uint32_t label_size() const { return geometry ? geometry->label_size : 0; }
  std::uint64_t index_size() const { return geometry ? geometry->index_size : 0; }
  /// True when the current index is a CXL LSA (major 2).
  bool is_cxl() const;
  const LabelSlot* find_slot(std::uint32_t slot) const;
  std::size_t count(SlotState s) const;
};

/// Read and interpret the label area at [offset, offset+size) of `dev`. Errors (no findings)
/// only for an unusable request: size below 1024 (ND_LABEL_MIN_SIZE) or above the read cap,
/// a range outside the device, or a failed read. Anything wrong with the contents, including
/// a blank or garbage area, is reported as findings.
Result<LabelArea> read_label_area(const BlockDevice& dev, std::uint64_t offset, std::uint64_t size,
                                  const LabelAreaOptions& opts = {});
/// The same on bytes already in memory; `base_offset` is where they sit on the device.
Result<LabelArea> decode_label_area(Bytes area, std::uint64_t base_offset,
                                    const LabelAreaOptions& opts = {}, std::string device = {});
/// A QEMU NVDIMM backing file: pmem at file offset = DPA, then `label_size` bytes of labels.
/// Sets dimm_size = device size - label_size.
Result<LabelArea> read_qemu_label_area(const BlockDevice& dev,
                                       std::uint64_t label_size = kQemuDefaultLabelSize);

// ---- several DIMMs ------------------------------------------------------------------------

/// One DIMM's label of an interleaved namespace.
struct SetMember {
  std::size_t area = 0;  // index into the areas passed in
  std::uint32_t slot = 0;
  std::uint16_t position = 0;
  std::uint64_t dpa = 0;
  std::uint64_t rawsize = 0;
};

/// A namespace as all DIMMs' active labels describe it, keyed by (isetcookie, uuid).
struct InterleavedNamespace {
  std::uint64_t isetcookie = 0;
  Uuid uuid;
  std::string name;  // from the position-0 label when present
  ClaimClass claim_class = ClaimClass::None;
  std::uint64_t lbasize = 0;
  std::uint16_t nlabel = 0;               // from the position-0 label (else the first seen)
  std::vector<SetMember> members;         // sorted by position, then area
  std::vector<std::uint16_t> missing;     // positions 0..nlabel-1 with no label
  std::vector<std::uint16_t> duplicated;  // positions held by more than one label
  std::uint64_t size = 0;                 // sum of rawsize over members (saturating)
  bool complete() const { return missing.empty() && duplicated.empty() && nlabel > 0; }
};

struct InterleaveReport {
  std::vector<InterleavedNamespace> namespaces;
  Findings findings;  // LABEL_POSITION_MISSING / _DUPLICATE, LABEL_SET_MISMATCH
};

/// Group every active EFI label of `areas` by (isetcookie, uuid) and report which positions of
/// 0..nlabel-1 are present, missing or duplicated. Finding.where is "namespace <uuid>"; the
/// detail names the areas (by index into `areas`) and slots involved.
InterleaveReport group_interleave_sets(std::span<const LabelArea> areas);

}  // namespace ndtk
