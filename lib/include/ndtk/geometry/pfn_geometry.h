// The fsdax/devdax layout the kernel chooses when it first writes a pfn/dax info block
// (nd_pfn_init, FORMATS.md §4.1): dataoff, npfns, end_trunc, and the block it would write.
#pragma once

#include <cstdint>

#include "ndtk/base/result.h"
#include "ndtk/base/uuid.h"
#include "ndtk/format/pfn_info.h"

namespace ndtk {

/// Inputs of nd_pfn_init: the namespace, the requested personality, and the running kernel.
struct PfnGeometryParams {
  std::uint64_t start = 0;  // namespace physical start address
  std::uint64_t size = 0;   // namespace size in bytes
  PfnMode mode = PfnMode::Pmem;
  /// The requested mapping alignment (sysfs `align`; ndctl --align). Recorded in the block.
  std::uint64_t align = 2ull << 20;
  std::uint32_t page_size = 4096;            // PAGE_SIZE
  std::uint64_t compat_align = 2ull << 20;   // memremap_compat_align()
  std::uint32_t struct_page_size = 64;       // the running kernel's sizeof(struct page)
  /// MAX_STRUCT_PAGE_SIZE of the creating kernel: 64, briefly 128 around v6.1 (KMSAN work).
  std::uint32_t max_struct_page_size = static_cast<std::uint32_t>(kPfnMaxStructPageSize);
  /// CONFIG_NVDIMM_KMSAN: allow a struct page larger than MAX_STRUCT_PAGE_SIZE (and record it).
  bool page_struct_override = false;
};

/// What nd_pfn_init computes.
struct PfnGeometry {
  std::uint64_t dataoff = 0;        // namespace offset of the first data byte
  std::uint64_t npfns = 0;          // data pages
  std::uint32_t end_trunc = 0;      // bytes dropped at the end to reach layout_align
  std::uint64_t layout_align = 0;   // max(align, compat_align): what dataoff/end are rounded to
  std::uint16_t page_struct_size = 0;  // recorded per-page memmap reservation
  std::uint64_t memmap_bytes = 0;   // struct page reservation in PMEM mode (0 in RAM mode)
  std::uint64_t usable_bytes = 0;   // size - dataoff - end_trunc (the fsdax/devdax size)
};

/// nd_pfn_init's arithmetic, or the refusal it would report: kInvalidArgument for unusable
/// inputs (mode none, non-power-of-two alignments, a start not on compat_align: -EINVAL,
/// a namespace below 8 KiB), kUnsupported for a struct page above MAX_STRUCT_PAGE_SIZE
/// without the override, kOutOfRange when no data page fits ("unable to satisfy requested
/// alignment", -ENXIO) or a value does not fit its on-media field. The message names the rule.
Result<PfnGeometry> compute_pfn_geometry(const PfnGeometryParams& p);

/// The info block the kernel would write for `p` (version 1.4, start_pad 0, flags 0, zero
/// padding, checksum set). `kind` picks the fsdax or devdax signature (Unknown is refused).
Result<PfnInfo> make_pfn_info(const PfnGeometryParams& p, PfnKind kind, const Uuid& uuid,
                              const Uuid& parent_uuid);

}  // namespace ndtk
