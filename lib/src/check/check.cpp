// check_image: discovery, then the ordered passes per namespace (BTT info/backup, log, map and
// block references; pfn/dax), collected into one CheckReport.
#include "ndtk/check/check.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "passes.h"

namespace ndtk {

const char* info_source_name(InfoSource s) {
  switch (s) {
    case InfoSource::Primary: return "primary";
    case InfoSource::Backup: return "backup";
    case InfoSource::Geometry: return "geometry";
    case InfoSource::None: return "none";
  }
  return "?";
}

std::vector<const Finding*> CheckReport::all_findings() const {
  std::vector<const Finding*> out;
  for (const auto& f : findings) out.push_back(&f);
  for (const auto& ns : namespaces) {
    for (const auto& f : ns.findings) out.push_back(&f);
    if (ns.btt)
      for (const auto& a : ns.btt->arenas)
        for (const auto& f : a.findings) out.push_back(&f);
  }
  return out;
}

FindingCounts CheckReport::counts() const {
  FindingCounts c;
  for (const Finding* f : all_findings()) {
    switch (f->severity()) {
      case Severity::Error: ++c.errors; break;
      case Severity::Warning: ++c.warnings; break;
      case Severity::Info: ++c.infos; break;
    }
  }
  return c;
}

namespace {

std::string personality_of(const NamespaceReport& r) {
  if (r.btt)
    return fmt::format("sector (BTT {}{})", btt_version_name(r.btt->version),
                       r.btt->flavor == BttFlavor::Pmdk ? ", PMDK" : "");
  if (r.pfn) return r.pfn->info.kind() == PfnKind::Dax ? "devdax" : "fsdax";
  return ns_mode_name(r.ns.mode);
}

bool interleaved(const CheckReport& rep, const Namespace& ns) {
  if (!rep.labels) return false;
  for (const auto& ln : rep.labels->namespaces)
    if (ln.uuid == ns.uuid && (ln.nlabel > 1 || ln.extents.size() > 1)) return true;
  return false;
}

bool matches_filter(const Namespace& ns, const std::string& f) {
  if (f.empty()) return true;
  if (auto u = Uuid::parse(f)) return ns.uuid == *u || ns.display_uuid() == *u;
  return ns.name == f;
}

}  // namespace

Result<CheckReport> check_image(DevicePtr image, const CheckOptions& opts) {
  if (!image) return fail(Errc::kInvalidArgument, "check: no image");
  using Clock = std::chrono::steady_clock;
  const auto since = [](Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  const auto t_start = Clock::now();
  NDTK_TRY(d, discover(image, opts.location));
  CheckReport rep;
  rep.discovery_seconds = since(t_start);
  rep.image = image->name();
  rep.image_size = image->size();
  rep.kind = d.kind;
  rep.labels = d.labels;
  rep.pool = d.pool;
  if (d.labels)
    for (const auto& f : d.labels->findings) rep.findings.push_back(f);
  if (d.pool)
    for (const auto& f : d.pool->findings) rep.findings.push_back(f);
  for (const auto& f : d.findings) rep.findings.push_back(f);

  bool any_selected = false;
  for (const Namespace& ns : d.namespaces) {
    if (!matches_filter(ns, opts.namespace_filter)) continue;
    any_selected = true;
    const auto t_ns = Clock::now();
    NamespaceReport nr;
    nr.ns = ns;
    const bool bytes_here = rep.kind != ImageKind::LabelAreaOnly &&
                            range_fits(ns.offset, ns.size, image->size()) && !interleaved(rep, ns);
    // An "unwritten" pool is searched too: a pool whose info blocks were both zeroed looks
    // exactly like one, and libpmemblk would lay a fresh BTT over its data at the next write.
    if (bytes_here) {
      const BttFlavor flavor = d.pool ? BttFlavor::Pmdk : BttFlavor::Kernel;
      std::optional<Uuid> parent;
      if (d.pool) parent = d.pool->header.poolset_uuid;
      else if (!ns.any_parent) parent = ns.uuid;
      std::vector<std::pair<std::uint64_t, BttVersion>> candidates;
      if (ns.btt) {
        candidates.push_back({ns.btt->info_offset, ns.btt->version});
      } else if (d.pool) {
        candidates.push_back({0, BttVersion::V1_1});
      } else {
        switch (ns.claim) {
          case ClaimClass::Btt2: candidates.push_back({0, BttVersion::V2_0}); break;
          case ClaimClass::Btt:
          case ClaimClass::None: candidates.push_back({4096, BttVersion::V1_1}); break;
          default: break;
        }
        if (rep.kind == ImageKind::Namespace) candidates.push_back({0, BttVersion::V2_0});
      }
      std::vector<std::uint32_t> hints;
      if (d.pool) hints.push_back(d.pool->bsize());
      else if (ns.lbasize <= UINT32_MAX &&
               btt_kernel_lbasize_supported(static_cast<std::uint32_t>(ns.lbasize)))
        hints.push_back(static_cast<std::uint32_t>(ns.lbasize));
      const check_detail::BttSearch s{*image, ns, flavor, parent, candidates, hints, opts};
      if (opts.progress) opts.progress({fmt::format("namespace {}", ns.index), 0, 0});
      nr.btt = check_detail::check_btt(s);
      if (d.pool && nr.btt && !nr.btt->arenas.empty() && !nr.btt->arenas.front().primary_valid &&
          !nr.btt->arenas.front().backup_valid) {
        // The pool header's poolset_uuid may be the damaged side: intact, identical info
        // blocks naming another parent are believed (pmempool check_pool_hdr.c
        // pool_hdr_poolset_uuid takes it from the BTT too) and the header is reported,
        // never the info blocks rebuilt over.
        const check_detail::BttSearch any{*image, ns, flavor, std::nullopt, candidates, hints, opts};
        auto alt = check_detail::check_btt(any);
        if (alt && !alt->arenas.empty() && alt->arenas.front().primary_valid &&
            alt->arenas.front().backup_identical)
          nr.btt = std::move(alt);
      }
      if (d.pool && nr.btt && !nr.btt->arenas.empty() && nr.btt->arenas.front().info)
        for (auto& f : d.pool->cross_check_btt(nr.btt->external_lbasize, nr.btt->parent_uuid))
          nr.findings.push_back(std::move(f));
      if (!nr.btt && !d.pool) nr.pfn = check_detail::check_pfn(*image, ns);
      if (nr.pfn)
        for (const auto& f : nr.pfn->validation.findings) nr.findings.push_back(f);
    }
    nr.personality = personality_of(nr);
    nr.check_seconds = since(t_ns);
    rep.namespaces.push_back(std::move(nr));
  }
  if (!opts.namespace_filter.empty() && !any_selected)
    return fail(Errc::kNotFound, fmt::format("{}: no namespace matches '{}'", image->name(),
                                             opts.namespace_filter));
  rep.total_seconds = since(t_start);
  return rep;
}

}  // namespace ndtk
