// The repair planners: each turns what the check established into byte-range writes, and
// plan_repairs() orders them (label area, backups, map, log, primary info blocks last).
#include <algorithm>

#include <fmt/format.h>

#include "ndtk/base/fletcher.h"
#include "ndtk/format/btt_map.h"
#include "ndtk/geometry/label_geometry.h"
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

// The arena's info block with its reserved bytes zeroed and a fresh checksum, when the copy the
// arena is read with carries BTT_INFO_PADDING_NONZERO. No reader looks at those bytes: the
// kernel's nd_btt_arena_is_valid (btt.c) checks signature, parent_uuid and checksum only and
// btt_sb.padding is never read; PMDK's read_info (btt.c) and pmempool's check_btt_info.c judge
// signature and checksum. The new checksum keeps the block valid for both.
std::optional<BttInfo> padding_cleared(const ArenaReport& a) {
  if (!a.info || !has(a.findings, Problem::BTT_INFO_PADDING_NONZERO)) return std::nullopt;
  if (a.source != InfoSource::Primary && a.source != InfoSource::Backup) return std::nullopt;
  BttInfo i = *a.info;
  i.padding.fill(0);
  return i.with_checksum();
}

// Why plan_restore_backup writes the (cleared) primary over the backup, if it does. A primary
// whose own layout does not fit the namespace (truncated image, label shrunk) says nothing
// about where a backup belongs: the guessed spot lies inside its data area.
std::optional<Problem> backup_restore_reason(const ArenaReport& a) {
  if (a.source != InfoSource::Primary || !a.info || !a.layout_usable) return std::nullopt;
  if (has(a.findings, Problem::BTT_INFO2_BAD)) return Problem::BTT_INFO2_BAD;
  if (has(a.findings, Problem::BTT_INFO2_MISMATCH) && !a.backup_restore_unsafe)
    return Problem::BTT_INFO2_MISMATCH;
  return std::nullopt;
}

// The pfn/dax block may be rewritten whole with its ignored bytes zeroed: its checksum holds,
// or nd_pfn_init's arithmetic vouches for every field (checksum_corroborated).
bool pfn_padding_clearable(const PfnReport& pfn) {
  return has(pfn.validation.findings, Problem::PFN_PADDING_NONZERO) &&
         (pfn.info.checksum_ok() || pfn.checksum_corroborated);
}

}  // namespace

void plan_restore_backup(const ArenaReport& a, WritePlan& out) {
  const auto why = backup_restore_reason(a);
  if (!why) return;
  const auto cleared = padding_cleared(a);
  out.add(a.backup_offset, (cleared ? *cleared : *a.info).serialize(),
          fmt::format("arena {}: restore the backup info block from the primary", a.index), why);
}

void plan_rebuilt_backup(const ArenaReport& a, WritePlan& out) {
  if (a.source != InfoSource::Geometry || !a.rebuilt) return;
  out.add(a.backup_offset, a.rebuilt->serialize(),
          fmt::format("arena {}: write the info block recomputed from the geometry (backup)",
                      a.index),
          Problem::BTT_INFO_BOTH_BAD);
}

void plan_clear_padding_backup(const ArenaReport& a, WritePlan& out) {
  const auto cleared = padding_cleared(a);
  // The backup position is trusted only with a usable layout (else it may lie in data).
  if (!cleared || backup_restore_reason(a) || !a.layout_usable) return;
  out.add(a.backup_offset, cleared->serialize(),
          fmt::format("arena {}: zero the reserved bytes of the backup info block (re-sealed)",
                      a.index),
          Problem::BTT_INFO_PADDING_NONZERO);
}

void plan_restore_primary(const ArenaReport& a, WritePlan& out) {
  const auto cleared = padding_cleared(a);
  if (a.source == InfoSource::Primary && cleared && a.layout_usable) {
    out.add(a.offset, cleared->serialize(),
            fmt::format("arena {}: zero the reserved bytes of the primary info block (re-sealed)",
                        a.index),
            Problem::BTT_INFO_PADDING_NONZERO);
    return;
  }
  if (!a.rebuilt) return;
  if (a.source == InfoSource::Backup) {
    const Finding* f = a.findings.empty() ? nullptr : &a.findings.front();
    out.add(a.offset, (cleared && a.layout_usable ? *cleared : *a.rebuilt).serialize(),
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
  // A block the kernel rejects only for this label size may be a valid index for the other
  // size: nd_label_validate tries 128-byte labels before 256, so a v1.2 area whose other block
  // was damaged into naming 128-byte labels flips to 128. Which block is the damaged one is
  // then a guess: rebuild neither.
  if (const auto& b = area.indexes[static_cast<std::size_t>(bad)].index) {
    const std::uint64_t lsz = b->label_size();
    if ((lsz == 128 || lsz == 256) && lsz != area.geometry->label_size &&
        kernel_accepts_index(*b, bad, area.size, static_cast<std::uint32_t>(lsz)))
      return;
  }
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
  // plan_pfn_padding rewrites the whole block, checksum included.
  if (!pfn.checksum_corroborated || pfn_padding_clearable(pfn)) return;
  const std::uint64_t sum = pfn.info.computed_checksum();
  ByteVec b(8);
  put_le64(b, 0, sum);
  out.add(pfn.offset + offsetof(PfnInfoRaw, checksum), std::move(b),
          fmt::format("{} info block: rewrite the checksum ({}); every layout field matches "
                      "what the kernel computes for this namespace",
                      pfn_kind_name(pfn.info.kind()), hex(sum)),
          Problem::PFN_BAD_CHECKSUM);
}

void plan_pfn_padding(const PfnReport& pfn, WritePlan& out) {
  if (!pfn_padding_clearable(pfn)) return;
  // nd_pfn_validate (pfn_devs.c) reads the fields of the block's minor version and nothing of
  // nd_pfn_sb.padding: zeroing the rest changes nothing the kernel reads.
  const PfnInfo cleared = pfn.info.with_padding_cleared();
  out.add(pfn.offset, cleared.serialize(),
          fmt::format("{} info block: zero the bytes the kernel ignores and re-seal ({})",
                      pfn_kind_name(pfn.info.kind()), hex(cleared.checksum)),
          Problem::PFN_PADDING_NONZERO);
}

bool pool_checksum_corroborated(const CheckReport& report) {
  if (!report.pool || !report.pool->layout_written || report.namespaces.size() != 1)
    return false;
  const PmemBlkPool& pool = *report.pool;
  const PoolHeader& h = pool.header;
  // Every other header finding makes some field suspect; these three say nothing about the
  // checksummed identity (unused is zeroed by the same write, SDS is run-time state).
  for (const Finding& f : pool.findings)
    if (f.code != Problem::POOL_BAD_CHECKSUM && f.code != Problem::POOL_UNUSED_NONZERO &&
        f.code != Problem::POOL_SDS_BAD_CHECKSUM && f.code != Problem::POOL_SDS_DIRTY)
      return false;
  // Only feature sets libpmemblk writes (pool_hdr_default: compat CHECK_BAD_BLOCKS or none,
  // incompat CKSUM_2K with or without SDS); a flipped known bit is otherwise undetectable.
  if (h.type() != PmdkPoolType::Blk || h.major != kPmemBlkFormatMajor ||
      h.compat_features > kPoolFeatCheckBadBlocks || h.ro_compat_features != 0 ||
      (h.incompat_features != kPoolFeatCksum2K &&
       h.incompat_features != (kPoolFeatCksum2K | kPoolFeatSds)))
    return false;
  // The BTT vouches for poolset_uuid (PMDK's exact parent_uuid rule made arena 0's primary
  // valid) and bsize (external_lbasize); its backup is the identical second witness.
  const NamespaceReport& ns = report.namespaces.front();
  if (!ns.btt || ns.btt->arenas.empty()) return false;
  const ArenaReport& a0 = ns.btt->arenas.front();
  return a0.source == InfoSource::Primary && a0.primary_valid && a0.backup_identical &&
         ns.btt->parent_uuid == h.poolset_uuid && ns.btt->external_lbasize == pool.bsize() &&
         std::none_of(report.findings.begin(), report.findings.end(), [](const Finding& f) {
           return f.code == Problem::NS_PERSONALITY_MISSING;
         });
}

void plan_pool_header(const CheckReport& report, WritePlan& out) {
  if (!report.pool) return;
  const PoolHeader& h = report.pool->header;
  const bool bad_sum = has(report.pool->findings, Problem::POOL_BAD_CHECKSUM);
  const bool unused = has(report.pool->findings, Problem::POOL_UNUSED_NONZERO);
  if (!bad_sum && !unused) return;
  // A bad checksum is rewritten only when everything it covers is corroborated. pmempool
  // check -r (check_pool_hdr.c pool_hdr_default_fix / pool_hdr_gen_fix) instead forces the
  // default signature, major and features and then regenerates the checksum whatever the
  // other fields hold; ndtk never blesses a header nothing vouches for.
  if (bad_sum && !pool_checksum_corroborated(report)) return;
  const PoolHeader fixed = (unused ? h.with_unused_cleared() : h).with_checksum();
  std::string what =
      bad_sum ? fmt::format("pool header: rewrite the checksum ({}); the BTT corroborates "
                            "poolset_uuid and bsize, every other field is what libpmemblk writes",
                            hex(fixed.checksum))
              : fmt::format("pool header: zero the unused areas and re-seal ({})",
                            hex(fixed.checksum));
  if (bad_sum && unused) what += "; the unused areas are zeroed too";
  out.add(0, fixed.serialize(), std::move(what),
          bad_sum ? Problem::POOL_BAD_CHECKSUM : Problem::POOL_UNUSED_NONZERO);
}

Result<RepairPlan> plan_repairs(const CheckReport& report) {
  RepairPlan rp;
  WritePlan& plan = rp.plan;
  if (report.labels) {
    plan_rebuild_index(*report.labels, plan);
    plan_label_checksums(*report.labels, plan);
  }
  plan_pool_header(report, plan);
  WritePlan primaries;
  for (const NamespaceReport& ns : report.namespaces) {
    if (ns.pfn) {
      plan_pfn_checksum(*ns.pfn, plan);
      plan_pfn_padding(*ns.pfn, plan);
    }
    if (!ns.btt) continue;
    for (const ArenaReport& a : ns.btt->arenas) {
      plan_restore_backup(a, plan);
      plan_clear_padding_backup(a, plan);
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
