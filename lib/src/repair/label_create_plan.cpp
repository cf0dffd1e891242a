// Kernel-style namespace creation in a label area: init_labels on a blank area, then the
// two-pass __pmem_label_update with index commits (nd_label_write_index).
#include "ndtk/repair/label_create_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <utility>

#include "ndtk/discover/label_area.h"

namespace ndtk {

const char* label_version_name(LabelVersion v) { return v == LabelVersion::V1_1 ? "1.1" : "1.2"; }

LabelIndex kernel_index_write(LabelIndex staged, int number, std::uint32_t seq,
                              const LabelGeometry& g) {
  staged.sig = kNsIndexSignature;
  staged.flags = {0, 0, 0};
  staged.labelsize = static_cast<std::uint8_t>(g.label_size >> 8);
  staged.seq = seq;
  staged.myoff = number == 0 ? 0 : g.index_size;
  staged.mysize = g.index_size;
  staged.otheroff = number == 0 ? g.index_size : 0;
  staged.labeloff = g.label_offset();
  staged.major = 1;
  staged.minor = g.label_size < 256 ? 1 : 2;
  staged.checksum = 0;
  // The block is exactly ISZ bytes, so the checksum covers what the kernel sums.
  staged.tail.resize(g.index_size > kNsIndexHeaderSize ? g.index_size - kNsIndexHeaderSize : 0);
  return staged.with_checksum();
}

namespace {

struct Extent {
  std::uint64_t start = 0;
  std::uint64_t end = 0;
};

Unexpected refuse(const BlockDevice& dev, Errc code, const std::string& what) {
  return fail(code, dev.name() + ": " + what);
}

/// Free [start, end) ranges of [0, dimm_size) around the used extents.
std::vector<Extent> free_extents(std::vector<Extent> used, std::uint64_t dimm_size) {
  std::sort(used.begin(), used.end(), [](const Extent& a, const Extent& b) {
    return a.start < b.start;
  });
  std::vector<Extent> out;
  std::uint64_t cursor = 0;
  for (const auto& u : used) {
    if (u.start > cursor) out.push_back({cursor, std::min(u.start, dimm_size)});
    cursor = std::max(cursor, u.end);
    if (cursor >= dimm_size) break;
  }
  if (cursor < dimm_size) out.push_back({cursor, dimm_size});
  return out;
}

/// The aligned part of a free range: [align_up(start), align_down(end)).
Extent aligned_part(const Extent& e, std::uint64_t align) {
  const std::uint64_t s = align_up(e.start, align);
  const std::uint64_t t = align_down(e.end, align);
  return s < t ? Extent{s, t} : Extent{s, s};
}

/// The claim class the kernel records for a sector namespace with the given BTT version
/// (btt_claim_class): none for v1.1 labels (no abstraction GUID), BTT2 or BTT for v1.2.
Result<ClaimClass> claim_for(const NamespaceCreateRequest& req, LabelVersion lv,
                             BttVersion& chosen) {
  if (!req.sector) return ClaimClass::None;
  chosen = req.btt_version.value_or(lv == LabelVersion::V1_2 ? BttVersion::V2_0
                                                             : BttVersion::V1_1);
  if (lv == LabelVersion::V1_1) {
    if (chosen == BttVersion::V2_0)
      return fail(Errc::kInvalidArgument,
                  "BTT 2.0 needs v1.2 labels: with v1.1 labels the kernel only probes a BTT 1.1 "
                  "at namespace offset 4096");
    return ClaimClass::None;
  }
  return chosen == BttVersion::V2_0 ? ClaimClass::Btt2 : ClaimClass::Btt;
}

}  // namespace

Result<NamespaceCreatePlan> plan_namespace_create(const BlockDevice& dev,
                                                  const NamespaceCreateRequest& req) {
  if (req.name.size() >= kLabelNameLen)
    return refuse(dev, Errc::kInvalidArgument,
                  fmt::format("namespace name of {} bytes: at most {}", req.name.size(),
                              kLabelNameLen - 1));
  if (req.align == 0) return refuse(dev, Errc::kInvalidArgument, "alignment 0");
  if (req.uuid.is_zero())
    return refuse(dev, Errc::kInvalidArgument, "a namespace uuid must not be all zero");
  if (req.label_size < kLabelAreaMinSize || req.label_size > kLabelAreaReadCap)
    return refuse(dev, Errc::kInvalidArgument,
                  fmt::format("label area of {} bytes: the kernel needs {}..{}", req.label_size,
                              kLabelAreaMinSize, kLabelAreaReadCap));
  if (!range_fits(req.label_offset, req.label_size, dev.size()))
    return refuse(dev, Errc::kOutOfRange,
                  fmt::format("label area [{:#x}, +{:#x}) lies outside the image ({:#x} bytes)",
                              req.label_offset, req.label_size, dev.size()));
  if (req.dimm_size == 0 || req.dimm_size > req.label_offset)
    return refuse(dev, Errc::kInvalidArgument,
                  fmt::format("pmem of {:#x} bytes must lie before the label area at {:#x}",
                              req.dimm_size, req.label_offset));

  NamespaceCreatePlan out;
  NDTK_TRY(bytes, dev.read_vec(req.label_offset, static_cast<std::size_t>(req.label_size)));
  LabelAreaOptions lo;
  lo.dimm_size = req.dimm_size;
  NDTK_TRY(area, decode_label_area(bytes, req.label_offset, lo, dev.name()));

  std::array<LabelIndex, 2> idx;
  int cur = 0;
  int nxt = 1;
  const std::string area_where = fmt::format("label area at {:#x}", req.label_offset);
  if (area.has_valid_index()) {
    if (area.is_cxl())
      return refuse(dev, Errc::kUnsupported, area_where + " is a CXL LSA: not written here");
    if (!area.geometry || area.geometry->formula != LabelFormula::Current)
      return refuse(dev, Errc::kUnsupported,
                    area_where + " was laid out by an older kernel's formula: not modified");
    out.geometry = *area.geometry;
    out.label_version = out.geometry.label_size == 128 ? LabelVersion::V1_1 : LabelVersion::V1_2;
    if (req.label_version && *req.label_version != out.label_version)
      return refuse(dev, Errc::kInvalidArgument,
                    fmt::format("{} already holds v{} labels (asked for v{})", area_where,
                                label_version_name(out.label_version),
                                label_version_name(*req.label_version)));
    cur = area.current.index;
    nxt = 1 - cur;
    // nvdimm probe: the current block is copied over the staging one in memory.
    const std::uint64_t isz = out.geometry.index_size;
    NDTK_TRY(cur_block,
             LabelIndex::decode(Bytes(bytes).subspan(static_cast<std::size_t>(cur * isz),
                                                     static_cast<std::size_t>(isz))));
    idx[static_cast<std::size_t>(cur)] = cur_block;
    idx[static_cast<std::size_t>(nxt)] = cur_block;
  } else {
    if (!all_zero(bytes) && !req.force)
      return refuse(dev, Errc::kInvalidArgument,
                    area_where +
                        " holds bytes but no valid index block; refusing to initialise it "
                        "(--force initialises it as the kernel would, leaving old label bytes)");
    out.label_version = req.label_version.value_or(LabelVersion::V1_2);
    NDTK_TRY(g, label_geometry(req.label_size, label_version_size(out.label_version)));
    out.geometry = g;
    out.initialised = true;
    // init_labels: index 0 seq 3, index 1 seq 2; no copy follows, so the staging block keeps
    // its own seq 2 and pass 1 commits it with nd_inc_seq(2) = 3.
    idx = initial_index_blocks(g, InitStyle::Kernel);
    for (int i = 0; i < 2; ++i)
      out.plan.add(req.label_offset + static_cast<std::uint64_t>(i) * g.index_size,
                   idx[static_cast<std::size_t>(i)].serialize(),
                   fmt::format("label index {}: initialise (seq {}, {} free slots)", i,
                               idx[static_cast<std::size_t>(i)].seq, g.nslot));
  }
  const LabelGeometry& g = out.geometry;

  BttVersion btt = BttVersion::V1_1;
  auto claim = claim_for(req, out.label_version, btt);
  if (!claim) return fail(std::move(claim).error().prefix(dev.name()));
  out.btt_version = btt;

  // Existing namespaces: their extents are reserved and their labels never touched.
  std::vector<Extent> used;
  std::set<std::uint64_t> cookies;
  for (const auto& ns : area.namespaces) {
    if (ns.uuid == req.uuid)
      return refuse(dev, Errc::kInvalidArgument,
                    fmt::format("uuid {} already names an active namespace", ns.uuid.to_string()));
    cookies.insert(ns.isetcookie);
    for (const auto& e : ns.extents)
      used.push_back({e.dpa, checked_add(e.dpa, e.rawsize).value_or(UINT64_MAX)});
  }

  if (req.isetcookie) {
    out.isetcookie = *req.isetcookie;
    out.cookie_source = "--isetcookie";
  } else if (cookies.size() == 1) {
    out.isetcookie = *cookies.begin();
    out.cookie_source = "the existing labels";
  } else if (cookies.size() > 1) {
    return refuse(dev, Errc::kInvalidArgument,
                  "the active labels carry different interleave-set cookies; pass --isetcookie");
  } else {
    const IsetMapping m[1] = {req.mapping};
    const IsetCookies c = compute_iset_cookies(m);
    out.isetcookie = expected_cookie(c, 1, out.label_version == LabelVersion::V1_1 ? 1 : 2);
    out.cookie_source =
        fmt::format("computed: {} of one DIMM (region offset {:#x}, serial {:#x}, vendor {:#06x})",
                    out.label_version == LabelVersion::V1_1 ? "cookie1" : "cookie2",
                    req.mapping.region_offset, req.mapping.serial_number, req.mapping.vendor_id);
  }

  // Placement: the lowest aligned free range that fits (first fit, as DPA allocation does).
  const auto gaps = free_extents(used, req.dimm_size);
  std::uint64_t largest = 0;
  for (const auto& gp : gaps) {
    const Extent a = aligned_part(gp, req.align);
    largest = std::max(largest, a.end - a.start);
  }
  if (req.size) {
    if (*req.size == 0 || *req.size % req.align != 0)
      return refuse(dev, Errc::kInvalidArgument,
                    fmt::format("namespace size {:#x} is not a non-zero multiple of the region "
                                "alignment {:#x}",
                                *req.size, req.align));
    out.size = *req.size;
  } else {
    out.size = largest;
  }
  bool placed = false;
  for (const auto& gp : gaps) {
    const Extent a = aligned_part(gp, req.align);
    if (out.size != 0 && a.end - a.start >= out.size) {
      out.dpa = a.start;
      placed = true;
      break;
    }
  }
  if (!placed)
    return refuse(dev, Errc::kOutOfRange,
                  fmt::format("no free extent of {:#x} bytes in the {:#x}-byte DIMM (largest "
                              "free aligned extent: {:#x})",
                              out.size, req.dimm_size, largest));

  NamespaceLabel label;
  label.label_size = g.label_size;
  label.uuid = req.uuid;
  std::copy(req.name.begin(), req.name.end(), label.name.begin());
  label.nlabel = 1;
  label.position = 0;
  label.isetcookie = out.isetcookie;
  label.lbasize = req.lbasize;
  label.dpa = out.dpa;
  label.rawsize = out.size;
  if (label.has_checksum()) {
    label.type_guid = guid_pmem_range().efi;
    label.abstraction_guid = efi_guid_for(*claim);
  }

  // Two passes of __pmem_label_update: allocate in the staging index, write the label, free the
  // previous copy (same uuid), commit the staging index; it becomes current and is copied over.
  std::optional<std::uint32_t> victim;
  std::array<std::optional<LabelIndex>, 2> written;
  for (int pass = 1; pass <= 2; ++pass) {
    LabelIndex& staged = idx[static_cast<std::size_t>(nxt)];
    std::optional<std::uint32_t> slot;
    for (std::uint32_t s = 0; s < staged.nslot && s < g.nslot; ++s)
      if (staged.is_free(s)) {
        slot = s;
        break;
      }
    if (!slot)
      return refuse(dev, Errc::kOutOfRange,
                    fmt::format("{}: no free label slot for pass {} (a namespace creation needs "
                                "two)",
                                area_where, pass));
    staged.set_free(*slot, false);
    label.flags = pass == 1 ? kLabelFlagUpdating : 0;
    label.slot = *slot;
    label = label.with_checksum();
    out.plan.add(req.label_offset + g.slot_offset(*slot), label.serialize(),
                 fmt::format("label slot {}: namespace {} pass {} (flags {})", *slot,
                             req.uuid.to_string(), pass, label_flag_names(label.flags)));
    if (victim) staged.set_free(*victim, true);
    staged = kernel_index_write(staged, nxt, next_seq(staged.seq), g);
    out.plan.add(req.label_offset + static_cast<std::uint64_t>(nxt) * g.index_size,
                 staged.serialize(),
                 fmt::format("label index {}: commit pass {} (seq {}, slot {} in use{})", nxt, pass,
                             staged.seq, *slot,
                             victim ? fmt::format(", slot {} freed", *victim) : std::string()));
    written[static_cast<std::size_t>(nxt)] = staged;
    idx[static_cast<std::size_t>(cur)] = staged;
    std::swap(cur, nxt);
    (pass == 1 ? out.pass1_slot : out.pass2_slot) = *slot;
    victim = *slot;
  }
  out.label = label;
  out.final_current = cur;
  // Both passes commit a different block, so each holds what its pass wrote.
  for (std::size_t i = 0; i < 2; ++i) out.final_indexes[i] = *written[i];
  return out;
}

}  // namespace ndtk
