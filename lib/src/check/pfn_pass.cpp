// pfn/dax pass: the info block at namespace offset 4096 judged by the kernel's nd_pfn_validate
// rules (kernel_validate), and whether a checksum-only failure is corroborated by nd_pfn_init's
// arithmetic for this namespace (then rewriting the checksum is safe).
#include "ndtk/geometry/pfn_geometry.h"
#include "passes.h"

namespace ndtk::check_detail {

namespace {

PfnNamespace pfn_namespace(const Namespace& ns) {
  PfnNamespace p;
  // Offline the physical start is unknown; the DPA stands in (region bases are >= 1 GiB
  // aligned on real and QEMU platforms, so alignment verdicts hold), as discovery does.
  p.start = ns.offset;
  p.size = ns.size;
  p.uuid = ns.uuid;
  p.claim = ns.claim == ClaimClass::Pfn    ? PfnClaim::Pfn
            : ns.claim == ClaimClass::Dax  ? PfnClaim::Dax
            : ns.claim == ClaimClass::None ? PfnClaim::None
            : ns.claim == ClaimClass::Btt || ns.claim == ClaimClass::Btt2 ? PfnClaim::Btt
                                                                          : PfnClaim::Other;
  p.block_offset = ns.offset + kPfnInfoOffset;
  return p;
}

// The block with a fresh checksum is exactly what nd_pfn_init writes for this namespace.
bool corroborated(const PfnInfo& info, const Namespace& ns) {
  const PfnInfo fixed = info.with_checksum();
  const PfnNamespace pns = pfn_namespace(ns);
  if (!kernel_validate(fixed, pns).kernel_accepts()) return false;
  if (fixed.mode != static_cast<std::uint32_t>(PfnMode::Ram) &&
      fixed.mode != static_cast<std::uint32_t>(PfnMode::Pmem))
    return false;
  PfnGeometryParams gp;
  gp.start = ns.offset;
  gp.size = ns.size;
  gp.mode = static_cast<PfnMode>(fixed.mode);
  gp.align = fixed.effective().effective_align;
  if (fixed.version_minor >= 4 && fixed.page_struct_size > 0)
    gp.max_struct_page_size = fixed.page_struct_size;
  auto g = compute_pfn_geometry(gp);
  if (!g) return false;
  return g->dataoff == fixed.dataoff && g->npfns == fixed.npfns &&
         g->end_trunc == fixed.end_trunc && fixed.start_pad == 0;
}

}  // namespace

std::optional<PfnReport> check_pfn(const BlockDevice& dev, const Namespace& ns) {
  const std::uint64_t off = ns.offset + kPfnInfoOffset;
  if (ns.size < kPfnInfoOffset + kPfnInfoSize || !range_fits(off, kPfnInfoSize, dev.size()))
    return std::nullopt;
  auto bytes = dev.read_vec(off, kPfnInfoSize);
  if (!bytes) return std::nullopt;
  auto info = PfnInfo::decode(*bytes);
  if (!info) return std::nullopt;
  // No signature is "no pfn/dax here" unless the label's claim class says there must be one:
  // then the block at 4096 is a damaged pfn/dax block (nd_pfn_validate fails -ENODEV) and
  // PFN_BAD_SIGNATURE says where, next to discovery's NS_PERSONALITY_MISSING.
  if (info->kind() == PfnKind::Unknown && ns.claim != ClaimClass::Pfn &&
      ns.claim != ClaimClass::Dax)
    return std::nullopt;
  PfnReport r;
  r.offset = off;
  r.info = *info;
  r.validation = kernel_validate(*info, pfn_namespace(ns));
  r.checksum_corroborated = !info->checksum_ok() && corroborated(*info, ns);
  return r;
}

}  // namespace ndtk::check_detail
