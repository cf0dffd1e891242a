// Creating a pmem namespace in a DIMM's label area the way the Linux kernel does it
// (init_labels, nd_pmem_namespace_label_update, __pmem_label_update, nd_label_write_index):
// initialise a blank area, then write the label twice (UPDATING, then final) with index commits.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ndtk/base/result.h"
#include "ndtk/base/uuid.h"
#include "ndtk/format/btt_info.h"
#include "ndtk/format/iset_cookie.h"
#include "ndtk/format/label_index.h"
#include "ndtk/format/namespace_label.h"
#include "ndtk/geometry/label_geometry.h"
#include "ndtk/io/block_device.h"
#include "ndtk/repair/write_plan.h"

namespace ndtk {

enum class LabelVersion { V1_1, V1_2 };
/// "1.1" / "1.2".
const char* label_version_name(LabelVersion v);
constexpr std::uint32_t label_version_size(LabelVersion v) {
  return v == LabelVersion::V1_1 ? 128 : 256;
}

/// Namespace sizes and placement follow the region alignment QEMU's NVDIMM region reports
/// (`ndctl list` align 16 MiB in every kernel image).
inline constexpr std::uint64_t kRegionAlign = 16ull << 20;

/// The NFIT identity of a QEMU NVDIMM in slot 0 (memdev region offset 0, control-region serial
/// 0x123456, vendor 0x8086): cookie1/cookie2 of these reproduce the isetcookie of the kernel
/// images (10248187106440278 for v1.1, 52512752653219036 for v1.2).
inline constexpr std::uint32_t kQemuNvdimmSerial = 0x123456;
inline constexpr std::uint16_t kQemuNvdimmVendor = 0x8086;

/// A new namespace on a single-DIMM region.
struct NamespaceCreateRequest {
  std::uint64_t label_offset = 0;  // device offset of the label area
  std::uint64_t label_size = 0;    // its config size
  std::uint64_t dimm_size = 0;     // bytes of pmem: DPA range [0, dimm_size) = device offset
  /// Bytes (a multiple of `align`); nullopt = the largest free extent (ndctl's default).
  std::optional<std::uint64_t> size;
  std::uint64_t align = kRegionAlign;
  Uuid uuid;                          // namespace uuid (label uuid)
  std::string name;                   // at most 63 bytes
  std::uint64_t lbasize = 0;          // label lbasize (the namespace's sector_size)
  /// A sector-mode namespace (claim class from the BTT version, v1.2 labels only) or raw.
  bool sector = true;
  /// BTT version of a sector namespace; default as the kernel's btt_claim_class: 2.0 (claim
  /// BTT2) with v1.2 labels, 1.1 (no claim class) with v1.1 labels. 2.0 on v1.1 labels fails.
  std::optional<BttVersion> btt_version;
  /// Label size for a blank area; an initialised area keeps its own (a different value is an
  /// error). Default 1.2: the kernel tries 128- then 256-byte labels and keeps the last.
  std::optional<LabelVersion> label_version;
  /// Override the cookie; default: the cookie of the area's active labels, else computed.
  std::optional<std::uint64_t> isetcookie;
  /// The NFIT mapping the computed cookie comes from (one DIMM, position 0).
  IsetMapping mapping{0, kQemuNvdimmSerial, kQemuNvdimmVendor, 0, 0};
  /// Initialise an area that holds bytes but no valid index (the kernel would; old label
  /// bytes stay on media). Without it such an area is refused.
  bool force = false;
};

/// The label writes of a namespace creation and what they produce.
struct NamespaceCreatePlan {
  WritePlan plan;                   // device offsets, in the kernel's order
  LabelGeometry geometry;
  LabelVersion label_version = LabelVersion::V1_2;
  BttVersion btt_version = BttVersion::V1_1;  // what the claim class asks for (sector mode)
  bool initialised = false;         // the area was blank: index blocks written first
  std::uint64_t dpa = 0;            // = device offset of the new namespace
  std::uint64_t size = 0;
  std::uint64_t isetcookie = 0;
  std::string cookie_source;        // "existing labels", "--isetcookie", "computed (...)"
  std::uint32_t pass1_slot = 0;     // the UPDATING copy (freed again by pass 2)
  std::uint32_t pass2_slot = 0;     // the live label
  NamespaceLabel label;             // the final (pass 2) label
  std::array<LabelIndex, 2> final_indexes;  // index blocks 0 and 1 after the run
  int final_current = 0;            // which of them is current
};

/// Plan the creation on `dev`: read the label area, refuse an area with neither a valid index
/// nor all-zero bytes (unless force), a CXL area, an area laid out by an older kernel formula,
/// fewer than two free slots, a size that is not a multiple of `align`, or no free extent of
/// that size below dimm_size (existing active labels' extents are never touched). On a blank
/// area: index 0 (seq 3) and index 1 (seq 2) as init_labels writes them (nothing else of the
/// area). Then pass 1: the label with flags UPDATING in the lowest free slot of the staging
/// index, the staging index committed with nd_inc_seq(its seq); pass 2: the label with flags 0
/// in the next lowest free slot, the pass-1 slot freed, the other index committed.
/// Errors name the device.
Result<NamespaceCreatePlan> plan_namespace_create(const BlockDevice& dev,
                                                  const NamespaceCreateRequest& req);

/// The index block nd_label_write_index writes: `staged` (a copy of the current index, or the
/// init block) with signature, flags 0, labelsize byte, seq, myoff/otheroff/labeloff for index
/// `number`, mysize = ISZ, major 1, minor by label size, and the checksum over ISZ bytes.
LabelIndex kernel_index_write(LabelIndex staged, int number, std::uint32_t seq,
                              const LabelGeometry& g);

}  // namespace ndtk
