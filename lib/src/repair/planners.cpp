// The repair planners: each turns what the check established into byte-range writes, and
// plan_repairs() orders them (label area, backups, map, log, primary info blocks last).
#include <algorithm>

#include <fmt/format.h>

#include "ndtk/base/fletcher.h"
#include "ndtk/format/btt_map.h"
#include "ndtk/repair/repair.h"

namespace ndtk {

namespace {

std::uint32_t prev_seq(std::uint32_t s) {
  switch (s & kNsIndexSeqMask) {
    case 1: return 3;
    case 2: return 1;
    case 3: return 2;
  }
  return 0;
}

bool has(const Findings& fs, Problem p) {
  return std::any_of(fs.begin(), fs.end(), [p](const Finding& f) { return f.code == p; });
}

}  // namespace

void plan_restore_backup(const ArenaReport& a, WritePlan& out) {
  if (a.source != InfoSource::Primary || !a.info) return;
  std::optional<Problem> why;
  if (has(a.findings, Problem::BTT_INFO2_BAD)) why = Problem::BTT_INFO2_BAD;
  else if (has(a.findings, Problem::BTT_INFO2_MISMATCH)) why = Problem::BTT_INFO2_MISMATCH;
  if (!why) return;
  out.add(a.backup_offset, a.info->serialize(),
          fmt::format("arena {}: restore the backup info block from the primary", a.index), why);
}

void plan_rebuilt_backup(const ArenaReport& a, WritePlan& out) {
  if (a.source != InfoSource::Geometry || !a.rebuilt) return;
  out.add(a.backup_offset, a.rebuilt->serialize(),
          fmt::format("arena {}: write the info block recomputed from the geometry (backup)",
                      a.index),
          Problem::BTT_INFO_BOTH_BAD);
}

void plan_restore_primary(const ArenaReport& a, WritePlan& out) {
  if (!a.rebuilt) return;
  if (a.source == InfoSource::Backup) {
    const Finding* f = a.findings.empty() ? nullptr : &a.findings.front();
    out.add(a.offset, a.rebuilt->serialize(),
            fmt::format("arena {}: restore the primary info block from its backup", a.index),
            f ? std::optional<Problem>(f->code) : std::nullopt);
  } else if (a.source == InfoSource::Geometry) {
    out.add(a.offset, a.rebuilt->serialize(),
            fmt::format("arena {}: write the info block recomputed from the geometry (primary)",
                        a.index),
            Problem::BTT_INFO_BOTH_BAD);
  }
}

void plan_rewrite_log(const ArenaReport& a, WritePlan& out) {
  if (!a.info) return;
  for (const LaneFix& lf : a.lane_fixes) {
    const BttLogGroup g = btt_rewritten_log_group(lf.entry);
    out.add(a.offset + a.info->logoff + std::uint64_t{lf.lane} * kBttLogGroupSize, g.serialize(),
            fmt::format("arena {} lane {}: rewrite the log group ({})", a.index, lf.lane, lf.why),
            lf.reason);
  }
}

void plan_map_fixes(const ArenaReport& a, WritePlan& out) {
  if (!a.info) return;
  for (const MapFix& mf : a.map_fixes) {
    const auto b = serialize_map_entry(BttMapEntry{mf.raw});
    out.add(a.offset + a.info->mapoff + std::uint64_t{mf.premap} * kBttMapEntrySize,
            ByteVec(b.begin(), b.end()),
            fmt::format("arena {} map[{}] = {}: {}", a.index, mf.premap, hex(mf.raw), mf.why),
            mf.reason);
  }
}

void plan_rebuild_index(const LabelArea& area, WritePlan& out) {
  if (!has(area.findings, Problem::LABEL_INDEX_ONE_INVALID) || !area.has_valid_index() ||
      !area.geometry)
    return;
  const int cur = area.current.index;
  const int bad = 1 - cur;
  const LabelIndex& src = *area.indexes[static_cast<std::size_t>(cur)].index;
  LabelIndex rebuilt = src;
  const std::uint64_t isz = area.geometry->index_size;
  rebuilt.myoff = static_cast<std::uint64_t>(bad) * isz;
  rebuilt.otheroff = static_cast<std::uint64_t>(cur) * isz;
  // The older sequence number keeps the current index current (best_seq picks the successor).
  rebuilt.seq = prev_seq(src.seq);
  rebuilt = rebuilt.with_checksum();
  out.add(area.indexes[static_cast<std::size_t>(bad)].offset, rebuilt.serialize(),
          fmt::format("label index {}: rebuild from index {} (seq {} -> {})", bad, cur,
                      src.seq_low(), rebuilt.seq),
          Problem::LABEL_INDEX_ONE_INVALID);
}

void plan_label_checksums(const LabelArea& area, WritePlan& out) {
  for (const Finding& f : area.findings) {
    if (f.code != Problem::LABEL_BAD_CHECKSUM_CORROBORATED || !f.offset) continue;
    for (const LabelSlot& s : area.slots) {
      if (s.offset + 248 != *f.offset || s.raw.size() != 256) continue;
      const std::uint64_t sum = fletcher64_skip(s.raw, 248);
      ByteVec b(8);
      put_le64(b, 0, sum);
      out.add(*f.offset, std::move(b),
              fmt::format("label slot {}: rewrite the checksum ({})", s.slot, hex(sum)),
              Problem::LABEL_BAD_CHECKSUM_CORROBORATED);
    }
  }
}

void plan_pfn_checksum(const PfnReport& pfn, WritePlan& out) {
  if (!pfn.checksum_corroborated) return;
  const std::uint64_t sum = pfn.info.computed_checksum();
  ByteVec b(8);
  put_le64(b, 0, sum);
  out.add(pfn.offset + offsetof(PfnInfoRaw, checksum), std::move(b),
          fmt::format("{} info block: rewrite the checksum ({}); every layout field matches "
                      "what the kernel computes for this namespace",
                      pfn_kind_name(pfn.info.kind()), hex(sum)),
          Problem::PFN_BAD_CHECKSUM);
}

Result<RepairPlan> plan_repairs(const CheckReport& report) {
  RepairPlan rp;
  WritePlan& plan = rp.plan;
  if (report.labels) {
    plan_rebuild_index(*report.labels, plan);
    plan_label_checksums(*report.labels, plan);
  }
  WritePlan primaries;
  for (const NamespaceReport& ns : report.namespaces) {
    if (ns.pfn) plan_pfn_checksum(*ns.pfn, plan);
    if (!ns.btt) continue;
    for (const ArenaReport& a : ns.btt->arenas) {
      plan_restore_backup(a, plan);
      plan_rebuilt_backup(a, plan);
      plan_map_fixes(a, plan);
      plan_rewrite_log(a, plan);
      if (!a.affected_lbas.empty()) rp.affected.push_back({ns.ns.index, a.index, a.affected_lbas});
    }
    for (auto it = ns.btt->arenas.rbegin(); it != ns.btt->arenas.rend(); ++it)
      plan_restore_primary(*it, primaries);
  }
  for (auto& w : primaries.writes) plan.writes.push_back(std::move(w));

  // Never a data block, never two writes to the same bytes.
  for (const NamespaceReport& ns : report.namespaces) {
    if (!ns.btt) continue;
    for (const ArenaReport& a : ns.btt->arenas) {
      if (!a.info) continue;
      const std::uint64_t d0 = a.offset + a.info->dataoff;
      const std::uint64_t d1 =
          d0 + std::uint64_t{a.info->internal_nlba} * a.info->internal_lbasize;
      for (const auto& w : plan.writes)
        if (w.offset < d1 && d0 < w.offset + w.length())
          return fail(Errc::kCorrupt,
                      fmt::format("refusing a plan that writes inside arena {}'s data blocks "
                                  "[{}, {}): {}",
                                  a.index, hex(d0), hex(d1), w.what));
    }
  }
  auto sorted = plan.writes;
  std::sort(sorted.begin(), sorted.end(),
            [](const PlannedWrite& x, const PlannedWrite& y) { return x.offset < y.offset; });
  for (std::size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i - 1].offset + sorted[i - 1].length() > sorted[i].offset)
      return fail(Errc::kCorrupt, fmt::format("planned writes overlap: '{}' and '{}'",
                                              sorted[i - 1].what, sorted[i].what));
  return rp;
}

}  // namespace ndtk
