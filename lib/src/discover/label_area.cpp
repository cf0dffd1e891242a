// Label storage area reader: index validation and choice, slot states, namespace assembly.
#include "ndtk/discover/label_area.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <utility>

namespace ndtk {

const char* slot_state_name(SlotState s) {
  switch (s) {
    case SlotState::Active:
      return "active";
    case SlotState::Stale:
      return "stale";
    case SlotState::Garbage:
      return "garbage";
  }
  return "?";
}

const NamespaceLabel* LabelSlot::efi() const {
  return label ? std::get_if<NamespaceLabel>(&*label) : nullptr;
}
const CxlNamespaceLabel* LabelSlot::cxl_namespace() const {
  return label ? std::get_if<CxlNamespaceLabel>(&*label) : nullptr;
}
const CxlRegionLabel* LabelSlot::cxl_region() const {
  return label ? std::get_if<CxlRegionLabel>(&*label) : nullptr;
}

const LabelIndex* LabelArea::current_index() const {
  if (current.index < 0) return nullptr;
  const auto& s = indexes[static_cast<std::size_t>(current.index)];
  return s.index ? &*s.index : nullptr;
}

bool LabelArea::is_cxl() const {
  const LabelIndex* c = current_index();
  return c && c->major == 2;
}

const LabelSlot* LabelArea::find_slot(std::uint32_t slot) const {
  auto it = std::lower_bound(slots.begin(), slots.end(), slot,
                             [](const LabelSlot& s, std::uint32_t v) { return s.slot < v; });
  return it != slots.end() && it->slot == slot ? &*it : nullptr;
}

std::size_t LabelArea::count(SlotState s) const {
  return static_cast<std::size_t>(
      std::count_if(slots.begin(), slots.end(), [s](const LabelSlot& x) { return x.state == s; }));
}

namespace {

constexpr const char* kAreaWhere = "label area";

std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) {
  return checked_add(a, b).value_or(UINT64_MAX);
}

std::string slot_where(std::uint32_t slot) { return fmt::format("label slot {}", slot); }

// ---- index blocks ----------------------------------------------------------------------

// Both index blocks validated against one geometry.
struct Trial {
  LabelGeometry geometry;
  std::array<IndexBlockState, 2> idx;
  Findings quirks;  // non-kernel findings of the blocks
  int nvalid = 0;
};

Trial try_geometry(Bytes area, std::uint64_t base, const LabelGeometry& g) {
  Trial t;
  t.geometry = g;
  for (int i = 0; i < 2; ++i) {
    IndexBlockState& s = t.idx[static_cast<std::size_t>(i)];
    s.number = i;
    const std::uint64_t rel = static_cast<std::uint64_t>(i) * g.index_size;
    s.offset = sat_add(base, rel);
    if (!range_fits(rel, g.index_size, area.size())) continue;
    auto dec = LabelIndex::decode(
        area.subspan(static_cast<std::size_t>(rel), static_cast<std::size_t>(g.index_size)));
    if (!dec) continue;
    s.index = std::move(*dec);
    for (auto& f : s.index->validate(i, area.size(), g.label_size, g.index_size, s.offset)) {
      if (f.severity() == Severity::Error)
        s.problems.push_back(std::move(f));
      else
        t.quirks.push_back(std::move(f));
    }
    s.valid = s.problems.empty();
    t.nvalid += s.valid ? 1 : 0;
  }
  return t;
}

// The label size an index claims, if it carries the signature and names 128 or 256.
std::optional<std::uint32_t> claimed_label_size(Bytes area, std::uint64_t rel) {
  if (!range_fits(rel, kNsIndexHeaderSize, area.size())) return std::nullopt;
  auto dec = LabelIndex::decode(area.subspan(static_cast<std::size_t>(rel), kNsIndexHeaderSize));
  if (!dec || !dec->has_signature()) return std::nullopt;
  const std::uint64_t lsz = dec->label_size();
  if (lsz != 128 && lsz != 256) return std::nullopt;
  return static_cast<std::uint32_t>(lsz);
}

bool has_signature_at(Bytes area, std::uint64_t rel) {
  if (!range_fits(rel, 16, area.size())) return false;
  return std::equal(kNsIndexSignature.begin(), kNsIndexSignature.end(),
                    area.begin() + static_cast<std::ptrdiff_t>(rel));
}

std::string problem_names(const Findings& fs) {
  std::string out;
  for (const auto& f : fs) {
    if (!out.empty()) out += ", ";
    out += problem_info(f.code).name;
  }
  return out;
}

// ---- slots -----------------------------------------------------------------------------

// The fields of an EFI or CXL namespace label that assembly needs.
struct View {
  Uuid uuid;
  std::string name;
  ClaimClass claim_class = ClaimClass::None;
  Uuid abstraction;
  Uuid type_guid;
  std::uint64_t lbasize = 0;
  std::uint64_t isetcookie = 0;
  std::uint16_t nlabel = 0;
  std::uint16_t position = 0;
  std::uint32_t flags = 0;
  std::uint64_t dpa = 0;
  std::uint64_t rawsize = 0;
  bool cxl = false;
  Uuid region_uuid;
};

std::optional<View> view_of(const LabelSlot& s) {
  if (const auto* e = s.efi()) {
    View v;
    v.uuid = e->uuid;
    v.name = e->name_string();
    v.claim_class = e->claim_class();
    v.abstraction = e->abstraction_guid;
    v.type_guid = e->type_guid;
    v.lbasize = e->lbasize;
    v.isetcookie = e->isetcookie;
    v.nlabel = e->nlabel;
    v.position = e->position;
    v.flags = e->flags;
    v.dpa = e->dpa;
    v.rawsize = e->rawsize;
    return v;
  }
  if (const auto* c = s.cxl_namespace()) {
    View v;
    v.uuid = c->uuid;
    v.name = c->name_string();
    v.claim_class = c->claim_class();
    v.abstraction = c->abstraction_uuid;
    v.lbasize = c->lbasize;
    v.position = c->position;
    v.flags = c->flags;
    v.dpa = c->dpa;
    v.rawsize = c->rawsize;
    v.cxl = true;
    v.region_uuid = c->region_uuid;
    return v;
  }
  return std::nullopt;
}

// Decode one slot's bytes as the area's label format; reason says why it is not slot_valid.
void decode_slot(LabelSlot& ls, Bytes bytes, std::uint32_t label_size, bool cxl,
                 std::string& reason) {
  if (cxl) {
    switch (cxl_label_kind(bytes)) {
      case CxlLabelKind::Namespace:
        if (auto d = CxlNamespaceLabel::decode(bytes)) ls.label = std::move(*d);
        break;
      case CxlLabelKind::Region:
        if (auto d = CxlRegionLabel::decode(bytes)) ls.label = std::move(*d);
        break;
      case CxlLabelKind::Unknown:
        reason =
            fmt::format("type {} is not a CXL label type", Uuid::from_bytes(bytes).to_string());
        return;
    }
  } else if (auto d = NamespaceLabel::decode(bytes, label_size)) {
    ls.label = std::move(*d);
  }
  if (!ls.label) {
    reason = "cannot be decoded";
    return;
  }
  std::uint32_t slot_field = 0;
  bool sum_ok = true;
  std::uint64_t stored = 0, computed = 0;
  std::visit(
      [&](const auto& l) {
        slot_field = l.slot;
        sum_ok = l.checksum_ok();
        stored = l.checksum;
        if constexpr (std::is_same_v<std::decay_t<decltype(l)>, NamespaceLabel>)
          computed = l.computed_checksum().value_or(l.checksum);
        else
          computed = l.computed_checksum();
      },
      *ls.label);
  ls.kernel_valid = slot_field == ls.slot && sum_ok;
  if (slot_field != ls.slot)
    reason = fmt::format("slot field {} (occupies slot {})", slot_field, ls.slot);
  else if (!sum_ok)
    reason = fmt::format("checksum stored {}, computed {}", hex(stored), hex(computed));
}

// Everything of two labels except the UPDATING flag, slot and checksum: what an UPDATING copy
// shares with the final label. The kernel writes each label twice with flags exactly
// NSLABEL_FLAG_UPDATING, then 0 (nd_pmem_namespace_label_update -> __pmem_label_update,
// drivers/nvdimm/label.c), so the copies differ in that bit alone; any other flag difference
// is damage, and rewriting the checksum would seal it into the label.
bool same_content(const LabelRecord& a, const LabelRecord& b) {
  constexpr std::uint32_t kKeep = ~kLabelFlagUpdating;
  if (a.index() != b.index()) return false;
  if (const auto* x = std::get_if<NamespaceLabel>(&a)) {
    NamespaceLabel p = *x, q = std::get<NamespaceLabel>(b);
    p.flags &= kKeep;
    q.flags &= kKeep;
    p.slot = q.slot = 0;
    p.checksum = q.checksum = 0;
    return p == q;
  }
  if (const auto* x = std::get_if<CxlNamespaceLabel>(&a)) {
    CxlNamespaceLabel p = *x, q = std::get<CxlNamespaceLabel>(b);
    p.flags &= kKeep;
    q.flags &= kKeep;
    p.slot = q.slot = 0;
    p.checksum = q.checksum = 0;
    return p == q;
  }
  CxlRegionLabel p = std::get<CxlRegionLabel>(a), q = std::get<CxlRegionLabel>(b);
  p.flags &= kKeep;
  q.flags &= kKeep;
  p.slot = q.slot = 0;
  p.checksum = q.checksum = 0;
  return p == q;
}

bool checksum_ok(const LabelRecord& r) {
  return std::visit([](const auto& l) { return l.checksum_ok(); }, r);
}

std::uint32_t slot_field(const LabelRecord& r) {
  return std::visit([](const auto& l) { return l.slot; }, r);
}

Findings validate_record(const LabelRecord& r, std::uint32_t slot, std::uint64_t at) {
  return std::visit([&](const auto& l) { return l.validate(slot, at); }, r);
}

// `cur` = the current index (nullptr when none is valid: every slot counts as free); `cxl`
// = decode slots as CXL labels (the area's index says major 2).
void scan_slots(Bytes area, LabelArea& a, const LabelIndex* cur, std::uint32_t nslot, bool cxl) {
  const LabelGeometry& g = *a.geometry;
  for (std::uint32_t s = 0; s < nslot; ++s) {
    const std::uint64_t rel = g.slot_offset(s);
    if (!range_fits(rel, g.label_size, area.size())) break;
    const Bytes bytes = area.subspan(static_cast<std::size_t>(rel), g.label_size);
    const bool in_use = cur && !cur->is_free(s);
    const bool zero = all_zero(bytes);
    if (zero && !in_use) continue;
    LabelSlot ls;
    ls.slot = s;
    ls.offset = sat_add(a.offset, rel);
    ls.in_use = in_use;
    ls.raw.assign(bytes.begin(), bytes.end());
    std::string reason;
    decode_slot(ls, bytes, g.label_size, cxl, reason);
    if (zero) {
      // An all-zero slot 0 even passes slot_valid, but it describes nothing.
      ls.state = SlotState::Garbage;
      ls.note = "marked in use but all zero";
      a.findings.push_back({Problem::LABEL_INUSE_EMPTY, slot_where(s),
                            "the current index marks the slot in use; it holds only zeros",
                            ls.offset});
    } else if (ls.kernel_valid) {
      ls.state = in_use ? SlotState::Active : SlotState::Stale;
    } else {
      ls.state = SlotState::Garbage;
      ls.note = reason;
      if (in_use) {
        // Reported below, once every slot is known (a bad checksum may be corroborated).
      } else {
        a.findings.push_back({Problem::LABEL_SLOT_GARBAGE, slot_where(s),
                              fmt::format("free slot: {}", reason), ls.offset});
      }
    }
    a.slots.push_back(std::move(ls));
  }
}

// In-use slots that fail slot_valid: which rule, and whether an intact copy vouches for it.
void report_invalid_in_use(LabelArea& a) {
  for (const LabelSlot& ls : a.slots) {
    if (!ls.in_use || ls.state != SlotState::Garbage || all_zero(ls.raw)) continue;
    const std::string where = slot_where(ls.slot);
    if (!ls.label) {
      a.findings.push_back({Problem::LABEL_CXL_BAD_TYPE, where, "in use: " + ls.note, ls.offset});
      continue;
    }
    const LabelRecord& r = *ls.label;
    if (slot_field(r) != ls.slot) {
      a.findings.push_back({Problem::LABEL_SLOT_MISMATCH, where,
                            fmt::format("in use: {}; the kernel skips it", ls.note),
                            sat_add(ls.offset, 120)});
      continue;
    }
    // Only the checksum is wrong. Rewriting it is safe only if another slot holds an intact
    // label with the same content (typically the UPDATING copy of the same update).
    const LabelSlot* witness = nullptr;
    for (const LabelSlot& o : a.slots)
      if (o.slot != ls.slot && o.label && checksum_ok(*o.label) && same_content(r, *o.label)) {
        witness = &o;
        break;
      }
    if (witness)
      a.findings.push_back({Problem::LABEL_BAD_CHECKSUM_CORROBORATED, where,
                            fmt::format("in use: {}; every other field matches the intact "
                                        "label in slot {}",
                                        ls.note, witness->slot),
                            sat_add(ls.offset, 248)});
    else
      a.findings.push_back({Problem::LABEL_BAD_CHECKSUM, where,
                            fmt::format("in use: {}; the kernel skips it", ls.note),
                            sat_add(ls.offset, 248)});
  }
}

// ---- namespaces ------------------------------------------------------------------------

LabelNamespace build_namespace(std::vector<std::pair<const LabelSlot*, View>> group,
                               bool dedupe_versions) {
  // Representative first: position 0, then without UPDATING, then lowest position, then slot.
  std::sort(group.begin(), group.end(), [](const auto& x, const auto& y) {
    const auto key = [](const auto& e) {
      return std::make_tuple(e.second.position != 0, (e.second.flags & kLabelFlagUpdating) != 0,
                             e.second.position, e.first->slot);
    };
    return key(x) < key(y);
  });
  const View& rep = group.front().second;
  LabelNamespace ns;
  ns.uuid = rep.uuid;
  ns.name = rep.name;
  ns.claim_class = rep.claim_class;
  ns.abstraction = rep.abstraction;
  ns.type_guid = rep.type_guid;
  ns.lbasize = rep.lbasize;
  ns.isetcookie = rep.isetcookie;
  ns.nlabel = rep.nlabel;
  ns.flags = rep.flags;
  ns.cxl = rep.cxl;
  ns.region_uuid = rep.region_uuid;
  for (const auto& [slot, v] : group) {
    LabelExtent e{slot->slot, v.dpa, v.rawsize, v.position, v.flags};
    if (dedupe_versions &&
        std::any_of(ns.extents.begin(), ns.extents.end(), [&](const LabelExtent& x) {
          return x.position == e.position && x.dpa == e.dpa && x.rawsize == e.rawsize;
        }))
      continue;
    ns.extents.push_back(e);
    ns.size = sat_add(ns.size, v.rawsize);
  }
  std::sort(ns.extents.begin(), ns.extents.end(),
            [](const LabelExtent& x, const LabelExtent& y) { return x.slot < y.slot; });
  return ns;
}

using Groups = std::map<Uuid, std::vector<std::pair<const LabelSlot*, View>>>;

Groups group_by_uuid(const std::vector<LabelSlot>& slots, SlotState state) {
  Groups g;
  for (const LabelSlot& s : slots) {
    if (s.state != state) continue;
    if (auto v = view_of(s)) g[v->uuid].emplace_back(&s, std::move(*v));
  }
  return g;
}

void assemble(LabelArea& a) {
  const Groups active = group_by_uuid(a.slots, SlotState::Active);
  for (const auto& [uuid, group] : active) {
    if (group.size() > 1) {
      std::string slots;
      for (const auto& [s, v] : group)
        slots += (slots.empty() ? "" : ", ") + std::to_string(s->slot);
      a.findings.push_back({Problem::LABEL_DUPLICATE_UUID, slot_where(group[1].first->slot),
                            fmt::format("uuid {} in slots {}; the kernel refuses the namespace",
                                        uuid.to_string(), slots),
                            group[1].first->offset});
    }
    a.namespaces.push_back(build_namespace(group, false));
  }

  // Per-label checks of the labels the kernel uses, and the DIMM bound.
  for (const LabelSlot& s : a.slots) {
    if (s.state != SlotState::Active || !s.label) continue;
    for (auto& f : validate_record(*s.label, s.slot, s.offset)) a.findings.push_back(std::move(f));
    const auto v = view_of(s);
    if (v && a.dimm_size) {
      const auto end = checked_add(v->dpa, v->rawsize);
      if (end && *end > *a.dimm_size)
        a.findings.push_back({Problem::LABEL_EXTENT_OUTSIDE_DIMM, slot_where(s.slot),
                              fmt::format("extent [{}, {}) ends past the DIMM's {} bytes",
                                          hex(v->dpa), hex(*end), hex(*a.dimm_size)),
                              sat_add(s.offset, 104)});
    }
  }

  // Overlapping DPA ranges between different namespaces.
  struct Ext {
    std::uint64_t start, end;
    Uuid uuid;
    const LabelSlot* slot;
  };
  std::vector<Ext> ext;
  for (const auto& [uuid, group] : active)
    for (const auto& [s, v] : group)
      if (v.rawsize != 0) ext.push_back({v.dpa, sat_add(v.dpa, v.rawsize), uuid, s});
  std::sort(ext.begin(), ext.end(), [](const Ext& x, const Ext& y) { return x.start < y.start; });
  for (std::size_t i = 0; i < ext.size(); ++i)
    for (std::size_t j = i + 1; j < ext.size() && ext[j].start < ext[i].end; ++j) {
      if (ext[i].uuid == ext[j].uuid) continue;
      a.findings.push_back(
          {Problem::LABEL_OVERLAP, slot_where(ext[j].slot->slot),
           fmt::format("slot {} ({}) [{}, {}) overlaps slot {} ({}) [{}, {})", ext[i].slot->slot,
                       ext[i].uuid.to_string(), hex(ext[i].start), hex(ext[i].end),
                       ext[j].slot->slot, ext[j].uuid.to_string(), hex(ext[j].start),
                       hex(ext[j].end)),
           sat_add(ext[j].slot->offset, 104)});
    }

  // Stale labels: older copies of active namespaces, or namespaces that are gone.
  const Groups stale = group_by_uuid(a.slots, SlotState::Stale);
  for (LabelSlot& s : a.slots) {
    if (s.state != SlotState::Stale) continue;
    const auto v = view_of(s);
    if (!v) {
      s.note = "free slot holding a CXL region label";
      continue;
    }
    const bool live = active.count(v->uuid) != 0;
    s.note = fmt::format(
        "{} {}{}", live ? "another copy of active namespace" : "label of inactive namespace",
        v->uuid.to_string(), (v->flags & kLabelFlagUpdating) ? " (UPDATING copy)" : "");
  }
  for (const auto& [uuid, group] : stale) {
    if (active.count(uuid)) continue;
    LabelNamespace ns = build_namespace(group, true);
    std::string slots;
    for (const auto& [s, v] : group) slots += (slots.empty() ? "" : ", ") + std::to_string(s->slot);
    a.findings.push_back(
        {Problem::LABEL_STALE_NAMESPACE, slot_where(group.front().first->slot),
         fmt::format("uuid {}{} ({} bytes) in free slots {}", uuid.to_string(),
                     ns.name.empty() ? "" : " \"" + ns.name + "\"", ns.size, slots),
         group.front().first->offset});
    a.stale_namespaces.push_back(std::move(ns));
  }
}

// ---- the whole area --------------------------------------------------------------------

void report_no_valid_index(Bytes area, LabelArea& a) {
  const bool sig0 = has_signature_at(area, 0);
  // Report with the geometry the blocks themselves claim: index 0's label size, else that of
  // an index 1 found where that size would put it, else 128-byte labels.
  std::optional<std::uint32_t> claim = claimed_label_size(area, 0);
  std::uint32_t lsz = claim.value_or(128);
  auto g = label_geometry(area.size(), lsz, LabelFormula::Current);
  if (!g) {
    lsz = lsz == 128 ? 256 : 128;
    g = label_geometry(area.size(), lsz, LabelFormula::Current);
  }
  if (!claim && g) {
    if (auto c1 = claimed_label_size(area, g->index_size); c1 && *c1 != lsz) {
      if (auto g1 = label_geometry(area.size(), *c1, LabelFormula::Current)) {
        lsz = *c1;
        g = g1;
      }
    }
  }
  if (!g) {
    a.findings.push_back(
        {Problem::LABEL_INDEX_BOTH_INVALID, kAreaWhere,
         fmt::format("a {}-byte area cannot hold index blocks and labels", area.size()), a.offset});
    return;
  }
  const Trial t = try_geometry(area, a.offset, *g);
  a.indexes = t.idx;
  const bool sig1 = has_signature_at(area, g->index_size);
  if (!sig0 && !sig1) {
    a.findings.push_back({Problem::LABEL_AREA_NO_INDEX, kAreaWhere,
                          "no NAMESPACE_INDEX signature at either index position", a.offset});
    return;
  }
  for (const auto& s : a.indexes)
    for (const auto& f : s.problems) a.findings.push_back(f);
  a.findings.push_back(
      {Problem::LABEL_INDEX_BOTH_INVALID, kAreaWhere,
       fmt::format("index 0: {}; index 1: {}", problem_names(a.indexes[0].problems),
                   problem_names(a.indexes[1].problems)),
       a.offset});
  // Nothing is in use, but the slots may still hold the labels of the lost configuration.
  a.geometry = *g;
  std::uint32_t nslot = g->nslot;
  for (const auto& s : a.indexes)
    if (s.index && s.index->has_signature() && s.index->nslot > 0 &&
        nslot_fits(area.size(), g->label_size, g->index_size, s.index->nslot))
      nslot = std::max(nslot, s.index->nslot);
  a.nslot = nslot;
  const bool cxl = std::any_of(a.indexes.begin(), a.indexes.end(), [](const IndexBlockState& s) {
    return s.index && s.index->has_signature() && s.index->major == 2;
  });
  scan_slots(area, a, nullptr, nslot, cxl);
  assemble(a);
}

}  // namespace

Result<LabelArea> decode_label_area(Bytes area, std::uint64_t base, const LabelAreaOptions& opts,
                                    std::string device) {
  if (area.size() < kLabelAreaMinSize)
    return fail(field_error(Errc::kOutOfRange, "label area", "size", base,
                            fmt::format("at least {} bytes (ND_LABEL_MIN_SIZE)", kLabelAreaMinSize),
                            fmt::format("{} bytes", area.size())));
  if (area.size() > kLabelAreaMaxSize)
    return fail(field_error(
        Errc::kOutOfRange, "label area", "size", base,
        fmt::format("at most {} bytes (the kernel's u32 config size)", kLabelAreaMaxSize),
        fmt::format("{} bytes", area.size())));
  LabelArea a;
  a.device = std::move(device);
  a.offset = base;
  a.size = area.size();
  a.dimm_size = opts.dimm_size;
  a.indexes[1].number = 1;

  // The kernel tries 128-byte labels, then 256-byte labels; the first size for which at least
  // one index block validates wins.
  std::optional<Trial> chosen;
  std::array<std::uint64_t, 2> current_isz{0, 0};
  for (std::uint32_t lsz : {128u, 256u}) {
    const auto g = label_geometry(area.size(), lsz, LabelFormula::Current);
    if (!g) continue;
    current_isz[lsz == 128 ? 0 : 1] = g->index_size;
    Trial t = try_geometry(area, base, *g);
    if (t.nvalid > 0) {
      chosen = std::move(t);
      break;
    }
  }
  // Index blocks laid out with an older kernel's index size (§8 item 9).
  if (!chosen) {
    for (std::uint32_t lsz : {128u, 256u}) {
      for (const auto& g : candidate_geometries(area.size(), lsz)) {
        if (g.index_size == current_isz[lsz == 128 ? 0 : 1]) continue;
        Trial t = try_geometry(area, base, g);
        if (t.nvalid > 0) {
          chosen = std::move(t);
          break;
        }
      }
      if (chosen) break;
    }
    if (chosen)
      a.findings.push_back(
          {Problem::LABEL_INDEX_OLD_GEOMETRY, kAreaWhere,
           fmt::format("index blocks validate with {}-byte index blocks ({} formula); the "
                       "current kernel computes {} bytes for {}-byte labels",
                       chosen->geometry.index_size, label_formula_name(chosen->geometry.formula),
                       current_isz[chosen->geometry.label_size == 128 ? 0 : 1],
                       chosen->geometry.label_size),
           base});
  }
  if (!chosen) {
    report_no_valid_index(area, a);
    return a;
  }

  a.indexes = chosen->idx;
  a.geometry = chosen->geometry;
  for (auto& f : chosen->quirks) a.findings.push_back(std::move(f));
  const auto& i0 = a.indexes[0];
  const auto& i1 = a.indexes[1];
  a.current = select_current_index(i0.valid, i0.index ? i0.index->seq : 0, i1.valid,
                                   i1.index ? i1.index->seq : 0);
  const LabelIndex& cur = *a.indexes[static_cast<std::size_t>(a.current.index)].index;
  if (chosen->nvalid == 1) {
    const auto& bad = a.indexes[static_cast<std::size_t>(1 - a.current.index)];
    for (const auto& f : bad.problems) a.findings.push_back(f);
    a.findings.push_back({Problem::LABEL_INDEX_ONE_INVALID, fmt::format("index {}", bad.number),
                          fmt::format("index {} fails {}; index {} (seq {}) is current", bad.number,
                                      problem_names(bad.problems), a.current.index, cur.seq),
                          bad.offset});
  } else {
    if (a.current.why == IndexChoice::SeqTie)
      a.findings.push_back(
          {Problem::LABEL_INDEX_SEQ_EQUAL, "index 1",
           fmt::format("both indexes have seq {}; the kernel uses index 1", cur.seq_low()),
           i1.offset});
    const LabelIndex& o = *a.indexes[static_cast<std::size_t>(1 - a.current.index)].index;
    if (o.nslot != cur.nslot || o.major != cur.major || o.minor != cur.minor)
      a.findings.push_back(
          {Problem::LABEL_INDEX_MISMATCH, fmt::format("index {}", 1 - a.current.index),
           fmt::format("current index {}: version {}.{} nslot {}; other: version {}.{} nslot {}",
                       a.current.index, cur.major, cur.minor, cur.nslot, o.major, o.minor, o.nslot),
           a.indexes[static_cast<std::size_t>(1 - a.current.index)].offset});
  }
  const LabelGeometry& g = *a.geometry;
  if (g.formula == LabelFormula::Current && cur.nslot != g.nslot) {
    const auto f = identify_formula(area.size(), g.label_size, g.index_size, cur.nslot);
    a.findings.push_back(
        {Problem::LABEL_INDEX_NSLOT_FORMULA, fmt::format("index {}", a.current.index),
         fmt::format("nslot {} (current formula: {}; matches {})", cur.nslot, g.nslot,
                     f ? label_formula_name(*f) : "no known formula"),
         sat_add(a.indexes[static_cast<std::size_t>(a.current.index)].offset, 56)});
  }
  for (auto& f : cur.check_bitmap_tail(fmt::format("index {}", a.current.index),
                                       a.indexes[static_cast<std::size_t>(a.current.index)].offset))
    a.findings.push_back(std::move(f));

  a.nslot = cur.nslot;
  scan_slots(area, a, &cur, cur.nslot, cur.major == 2);
  report_invalid_in_use(a);
  assemble(a);

  // Bytes past the last slot the index describes.
  const std::uint64_t end = g.slot_offset(0) + std::uint64_t{cur.nslot} * g.label_size;
  if (end < area.size()) {
    const Bytes rest = area.subspan(static_cast<std::size_t>(end));
    const auto it = std::find_if(rest.begin(), rest.end(), [](std::uint8_t c) { return c; });
    if (it != rest.end())
      a.findings.push_back(
          {Problem::LABEL_DATA_BEYOND_NSLOT, kAreaWhere,
           fmt::format("non-zero byte at area offset {} (slots end at {})",
                       hex(end + static_cast<std::uint64_t>(it - rest.begin())), hex(end)),
           sat_add(base, end + static_cast<std::uint64_t>(it - rest.begin()))});
  }
  return a;
}

Result<LabelArea> read_label_area(const BlockDevice& dev, std::uint64_t offset, std::uint64_t size,
                                  const LabelAreaOptions& opts) {
  if (size < kLabelAreaMinSize)
    return fail(field_error(Errc::kOutOfRange, "label area", "size", offset,
                            fmt::format("at least {} bytes (ND_LABEL_MIN_SIZE)", kLabelAreaMinSize),
                            fmt::format("{} bytes", size)));
  if (size > kLabelAreaReadCap)
    return fail(field_error(Errc::kUnsupported, "label area", "size", offset,
                            fmt::format("at most {} bytes", kLabelAreaReadCap),
                            fmt::format("{} bytes", size)));
  if (!range_fits(offset, size, dev.size()))
    return fail(
        make_error(Errc::kOutOfRange, fmt::format("label area [{}, +{}) lies outside {} ({} bytes)",
                                                  hex(offset), hex(size), dev.name(), dev.size())));
  auto bytes = dev.read_vec(offset, static_cast<std::size_t>(size));
  if (!bytes) return fail(std::move(bytes).error().prefix(dev.name()));
  return decode_label_area(*bytes, offset, opts, dev.name());
}

Result<LabelArea> read_qemu_label_area(const BlockDevice& dev, std::uint64_t label_size) {
  if (label_size > dev.size())
    return fail(make_error(Errc::kOutOfRange,
                           fmt::format("{} holds {} bytes, less than a {}-byte label area",
                                       dev.name(), dev.size(), label_size)));
  LabelAreaOptions opts;
  opts.dimm_size = dev.size() - label_size;
  return read_label_area(dev, dev.size() - label_size, label_size, opts);
}

// ---- several DIMMs ---------------------------------------------------------------------

namespace {

std::string positions_text(const std::vector<std::uint16_t>& v) {
  std::string out;
  std::size_t i = 0;
  while (i < v.size()) {
    std::size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    if (!out.empty()) out += ", ";
    out += j == i ? std::to_string(v[i]) : fmt::format("{}-{}", v[i], v[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace

InterleaveReport group_interleave_sets(std::span<const LabelArea> areas) {
  struct Entry {
    std::size_t area;
    const LabelSlot* slot;
    const NamespaceLabel* label;
  };
  std::map<std::pair<std::uint64_t, Uuid>, std::vector<Entry>> sets;
  for (std::size_t ai = 0; ai < areas.size(); ++ai)
    for (const LabelSlot& s : areas[ai].slots)
      if (s.state == SlotState::Active)
        if (const NamespaceLabel* l = s.efi())
          sets[{l->isetcookie, l->uuid}].push_back({ai, &s, l});

  InterleaveReport rep;
  for (auto& [key, entries] : sets) {
    std::sort(entries.begin(), entries.end(), [](const Entry& x, const Entry& y) {
      return std::make_tuple(x.label->position, x.area, x.slot->slot) <
             std::make_tuple(y.label->position, y.area, y.slot->slot);
    });
    const NamespaceLabel& first = *entries.front().label;  // lowest position
    InterleavedNamespace ns;
    ns.isetcookie = key.first;
    ns.uuid = key.second;
    ns.name = first.name_string();
    ns.claim_class = first.claim_class();
    ns.lbasize = first.lbasize;
    ns.nlabel = first.nlabel;
    const std::string where = fmt::format("namespace {}", ns.uuid.to_string());
    std::vector<std::string> mismatches;
    std::map<std::uint16_t, int> per_position;
    for (const Entry& e : entries) {
      ns.members.push_back(
          {e.area, e.slot->slot, e.label->position, e.label->dpa, e.label->rawsize});
      ns.size = sat_add(ns.size, e.label->rawsize);
      ++per_position[e.label->position];
      const auto note = [&](const char* field, const std::string& mine, const std::string& ref) {
        mismatches.push_back(
            fmt::format("area {} slot {} {} {} vs {}", e.area, e.slot->slot, field, mine, ref));
      };
      if (e.label->nlabel != first.nlabel)
        note("nlabel", std::to_string(e.label->nlabel), std::to_string(first.nlabel));
      if (e.label->name != first.name) note("name", e.label->name_string(), ns.name);
      if (e.label->lbasize != first.lbasize)
        note("lbasize", std::to_string(e.label->lbasize), std::to_string(first.lbasize));
      if (e.label->label_size != first.label_size ||
          e.label->abstraction_guid != first.abstraction_guid ||
          e.label->type_guid != first.type_guid)
        note("version/type/abstraction", e.label->abstraction_guid.to_string(),
             first.abstraction_guid.to_string());
    }
    for (std::uint32_t p = 0; p < ns.nlabel; ++p) {
      auto it = per_position.find(static_cast<std::uint16_t>(p));
      if (it == per_position.end())
        ns.missing.push_back(static_cast<std::uint16_t>(p));
      else if (it->second > 1)
        ns.duplicated.push_back(static_cast<std::uint16_t>(p));
    }
    if (ns.nlabel == 0 || !ns.missing.empty())
      rep.findings.push_back({Problem::LABEL_POSITION_MISSING, where,
                              ns.nlabel == 0 ? std::string("nlabel 0: no position can be satisfied")
                                             : fmt::format("nlabel {}: no label for position(s) {}",
                                                           ns.nlabel, positions_text(ns.missing)),
                              std::nullopt});
    if (!ns.duplicated.empty()) {
      std::string who;
      for (const auto& m : ns.members)
        if (std::find(ns.duplicated.begin(), ns.duplicated.end(), m.position) !=
            ns.duplicated.end())
          who += fmt::format("{}area {} slot {} (position {})", who.empty() ? "" : ", ", m.area,
                             m.slot, m.position);
      rep.findings.push_back({Problem::LABEL_POSITION_DUPLICATE, where,
                              fmt::format("positions {} claimed more than once: {}",
                                          positions_text(ns.duplicated), who),
                              std::nullopt});
    }
    for (const auto& m : mismatches)
      rep.findings.push_back({Problem::LABEL_SET_MISMATCH, where, m, std::nullopt});
    rep.namespaces.push_back(std::move(ns));
  }
  return rep;
}

}  // namespace ndtk
