// Discovery: image kind, label area, namespaces and their personalities (FORMATS.md §3.7, §5.3,
// §5.12, §6).
#include "ndtk/discover/discovery.h"

#include <algorithm>

#include <fmt/format.h>

namespace ndtk {

namespace {

constexpr std::uint64_t kMinPersonalitySize = 16ull << 20;  // btt_devs.c / claim.c
constexpr std::uint64_t kInfoSize = 4096;

// QEMU backing files are pmem (a multiple of the 2 MiB memory-backend alignment in practice)
// followed by the label area; a bare pmem file has no such tail.
bool looks_like_qemu_with_labels(std::uint64_t size, std::uint64_t label_size) {
  return size > label_size && (size - label_size) % (2ull << 20) == 0;
}

// nd_btt_arena_is_valid: signature, parent uuid zero or equal, checksum.
bool arena_info_valid(const BttInfo& info, const Uuid& ns_uuid, std::string* why,
                      bool any_parent = false) {
  if (!info.signature_ok()) {
    if (why) *why = "no BTT_ARENA_INFO signature";
    return false;
  }
  if (!any_parent && !info.parent_uuid.is_zero() && info.parent_uuid != ns_uuid) {
    if (why)
      *why = fmt::format("parent_uuid {} does not match namespace uuid {}",
                         info.parent_uuid.to_string(), ns_uuid.to_string());
    return false;
  }
  if (!info.checksum_ok()) {
    if (why)
      *why = fmt::format("checksum {:#x} stored, {:#x} computed", info.checksum,
                         info.computed_checksum());
    return false;
  }
  return true;
}

std::optional<BttInfo> read_info(const BlockDevice& dev, std::uint64_t off) {
  if (!range_fits(off, kInfoSize, dev.size())) return std::nullopt;
  auto bytes = dev.read_vec(off, kInfoSize);
  if (!bytes) return std::nullopt;
  auto info = BttInfo::decode(*bytes);
  if (!info) return std::nullopt;
  return *info;
}

// A pmemblk pool whose header lost its signature or was zeroed: arena 0's intact BTT 1.1 info
// block at the pool's data-area offset, with the descriptor's bsize and (unless the header is
// zero) the header's poolset_uuid agreeing with it. libpmempool recognises such a pool the same
// way (check_pool_hdr.c pool_hdr_possible_type: pool_blk_get_first_valid_arena).
bool pmemblk_behind_damaged_header(const BlockDevice& image) {
  const std::uint64_t btt = pmemblk_btt_offset();
  auto info = read_info(image, btt);
  if (!info || !info->signature_ok() || !info->checksum_ok() ||
      info->version() != BttVersion::V1_1)
    return false;
  auto hdr_bytes = image.read_vec(0, kPoolHdrSize);
  auto desc_bytes = image.read_vec(pmemblk_desc_offset(), sizeof(PmemBlkDescRaw));
  if (!hdr_bytes || !desc_bytes) return false;
  auto hdr = PoolHeader::decode(*hdr_bytes);
  auto desc = PmemBlkDesc::decode(*desc_bytes);
  return hdr && desc && desc->bsize == info->external_lbasize &&
         (hdr->is_zero() || hdr->poolset_uuid == info->parent_uuid);
}

// The kernel's arena-0 offset for a version (nd_btt_version): 2.0 at 0, 1.1 at 4096.
std::uint64_t kernel_btt_offset(BttVersion v) { return v == BttVersion::V2_0 ? 0 : 4096; }

// Try a BTT of `version` with arena 0 at namespace offset `rel`. True when arena 0 is valid.
bool probe_btt(const BlockDevice& image, Namespace& ns, BttVersion version, std::uint64_t rel) {
  auto info = read_info(image, ns.offset + rel);
  if (!info || ns.size < rel + kInfoSize) return false;
  std::string why;
  if (!arena_info_valid(*info, ns.uuid, &why, ns.any_parent)) return false;
  if (info->version() != version) return false;  // nd_btt_version wants exactly 1.1 / 2.0
  BttSummary s;
  s.version = version;
  s.info_offset = rel;
  s.info = *info;
  // Walk the arena chain as discover_arenas does; every arena's primary must be valid.
  std::uint64_t off = rel;
  const std::uint64_t max_arenas = ns.size / kMinPersonalitySize + 1;
  BttInfo cur = *info;
  for (std::uint64_t k = 0;; ++k) {
    s.arenas += 1;
    s.external_nlba += cur.external_nlba;
    if (cur.nextoff == 0) {
      // The kernel sizes the last arena by its own info2off (parse_arena_meta).
      const auto info2 = checked_add(off, cur.info2off);
      s.described_end = info2 ? checked_add(*info2, kInfoSize).value_or(0) : 0;
      break;
    }
    auto next = checked_add(off, cur.nextoff);
    if (!next || k + 1 >= max_arenas || !range_fits(*next, kInfoSize, ns.size)) {
      if (next) s.described_end = checked_add(*next, kInfoSize).value_or(0);
      s.complete = false;
      s.problem = fmt::format("arena {} nextoff {:#x} points outside the namespace", k, cur.nextoff);
      break;
    }
    off = *next;
    auto n = read_info(image, ns.offset + off);
    std::string nwhy = "unreadable";
    if (!n || !arena_info_valid(*n, ns.uuid, &nwhy, ns.any_parent)) {
      s.complete = false;
      s.problem = fmt::format("arena {} info block at namespace offset {:#x} is invalid: {}", k + 1,
                              off, nwhy);
      break;
    }
    cur = *n;
  }
  ns.btt = std::move(s);
  ns.mode = NsMode::Sector;
  return true;
}

bool probe_pfn(const BlockDevice& image, Namespace& ns, PfnKind kind) {
  if (!range_fits(ns.offset + kPfnInfoOffset, kPfnInfoSize, image.size())) return false;
  auto bytes = image.read_vec(ns.offset + kPfnInfoOffset, kPfnInfoSize);
  if (!bytes) return false;
  auto info = PfnInfo::decode(*bytes);
  if (!info || info->kind() != kind) return false;
  PfnNamespace pns;
  // Physical addresses are unknown offline; a DIMM image's DPA stands in for the start (region
  // bases are at least 1 GiB aligned on real and QEMU platforms, so alignment verdicts hold).
  pns.start = ns.offset;
  pns.size = ns.size;
  pns.uuid = ns.uuid;
  pns.claim = ns.claim == ClaimClass::Pfn   ? PfnClaim::Pfn
              : ns.claim == ClaimClass::Dax ? PfnClaim::Dax
              : ns.claim == ClaimClass::None ? PfnClaim::None
                                             : PfnClaim::Other;
  pns.block_offset = ns.offset + kPfnInfoOffset;
  PfnSummary s{*info, kernel_validate(*info, pns)};
  const auto verdict = s.validation.verdict;
  if (verdict == PfnVerdict::NotDetected || verdict == PfnVerdict::Rejected) return false;
  ns.mode = kind == PfnKind::Dax ? NsMode::Devdax : NsMode::Fsdax;
  if (verdict != PfnVerdict::Accepted) {
    ns.personality_missing = true;
    ns.personality_note = fmt::format("{} info block present but unusable: {}",
                                      pfn_kind_name(kind), s.validation.kernel_error);
  }
  ns.pfn = std::move(s);
  return true;
}

NsMode claimed_mode(ClaimClass c) {
  switch (c) {
    case ClaimClass::Btt:
    case ClaimClass::Btt2: return NsMode::Sector;
    case ClaimClass::Pfn: return NsMode::Fsdax;
    case ClaimClass::Dax: return NsMode::Devdax;
    default: return NsMode::Raw;
  }
}

Namespace from_label_namespace(const LabelNamespace& ln, std::uint32_t index, bool stale) {
  Namespace ns;
  ns.index = index;
  ns.uuid = ln.uuid;
  ns.name = ln.name;
  ns.claim = ln.claim_class;
  ns.lbasize = ln.lbasize;
  ns.from_labels = true;
  ns.stale = stale;
  if (!ln.extents.empty()) {
    ns.offset = ln.extents.front().dpa;
    ns.size = ln.size;
  }
  return ns;
}

void add_label_namespaces(Discovery& d, const std::vector<LabelNamespace>& src, bool stale,
                          bool bytes_present) {
  auto& out = stale ? d.stale_namespaces : d.namespaces;
  std::vector<const LabelNamespace*> sorted;
  for (const auto& ln : src) sorted.push_back(&ln);
  std::stable_sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) {
    const auto da = a->extents.empty() ? UINT64_MAX : a->extents.front().dpa;
    const auto db = b->extents.empty() ? UINT64_MAX : b->extents.front().dpa;
    return da < db;
  });
  for (const auto* ln : sorted) {
    Namespace ns = from_label_namespace(*ln, static_cast<std::uint32_t>(out.size()), stale);
    if (!bytes_present) {  // a bare label area describes namespaces whose bytes are elsewhere
      ns.mode = claimed_mode(ns.claim);
      out.push_back(std::move(ns));
      continue;
    }
    const std::string where = fmt::format("{}namespace {}", stale ? "stale " : "", ln->uuid.to_string());
    if (ln->nlabel > 1 || ln->extents.size() > 1) {
      // Several extents of an nlabel-1 namespace on one DIMM are a duplicated uuid (the label
      // pass reports LABEL_DUPLICATE_UUID); either way which bytes are the namespace's is not
      // knowable here, so nothing is probed.
      if (ln->nlabel > 1)
        d.findings.push_back({Problem::NS_INTERLEAVED, where,
                              fmt::format("nlabel {}, {} extent(s) on this DIMM", ln->nlabel,
                                          ln->extents.size()),
                              std::nullopt});
      ns.size = ln->extents.empty() ? 0 : ln->extents.front().rawsize;
      ns.mode = claimed_mode(ns.claim);
      out.push_back(std::move(ns));
      continue;
    }
    if (!range_fits(ns.offset, ns.size, d.pmem_size)) {
      d.findings.push_back({Problem::NS_OUTSIDE_IMAGE, where,
                            fmt::format("[{:#x}, +{:#x}) vs pmem size {:#x}", ns.offset, ns.size,
                                        d.pmem_size),
                            std::nullopt});
      ns.mode = claimed_mode(ns.claim);
      out.push_back(std::move(ns));
      continue;
    }
    probe_personality(*d.image, ns);
    out.push_back(std::move(ns));
  }
}

void note_personality(Discovery& d, const Namespace& ns) {
  const std::string where =
      ns.uuid.is_zero() ? fmt::format("namespace {}", ns.index)
                        : fmt::format("namespace {}", ns.uuid.to_string());
  if (ns.personality_missing)
    d.findings.push_back({ns.pfn ? Problem::NS_PFN_UNUSABLE : Problem::NS_PERSONALITY_MISSING,
                          where, ns.personality_note, ns.offset});
  if (ns.btt && !ns.btt->complete)
    d.findings.push_back({Problem::NS_BTT_INCOMPLETE, where, ns.btt->problem, ns.offset});
  if (ns.size < kMinPersonalitySize && ns.size > 0 && ns.claim != ClaimClass::None)
    d.findings.push_back({Problem::NS_TOO_SMALL, where, fmt::format("{} bytes", ns.size), ns.offset});
}

// A label-less DIMM's or a pool's namespace ends where the file ends; a valid arena-0 info block
// describing arenas past that end means the file lost its tail: the kernel's reads of the
// missing map/log/info2 fail (nsio_rw_bytes range check), PMDK's likewise. (A labelled
// namespace's extent comes from its label instead: NS_OUTSIDE_IMAGE.)
void note_truncation(Discovery& d, const Namespace& ns) {
  if (!ns.btt || ns.btt->described_end <= ns.size) return;
  const std::uint64_t end = ns.btt->described_end;
  d.findings.push_back(
      {Problem::IMAGE_TRUNCATED,
       ns.uuid.is_zero() ? fmt::format("namespace {}", ns.index)
                         : fmt::format("namespace {}", ns.uuid.to_string()),
       fmt::format("the BTT's info blocks describe {} bytes from namespace offset {:#x}; the "
                   "image holds {} ({} bytes missing)",
                   end, ns.offset, ns.size, end - ns.size),
       ns.offset});
}

}  // namespace

const char* image_kind_name(ImageKind k) {
  switch (k) {
    case ImageKind::DimmWithLabels: return "dimm";
    case ImageKind::LabelAreaOnly: return "label-area";
    case ImageKind::Labelless: return "dimm-labelless";
    case ImageKind::PmemBlkPool: return "pmemblk-pool";
    case ImageKind::Namespace: return "namespace";
  }
  return "?";
}

const char* ns_mode_name(NsMode m) {
  switch (m) {
    case NsMode::Raw: return "raw";
    case NsMode::Sector: return "sector";
    case NsMode::Fsdax: return "fsdax";
    case NsMode::Devdax: return "devdax";
  }
  return "?";
}

std::uint64_t Namespace::capacity() const {
  if (btt) return btt->external_nlba * btt->sector_size();
  if (pfn && pfn->validation.kernel_accepts()) return pfn->validation.usable_bytes;
  if (mode == NsMode::Raw) return size;
  return 0;
}

Uuid Namespace::display_uuid() const {
  if (btt) return btt->info.uuid;
  if (pfn) return pfn->info.uuid;
  return uuid;
}

std::uint32_t Namespace::sector_size() const {
  if (btt) return btt->sector_size();
  return lbasize >= 4096 && mode == NsMode::Raw ? 4096 : 512;
}

std::optional<std::uint64_t> Namespace::align() const {
  if (!pfn) return std::nullopt;
  return pfn->validation.effective.align;
}

const Namespace* Discovery::find(const std::string& key) const {
  auto u = Uuid::parse(key);
  for (const auto& ns : namespaces) {
    if (u && (ns.uuid == *u || ns.display_uuid() == *u)) return &ns;
    if (!u && !ns.name.empty() && ns.name == key) return &ns;
  }
  return nullptr;
}

void probe_personality(const BlockDevice& image, Namespace& ns) {
  ns.mode = NsMode::Raw;
  ns.btt.reset();
  ns.pfn.reset();
  ns.personality_missing = false;
  ns.personality_note.clear();
  if (ns.size < kMinPersonalitySize) {
    ns.mode = claimed_mode(ns.claim);
    if (ns.claim != ClaimClass::None) {
      ns.personality_missing = true;
      ns.personality_note = "namespace too small for a BTT/pfn/dax personality";
    }
    return;
  }
  const ClaimClass c = ns.claim;
  if (c == ClaimClass::None || c == ClaimClass::Btt || c == ClaimClass::Btt2) {
    const auto v = c == ClaimClass::Btt2 ? BttVersion::V2_0 : BttVersion::V1_1;
    if (probe_btt(image, ns, v, kernel_btt_offset(v))) return;
  }
  if ((c == ClaimClass::None || c == ClaimClass::Pfn) && probe_pfn(image, ns, PfnKind::Pfn)) return;
  if ((c == ClaimClass::None || c == ClaimClass::Dax) && probe_pfn(image, ns, PfnKind::Dax)) return;
  if (c != ClaimClass::None) {
    ns.mode = claimed_mode(c);
    ns.personality_missing = true;
    switch (c) {
      case ClaimClass::Btt:
        ns.personality_note = "claim class btt: no valid BTT 1.1 info block at namespace offset 4096";
        break;
      case ClaimClass::Btt2:
        ns.personality_note = "claim class btt2: no valid BTT 2.0 info block at namespace offset 0";
        break;
      case ClaimClass::Pfn:
        ns.personality_note = "claim class pfn: no valid NVDIMM_PFN_INFO block at namespace offset 4096";
        break;
      case ClaimClass::Dax:
        ns.personality_note = "claim class dax: no valid NVDIMM_DAX_INFO block at namespace offset 4096";
        break;
      default:
        ns.mode = NsMode::Raw;
        ns.personality_missing = false;  // unknown claim class: the kernel exposes it raw
        break;
    }
  }
}

Result<DevicePtr> namespace_device(const Discovery& d, const Namespace& ns) {
  return make_view(d.image, ns.offset, ns.size,
                   fmt::format("{}[namespace {}]", d.image->name(),
                               ns.uuid.is_zero() ? std::to_string(ns.index) : ns.uuid.to_string()));
}

Result<Discovery> discover(DevicePtr image, const DiscoverOptions& opts) {
  if (!image) return fail(Errc::kInvalidArgument, "discover: no image");
  Discovery d;
  d.image = image;
  const std::uint64_t size = image->size();

  // 1. An explicit namespace window.
  if (opts.ns_offset || opts.ns_size) {
    const std::uint64_t off = opts.ns_offset.value_or(0);
    if (off > size)
      return fail(Errc::kOutOfRange, fmt::format("{}: --offset {:#x} is past the end ({:#x} bytes)",
                                                 image->name(), off, size));
    const std::uint64_t len = opts.ns_size.value_or(size - off);
    if (!range_fits(off, len, size))
      return fail(Errc::kOutOfRange,
                  fmt::format("{}: namespace window [{:#x}, +{:#x}) lies past the end ({:#x} bytes)",
                              image->name(), off, len, size));
    d.kind = ImageKind::Namespace;
    d.pmem_size = size;
    Namespace ns;
    ns.offset = off;
    ns.size = len;
    ns.any_parent = true;
    probe_personality(*image, ns);
    if (!ns.btt && !ns.pfn) {
      // A bare window has no label to say which BTT version it holds: also look at offset 0.
      Namespace alt = ns;
      alt.claim = ClaimClass::Btt2;
      probe_personality(*image, alt);
      if (alt.btt) {
        alt.claim = ClaimClass::None;
        ns = alt;
      }
    }
    d.namespaces.push_back(std::move(ns));
    return d;
  }

  // 2. A PMDK pmemblk pool.
  if (size >= 8) {
    NDTK_TRY(sig, image->read_vec(0, 8));
    const bool pool_sig = std::equal(sig.begin(), sig.end(), kPmemBlkSignature.begin());
    if (pool_sig || pmemblk_behind_damaged_header(*image)) {
      PmemBlkReadOptions ro;
      ro.damaged_header_ok = !pool_sig;
      auto pool = read_pmemblk_pool(*image, ro);
      if (!pool) return Unexpected{std::move(pool).error().prefix(image->name())};
      d.kind = ImageKind::PmemBlkPool;
      d.pmem_size = size;
      Namespace ns;
      ns.offset = pool->btt_offset;
      ns.size = pool->btt_size;
      ns.uuid = pool->header.poolset_uuid;
      ns.lbasize = pool->bsize();
      ns.mode = NsMode::Sector;
      if (!pool->layout_written) {
        d.findings.push_back({Problem::POOL_LAYOUT_NOT_WRITTEN, "pool", "", pool->btt_offset});
      } else if (!probe_btt(*image, ns, BttVersion::V1_1, 0)) {
        // PMDK writes BTT 1.1 at offset 0 of its data area, not at +4096.
        auto info = read_info(*image, ns.offset);
        std::string why = "unreadable";
        if (info && arena_info_valid(*info, ns.uuid, &why)) why = "version is not 1.1";
        ns.personality_missing = true;
        ns.personality_note = "no valid BTT info block at the start of the pool's data area: " + why;
      }
      d.pool = std::move(*pool);
      d.namespaces.push_back(std::move(ns));
      for (auto& n : d.namespaces) {
        note_truncation(d, n);
        note_personality(d, n);
      }
      return d;
    }
  }

  // 3. A label area: explicit, bare, or the tail of a QEMU backing file.
  std::optional<LabelArea> area;
  if (opts.label_offset || opts.label_size) {
    const std::uint64_t lsize = opts.label_size.value_or(kQemuDefaultLabelSize);
    const std::uint64_t loff =
        opts.label_offset.value_or(size >= lsize ? size - lsize : 0);
    if (!range_fits(loff, lsize, size))
      return fail(Errc::kOutOfRange,
                  fmt::format("{}: label area [{:#x}, +{:#x}) lies past the end ({:#x} bytes)",
                              image->name(), loff, lsize, size));
    LabelAreaOptions lo;
    if (loff > 0) lo.dimm_size = loff;
    NDTK_TRY(a, read_label_area(*image, loff, lsize, lo));
    area = std::move(a);
    d.kind = loff == 0 && lsize == size ? ImageKind::LabelAreaOnly : ImageKind::DimmWithLabels;
    d.pmem_size = loff == 0 ? 0 : loff;
  } else {
    if (size >= 1024 && size <= kLabelAreaReadCap) {
      auto bare = read_label_area(*image, 0, size);
      if (bare && bare->has_valid_index() && !looks_like_qemu_with_labels(size, kQemuDefaultLabelSize)) {
        area = std::move(*bare);
        d.kind = ImageKind::LabelAreaOnly;
        d.pmem_size = 0;
      }
    }
    if (!area && size > kQemuDefaultLabelSize) {
      LabelAreaOptions lo;
      lo.dimm_size = size - kQemuDefaultLabelSize;
      auto tail = read_label_area(*image, size - kQemuDefaultLabelSize, kQemuDefaultLabelSize, lo);
      if (tail && (tail->has_valid_index() ||
                   looks_like_qemu_with_labels(size, kQemuDefaultLabelSize))) {
        area = std::move(*tail);
        d.kind = ImageKind::DimmWithLabels;
        d.pmem_size = size - kQemuDefaultLabelSize;
      }
    }
  }

  if (area) {
    d.labels = std::move(area);
    const bool bytes_present = d.kind == ImageKind::DimmWithLabels;
    add_label_namespaces(d, d.labels->namespaces, false, bytes_present);
    add_label_namespaces(d, d.labels->stale_namespaces, true, bytes_present);
    for (auto& n : d.namespaces) note_personality(d, n);
    return d;
  }

  // 4. Label-less: one namespace spanning the whole pmem range, uuid zero, probed for BTT 1.1,
  // pfn and dax as the kernel probes an io namespace.
  d.kind = ImageKind::Labelless;
  d.pmem_size = size;
  Namespace ns;
  ns.offset = 0;
  ns.size = size;
  probe_personality(*image, ns);
  d.namespaces.push_back(std::move(ns));
  for (auto& n : d.namespaces) {
    note_truncation(d, n);
    note_personality(d, n);
  }
  return d;
}

}  // namespace ndtk
