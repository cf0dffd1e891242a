// label-dump's JSON report: one object per image. Keys that `ndctl read-labels -j`, `ndctl list`
// and `ndctl read-infoblock -j` print keep ndctl's names and meanings; the rest are ndtk's own
// (docs/label-dump.md lists every key).
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <variant>

#include "label_render_internal.h"

namespace ndtk {

using namespace render_detail;
using json = nlohmann::ordered_json;

namespace {

std::string hex64(std::uint64_t v) { return fmt::format("{:#018x}", v); }

json finding_json(const Finding& f) {
  const ProblemInfo& p = problem_info(f.code);
  json j;
  j["code"] = p.name;
  j["number"] = fmt::format("{:#06x}", p.number);
  j["severity"] = severity_word(p.severity);
  j["where"] = f.where;
  j["offset"] = f.offset ? json(*f.offset) : json(nullptr);
  j["title"] = p.title;
  j["detail"] = f.detail;
  return j;
}

json findings_json(const Findings& fs) {
  json a = json::array();
  for (const auto& f : fs) a.push_back(finding_json(f));
  return a;
}

// "UPDATING|BTT" -> ["UPDATING", "BTT"]; no flags -> [].
json flag_list(std::uint32_t flags) {
  json a = json::array();
  if (flags == 0) return a;
  const std::string names = label_flag_names(flags);
  std::size_t start = 0;
  while (start <= names.size()) {
    const std::size_t bar = names.find('|', start);
    a.push_back(names.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return a;
}

json ranges_json(const std::vector<SlotRange>& rs) {
  json a = json::array();
  for (const auto& r : rs) a.push_back(json::array({r.first, std::uint64_t{r.first} + r.count - 1}));
  return a;
}

// ---- index blocks and labels ---------------------------------------------------------------

json index_json(const LabelArea& a, const IndexBlockState& s) {
  json j;
  const LabelIndex& x = *s.index;
  // ndctl read-labels keys first.
  j["signature"] = printable(x.sig);
  j["major"] = x.major;
  j["minor"] = x.minor;
  j["labelsize"] = x.label_size();
  j["seq"] = x.seq;
  j["nslot"] = x.nslot;
  // ndtk's own.
  j["index"] = s.number;
  j["offset"] = s.offset;
  j["labelsize_field"] = x.labelsize;
  j["flags"] = std::uint32_t{x.flags[0]} | std::uint32_t{x.flags[1]} << 8 |
               std::uint32_t{x.flags[2]} << 16;
  j["myoff"] = x.myoff;
  j["mysize"] = x.mysize;
  j["otheroff"] = x.otheroff;
  j["labeloff"] = x.labeloff;
  const std::uint64_t isz = a.index_size() ? a.index_size() : x.block_size();
  const std::uint64_t computed = x.computed_checksum(isz).value_or(x.computed_checksum());
  j["checksum"] = hex64(x.checksum);
  j["checksum_computed"] = hex64(computed);
  j["checksum_valid"] = computed == x.checksum;
  j["valid"] = s.valid;
  j["current"] = a.current.index == s.number;
  const auto used = x.used_ranges(x.nslot);
  std::uint64_t n = 0;
  for (const auto& r : used) n += r.count;
  j["free_bitmap"] = {{"used_slots", ranges_json(used)}, {"used_count", n}};
  j["problems"] = findings_json(s.problems);
  return j;
}

void efi_json(json& j, const NamespaceLabel& l) {
  j["uuid"] = l.uuid.to_string();
  j["name"] = l.name_string();
  j["slot"] = l.slot;
  j["position"] = l.position;
  j["nlabel"] = l.nlabel;
  j["flags"] = l.flags;
  j["isetcookie"] = l.isetcookie;
  j["lbasize"] = l.lbasize;
  j["dpa"] = l.dpa;
  j["rawsize"] = l.rawsize;
  if (l.has_checksum()) {
    // ndctl prints the stored GUID bytes in order; the canonical spelling is ndtk's.
    j["type_guid"] = l.type_guid.to_string();
    j["abstraction_guid"] = l.abstraction_guid.to_string();
  }
  j["format"] = l.label_size == kLabelSizeV11 ? "efi-v1.1" : "efi-v1.2";
  j["flags_names"] = flag_list(l.flags);
  if (l.has_checksum()) {
    j["type_guid_canonical"] = l.type_guid.to_guid_string();
    j["type_guid_name"] = efi_guid_name(l.type_guid);
    j["abstraction_guid_canonical"] = l.abstraction_guid.to_guid_string();
    j["abstraction_guid_name"] = efi_guid_name(l.abstraction_guid);
    j["align"] = l.align;
  }
  j["claim_class"] = claim_class_name(l.claim_class());
  if (l.has_checksum()) {
    const std::uint64_t c = l.computed_checksum().value_or(0);
    j["checksum"] = hex64(l.checksum);
    j["checksum_computed"] = hex64(c);
    j["checksum_valid"] = c == l.checksum;
  } else {
    j["checksum"] = nullptr;
  }
}

void cxl_ns_json(json& j, const CxlNamespaceLabel& l) {
  j["uuid"] = l.uuid.to_string();
  j["name"] = l.name_string();
  j["slot"] = l.slot;
  j["position"] = l.position;
  j["flags"] = l.flags;
  j["lbasize"] = l.lbasize;
  j["dpa"] = l.dpa;
  j["rawsize"] = l.rawsize;
  j["format"] = "cxl-namespace";
  j["type"] = l.type.to_string();
  j["nrange"] = l.nrange;
  j["align"] = l.align;
  j["region_uuid"] = l.region_uuid.to_string();
  j["abstraction_uuid"] = l.abstraction_uuid.to_string();
  j["flags_names"] = flag_list(l.flags);
  j["claim_class"] = claim_class_name(l.claim_class());
  j["checksum"] = hex64(l.checksum);
  j["checksum_computed"] = hex64(l.computed_checksum());
  j["checksum_valid"] = l.checksum_ok();
}

void cxl_region_json(json& j, const CxlRegionLabel& l) {
  j["uuid"] = l.uuid.to_string();
  j["slot"] = l.slot;
  j["position"] = l.position;
  j["nlabel"] = l.nlabel;
  j["flags"] = l.flags;
  j["dpa"] = l.dpa;
  j["rawsize"] = l.rawsize;
  j["format"] = "cxl-region";
  j["type"] = l.type.to_string();
  j["hpa"] = l.hpa;
  j["ig"] = l.ig;
  j["align"] = l.align;
  j["flags_names"] = flag_list(l.flags);
  j["checksum"] = hex64(l.checksum);
  j["checksum_computed"] = hex64(l.computed_checksum());
  j["checksum_valid"] = l.checksum_ok();
}

json slot_json(const LabelSlot& s) {
  json j;
  if (const auto* e = s.efi()) efi_json(j, *e);
  else if (const auto* c = s.cxl_namespace()) cxl_ns_json(j, *c);
  else if (const auto* r = s.cxl_region()) cxl_region_json(j, *r);
  else j["format"] = "unknown";
  j["slot_index"] = s.slot;
  j["offset"] = s.offset;
  j["state"] = slot_state_name(s.state);
  j["in_use"] = s.in_use;
  j["slot_valid"] = s.kernel_valid;
  j["note"] = s.note;
  return j;
}

// ---- namespaces and info blocks ------------------------------------------------------------

json btt_json(const InfoBlockView& v) {
  const BttSummary& b = *v.btt;
  const BttInfo& i = b.info;
  json j;
  j["type"] = "btt";
  j["offset"] = v.offset;
  j["image_offset"] = v.image_offset;
  j["in_use"] = v.in_use;
  j["verdict"] = v.verdict;
  // ndctl read-infoblock keys.
  j["signature"] = printable(i.signature);
  j["uuid"] = i.uuid.to_string();
  j["parent_uuid"] = i.parent_uuid.to_string();
  j["flags"] = i.flags;
  j["version"] = fmt::format("{}.{}", i.version_major, i.version_minor);
  j["external_lbasize"] = i.external_lbasize;
  j["external_nlba"] = i.external_nlba;
  j["internal_lbasize"] = i.internal_lbasize;
  j["internal_nlba"] = i.internal_nlba;
  j["nfree"] = i.nfree;
  j["infosize"] = i.infosize;
  j["nextoff"] = i.nextoff;
  j["dataoff"] = i.dataoff;
  j["mapoff"] = i.mapoff;
  j["logoff"] = i.logoff;
  j["info2off"] = i.info2off;
  j["checksum"] = hex64(i.checksum);
  j["checksum_computed"] = hex64(i.computed_checksum());
  j["checksum_valid"] = i.checksum_ok();
  j["arenas"] = b.arenas;
  j["total_external_nlba"] = b.external_nlba;
  j["complete"] = b.complete;
  return j;
}

json pfn_json(const InfoBlockView& v) {
  const PfnInfo& p = v.pfn->info;
  const PfnValidation& val = v.pfn->validation;
  json j;
  j["type"] = info_kind_name(v.kind);
  j["offset"] = v.offset;
  j["image_offset"] = v.image_offset;
  j["in_use"] = v.in_use;
  j["verdict"] = v.verdict;
  j["signature"] = printable(p.signature);
  j["uuid"] = p.uuid.to_string();
  j["parent_uuid"] = p.parent_uuid.to_string();
  j["flags"] = p.flags;
  j["version"] = p.version_string();
  j["dataoff"] = p.dataoff;
  j["npfns"] = p.npfns;
  j["mode"] = p.mode;
  j["start_pad"] = p.start_pad;
  j["end_trunc"] = p.end_trunc;
  j["align"] = p.align;
  j["page_size"] = p.page_size;
  j["page_struct_size"] = p.page_struct_size;
  j["mode_name"] = pfn_mode_name(p.mode);
  j["padding_zero"] = p.padding_zero();
  j["checksum"] = hex64(p.checksum);
  j["checksum_computed"] = hex64(p.computed_checksum());
  j["checksum_valid"] = p.checksum_ok();
  j["kernel_verdict"] = pfn_verdict_name(val.verdict);
  j["kernel_accepts"] = val.kernel_accepts();
  j["kernel_error"] = val.kernel_error;
  j["effective"] = {{"start_pad", val.effective.start_pad},
                    {"end_trunc", val.effective.end_trunc},
                    {"align", val.effective.align},
                    {"effective_align", val.effective.effective_align},
                    {"page_size", val.effective.page_size},
                    {"page_struct_size", val.effective.page_struct_size}};
  j["data_start"] = val.data_start;
  j["data_end"] = val.data_end;
  j["usable_bytes"] = val.usable_bytes;
  j["kernel_npfns"] = val.npfns;
  j["findings"] = findings_json(val.findings);
  return j;
}

json namespace_json(const NamespaceReport& r, bool stale) {
  const Namespace& ns = r.ns;
  json j;
  // ndctl list keys, with ndctl's meanings.
  j["mode"] = ns_mode_name(ns.mode);
  if (ns.pfn) j["map"] = pfn_map_name(ns.pfn->info.mode);
  j["size"] = ns.capacity();
  const Uuid shown = ns.display_uuid();
  j["uuid"] = shown.to_string();
  if (!ns.uuid.is_zero() && ns.uuid != shown) j["raw_uuid"] = ns.uuid.to_string();
  j["sector_size"] = ns.sector_size();
  if (auto al = ns.align()) j["align"] = *al;
  if (!ns.name.empty()) j["name"] = ns.name;
  // ndtk's own.
  j["label_uuid"] = ns.uuid.is_zero() ? json(nullptr) : json(ns.uuid.to_string());
  j["raw_size"] = ns.size;
  j["offset"] = ns.offset;
  j["claim_class"] = claim_class_name(ns.claim);
  j["lbasize"] = ns.lbasize;
  j["stale"] = stale;
  json ranges = json::array();
  if (r.labels) {
    j["nlabel"] = r.labels->nlabel;
    j["isetcookie"] = r.labels->isetcookie;
    for (const auto& e : r.labels->extents)
      ranges.push_back({{"dpa", e.dpa},
                        {"rawsize", e.rawsize},
                        {"slot", e.slot},
                        {"position", e.position},
                        {"flags", e.flags}});
  }
  j["dpa_ranges"] = ranges;
  j["bytes_present"] = r.bytes_present;
  if (!r.info) j["info_block"] = nullptr;
  else if (r.info->btt) j["info_block"] = btt_json(*r.info);
  else j["info_block"] = pfn_json(*r.info);
  j["personality_missing"] = ns.personality_missing;
  j["personality_note"] = ns.personality_note;
  return j;
}

json image_json(const LabelImageReport& img, const LabelDumpReport& all) {
  const Discovery& d = img.discovery;
  const LabelArea* a = img.area();
  json j;
  j["image"] = img.path;
  j["image_size"] = d.image->size();
  j["kind"] = image_kind_name(d.kind);
  j["layout"] = img.area_note;
  if (a) {
    json la;
    la["source"] = area_source_name(img.area_source);
    la["offset"] = a->offset;
    la["size"] = a->size;
    la["label_size"] = a->geometry ? json(a->label_size()) : json(nullptr);
    la["index_size"] = a->geometry ? json(a->index_size()) : json(nullptr);
    la["nslot"] = a->nslot;
    j["label_area"] = la;
    j["current_index"] = a->current.index >= 0 ? json(a->current.index) : json(nullptr);
    j["current_index_reason"] = a->current.explanation;
  } else {
    j["label_area"] = nullptr;
    j["current_index"] = nullptr;
    j["current_index_reason"] = "";
  }
  json index = json::array();
  json labels = json::array();
  if (a) {
    for (const auto& s : a->indexes)
      if (s.index) index.push_back(index_json(*a, s));
    for (const auto& s : a->slots) labels.push_back(slot_json(s));
  }
  j["index"] = index;
  j["label"] = labels;
  json nss = json::array();
  for (const auto& r : img.namespaces) nss.push_back(namespace_json(r, false));
  j["namespaces"] = nss;
  json stale = json::array();
  for (const auto& r : img.stale_namespaces) stale.push_back(namespace_json(r, true));
  j["stale_namespaces"] = stale;
  json sets = json::array();
  for (const auto& s : img.sets) {
    json members = json::array();
    for (const auto& m : s.members)
      members.push_back({{"image", all.images[m.area].path},
                         {"slot", m.slot},
                         {"position", m.position},
                         {"dpa", m.dpa},
                         {"rawsize", m.rawsize}});
    sets.push_back({{"isetcookie", s.isetcookie},
                    {"uuid", s.uuid.to_string()},
                    {"name", s.name},
                    {"nlabel", s.nlabel},
                    {"members", members},
                    {"missing", s.missing},
                    {"duplicated", s.duplicated},
                    {"complete", s.complete()}});
  }
  j["interleave_sets"] = sets;
  j["findings"] = findings_json(img.findings);
  j["consistent"] = img.consistent();
  return j;
}

}  // namespace

std::string render_label_json(const LabelDumpReport& r) {
  json out = json::array();
  for (const auto& img : r.images) out.push_back(image_json(img, r));
  // Label names are arbitrary bytes: invalid UTF-8 is replaced rather than thrown on.
  return out.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace ndtk
