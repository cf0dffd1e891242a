// nd_pfn_init's layout arithmetic re-derived from FORMATS.md §4.1, overflow-checked.
#include "ndtk/geometry/pfn_geometry.h"

#include <algorithm>
#include <bit>

#include <fmt/format.h>

namespace ndtk {

namespace {

Unexpected bad_input(std::string what) {
  Error e = make_error(Errc::kInvalidArgument, std::move(what));
  e.structure = "pfn geometry";
  return fail(std::move(e));
}

Unexpected refused(Errc code, std::string what) {
  Error e = make_error(code, std::move(what));
  e.structure = "pfn geometry";
  return fail(std::move(e));
}

}  // namespace

Result<PfnGeometry> compute_pfn_geometry(const PfnGeometryParams& p) {
  if (p.mode != PfnMode::Ram && p.mode != PfnMode::Pmem)
    return bad_input(fmt::format("mode {} is neither ram nor pmem (kernel: -ENXIO)",
                                 pfn_mode_name(static_cast<std::uint32_t>(p.mode))));
  if (!std::has_single_bit(p.page_size))
    return bad_input(fmt::format("PAGE_SIZE {} is not a power of two", p.page_size));
  if (!std::has_single_bit(p.compat_align))
    return bad_input(fmt::format("compat align {} is not a power of two", hex(p.compat_align)));
  if (!std::has_single_bit(p.align))
    return bad_input(fmt::format("align {} is not a power of two", hex(p.align)));
  if (p.align > UINT32_MAX)
    return refused(Errc::kOutOfRange,
                   fmt::format("align {} does not fit the 32-bit align field", hex(p.align)));
  if (p.size < kPfnInfoReserve)
    return bad_input(fmt::format("namespace size {} is below the {} info-block reserve",
                                 hex(p.size), hex(kPfnInfoReserve)));
  const auto end = checked_add(p.start, p.size);
  if (!end)
    return bad_input(fmt::format("start {} + size {} overflows", hex(p.start), hex(p.size)));
  // start_pad is never created any more: a misaligned start is refused outright.
  if (p.start % p.compat_align != 0)
    return bad_input(fmt::format("start {} misaligned to {} (kernel: -EINVAL)", hex(p.start),
                                 hex(p.compat_align)));

  PfnGeometry g;
  g.layout_align = std::max(p.align, p.compat_align);
  const std::uint64_t a = g.layout_align;
  const std::uint64_t trunc = *end - align_down(*end, a);
  if (trunc > UINT32_MAX)
    return refused(Errc::kOutOfRange,
                   fmt::format("end_trunc {} does not fit the 32-bit field", hex(trunc)));
  g.end_trunc = static_cast<std::uint32_t>(trunc);

  // Pages the memmap is planned for: everything after the 8 KiB reserve (PHYS_PFN).
  const std::uint64_t planned_pages = (p.size - kPfnInfoReserve) / p.page_size;
  std::uint64_t struct_size = p.max_struct_page_size;
  if (p.struct_page_size > p.max_struct_page_size) {
    if (!p.page_struct_override)
      return refused(Errc::kUnsupported,
                     fmt::format("sizeof(struct page) {} > MAX_STRUCT_PAGE_SIZE {}: memory debug "
                                 "options prevent using pmem for the page map (kernel: -EINVAL)",
                                 p.struct_page_size, p.max_struct_page_size));
    struct_size = p.struct_page_size;
  }
  if (struct_size > UINT16_MAX)
    return refused(Errc::kOutOfRange, fmt::format("page_struct_size {} does not fit 16 bits",
                                                  struct_size));
  g.page_struct_size = static_cast<std::uint16_t>(struct_size);

  std::uint64_t want = kPfnInfoReserve;
  if (p.mode == PfnMode::Pmem) {
    const auto memmap = checked_mul(struct_size, planned_pages);
    if (!memmap) return refused(Errc::kOutOfRange, "memmap size overflows");
    g.memmap_bytes = *memmap;
    want += *memmap;
  }
  const auto first = checked_add(p.start, want);
  if (!first || *first > UINT64_MAX - (a - 1))
    return refused(Errc::kOutOfRange, "data offset arithmetic overflows");
  g.dataoff = align_up(*first, a) - p.start;

  // The kernel computes size - end_trunc unsigned: when end_trunc exceeds the size (an
  // alignment larger than the namespace, start not on it) the test wraps and it writes a block
  // with a wrapped npfns that its own nd_pfn_validate then refuses. Refuse it here instead.
  if (g.end_trunc >= p.size)
    return refused(Errc::kOutOfRange,
                   fmt::format("end_trunc {} is not below the size {}: the layout alignment {} "
                               "is larger than the namespace (kernel: wraps, then -EOPNOTSUPP)",
                               hex(g.end_trunc), hex(p.size), hex(a)));
  if (g.dataoff >= p.size - g.end_trunc)
    return refused(Errc::kOutOfRange,
                   fmt::format("dataoff {} leaves no data in {} bytes (end_trunc {}): unable to "
                               "satisfy requested alignment (kernel: -ENXIO)",
                               hex(g.dataoff), hex(p.size), hex(g.end_trunc)));
  g.usable_bytes = p.size - g.dataoff - g.end_trunc;
  g.npfns = g.usable_bytes / p.page_size;
  return g;
}

Result<PfnInfo> make_pfn_info(const PfnGeometryParams& p, PfnKind kind, const Uuid& uuid,
                              const Uuid& parent_uuid) {
  if (kind == PfnKind::Unknown) return bad_input("kind must be pfn or dax");
  NDTK_TRY(g, compute_pfn_geometry(p));
  PfnInfo info;
  info.signature = pfn_signature(kind);
  info.uuid = uuid;
  info.parent_uuid = parent_uuid;
  info.flags = 0;
  info.version_major = 1;
  info.version_minor = kPfnInfoLatestMinor;
  info.dataoff = g.dataoff;
  info.npfns = g.npfns;
  info.mode = static_cast<std::uint32_t>(p.mode);
  info.start_pad = 0;
  info.end_trunc = g.end_trunc;
  info.align = static_cast<std::uint32_t>(p.align);
  info.page_size = p.page_size;
  info.page_struct_size = g.page_struct_size;
  return info.with_checksum();
}

}  // namespace ndtk
