// label-dump's report model: open an image read-only, locate its label area (standard layouts,
// then by index signature for truncated copies), discover namespaces, and look at what each
// namespace's first blocks hold, including info blocks the kernel would not use.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "ndtk/base/fletcher.h"
#include "ndtk/io/block_device.h"
#include "ndtk/render/label_render.h"

namespace ndtk {

const char* area_source_name(AreaSource s) {
  switch (s) {
    case AreaSource::None: return "none";
    case AreaSource::Explicit: return "explicit";
    case AreaSource::Bare: return "bare";
    case AreaSource::QemuTail: return "qemu-tail";
    case AreaSource::Recovered: return "recovered";
  }
  return "?";
}

const char* info_kind_name(InfoKind k) {
  switch (k) {
    case InfoKind::Btt: return "btt";
    case InfoKind::Pfn: return "pfn";
    case InfoKind::Dax: return "dax";
  }
  return "?";
}

bool LabelImageReport::consistent() const {
  return std::none_of(findings.begin(), findings.end(),
                      [](const Finding& f) { return f.severity() != Severity::Info; });
}

int LabelDumpReport::exit_code() const {
  for (const auto& img : images)
    if (!img.consistent()) return 1;
  return 0;
}

namespace {

constexpr std::uint64_t kBlock = 4096;

// ---- locating a label area that no standard layout explains ------------------------------

// A label area copied short (or a bare area cut off) fails every standard layout; its index
// block signature still says where it starts. Only the last 128 KiB are searched: that is
// where a QEMU backing file keeps its area, and all of a bare area of that size.
std::optional<std::uint64_t> find_index_signature(const BlockDevice& dev) {
  const std::uint64_t size = dev.size();
  const std::uint64_t window = std::min(size, kQemuDefaultLabelSize);
  const std::uint64_t start = align_up(size - window, kNsIndexAlign);
  if (start >= size) return std::nullopt;
  auto bytes = dev.read_vec(start, static_cast<std::size_t>(size - start));
  if (!bytes) return std::nullopt;
  for (std::uint64_t o = 0; o + kNsIndexHeaderSize <= bytes->size(); o += kNsIndexAlign) {
    if (!std::equal(kNsIndexSignature.begin(), kNsIndexSignature.end(),
                    bytes->begin() + static_cast<std::ptrdiff_t>(o)))
      continue;
    // myoff says which index block this is (0 or ISZ): the area starts myoff bytes earlier.
    const std::uint64_t myoff = le64(*bytes, static_cast<std::size_t>(o + 24));
    const std::uint64_t abs = start + o;
    if (myoff % kNsIndexAlign == 0 && myoff <= abs && myoff <= 16 * kNsIndexAlign)
      return abs - myoff;
    return abs;
  }
  return std::nullopt;
}

// What the index blocks of a recovered area say the area should hold, to name the truncation.
std::optional<std::uint64_t> described_area_size(const LabelArea& a) {
  std::optional<std::uint64_t> need;
  for (const auto& s : a.indexes) {
    if (!s.index || !s.index->has_signature()) continue;
    const std::uint64_t lsz = s.index->label_size();
    if (lsz == 0) continue;
    const auto slots = checked_mul(s.index->nslot, lsz);
    const auto end = slots ? checked_add(s.index->labeloff, *slots) : std::nullopt;
    if (end) need = std::max(need.value_or(0), *end);
  }
  return need;
}

// ---- what a namespace's first blocks hold ------------------------------------------------

std::optional<ByteVec> read_block(const BlockDevice& dev, std::uint64_t off) {
  if (!range_fits(off, kBlock, dev.size())) return std::nullopt;
  auto b = dev.read_vec(off, kBlock);
  if (!b) return std::nullopt;
  return std::move(*b);
}

PfnClaim pfn_claim_of(ClaimClass c) {
  switch (c) {
    case ClaimClass::Pfn: return PfnClaim::Pfn;
    case ClaimClass::Dax: return PfnClaim::Dax;
    case ClaimClass::None: return PfnClaim::None;
    case ClaimClass::Btt:
    case ClaimClass::Btt2: return PfnClaim::Btt;
    default: return PfnClaim::Other;
  }
}

// Why the kernel would not attach a BTT whose arena 0 sits at `rel` (empty: it would).
std::string btt_refusal(const BttInfo& info, const Namespace& ns, std::uint64_t rel, bool pmdk) {
  std::vector<std::string> why;
  if (!info.checksum_ok())
    why.push_back(fmt::format("checksum stored {:#x}, computed {:#x}", info.checksum,
                              info.computed_checksum()));
  if (!ns.any_parent && !info.parent_uuid.is_zero() && info.parent_uuid != ns.uuid)
    why.push_back(fmt::format("parent_uuid {} is not the namespace uuid {}",
                              info.parent_uuid.to_string(), ns.uuid.to_string()));
  const auto v = info.version();
  const std::uint64_t want = ns.claim == ClaimClass::Btt2 ? 0 : 4096;
  if (!v)
    why.push_back(fmt::format("version {}.{} is neither 1.1 nor 2.0", info.version_major,
                              info.version_minor));
  else if (!pmdk && btt_initial_offset(*v) != rel)
    why.push_back(fmt::format("version {} belongs at namespace offset {}, found at {}",
                              btt_version_name(*v), btt_initial_offset(*v), rel));
  if (pmdk && v && *v != BttVersion::V1_1)
    why.push_back("PMDK writes version 1.1");
  if (rel != want && ns.from_labels)
    why.push_back(fmt::format("claim class {} has the kernel look at offset {}",
                              claim_class_name(ns.claim), want));
  if (ns.claim == ClaimClass::Pfn || ns.claim == ClaimClass::Dax)
    why.push_back(fmt::format("claim class {} does not allow a BTT", claim_class_name(ns.claim)));
  std::string out;
  for (const auto& w : why) out += (out.empty() ? "" : "; ") + w;
  return out;
}

std::optional<InfoBlockView> view_info(const BlockDevice& image, const Namespace& ns,
                                       bool bytes_present, bool pmdk) {
  if (ns.btt) {
    InfoBlockView v;
    v.kind = InfoKind::Btt;
    v.offset = ns.btt->info_offset;
    v.image_offset = ns.offset + v.offset;
    v.in_use = ns.btt->complete;
    v.verdict = !ns.btt->complete ? ns.btt->problem
                : pmdk               ? "valid (libpmemblk uses it)"
                                     : "accepted";
    v.btt = ns.btt;
    return v;
  }
  if (ns.pfn) {
    InfoBlockView v;
    v.kind = ns.pfn->info.kind() == PfnKind::Dax ? InfoKind::Dax : InfoKind::Pfn;
    v.offset = kPfnInfoOffset;
    v.image_offset = ns.offset + v.offset;
    v.in_use = ns.pfn->validation.kernel_accepts();
    v.verdict = v.in_use ? "accepted" : ns.pfn->validation.kernel_error;
    v.pfn = ns.pfn;
    return v;
  }
  if (!bytes_present || ns.size < 2 * kBlock) return std::nullopt;
  // No personality attached: say what is there anyway, in the kernel's probe order.
  // PMDK keeps arena 0 at 0 of its data area; BTT2 claims look at 0 first, the rest at 4096.
  std::vector<std::uint64_t> where{4096, 0};
  if (pmdk) where = {0};
  else if (ns.claim == ClaimClass::Btt2) where = {0, 4096};
  for (const std::uint64_t rel : where) {
    auto b = read_block(image, ns.offset + rel);
    if (!b) continue;
    auto info = BttInfo::decode(*b);
    if (!info || !info->signature_ok()) continue;
    InfoBlockView v;
    v.kind = InfoKind::Btt;
    v.offset = rel;
    v.image_offset = ns.offset + rel;
    BttSummary s;
    s.version = info->version().value_or(BttVersion::V1_1);
    s.info_offset = rel;
    s.info = *info;
    s.arenas = 0;
    s.complete = false;
    v.verdict = btt_refusal(*info, ns, rel, pmdk);
    if (v.verdict.empty()) v.verdict = "not attached: " + ns.personality_note;
    s.problem = v.verdict;
    v.btt = std::move(s);
    return v;
  }
  if (auto b = read_block(image, ns.offset + kPfnInfoOffset)) {
    auto info = PfnInfo::decode(*b);
    if (info && info->kind() != PfnKind::Unknown) {
      PfnNamespace pns;
      pns.start = ns.offset;
      pns.size = ns.size;
      pns.uuid = ns.uuid;
      pns.claim = pfn_claim_of(ns.claim);
      pns.block_offset = ns.offset + kPfnInfoOffset;
      InfoBlockView v;
      v.kind = info->kind() == PfnKind::Dax ? InfoKind::Dax : InfoKind::Pfn;
      v.offset = kPfnInfoOffset;
      v.image_offset = ns.offset + kPfnInfoOffset;
      PfnSummary s{*info, kernel_validate(*info, pns)};
      v.in_use = false;
      v.verdict = s.validation.kernel_error.empty()
                      ? std::string(pfn_verdict_name(s.validation.verdict))
                      : s.validation.kernel_error;
      v.pfn = std::move(s);
      return v;
    }
  }
  return std::nullopt;
}

bool interleaved(const LabelNamespace& ln) { return ln.nlabel > 1 || ln.extents.size() > 1; }

std::vector<NamespaceReport> namespace_reports(const Discovery& d,
                                               const std::vector<Namespace>& list,
                                               const std::vector<LabelNamespace>* label_side) {
  std::vector<NamespaceReport> out;
  for (const Namespace& ns : list) {
    NamespaceReport r;
    r.ns = ns;
    if (label_side)
      for (const auto& ln : *label_side)
        if (ln.uuid == ns.uuid) r.labels = ln;
    const bool has_bytes = d.kind != ImageKind::LabelAreaOnly;
    r.bytes_present = has_bytes && range_fits(ns.offset, ns.size, d.image->size()) &&
                      !(r.labels && interleaved(*r.labels));
    if (d.kind == ImageKind::DimmWithLabels && !range_fits(ns.offset, ns.size, d.pmem_size))
      r.bytes_present = false;
    r.info = view_info(*d.image, ns, r.bytes_present, d.kind == ImageKind::PmemBlkPool);
    out.push_back(std::move(r));
  }
  return out;
}

Error name_path(Error e, const std::string& path) {
  if (e.message().find(path) == std::string::npos) e.prefix(path);
  return e;
}

}  // namespace

Result<LabelImageReport> inspect_label_image(const std::string& path, const LabelDumpOptions& opts) {
  auto dev = open_image(path, OpenMode::ReadOnly);
  if (!dev) return Unexpected{name_path(std::move(dev).error(), path)};
  DiscoverOptions dopts;
  dopts.label_offset = opts.label_offset;
  dopts.label_size = opts.label_size;
  auto disc = discover(*dev, dopts);
  if (!disc) return Unexpected{name_path(std::move(disc).error(), path)};

  LabelImageReport r;
  r.path = path;
  const std::uint64_t size = (*dev)->size();
  if (opts.label_offset || opts.label_size) {
    r.area_source = AreaSource::Explicit;
  } else if (disc->kind == ImageKind::LabelAreaOnly) {
    r.area_source = AreaSource::Bare;
  } else if (disc->kind == ImageKind::DimmWithLabels) {
    r.area_source = AreaSource::QemuTail;
  } else if (disc->kind == ImageKind::Labelless) {
    // Neither layout fits: a label area whose copy was cut short still shows its signature.
    if (auto at = find_index_signature(**dev)) {
      const std::uint64_t len = size - *at;
      if (len < kLabelAreaMinSize)
        return fail(Errc::kTruncated,
                    fmt::format("{}: truncated label area: an index block at {:#x} is followed by "
                                "only {} bytes (a label area has at least {})",
                                path, *at, len, kLabelAreaMinSize));
      if (len <= kLabelAreaReadCap) {
        DiscoverOptions again;
        again.label_offset = *at;
        again.label_size = len;
        if (auto d2 = discover(*dev, again)) {
          disc = std::move(d2);
          r.area_source = AreaSource::Recovered;
        }
      }
    }
  }
  r.discovery = std::move(*disc);
  Discovery& d = r.discovery;

  switch (r.area_source) {
    case AreaSource::None:
      r.area_note = d.kind == ImageKind::PmemBlkPool
                        ? "a PMDK pmemblk pool: no label area"
                        : "no label area (label-less DIMM: one namespace spans the image)";
      break;
    case AreaSource::Explicit:
      r.area_note = "label area given on the command line";
      break;
    case AreaSource::Bare:
      r.area_note = "the whole image is a label area";
      break;
    case AreaSource::QemuTail:
      r.area_note = fmt::format("QEMU NVDIMM backing file: {} bytes of pmem, then the label area ({} bytes)",
                                d.pmem_size, d.labels ? d.labels->size : kQemuDefaultLabelSize);
      break;
    case AreaSource::Recovered:
      r.area_note = fmt::format(
          "no standard layout fits; an index block signature places a label area at {:#x} "
          "(the last {} bytes of the image)",
          d.labels->offset, d.labels->size);
      break;
  }

  if (const LabelArea* a = r.area()) {
    r.findings = a->findings;
    if (r.area_source == AreaSource::Recovered) {
      if (auto need = described_area_size(*a); need && *need > a->size)
        r.findings.push_back({Problem::IMAGE_TRUNCATED, "label area",
                              fmt::format("the index blocks describe {} bytes of label area; the "
                                          "image ends {} bytes after its start",
                                          *need, a->size),
                              a->offset});
    }
  }
  if (d.pool)
    for (const auto& f : d.pool->findings) r.findings.push_back(f);
  for (const auto& f : d.findings) {
    // The pool reader already said the layout is not written; discovery says it again.
    if (f.code == Problem::POOL_LAYOUT_NOT_WRITTEN &&
        std::any_of(r.findings.begin(), r.findings.end(), [](const Finding& g) {
          return g.code == Problem::POOL_BTT_LAYOUT_NOT_WRITTEN;
        }))
      continue;
    r.findings.push_back(f);
  }

  const LabelArea* a = r.area();
  r.namespaces = namespace_reports(d, d.namespaces, a ? &a->namespaces : nullptr);
  r.stale_namespaces = namespace_reports(d, d.stale_namespaces, a ? &a->stale_namespaces : nullptr);
  return r;
}

Result<LabelDumpReport> build_label_dump(std::span<const std::string> paths,
                                         const LabelDumpOptions& opts) {
  LabelDumpReport rep;
  rep.several = paths.size() > 1;
  for (const auto& p : paths) {
    NDTK_TRY(img, inspect_label_image(p, opts));
    rep.images.push_back(std::move(img));
  }
  // Interleave sets over every image with a label area.
  std::vector<LabelArea> areas;
  std::vector<std::size_t> owner;  // area index -> image index
  for (std::size_t i = 0; i < rep.images.size(); ++i)
    if (const LabelArea* a = rep.images[i].area()) {
      areas.push_back(*a);
      owner.push_back(i);
    }
  if (areas.empty()) return rep;
  InterleaveReport sets = group_interleave_sets(areas);
  for (auto& ns : sets.namespaces) {
    for (auto& m : ns.members) m.area = owner[m.area];  // report members by image index
    std::vector<std::size_t> imgs;
    for (const auto& m : ns.members)
      if (std::find(imgs.begin(), imgs.end(), m.area) == imgs.end()) imgs.push_back(m.area);
    for (std::size_t i : imgs) rep.images[i].sets.push_back(ns);
    if (!rep.several) continue;
    const std::string where = fmt::format("namespace {}", ns.uuid.to_string());
    for (const auto& f : sets.findings) {
      if (f.where != where) continue;
      Finding g = f;
      // The library names areas by their index among the areas; name the images instead.
      for (std::size_t k = areas.size(); k-- > 0;)
        for (std::size_t pos = 0;
             (pos = g.detail.find(fmt::format("area {} ", k), pos)) != std::string::npos;) {
          const std::string repl = fmt::format("image {} ", owner[k]);
          g.detail.replace(pos, fmt::format("area {} ", k).size(), repl);
          pos += repl.size();
        }
      for (std::size_t i : imgs) rep.images[i].findings.push_back(g);
    }
  }
  return rep;
}

}  // namespace ndtk
