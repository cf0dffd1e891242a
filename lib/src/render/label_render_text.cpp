// label-dump's human-readable report: index blocks, slots, namespaces with their info blocks,
// stale namespaces, interleave sets and findings, one section per image.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <iterator>
#include <variant>

#include "label_render_internal.h"

namespace ndtk {

using namespace render_detail;

namespace {

using Out = std::back_insert_iterator<std::string>;

void line(Out out, int indent, const std::string& s) {
  fmt::format_to(out, "{:{}}{}\n", "", indent, s);
}

void kv(Out out, int indent, const std::string& key, const std::string& value) {
  fmt::format_to(out, "{:{}}{:<18}{}\n", "", indent, key, value);
}

std::string size_text(std::uint64_t v) { return fmt::format("{} ({})", v, human_size(v)); }

std::string checksum_text(std::uint64_t stored, std::uint64_t computed) {
  return stored == computed ? fmt::format("{:#018x} (valid)", stored)
                            : fmt::format("{:#018x} INVALID (computed {:#018x})", stored, computed);
}

// ---- index blocks ------------------------------------------------------------------------

void render_index(Out out, const LabelArea& a, const IndexBlockState& s) {
  const bool current = a.current.index == s.number;
  fmt::format_to(out, "  index {} @{:#x}: {}{}\n", s.number, s.offset,
                 s.valid ? "valid" : "INVALID", current ? ", current" : "");
  if (!s.index) {
    line(out, 4, "(no geometry fits the area: block not decoded)");
    return;
  }
  const LabelIndex& x = *s.index;
  kv(out, 4, "signature", "\"" + printable(x.sig) + "\"");
  kv(out, 4, "version", fmt::format("{}.{}", x.major, x.minor));
  kv(out, 4, "labelsize", fmt::format("{} (field {})", x.label_size(), x.labelsize));
  if (x.flags[0] | x.flags[1] | x.flags[2])
    kv(out, 4, "flags", fmt::format("{:02x} {:02x} {:02x}", x.flags[0], x.flags[1], x.flags[2]));
  kv(out, 4, "seq", x.seq <= kNsIndexSeqMask ? std::to_string(x.seq)
                                             : fmt::format("{:#x} (low bits {})", x.seq, x.seq_low()));
  kv(out, 4, "myoff", hex(x.myoff));
  kv(out, 4, "mysize", hex(x.mysize));
  kv(out, 4, "otheroff", hex(x.otheroff));
  kv(out, 4, "labeloff", hex(x.labeloff));
  kv(out, 4, "nslot", std::to_string(x.nslot));
  const std::uint64_t isz = a.index_size() ? a.index_size() : x.block_size();
  kv(out, 4, "checksum",
     checksum_text(x.checksum, x.computed_checksum(isz).value_or(x.computed_checksum())));
  const auto used = x.used_ranges(x.nslot);
  std::uint64_t n = 0;
  for (const auto& r : used) n += r.count;
  kv(out, 4, "slots in use", fmt::format("{} ({} of {})", ranges_text(used), n, x.nslot));
  for (const auto& f : s.problems) line(out, 4, "! " + f.to_string());
}

// ---- label slots ---------------------------------------------------------------------------

void render_efi(Out out, const NamespaceLabel& l) {
  kv(out, 4, "uuid", l.uuid.to_string());
  kv(out, 4, "name", "\"" + printable(l.name) + "\"");
  kv(out, 4, "flags", fmt::format("{:#x} ({})", l.flags, label_flag_names(l.flags)));
  kv(out, 4, "nlabel", std::to_string(l.nlabel));
  kv(out, 4, "position", std::to_string(l.position));
  kv(out, 4, "isetcookie", hex(l.isetcookie));
  kv(out, 4, "lbasize", std::to_string(l.lbasize));
  kv(out, 4, "dpa", hex(l.dpa));
  kv(out, 4, "rawsize", fmt::format("{:#x} ({})", l.rawsize, human_size(l.rawsize)));
  kv(out, 4, "slot", std::to_string(l.slot));
  if (l.has_checksum()) {
    kv(out, 4, "type_guid", guid_with_name(l.type_guid));
    kv(out, 4, "abstraction_guid", guid_with_name(l.abstraction_guid));
    kv(out, 4, "checksum", checksum_text(l.checksum, l.computed_checksum().value_or(0)));
  } else {
    kv(out, 4, "checksum", "none (v1.1 labels carry no checksum)");
  }
}

void render_cxl_ns(Out out, const CxlNamespaceLabel& l) {
  kv(out, 4, "type", l.type.to_string() + " (CXL namespace)");
  kv(out, 4, "uuid", l.uuid.to_string());
  kv(out, 4, "name", "\"" + printable(l.name) + "\"");
  kv(out, 4, "flags", fmt::format("{:#x} ({})", l.flags, label_flag_names(l.flags)));
  kv(out, 4, "nrange", std::to_string(l.nrange));
  kv(out, 4, "position", std::to_string(l.position));
  kv(out, 4, "dpa", hex(l.dpa));
  kv(out, 4, "rawsize", fmt::format("{:#x} ({})", l.rawsize, human_size(l.rawsize)));
  kv(out, 4, "slot", std::to_string(l.slot));
  kv(out, 4, "align", std::to_string(l.align));
  kv(out, 4, "region_uuid", l.region_uuid.to_string());
  kv(out, 4, "abstraction_uuid",
     fmt::format("{} ({})", l.abstraction_uuid.to_string(), claim_class_name(l.claim_class())));
  kv(out, 4, "lbasize", std::to_string(l.lbasize));
  kv(out, 4, "checksum", checksum_text(l.checksum, l.computed_checksum()));
}

void render_cxl_region(Out out, const CxlRegionLabel& l) {
  kv(out, 4, "type", l.type.to_string() + " (CXL region)");
  kv(out, 4, "uuid", l.uuid.to_string());
  kv(out, 4, "flags", fmt::format("{:#x} ({})", l.flags, label_flag_names(l.flags)));
  kv(out, 4, "nlabel", std::to_string(l.nlabel));
  kv(out, 4, "position", std::to_string(l.position));
  kv(out, 4, "dpa", hex(l.dpa));
  kv(out, 4, "rawsize", fmt::format("{:#x} ({})", l.rawsize, human_size(l.rawsize)));
  kv(out, 4, "hpa", hex(l.hpa));
  kv(out, 4, "slot", std::to_string(l.slot));
  kv(out, 4, "ig", std::to_string(l.ig));
  kv(out, 4, "align", std::to_string(l.align));
  kv(out, 4, "checksum", checksum_text(l.checksum, l.computed_checksum()));
}

void render_slot(Out out, const LabelSlot& s) {
  std::string state = slot_state_name(s.state);
  for (auto& c : state) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  fmt::format_to(out, "  slot {} @{:#x}: {} ({}, {} in the current index){}\n", s.slot, s.offset,
                 state, slot_format(s), s.in_use ? "in use" : "free",
                 s.note.empty() ? "" : " - " + s.note);
  if (const auto* e = s.efi()) render_efi(out, *e);
  else if (const auto* c = s.cxl_namespace()) render_cxl_ns(out, *c);
  else if (const auto* r = s.cxl_region()) render_cxl_region(out, *r);
}

// ---- namespaces ----------------------------------------------------------------------------

void render_btt(Out out, const InfoBlockView& v) {
  const BttSummary& b = *v.btt;
  const BttInfo& i = b.info;
  fmt::format_to(out, "    first blocks: BTT info block at +{:#x} (image {:#x}): {}\n", v.offset,
                 v.image_offset,
                 !v.in_use                 ? "NOT used: " + v.verdict
                 : v.verdict == "accepted" ? std::string("accepted by the kernel")
                                           : v.verdict);
  kv(out, 6, "version", fmt::format("{}.{}", i.version_major, i.version_minor));
  kv(out, 6, "uuid", i.uuid.to_string());
  kv(out, 6, "parent_uuid", i.parent_uuid.to_string());
  if (b.arenas > 0)
    kv(out, 6, "arenas", fmt::format("{}{}", b.arenas, b.complete ? "" : " (chain broken)"));
  kv(out, 6, "external_lbasize", std::to_string(i.external_lbasize));
  kv(out, 6, "external_nlba",
     b.arenas > 1 ? fmt::format("{} (arena 0), {} in all", i.external_nlba, b.external_nlba)
                  : std::to_string(i.external_nlba));
  kv(out, 6, "internal_lbasize", std::to_string(i.internal_lbasize));
  kv(out, 6, "internal_nlba", std::to_string(i.internal_nlba));
  kv(out, 6, "nfree", std::to_string(i.nfree));
  kv(out, 6, "flags", fmt::format("{:#x}{}", i.flags, i.error_flag() ? " (ERROR)" : ""));
  kv(out, 6, "checksum", checksum_text(i.checksum, i.computed_checksum()));
}

void render_pfn(Out out, const InfoBlockView& v) {
  const PfnInfo& p = v.pfn->info;
  const PfnValidation& val = v.pfn->validation;
  fmt::format_to(out, "    first blocks: {} info block at +{:#x} (image {:#x}): {}\n",
                 info_kind_name(v.kind), v.offset, v.image_offset,
                 v.in_use ? "accepted by the kernel" : "NOT used: " + v.verdict);
  kv(out, 6, "signature", "\"" + printable(p.signature) + "\"");
  kv(out, 6, "uuid", p.uuid.to_string());
  kv(out, 6, "parent_uuid", p.parent_uuid.to_string());
  kv(out, 6, "flags", hex(p.flags));
  kv(out, 6, "version", p.version_string());
  kv(out, 6, "dataoff", fmt::format("{:#x} ({})", p.dataoff, human_size(p.dataoff)));
  kv(out, 6, "npfns", std::to_string(p.npfns));
  kv(out, 6, "mode", fmt::format("{} ({})", p.mode, pfn_mode_name(p.mode)));
  kv(out, 6, "start_pad", std::to_string(p.start_pad));
  kv(out, 6, "end_trunc", std::to_string(p.end_trunc));
  kv(out, 6, "align", fmt::format("{:#x} ({})", p.align, human_size(p.align)));
  kv(out, 6, "page_size", std::to_string(p.page_size));
  kv(out, 6, "page_struct_size", std::to_string(p.page_struct_size));
  kv(out, 6, "padding", p.padding_zero() ? "all zero" : "NOT all zero");
  kv(out, 6, "checksum", checksum_text(p.checksum, p.computed_checksum()));
  kv(out, 6, "kernel verdict",
     fmt::format("{}{}", pfn_verdict_name(val.verdict),
                 val.kernel_error.empty() ? "" : " (" + val.kernel_error + ")"));
  if (val.usable_bytes > 0)
    kv(out, 6, "data range",
       fmt::format("[{:#x}, {:#x}) {} bytes, {} pages of {}, effective align {:#x}",
                   val.data_start, val.data_end, val.usable_bytes, val.npfns,
                   val.effective.page_size, val.effective.effective_align));
  for (const auto& f : val.findings) line(out, 6, "! " + f.to_string());
}

void render_namespace(Out out, const NamespaceReport& r, bool stale) {
  const Namespace& ns = r.ns;
  fmt::format_to(out, "  {}namespace {}{}: {}\n", stale ? "STALE " : "",
                 ns.uuid.is_zero() ? fmt::format("#{}", ns.index) : ns.uuid.to_string(),
                 ns.name.empty() ? "" : " \"" + ns.name + "\"", ns_mode_name(ns.mode));
  const Uuid shown = ns.display_uuid();
  std::string view = fmt::format("uuid {}", shown.to_string());
  if (!ns.uuid.is_zero() && ns.uuid != shown) view += " raw_uuid " + ns.uuid.to_string();
  view += fmt::format(", size {}, sector_size {}", size_text(ns.capacity()), ns.sector_size());
  if (auto al = ns.align()) view += fmt::format(", align {}", *al);
  if (ns.pfn) view += fmt::format(", map {}", pfn_map_name(ns.pfn->info.mode));
  kv(out, 4, "ndctl list", view);
  kv(out, 4, "raw size",
     fmt::format("{}, image offset {:#x}, claim class {}, lbasize {}", size_text(ns.size),
                 ns.offset, claim_class_name(ns.claim), ns.lbasize));
  if (r.labels) {
    for (const auto& e : r.labels->extents)
      kv(out, 4, "DPA range",
         fmt::format("[{:#x}, {:#x}) {} - slot {}, position {} of {}{}", e.dpa,
                     checked_add(e.dpa, e.rawsize).value_or(UINT64_MAX), human_size(e.rawsize),
                     e.slot, e.position, r.labels->nlabel,
                     (e.flags & kLabelFlagUpdating) ? ", UPDATING" : ""));
  }
  if (!r.bytes_present) {
    line(out, 4, "first blocks: not in this image (label area only, interleaved, or outside)");
  } else if (!r.info) {
    line(out, 4, "first blocks: no BTT, pfn or dax info block");
  } else if (r.info->btt) {
    render_btt(out, *r.info);
  } else if (r.info->pfn) {
    render_pfn(out, *r.info);
  }
  if (ns.personality_missing) line(out, 4, "! personality: " + ns.personality_note);
  if (stale)
    line(out, 4, "recoverable: its labels are intact in free slots (a deleted or superseded namespace)");
}

void render_image(Out out, const LabelImageReport& img, const LabelDumpReport& all) {
  const Discovery& d = img.discovery;
  fmt::format_to(out, "== {}\n", img.path);
  kv(out, 0, "image", fmt::format("{} bytes, {}", d.image->size(), image_kind_name(d.kind)));
  kv(out, 0, "layout", img.area_note);
  const LabelArea* a = img.area();
  if (a) {
    if (a->geometry)
      kv(out, 0, "label area",
         fmt::format("{:#x}, {} bytes: {}-byte labels, {}-byte index blocks, {} slots", a->offset,
                     a->size, a->label_size(), a->index_size(), a->nslot));
    else
      kv(out, 0, "label area", fmt::format("{:#x}, {} bytes: no usable geometry", a->offset, a->size));
    line(out, 0, "");
    line(out, 0, "Index blocks");
    for (const auto& s : a->indexes) render_index(out, *a, s);
    line(out, 2, a->current.index >= 0
                     ? fmt::format("current: index {} ({})", a->current.index, a->current.explanation)
                     : fmt::format("current: none ({}): the kernel ignores every label; all "
                                   "slots count as free",
                                   a->current.explanation.empty() ? "neither index is valid"
                                                                  : a->current.explanation));
    line(out, 0, "");
    fmt::format_to(out, "Label slots: {} hold data ({} active, {} stale, {} garbage)\n",
                   a->slots.size(), a->count(SlotState::Active), a->count(SlotState::Stale),
                   a->count(SlotState::Garbage));
    for (const auto& s : a->slots) render_slot(out, s);
  }
  line(out, 0, "");
  fmt::format_to(out, "Namespaces: {}\n", img.namespaces.size());
  for (const auto& r : img.namespaces) render_namespace(out, r, false);
  if (a) {
    line(out, 0, "");
    fmt::format_to(out, "Stale namespaces (recoverable from stale labels): {}\n",
                   img.stale_namespaces.size());
    for (const auto& r : img.stale_namespaces) render_namespace(out, r, true);
  }
  // One DIMM's complete one-way sets say nothing the namespace section does not.
  const bool show_sets = std::any_of(img.sets.begin(), img.sets.end(), [&](const auto& s) {
    return all.several || s.nlabel != 1 || !s.complete();
  });
  if (show_sets) {
    line(out, 0, "");
    line(out, 0, "Interleave sets");
    for (const auto& s : img.sets) {
      fmt::format_to(out, "  isetcookie {:#x} namespace {}: nlabel {}, {}\n", s.isetcookie,
                     s.uuid.to_string(), s.nlabel,
                     s.complete() ? "complete" : "INCOMPLETE");
      for (const auto& m : s.members)
        line(out, 4, fmt::format("position {}: {} slot {}, dpa {:#x}, rawsize {:#x}", m.position,
                                 all.images[m.area].path, m.slot, m.dpa, m.rawsize));
      for (auto p : s.missing) line(out, 4, fmt::format("position {}: MISSING", p));
      for (auto p : s.duplicated) line(out, 4, fmt::format("position {}: DUPLICATED", p));
    }
  }
  line(out, 0, "");
  fmt::format_to(out, "Findings: {}\n", img.findings.size());
  for (const auto& f : img.findings) line(out, 2, f.to_string());
  fmt::format_to(out, "Result: {}\n",
                 img.consistent() ? "consistent" : "INCONSISTENT (warnings or errors above)");
}

}  // namespace

std::string render_label_text(const LabelDumpReport& r) {
  std::string s;
  auto out = std::back_inserter(s);
  for (std::size_t i = 0; i < r.images.size(); ++i) {
    if (i) s += '\n';
    render_image(out, r.images[i], r);
  }
  return s;
}

}  // namespace ndtk
