// Text and JSON renderings of CheckReport and RepairPlan, and the problem table as markdown.
#include "ndtk/render/check_render.h"

#include <fmt/format.h>

namespace ndtk {

namespace {

std::string size_text(std::uint64_t b) {
  if (b >= (1ull << 30) && b % (1ull << 30) == 0) return fmt::format("{} GiB", b >> 30);
  if (b >= (1ull << 20) && b % (1ull << 20) == 0) return fmt::format("{} MiB", b >> 20);
  if (b >= (1ull << 10) && b % (1ull << 10) == 0) return fmt::format("{} KiB", b >> 10);
  return fmt::format("{} bytes", b);
}

std::string ns_title(const NamespaceReport& n) {
  std::string id = n.ns.uuid.is_zero() ? std::string("(no label uuid)") : n.ns.uuid.to_string();
  if (!n.ns.name.empty()) id += " \"" + n.ns.name + "\"";
  return fmt::format("namespace {} {} [{}, +{}): {}", n.ns.index, id, hex(n.ns.offset),
                     hex(n.ns.size), n.personality);
}

std::string lba_list(const std::vector<std::uint64_t>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size() && i < 32; ++i) s += fmt::format("{}{}", i ? " " : "", v[i]);
  if (v.size() > 32) s += fmt::format(" ... ({} in all)", v.size());
  return s;
}

void finding_text(std::string& out, const Finding& f, const char* indent) {
  const auto& pi = problem_info(f.code);
  out += fmt::format("{}{}\n", indent, f.to_string());
  if (pi.repair != RepairAction::None)
    out += fmt::format("{}    repair: {}\n", indent, repair_action_name(pi.repair));
}

}  // namespace

std::string render_check_text(const CheckReport& r, const RenderOptions& o) {
  std::string out;
  out += fmt::format("image {}: {} ({} bytes)\n", r.image, image_kind_name(r.kind), r.image_size);
  if (r.labels) {
    const LabelArea& a = *r.labels;
    if (a.has_valid_index())
      out += fmt::format("label area @{} ({}): index {} current ({}), {} slots of {} bytes, "
                         "{} active, {} stale, {} garbage\n",
                         hex(a.offset), size_text(a.size), a.current.index, a.current.explanation,
                         a.nslot, a.label_size(), a.count(SlotState::Active),
                         a.count(SlotState::Stale), a.count(SlotState::Garbage));
    else
      out += fmt::format("label area @{} ({}): no valid index block\n", hex(a.offset),
                         size_text(a.size));
  }
  if (r.pool)
    out += fmt::format("pmemblk pool: bsize {}, BTT at {}{}\n", r.pool->bsize(),
                       hex(r.pool->btt_offset),
                       r.pool->layout_written ? "" : " (layout not written yet)");
  for (const Finding& f : r.findings)
    if (o.verbose || f.severity() != Severity::Info) finding_text(out, f, "  ");
  for (const NamespaceReport& n : r.namespaces) {
    out += ns_title(n) + "\n";
    for (const Finding& f : n.findings)
      if (o.verbose || f.severity() != Severity::Info) finding_text(out, f, "  ");
    if (n.pfn)
      out += fmt::format("  {} info @{}: version {}, mode {}, dataoff {}, npfns {}, align {}: "
                         "kernel verdict {}\n",
                         pfn_kind_name(n.pfn->info.kind()), hex(n.pfn->offset),
                         n.pfn->info.version_string(), pfn_mode_name(n.pfn->info.mode),
                         hex(n.pfn->info.dataoff), n.pfn->info.npfns,
                         n.pfn->validation.effective.effective_align,
                         pfn_verdict_name(n.pfn->validation.verdict));
    if (!n.btt) continue;
    const BttReport& b = *n.btt;
    out += fmt::format("  BTT {} ({} layout) at namespace offset {}: uuid {}, {}-byte sectors, "
                       "{} LBAs, {} arena(s)\n",
                       btt_version_name(b.version), btt_flavor_name(b.flavor), b.arena0_offset,
                       b.uuid.to_string(), b.external_lbasize, b.external_nlba, b.arenas.size());
    for (const ArenaReport& a : b.arenas) {
      out += fmt::format("  arena {} @{}: info from {}{}", a.index, hex(a.offset),
                         info_source_name(a.source),
                         a.backup_identical ? " (backup identical)" : "");
      if (a.info)
        out += fmt::format(", {} blocks of {} bytes, nfree {}, log {}", a.info->internal_nlba,
                           a.info->internal_lbasize, a.info->nfree,
                           a.log_indices ? a.log_indices->to_string() : std::string("?"));
      out += "\n";
      if (a.layout_usable)
        out += fmt::format("    map: {} normal, {} initial, {} zero, {} error, {} out of range; "
                           "blocks: {} duplicate, {} leaked; {} torn write(s)\n",
                           a.map.normal, a.map.initial, a.map.zero, a.map.error,
                           a.map.out_of_range, a.duplicate_blocks, a.leaked_blocks, a.torn_writes);
      if (!a.affected_lbas.empty())
        out += fmt::format("    affected LBAs (map damaged): {}\n", lba_list(a.affected_lbas));
      for (const Finding& f : a.findings)
        if (o.verbose || f.severity() != Severity::Info) finding_text(out, f, "    ");
    }
  }
  const auto c = r.counts();
  out += fmt::format("summary: {} error(s), {} warning(s), {} note(s): {}\n", c.errors, c.warnings,
                     c.infos, c.problems() ? "NOT CLEAN" : "clean");
  return out;
}

nlohmann::json finding_to_json(const Finding& f) {
  const auto& pi = problem_info(f.code);
  nlohmann::json j{{"code", pi.name},
                   {"number", fmt::format("{:#06x}", pi.number)},
                   {"severity", severity_name(pi.severity)},
                   {"title", pi.title},
                   {"repair", repair_action_name(pi.repair)},
                   {"where", f.where},
                   {"detail", f.detail}};
  j["offset"] = f.offset ? nlohmann::json(*f.offset) : nlohmann::json(nullptr);
  return j;
}

nlohmann::json check_to_json(const CheckReport& r) {
  using nlohmann::json;
  json j;
  j["image"] = r.image;
  j["image_size"] = r.image_size;
  j["kind"] = image_kind_name(r.kind);
  if (r.labels) {
    const LabelArea& a = *r.labels;
    j["label_area"] = {{"offset", a.offset},
                       {"size", a.size},
                       {"current_index", a.current.index},
                       {"current_index_why", a.current.explanation},
                       {"nslot", a.nslot},
                       {"label_size", a.label_size()},
                       {"active", a.count(SlotState::Active)},
                       {"stale", a.count(SlotState::Stale)},
                       {"garbage", a.count(SlotState::Garbage)}};
  }
  if (r.pool)
    j["pool"] = {{"bsize", r.pool->bsize()},
                 {"btt_offset", r.pool->btt_offset},
                 {"layout_written", r.pool->layout_written}};
  json image_findings = json::array();
  for (const auto& f : r.findings) image_findings.push_back(finding_to_json(f));
  j["image_findings"] = image_findings;
  json nss = json::array();
  for (const NamespaceReport& n : r.namespaces) {
    json nj{{"index", n.ns.index},
            {"uuid", n.ns.uuid.to_string()},
            {"name", n.ns.name},
            {"offset", n.ns.offset},
            {"size", n.ns.size},
            {"claim_class", claim_class_name(n.ns.claim)},
            {"personality", n.personality}};
    json nf = json::array();
    for (const auto& f : n.findings) nf.push_back(finding_to_json(f));
    nj["findings"] = nf;
    if (n.pfn)
      nj["pfn"] = {{"offset", n.pfn->offset},
                   {"kind", pfn_kind_name(n.pfn->info.kind())},
                   {"version", n.pfn->info.version_string()},
                   {"mode", pfn_mode_name(n.pfn->info.mode)},
                   {"dataoff", n.pfn->info.dataoff},
                   {"npfns", n.pfn->info.npfns},
                   {"verdict", pfn_verdict_name(n.pfn->validation.verdict)},
                   {"kernel_error", n.pfn->validation.kernel_error},
                   {"checksum_corroborated", n.pfn->checksum_corroborated}};
    if (n.btt) {
      const BttReport& b = *n.btt;
      json bj{{"version", btt_version_name(b.version)},
              {"flavor", btt_flavor_name(b.flavor)},
              {"arena0_offset", b.arena0_offset},
              {"uuid", b.uuid.to_string()},
              {"parent_uuid", b.parent_uuid.to_string()},
              {"external_lbasize", b.external_lbasize},
              {"external_nlba", b.external_nlba}};
      json arenas = json::array();
      for (const ArenaReport& a : b.arenas) {
        json aj{{"index", a.index},
                {"offset", a.offset},
                {"backup_offset", a.backup_offset},
                {"first_lba", a.first_lba},
                {"primary_valid", a.primary_valid},
                {"backup_valid", a.backup_valid},
                {"backup_identical", a.backup_identical},
                {"info_source", info_source_name(a.source)},
                {"layout_usable", a.layout_usable},
                {"log_indices",
                 a.log_indices ? json(a.log_indices->to_string()) : json(nullptr)},
                {"map",
                 {{"normal", a.map.normal},
                  {"initial", a.map.initial},
                  {"zero", a.map.zero},
                  {"error", a.map.error},
                  {"out_of_range", a.map.out_of_range}}},
                {"duplicate_blocks", a.duplicate_blocks},
                {"leaked_blocks", a.leaked_blocks},
                {"torn_writes", a.torn_writes},
                {"lanes_without_free_block", a.lanes_without_free_block},
                {"affected_lbas", a.affected_lbas}};
        if (a.info)
          aj["geometry"] = {{"external_lbasize", a.info->external_lbasize},
                            {"external_nlba", a.info->external_nlba},
                            {"internal_lbasize", a.info->internal_lbasize},
                            {"internal_nlba", a.info->internal_nlba},
                            {"nfree", a.info->nfree},
                            {"dataoff", a.info->dataoff},
                            {"mapoff", a.info->mapoff},
                            {"logoff", a.info->logoff},
                            {"info2off", a.info->info2off},
                            {"nextoff", a.info->nextoff},
                            {"flags", a.info->flags}};
        json af = json::array();
        for (const auto& f : a.findings) af.push_back(finding_to_json(f));
        aj["findings"] = af;
        arenas.push_back(aj);
      }
      bj["arenas"] = arenas;
      nj["btt"] = bj;
    }
    nj["check_seconds"] = n.check_seconds;
    nss.push_back(nj);
  }
  j["namespaces"] = nss;
  // Wall times (not part of any verdict): what the map stream costs, for benchmarks and users
  // sizing a check window.
  j["timing"] = {{"discovery_seconds", r.discovery_seconds}, {"total_seconds", r.total_seconds}};
  json all = json::array();
  for (const Finding* f : r.all_findings()) all.push_back(finding_to_json(*f));
  j["findings"] = all;
  const auto c = r.counts();
  j["summary"] = {{"errors", c.errors}, {"warnings", c.warnings}, {"infos", c.infos},
                  {"clean", c.problems() == 0}};
  return j;
}

std::string render_plan_text(const RepairPlan& p) {
  std::string out;
  if (p.plan.empty()) return "repair plan: nothing to write\n";
  out += fmt::format("repair plan: {} write(s), {} byte(s)\n", p.plan.writes.size(),
                     p.plan.total_bytes());
  std::size_t i = 0;
  for (const auto& w : p.plan.writes) {
    out += fmt::format("  {:>3}. @{:#012x} +{:<5} {}", ++i, w.offset, w.length(), w.what);
    if (w.fixes) out += fmt::format(" [fixes {}]", problem_info(*w.fixes).name);
    out += "\n";
  }
  for (const auto& a : p.affected)
    out += fmt::format("  namespace {} arena {}: LBAs put in the error state (their map entries "
                       "were damaged; contents cannot be determined): {}\n",
                       a.ns_index, a.arena, lba_list(a.lbas));
  return out;
}

nlohmann::json plan_to_json(const RepairPlan& p) {
  using nlohmann::json;
  json w = json::array();
  for (const auto& x : p.plan.writes)
    w.push_back({{"offset", x.offset},
                 {"length", x.length()},
                 {"what", x.what},
                 {"fixes", x.fixes ? json(problem_info(*x.fixes).name) : json(nullptr)}});
  json a = json::array();
  for (const auto& x : p.affected)
    a.push_back({{"namespace", x.ns_index}, {"arena", x.arena}, {"lbas", x.lbas}});
  return {{"writes", w}, {"total_bytes", p.plan.total_bytes()}, {"affected_lbas", a}};
}

std::string render_problem_table_markdown() {
  std::string out =
      "# Problem codes\n\n"
      "<!-- GENERATED by `btt-check --list-problems` from lib/include/ndtk/base/problems.def; "
      "do not edit (tests/cli/test_btt_check.py fails when this file is out of date). -->\n\n"
      "Every finding any ndtk tool reports is one row of this table. `btt-check --json` "
      "prints the code name, number, severity and repair of each finding. Severity `error` and "
      "`warning` make an image not clean (exit 4 unless repaired); `info` is a note.\n\n"
      "| code | number | severity | meaning | repair |\n|---|---|---|---|---|\n";
  for (const auto& p : all_problems()) {
    std::string title = p.title;
    for (std::size_t i = 0; (i = title.find('|', i)) != std::string::npos; i += 2)
      title.replace(i, 1, "\\|");
    out += fmt::format("| `{}` | {:#06x} | {} | {} | {} |\n", p.name, p.number,
                       severity_name(p.severity), title, repair_action_name(p.repair));
  }
  return out;
}

}  // namespace ndtk
