// pfn/dax info block: decode/serialize through PfnInfoRaw offsets, and the kernel probe rules.
#include "ndtk/format/pfn_info.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include <fmt/format.h>

#include "ndtk/base/fletcher.h"

namespace ndtk {

namespace {

#define PFN_OFF(f) offsetof(PfnInfoRaw, f)
#define PFN_SIZE(f) sizeof(PfnInfoRaw::f)

constexpr FieldDesc kFields[] = {
    {"signature", PFN_OFF(signature), PFN_SIZE(signature)},
    {"uuid", PFN_OFF(uuid), PFN_SIZE(uuid)},
    {"parent_uuid", PFN_OFF(parent_uuid), PFN_SIZE(parent_uuid)},
    {"flags", PFN_OFF(flags), PFN_SIZE(flags)},
    {"version_major", PFN_OFF(version_major), PFN_SIZE(version_major)},
    {"version_minor", PFN_OFF(version_minor), PFN_SIZE(version_minor)},
    {"dataoff", PFN_OFF(dataoff), PFN_SIZE(dataoff)},
    {"npfns", PFN_OFF(npfns), PFN_SIZE(npfns)},
    {"mode", PFN_OFF(mode), PFN_SIZE(mode)},
    {"start_pad", PFN_OFF(start_pad), PFN_SIZE(start_pad)},
    {"end_trunc", PFN_OFF(end_trunc), PFN_SIZE(end_trunc)},
    {"align", PFN_OFF(align), PFN_SIZE(align)},
    {"page_size", PFN_OFF(page_size), PFN_SIZE(page_size)},
    {"page_struct_size", PFN_OFF(page_struct_size), PFN_SIZE(page_struct_size)},
    {"padding", PFN_OFF(padding), PFN_SIZE(padding)},
    {"checksum", PFN_OFF(checksum), PFN_SIZE(checksum)},
};


// The kernel's IS_ALIGNED(): a mask test, meaningful only for a power-of-two `a`.
constexpr bool kernel_is_aligned(std::uint64_t x, std::uint64_t a) { return (x & (a - 1)) == 0; }

const char* where_of(PfnKind k) { return k == PfnKind::Dax ? "dax info" : "pfn info"; }


// Checks that concern the block alone and never change the kernel's verdict: version, flags,
// bytes that must be zero for the block's minor version.
void hygiene(const PfnInfo& p, std::optional<std::uint64_t> base, Findings& out) {
  const std::string where = where_of(p.kind());
  if (p.version_major != 1 || p.version_minor > kPfnInfoLatestMinor)
    out.push_back({Problem::PFN_VERSION, where,
                   fmt::format("version {}: known versions are 1.0 .. 1.{} (the kernel does not "
                               "check the major number)",
                               p.version_string(), kPfnInfoLatestMinor),
                   offset_plus(base, PFN_OFF(version_major))});
  if (p.flags != 0)
    out.push_back({Problem::PFN_FLAGS_NONZERO, where,
                   fmt::format("flags {} (no flag is defined; zero is guaranteed from minor 3)",
                               hex(p.flags)),
                   offset_plus(base, PFN_OFF(flags))});
  if (!p.padding_zero()) {
    const auto it = std::find_if(p.padding.begin(), p.padding.end(), [](auto b) { return b != 0; });
    const auto first = static_cast<std::size_t>(it - p.padding.begin());
    out.push_back({Problem::PFN_PADDING_NONZERO, where,
                   fmt::format("first non-zero padding byte at block offset {}",
                               hex(PFN_OFF(padding) + first)),
                   offset_plus(base, PFN_OFF(padding) + first)});
  }
  // Fields a block of this minor version does not have must still hold the zeros the kernel of
  // that era wrote (it zero-allocated the block); the kernel itself ignores them.
  struct Later {
    std::uint16_t minor;
    const char* name;
    std::size_t off;
    std::uint64_t value;
  };
  const Later later[] = {
      {1, "start_pad", PFN_OFF(start_pad), p.start_pad},
      {1, "end_trunc", PFN_OFF(end_trunc), p.end_trunc},
      {2, "align", PFN_OFF(align), p.align},
      {4, "page_size", PFN_OFF(page_size), p.page_size},
      {4, "page_struct_size", PFN_OFF(page_struct_size), p.page_struct_size},
  };
  for (const auto& l : later)
    if (p.version_minor < l.minor && l.value != 0)
      out.push_back({Problem::PFN_PADDING_NONZERO, where,
                     fmt::format("{} = {} in a minor-{} block (field added in minor {}; ignored "
                                 "by the kernel)",
                                 l.name, hex(l.value), p.version_minor, l.minor),
                     offset_plus(base, l.off)});
}

}  // namespace

const char* pfn_kind_name(PfnKind k) {
  switch (k) {
    case PfnKind::Pfn: return "pfn";
    case PfnKind::Dax: return "dax";
    case PfnKind::Unknown: break;
  }
  return "unknown";
}

const char* pfn_mode_name(std::uint32_t mode) {
  switch (mode) {
    case static_cast<std::uint32_t>(PfnMode::None): return "none";
    case static_cast<std::uint32_t>(PfnMode::Ram): return "ram";
    case static_cast<std::uint32_t>(PfnMode::Pmem): return "pmem";
    default: return "unknown";
  }
}

const std::array<std::uint8_t, 16>& pfn_signature(PfnKind k) {
  return k == PfnKind::Dax ? kDaxSignature : kPfnSignature;
}

const char* pfn_claim_name(PfnClaim c) {
  switch (c) {
    case PfnClaim::None: return "none";
    case PfnClaim::Pfn: return "pfn";
    case PfnClaim::Dax: return "dax";
    case PfnClaim::Btt: return "btt";
    case PfnClaim::Other: return "other";
  }
  return "?";
}

const char* pfn_verdict_name(PfnVerdict v) {
  switch (v) {
    case PfnVerdict::Accepted: return "accepted";
    case PfnVerdict::NotDetected: return "not-detected";
    case PfnVerdict::Rejected: return "rejected";
    case PfnVerdict::Unusable: return "unusable";
    case PfnVerdict::SetupFailed: return "setup-failed";
  }
  return "?";
}

Result<PfnInfo> PfnInfo::decode(Bytes b) {
  if (b.size() < kPfnInfoSize)
    return fail(field_error(Errc::kTruncated, "pfn info", "", 0, fmt::format("{} bytes", kPfnInfoSize),
                            fmt::format("{} bytes", b.size())));
  const Bytes s = b.first(kPfnInfoSize);
  PfnInfo p;
  std::copy_n(s.begin() + PFN_OFF(signature), p.signature.size(), p.signature.begin());
  p.uuid = Uuid::from_bytes(s.subspan(PFN_OFF(uuid), 16));
  p.parent_uuid = Uuid::from_bytes(s.subspan(PFN_OFF(parent_uuid), 16));
  p.flags = le32(s, PFN_OFF(flags));
  p.version_major = le16(s, PFN_OFF(version_major));
  p.version_minor = le16(s, PFN_OFF(version_minor));
  p.dataoff = le64(s, PFN_OFF(dataoff));
  p.npfns = le64(s, PFN_OFF(npfns));
  p.mode = le32(s, PFN_OFF(mode));
  p.start_pad = le32(s, PFN_OFF(start_pad));
  p.end_trunc = le32(s, PFN_OFF(end_trunc));
  p.align = le32(s, PFN_OFF(align));
  p.page_size = le32(s, PFN_OFF(page_size));
  p.page_struct_size = le16(s, PFN_OFF(page_struct_size));
  std::copy_n(s.begin() + PFN_OFF(padding), p.padding.size(), p.padding.begin());
  p.checksum = le64(s, PFN_OFF(checksum));
  return p;
}

Result<PfnInfo> PfnInfo::parse(Bytes b) {
  NDTK_TRY(p, decode(b));
  if (p.kind() == PfnKind::Unknown)
    return fail(field_error(Errc::kBadSignature, "pfn info", "signature", PFN_OFF(signature),
                            "\"NVDIMM_PFN_INFO\" or \"NVDIMM_DAX_INFO\"", quoted_printable(p.signature)));
  const std::uint64_t computed = p.computed_checksum();
  if (computed != p.checksum)
    return fail(field_error(Errc::kBadChecksum, where_of(p.kind()), "checksum", PFN_OFF(checksum),
                            hex(computed), hex(p.checksum)));
  return p;
}

ByteVec PfnInfo::serialize() const {
  ByteVec out(kPfnInfoSize, 0);
  std::copy(signature.begin(), signature.end(), out.begin() + PFN_OFF(signature));
  std::copy(uuid.bytes.begin(), uuid.bytes.end(), out.begin() + PFN_OFF(uuid));
  std::copy(parent_uuid.bytes.begin(), parent_uuid.bytes.end(), out.begin() + PFN_OFF(parent_uuid));
  put_le32(out, PFN_OFF(flags), flags);
  put_le16(out, PFN_OFF(version_major), version_major);
  put_le16(out, PFN_OFF(version_minor), version_minor);
  put_le64(out, PFN_OFF(dataoff), dataoff);
  put_le64(out, PFN_OFF(npfns), npfns);
  put_le32(out, PFN_OFF(mode), mode);
  put_le32(out, PFN_OFF(start_pad), start_pad);
  put_le32(out, PFN_OFF(end_trunc), end_trunc);
  put_le32(out, PFN_OFF(align), align);
  put_le32(out, PFN_OFF(page_size), page_size);
  put_le16(out, PFN_OFF(page_struct_size), page_struct_size);
  std::copy(padding.begin(), padding.end(), out.begin() + PFN_OFF(padding));
  put_le64(out, PFN_OFF(checksum), checksum);
  return out;
}

std::uint64_t PfnInfo::computed_checksum() const {
  return fletcher64_skip(serialize(), PFN_OFF(checksum));
}

PfnInfo PfnInfo::with_checksum() const {
  PfnInfo p = *this;
  p.checksum = computed_checksum();
  return p;
}

PfnKind PfnInfo::kind() const {
  if (signature == kPfnSignature) return PfnKind::Pfn;
  if (signature == kDaxSignature) return PfnKind::Dax;
  return PfnKind::Unknown;
}

bool PfnInfo::padding_zero() const { return all_zero(padding); }

PfnInfo PfnInfo::with_padding_cleared() const {
  PfnInfo p = *this;
  p.padding.fill(0);
  // The same minor-version cut-offs as hygiene(): nd_pfn_validate overwrites these fields
  // with its defaults for older blocks, so their stored bytes never reach the kernel.
  if (p.version_minor < 1) p.start_pad = p.end_trunc = 0;
  if (p.version_minor < 2) p.align = 0;
  if (p.version_minor < 4) {
    p.page_size = 0;
    p.page_struct_size = 0;
  }
  return p.with_checksum();
}

PfnEffective PfnInfo::effective(std::uint32_t running_page_size) const {
  PfnEffective e;
  if (version_minor >= 1) {
    e.start_pad = start_pad;
    e.end_trunc = end_trunc;
  }
  if (version_minor >= 2) e.align = align;
  if (version_minor >= 4) {
    e.page_size = page_size;
    e.page_struct_size = page_struct_size;
  } else {
    e.page_size = running_page_size;
    e.page_struct_size = static_cast<std::uint16_t>(kPfnMaxStructPageSize);
  }
  // No recorded alignment: the kernel assumes the largest power of two dividing into dataoff
  // (1UL << ilog2(dataoff)); ilog2(0) is undefined, left as 0 here.
  if (e.align != 0)
    e.effective_align = e.align;
  else if (dataoff != 0)
    e.effective_align = std::bit_floor(dataoff);
  return e;
}

std::string PfnInfo::version_string() const {
  return fmt::format("{}.{}", version_major, version_minor);
}

Findings PfnInfo::validate(std::optional<std::uint64_t> offset) const {
  Findings out;
  const PfnKind k = kind();
  if (k == PfnKind::Unknown) {
    out.push_back({Problem::PFN_BAD_SIGNATURE, "pfn info",
                   fmt::format("signature {}", quoted_printable(signature)), offset_plus(offset, PFN_OFF(signature))});
    return out;
  }
  const std::string where = where_of(k);
  const std::uint64_t computed = computed_checksum();
  if (computed != checksum)
    out.push_back({Problem::PFN_BAD_CHECKSUM, where,
                   fmt::format("stored {}, computed {}", hex(checksum), hex(computed)),
                   offset_plus(offset, PFN_OFF(checksum))});
  if (mode != static_cast<std::uint32_t>(PfnMode::Ram) &&
      mode != static_cast<std::uint32_t>(PfnMode::Pmem))
    out.push_back({Problem::PFN_BAD_MODE, where,
                   fmt::format("mode {} ({})", mode, pfn_mode_name(mode)), offset_plus(offset, PFN_OFF(mode))});
  hygiene(*this, offset, out);
  return out;
}

FieldTable PfnInfo::fields() { return kFields; }

PfnValidation kernel_validate(const PfnInfo& info, const PfnNamespace& ns, const PfnKernelEnv& env) {
  PfnValidation v;
  Findings& out = v.findings;
  const auto base = ns.block_offset;
  bool decided = false;
  // Record the kernel's outcome at the first failing rule; later rules only add findings.
  auto kernel_stops = [&](PfnVerdict verdict, const char* err, const std::string& why) {
    if (decided) return;
    decided = true;
    v.verdict = verdict;
    v.kernel_error = fmt::format("{}: {}", err, why);
  };

  const PfnKind kind = info.kind();
  if (kind == PfnKind::Unknown) {
    out.push_back({Problem::PFN_BAD_SIGNATURE, "pfn info",
                   fmt::format("signature {}", quoted_printable(info.signature)),
                   offset_plus(base, PFN_OFF(signature))});
    kernel_stops(PfnVerdict::NotDetected, "-ENODEV", "no pfn/dax info block signature");
    return v;
  }
  const std::string where = where_of(kind);
  const bool pmem = info.mode == static_cast<std::uint32_t>(PfnMode::Pmem);
  const bool ram = info.mode == static_cast<std::uint32_t>(PfnMode::Ram);

  // nd_pfn_probe / nd_dax_probe return before reading the block when the claim class says
  // the namespace belongs to another personality.
  const bool claim_ok = ns.claim == PfnClaim::None ||
                        (ns.claim == PfnClaim::Pfn && kind == PfnKind::Pfn) ||
                        (ns.claim == PfnClaim::Dax && kind == PfnKind::Dax);
  if (!claim_ok) {
    out.push_back({Problem::PFN_CLAIM_MISMATCH, where,
                   fmt::format("a {} block on a namespace whose claim class is {}",
                               pfn_kind_name(kind), pfn_claim_name(ns.claim)),
                   offset_plus(base, PFN_OFF(signature))});
    kernel_stops(PfnVerdict::NotDetected, "-ENODEV",
                 fmt::format("claim class {} excludes nd_{}_probe", pfn_claim_name(ns.claim),
                             pfn_kind_name(kind)));
  }

  const std::uint64_t computed = info.computed_checksum();
  if (computed != info.checksum) {
    out.push_back({Problem::PFN_BAD_CHECKSUM, where,
                   fmt::format("stored {}, computed {}", hex(info.checksum), hex(computed)),
                   offset_plus(base, PFN_OFF(checksum))});
    kernel_stops(PfnVerdict::NotDetected, "-ENODEV", "info block checksum mismatch");
  }

  // Bytewise; a label-less namespace has the all-zero uuid and the block must match it too.
  if (info.parent_uuid != ns.uuid) {
    out.push_back({Problem::PFN_PARENT_UUID, where,
                   fmt::format("parent_uuid {}, namespace uuid {}", info.parent_uuid.to_string(),
                               ns.uuid.to_string()),
                   offset_plus(base, PFN_OFF(parent_uuid))});
    kernel_stops(PfnVerdict::NotDetected, "-ENODEV", "parent_uuid is not the namespace uuid");
  }

  const PfnEffective eff = info.effective(env.page_size);
  v.effective = eff;

  if (!pmem && !ram) {
    out.push_back({Problem::PFN_BAD_MODE, where,
                   fmt::format("mode {} ({})", info.mode, pfn_mode_name(info.mode)),
                   offset_plus(base, PFN_OFF(mode))});
    kernel_stops(PfnVerdict::Rejected, "-ENXIO", fmt::format("mode {} is invalid", info.mode));
  }

  if (pmem && eff.page_size > env.page_size) {
    out.push_back({Problem::PFN_PAGE_SIZE_UNSUPPORTED, where,
                   fmt::format("page_size {} is larger than the running PAGE_SIZE {}",
                               eff.page_size, env.page_size),
                   offset_plus(base, PFN_OFF(page_size))});
    kernel_stops(PfnVerdict::Unusable, "-EOPNOTSUPP", "page size mismatch");
  }
  if (pmem && eff.page_struct_size < env.struct_page_size) {
    out.push_back({Problem::PFN_PAGE_SIZE_UNSUPPORTED, where,
                   fmt::format("page_struct_size {} is smaller than the running sizeof(struct "
                               "page) {}",
                               eff.page_struct_size, env.struct_page_size),
                   offset_plus(base, PFN_OFF(page_struct_size))});
    kernel_stops(PfnVerdict::Unusable, "-EOPNOTSUPP", "struct page size mismatch");
  }

  const bool align_from_dataoff = eff.align == 0;
  const std::uint64_t align = eff.effective_align;
  const std::size_t align_field = align_from_dataoff ? PFN_OFF(dataoff) : PFN_OFF(align);
  if (align_from_dataoff && info.dataoff == 0) {
    out.push_back({Problem::PFN_DATAOFF_RANGE, where,
                   "dataoff 0 and no recorded align: the kernel derives the alignment from "
                   "ilog2(dataoff), which is undefined for 0",
                   offset_plus(base, PFN_OFF(dataoff))});
    kernel_stops(PfnVerdict::Unusable, "-EOPNOTSUPP", "no usable alignment (ilog2(0))");
  }

  if (kind == PfnKind::Dax &&
      std::find(env.dax_alignments.begin(), env.dax_alignments.end(), align) ==
          env.dax_alignments.end() &&
      align != 0) {
    out.push_back({Problem::PFN_ALIGN_UNSUPPORTED, where,
                   fmt::format("align {}{} is not a supported device-dax alignment", hex(align),
                               align_from_dataoff ? " (derived from dataoff)" : ""),
                   offset_plus(base, align_field)});
    kernel_stops(PfnVerdict::Unusable, "-EOPNOTSUPP", "alignment mismatch");
  }

  if (align > ns.size) {
    out.push_back({Problem::PFN_ALIGN_TOO_LARGE, where,
                   fmt::format("align {} exceeds the namespace capacity {}", hex(align),
                               hex(ns.size)),
                   offset_plus(base, align_field)});
    kernel_stops(PfnVerdict::Unusable, "-EOPNOTSUPP", "alignment exceeds capacity");
  }

  if (info.dataoff >= ns.size) {
    out.push_back({Problem::PFN_DATAOFF_RANGE, where,
                   fmt::format("dataoff {} is not below the namespace size {}", hex(info.dataoff),
                               hex(ns.size)),
                   offset_plus(base, PFN_OFF(dataoff))});
    kernel_stops(PfnVerdict::Unusable, "-EOPNOTSUPP", "pfn array size exceeds capacity");
  }

  // The data start must sit on `align` in the physical address space and on a page. The
  // kernel's IS_ALIGNED is a mask test (u64 wrap-around as in phys_addr_t arithmetic).
  const std::uint64_t data_phys = ns.start + info.dataoff + eff.start_pad;
  const bool kernel_offset_ok = (align == 0 || kernel_is_aligned(data_phys, align)) &&
                                kernel_is_aligned(info.dataoff, env.page_size);
  if (align != 0 && !std::has_single_bit(align)) {
    out.push_back({Problem::PFN_MISALIGNED, where,
                   fmt::format("align {} is not a power of two", hex(align)),
                   offset_plus(base, align_field)});
  } else if (align != 0 && data_phys % align != 0) {
    out.push_back({Problem::PFN_MISALIGNED, where,
                   fmt::format("data start {} (start {} + start_pad {} + dataoff {}) is not a "
                               "multiple of align {}",
                               hex(data_phys), hex(ns.start), hex(eff.start_pad),
                               hex(info.dataoff), hex(align)),
                   offset_plus(base, PFN_OFF(dataoff))});
  }
  if (env.page_size != 0 && info.dataoff % env.page_size != 0)
    out.push_back({Problem::PFN_MISALIGNED, where,
                   fmt::format("dataoff {} is not a multiple of PAGE_SIZE {}", hex(info.dataoff),
                               env.page_size),
                   offset_plus(base, PFN_OFF(dataoff))});
  if (!kernel_offset_ok)
    kernel_stops(PfnVerdict::Unusable, "-EOPNOTSUPP", "bad offset");

  const std::uint64_t compat = env.compat_align;
  const std::uint64_t range_start_phys = ns.start + eff.start_pad;
  const std::uint64_t range_end_phys = ns.start + ns.size - eff.end_trunc;
  if (!kernel_is_aligned(range_start_phys, compat)) {
    out.push_back({Problem::PFN_RANGE_MISALIGNED, where,
                   fmt::format("start {} + start_pad {} is not a multiple of {}", hex(ns.start),
                               hex(eff.start_pad), hex(compat)),
                   offset_plus(base, PFN_OFF(start_pad))});
    kernel_stops(PfnVerdict::Unusable, "-EOPNOTSUPP", "resource start misaligned");
  }
  if (!kernel_is_aligned(range_end_phys, compat)) {
    out.push_back({Problem::PFN_RANGE_MISALIGNED, where,
                   fmt::format("end {} - end_trunc {} is not a multiple of {}",
                               hex(ns.start + ns.size), hex(eff.end_trunc), hex(compat)),
                   offset_plus(base, PFN_OFF(end_trunc))});
    kernel_stops(PfnVerdict::Unusable, "-EOPNOTSUPP", "resource end misaligned");
  }

  // Kernel arithmetic is unsigned and wraps; the finding uses checked arithmetic instead.
  const std::uint64_t pads = std::uint64_t{eff.start_pad} + eff.end_trunc;
  if (info.dataoff >= ns.size - eff.start_pad - eff.end_trunc)
    kernel_stops(PfnVerdict::Unusable, "-EOPNOTSUPP", "bad offset with small namespace");
  const bool range_sane = pads < ns.size && info.dataoff < ns.size - pads &&
                          checked_add(ns.start, ns.size).has_value();
  if (pads >= ns.size)
    out.push_back({Problem::PFN_DATAOFF_RANGE, where,
                   fmt::format("start_pad {} + end_trunc {} cover the whole namespace ({})",
                               hex(eff.start_pad), hex(eff.end_trunc), hex(ns.size)),
                   offset_plus(base, PFN_OFF(end_trunc))});
  else if (info.dataoff < ns.size && info.dataoff >= ns.size - pads)
    out.push_back({Problem::PFN_DATAOFF_RANGE, where,
                   fmt::format("dataoff {} leaves no data between start_pad {} and end_trunc {}",
                               hex(info.dataoff), hex(eff.start_pad), hex(eff.end_trunc)),
                   offset_plus(base, PFN_OFF(dataoff))});

  const std::uint64_t reserve = align_up(kPfnInfoReserve, std::max<std::uint32_t>(env.page_size, 1));
  if (info.dataoff < reserve && !(align_from_dataoff && info.dataoff == 0)) {
    out.push_back({Problem::PFN_DATAOFF_RANGE, where,
                   fmt::format("dataoff {} overlaps the {} info-block reserve{}", hex(info.dataoff),
                               hex(reserve), ram ? " (RAM mode refuses this at setup)" : ""),
                   offset_plus(base, PFN_OFF(dataoff))});
  }
  if (ram && info.dataoff < reserve)
    kernel_stops(PfnVerdict::SetupFailed, "-EINVAL", "RAM-mode dataoff below the info-block reserve");

  if (eff.start_pad != 0)
    out.push_back({Problem::PFN_START_PAD, where,
                   fmt::format("start_pad {}: data starts at namespace offset {}", hex(eff.start_pad),
                               hex(std::uint64_t{eff.start_pad} + info.dataoff)),
                   offset_plus(base, PFN_OFF(start_pad))});

  if (range_sane) {
    const std::uint64_t range_len = ns.size - pads;
    v.data_start = range_start_phys + info.dataoff;
    v.data_end = range_end_phys;
    v.usable_bytes = range_len - info.dataoff;
    const std::uint64_t page = std::max<std::uint32_t>(env.page_size, 1);
    const std::uint64_t derived = v.usable_bytes / page;
    v.npfns = pmem ? derived : info.npfns;
    if ((pmem || ram) && info.npfns != derived)
      out.push_back({Problem::PFN_NPFNS_MISMATCH, where,
                     fmt::format("stored npfns {}, the data range holds {} pages{}", info.npfns,
                                 derived,
                                 pmem ? (info.npfns > derived ? " (kernel truncates)"
                                                              : " (kernel uses the range)")
                                      : " (RAM mode uses the stored value)"),
                     offset_plus(base, PFN_OFF(npfns))});
    // nd_pfn_init plans the memmap as 8 KiB + page_struct_size bytes per page of the range
    // after those 8 KiB (older kernels counted the range without start_pad/end_trunc, newer
    // ones the whole namespace: the smaller, older figure is the bar). A PMEM-mode dataoff
    // below it cannot hold the struct page array the kernel builds in [8 KiB, dataoff).
    if (pmem) {
      const std::uint64_t pages =
          range_len > kPfnInfoReserve ? (range_len - kPfnInfoReserve) / page : 0;
      const auto memmap = checked_mul(pages, eff.page_struct_size);
      const auto needed = memmap ? checked_add(*memmap, kPfnInfoReserve) : std::nullopt;
      if (!needed || info.dataoff < *needed)
        out.push_back({Problem::PFN_MEMMAP_TOO_SMALL, where,
                       fmt::format("dataoff {}, but 8 KiB + {} pages x {} bytes of struct page "
                                   "need {}",
                                   hex(info.dataoff), pages, eff.page_struct_size,
                                   needed ? hex(*needed) : std::string("more than 2^64")),
                       offset_plus(base, PFN_OFF(dataoff))});
    }
  }

  hygiene(info, base, out);
  if (!decided) v.verdict = PfnVerdict::Accepted;
  return v;
}

}  // namespace ndtk
