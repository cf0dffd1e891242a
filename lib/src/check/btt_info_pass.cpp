// BTT info pass: per arena the primary info block and its backup (signature, checksum, parent
// uuid, version vs offset, geometry against the writer's formulas, nextoff chain, flags), the
// copy the arena is read with, and an info block recomputed from the geometry when both copies
// are lost and the arena's log and map prove the layout. Then the log/map pass per arena.
#include <algorithm>

#include <fmt/format.h>

#include "ndtk/geometry/btt_geometry.h"
#include "passes.h"

namespace ndtk::check_detail {

namespace {

std::optional<BttInfo> read_info(const BlockDevice& dev, std::uint64_t off) {
  if (!range_fits(off, kBttInfoSize, dev.size())) return std::nullopt;
  auto b = dev.read_vec(off, kBttInfoSize);
  if (!b) return std::nullopt;
  auto i = BttInfo::decode(*b);
  if (!i) return std::nullopt;
  return *i;
}

// nd_btt_arena_is_valid (signature, parent uuid, checksum); PMDK: parent must match exactly.
bool info_valid(const BttInfo& i, const BttSearch& s, std::string* why) {
  if (!i.signature_ok()) {
    *why = "no BTT_ARENA_INFO signature";
    return false;
  }
  if (!i.checksum_ok()) {
    *why = fmt::format("checksum {} stored, {} computed", hex(i.checksum), hex(i.computed_checksum()));
    return false;
  }
  if (s.parent) {
    const bool zero_ok = s.flavor == BttFlavor::Kernel && i.parent_uuid.is_zero();
    if (!zero_ok && i.parent_uuid != *s.parent) {
      *why = fmt::format("parent_uuid {} is not {}", i.parent_uuid.to_string(), s.parent->to_string());
      return false;
    }
  }
  return true;
}

// The primary's own identity problem, as a finding.
Finding primary_problem(const BttInfo& p, const BttSearch& s, const std::string& where,
                        std::uint64_t off) {
  if (!p.signature_ok())
    return {Problem::BTT_INFO_BAD_SIGNATURE, where,
            all_zero(p.serialize()) ? "the block is all zero" : "signature bytes damaged", off};
  if (!p.checksum_ok())
    return {Problem::BTT_INFO_BAD_CHECKSUM, where,
            fmt::format("stored {}, computed {}", hex(p.checksum), hex(p.computed_checksum())),
            off + offsetof(BttInfoRaw, checksum)};
  return {Problem::BTT_INFO_PARENT_UUID, where,
          fmt::format("parent_uuid {} is not {}", p.parent_uuid.to_string(),
                      s.parent ? s.parent->to_string() : "-"),
          off + offsetof(BttInfoRaw, parent_uuid)};
}

bool is_layout_problem(Problem p) {
  switch (p) {
    case Problem::BTT_INFO_NFREE:
    case Problem::BTT_INFO_NLBA_MISMATCH:
    case Problem::BTT_INFO_LBASIZE:
    case Problem::BTT_INFO_OFFSETS:
    case Problem::BTT_INFO_INFO2OFF:
    case Problem::BTT_INFO_VERSION_UNKNOWN:
      return true;
    default:
      return false;
  }
}

std::uint64_t arena_span(std::uint64_t remaining) { return std::min(remaining, kBttArenaMaxSize); }

// Arena-relative offset where the writer puts the backup of an arena with `remaining` bytes
// left: the last 4 KiB of the arena (kernel alloc_arena rounds the arena down to 4 KiB first;
// PMDK btt_info_set_offs uses the size as is).
std::uint64_t default_backup_rel(std::uint64_t remaining, BttFlavor flavor) {
  std::uint64_t end = arena_span(remaining);
  if (flavor == BttFlavor::Kernel) end = align_down(end, kBttInfoSize);
  return end >= kBttInfoSize ? end - kBttInfoSize : 0;
}

// Findings that say an identity-valid copy does not describe this arena: its layout fields,
// version, infosize, nextoff, or (arena k > 0) uuid/lbasize/version against arena 0. Flags and
// padding are excluded: they do not make the copy describe a different layout.
bool is_insane(Problem p) {
  switch (p) {
    case Problem::BTT_INFO_VERSION_UNKNOWN:
    case Problem::BTT_INFO_VERSION_OFFSET:
    case Problem::BTT_INFO_INFOSIZE:
    case Problem::BTT_INFO_NFREE:
    case Problem::BTT_INFO_NLBA_MISMATCH:
    case Problem::BTT_INFO_LBASIZE:
    case Problem::BTT_INFO_OFFSETS:
    case Problem::BTT_INFO_INFO2OFF:
    case Problem::BTT_INFO_NEXTOFF:
    case Problem::BTT_INFO_GEOMETRY_MISMATCH:
    case Problem::BTT_INFO_UUID_INCONSISTENT:
      return true;
    default:
      return false;
  }
}

// What one identity-valid copy says about the arena beyond its identity: validate()'s semantic
// findings, consistency with arena 0, and (when the layout is usable) every field against the
// writer's layout. `usable` false: the regions cannot be trusted enough to read log and map.
Findings semantic_findings(const BttInfo& info, const BttSearch& s, std::uint64_t rel,
                           std::uint32_t k, BttVersion version, const BttReport& rep,
                           const std::string& where, std::uint64_t off, bool& usable) {
  Findings out;
  if (k > 0 && (info.uuid != rep.uuid || info.external_lbasize != rep.external_lbasize ||
                info.version() != version))
    out.push_back({Problem::BTT_INFO_UUID_INCONSISTENT, where,
                   fmt::format("uuid {} lbasize {} version {}.{} vs arena 0: {} {} {}",
                               info.uuid.to_string(), info.external_lbasize, info.version_major,
                               info.version_minor, rep.uuid.to_string(), rep.external_lbasize,
                               btt_version_name(version)),
                   off});
  BttInfoContext ctx;
  ctx.flavor = s.flavor;
  ctx.remaining = s.ns.size - rel;
  ctx.expected_version = version;
  if (s.parent) ctx.namespace_uuid = *s.parent;
  ctx.arena_index = k;
  ctx.offset = off;
  ctx.where = where;
  usable = true;
  for (auto& f : info.validate(ctx)) {
    if (f.code == Problem::BTT_INFO_BAD_SIGNATURE || f.code == Problem::BTT_INFO_BAD_CHECKSUM ||
        f.code == Problem::BTT_INFO_PARENT_UUID)
      continue;
    if (is_layout_problem(f.code)) usable = false;
    out.push_back(std::move(f));
  }
  if (usable) {
    BttGeometryParams p;
    p.namespace_size = s.ns.size;
    p.external_lbasize = info.external_lbasize;
    p.version = version;
    p.flavor = s.flavor;
    p.nfree = info.nfree;
    if (auto layout = compute_btt_layout(p);
        layout && k < layout->size() && (*layout)[k].offset == rel)
      for (auto& f : geometry_mismatch_findings(info, (*layout)[k], where, off))
        out.push_back(std::move(f));
  }
  return out;
}

bool any_insane(const Findings& fs) {
  return std::any_of(fs.begin(), fs.end(), [](const Finding& f) { return is_insane(f.code); });
}

// Cheap first test of a candidate layout: the log there is one the kernel accepts, every lane
// has a current entry and every entry is inside the layout's ranges.
bool log_plausible(const BlockDevice& dev, std::uint64_t log_abs, const ArenaLayout& al) {
  auto raw = dev.read_vec(log_abs, std::size_t{al.nfree} * kBttLogGroupSize);
  if (!raw) return false;
  auto groups = decode_log_groups(*raw, al.nfree);
  if (!groups) return false;
  auto idx = detect_log_indices(*groups);
  if (!idx) return false;
  for (const auto& g : *groups) {
    const BttLane lane = lane_of(g, *idx);
    const auto sel = select_current(lane);
    const auto cur = sel.current();
    if (sel.verdict != BttSeqVerdict::Valid || !cur) return false;
    const BttLogEntry& e = lane.sub[*cur];
    if (e.lba >= al.external_nlba || e.old_block() >= al.internal_nlba ||
        e.new_block() >= al.internal_nlba)
      return false;
  }
  return true;
}

struct Rebuild {
  std::optional<BttInfo> info;
  ArenaReport proof;
  std::string why;
};

// Both copies lost: the writer's layout for each candidate LBA size, kept only if the arena's
// log and map at that layout are a complete, consistent BTT (every block referenced once).
Rebuild rebuild_from_geometry(const BttSearch& s, std::uint64_t rel, std::uint32_t k,
                              const BttReport* so_far, BttVersion version) {
  Rebuild out;
  std::vector<std::uint32_t> sizes;
  if (so_far && !so_far->arenas.empty() && so_far->arenas.front().info)
    sizes.push_back(so_far->arenas.front().info->external_lbasize);
  else if (!s.lbasize_hints.empty())
    sizes = s.lbasize_hints;
  else
    sizes.assign(kBttKernelLbaSizes.begin(), kBttKernelLbaSizes.end());
  Uuid uuid;
  bool uuid_known = false;
  if (so_far)
    for (const auto& a : so_far->arenas)
      if (a.info) {
        uuid = a.info->uuid;
        uuid_known = true;
        break;
      }
  const Uuid parent = s.parent.value_or(Uuid{});
  std::vector<std::pair<std::uint32_t, Rebuild>> proven;
  for (std::uint32_t lbasize : sizes) {
    BttGeometryParams p;
    p.namespace_size = s.ns.size;
    p.external_lbasize = lbasize;
    p.version = version;
    p.flavor = s.flavor;
    auto layout = compute_btt_layout(p);
    if (!layout || k >= layout->size()) continue;
    const ArenaLayout& al = (*layout)[k];
    if (al.offset != rel) continue;
    if (!log_plausible(s.dev, s.ns.offset + rel + al.logoff, al)) continue;
    BttInfo info = make_arena_info(al, uuid_known ? uuid : Uuid{}, parent, version);
    ArenaReport proof;
    proof.index = k;
    proof.offset = s.ns.offset + rel;
    CheckOptions o = s.opts;
    o.progress = nullptr;
    check_arena_metadata(s.dev, info, s.flavor, proof, o);
    bool ok = proof.log_indices.has_value() && proof.leaked_blocks == 0 &&
              proof.duplicate_blocks == 0 && proof.map.out_of_range == 0;
    for (const auto& f : proof.findings)
      if (f.severity() != Severity::Info) ok = false;
    if (!ok) continue;
    Rebuild r;
    r.info = info;
    r.proof = std::move(proof);
    proven.emplace_back(lbasize, std::move(r));
  }
  if (proven.size() == 1) {
    out = std::move(proven.front().second);
    if (!uuid_known) {
      out.info->uuid = Uuid::random();
      *out.info = out.info->with_checksum();
      out.why = fmt::format(
          "layout for {}-byte sectors proven by the arena's log and map; the BTT uuid was lost "
          "with both copies, a new one ({}) is written",
          proven.front().first, out.info->uuid.to_string());
    } else {
      out.why = fmt::format("layout for {}-byte sectors proven by the arena's log and map",
                            proven.front().first);
    }
  } else if (proven.empty()) {
    out.why = "no writer layout for this namespace matches the arena's log and map";
  } else {
    std::vector<std::uint32_t> l;
    for (const auto& p : proven) l.push_back(p.first);
    out.why = fmt::format("ambiguous: the layouts for sector sizes {} all fit the log and map",
                          fmt::join(l, ", "));
  }
  return out;
}

// Walk the arenas from arena 0 at `rel0`. `hit` false: nothing BTT-like at this candidate.
BttReport walk(const BttSearch& s, std::uint64_t rel0, BttVersion version, bool& hit) {
  BttReport rep;
  rep.flavor = s.flavor;
  rep.version = version;
  rep.arena0_offset = rel0;
  hit = false;
  std::uint64_t rel = rel0;
  std::uint64_t first_lba = 0;
  const std::uint64_t max_arenas = s.ns.size / kBttArenaMinSize + 1;
  for (std::uint32_t k = 0; k < max_arenas; ++k) {
    const std::string where = fmt::format("arena {}", k);
    if (!range_fits(rel, 2 * kBttInfoSize, s.ns.size)) break;
    const std::uint64_t remaining = s.ns.size - rel;
    ArenaReport ar;
    ar.index = k;
    ar.offset = s.ns.offset + rel;
    ar.first_lba = first_lba;
    const auto primary = read_info(s.dev, ar.offset);
    std::string pwhy = "unreadable", bwhy = "unreadable";
    const bool pvalid = primary && info_valid(*primary, s, &pwhy);
    // The backup sits where the primary's info2off says, else where the writer puts it: a
    // primary with a damaged (resealed) info2off must neither hide a good backup nor send a
    // repair write into the log or data area.
    const std::uint64_t drel = default_backup_rel(remaining, s.flavor);
    std::uint64_t brel = drel;
    std::optional<BttInfo> backup;
    bool bvalid = false;
    if (pvalid && primary->info2off >= kBttInfoSize && primary->info2off != drel &&
        range_fits(primary->info2off, kBttInfoSize, remaining)) {
      backup = read_info(s.dev, ar.offset + primary->info2off);
      bvalid = backup && info_valid(*backup, s, &bwhy);
      if (bvalid) brel = primary->info2off;
    }
    if (!bvalid) {
      backup = read_info(s.dev, ar.offset + drel);
      bwhy = "unreadable";
      bvalid = backup && info_valid(*backup, s, &bwhy);
    }
    // Only a backup that can stand in for a lost arena-0 primary must carry the version the
    // kernel probes for (nd_btt_version); next to a valid primary a version difference is a
    // mismatch judged below.
    if (bvalid && !pvalid && k == 0 && backup->version() != version) {
      bvalid = false;
      bwhy = fmt::format("version {}.{} does not match arena 0 at namespace offset {}",
                         backup->version_major, backup->version_minor, rel0);
    }
    ar.backup_offset = ar.offset + brel;
    ar.primary_valid = pvalid;
    ar.backup_valid = bvalid;
    std::optional<ArenaReport> proof;
    std::optional<Findings> sem;  // semantic findings of the copy in use, when already known
    bool usable = false;
    if (k == 0) hit = (primary && primary->signature_ok()) || bvalid;
    if (pvalid && bvalid && backup->serialize() != primary->serialize()) {
      // Both intact but different. The kernel reads only the primary, so it wins, unless it
      // describes another layout (or another BTT) while the backup is exactly the writer's: a
      // resealed primary with damaged fields; then the backup restores it.
      bool pu = false, bu = false;
      Findings ps = semantic_findings(*primary, s, rel, k, version, rep, where, ar.offset, pu);
      Findings bs = semantic_findings(*backup, s, rel, k, version, rep, where + " info2",
                                      ar.backup_offset, bu);
      if (any_insane(ps) && !any_insane(bs)) {
        ar.source = InfoSource::Backup;
        ar.info = *backup;
        ar.rebuilt = *backup;
        for (auto& f : ps) {
          if (!is_insane(f.code)) continue;
          f.detail += fmt::format("; the valid backup at {} matches the writer's layout: the "
                                  "primary is restored from it",
                                  hex(ar.backup_offset));
          ar.findings.push_back(std::move(f));
        }
        sem = std::move(bs);
        usable = bu;
      } else {
        ar.source = InfoSource::Primary;
        ar.info = *primary;
        std::vector<std::string> fields;
        const ByteVec pb = primary->serialize(), bb = backup->serialize();
        for (const auto& fd : BttInfo::fields())
          if (!std::equal(pb.begin() + fd.offset, pb.begin() + fd.offset + fd.size,
                          bb.begin() + fd.offset))
            fields.push_back(std::string(fd.name));
        ar.backup_restore_unsafe = any_insane(ps) && any_insane(bs);
        ar.findings.push_back({Problem::BTT_INFO2_MISMATCH, where + " info2",
                               fmt::format("valid but differs from the primary in {}{}",
                                           fmt::join(fields, ", "),
                                           ar.backup_restore_unsafe
                                               ? "; neither copy is the writer's layout: not "
                                                 "restored"
                                               : ""),
                               ar.backup_offset});
        sem = std::move(ps);
        usable = pu;
      }
    } else if (pvalid) {
      ar.source = InfoSource::Primary;
      ar.info = *primary;
      if (!bvalid)
        ar.findings.push_back({Problem::BTT_INFO2_BAD, where + " info2", bwhy, ar.backup_offset});
      else
        ar.backup_identical = true;
    } else if (bvalid) {
      ar.source = InfoSource::Backup;
      ar.info = *backup;
      ar.rebuilt = *backup;
      ar.findings.push_back(primary ? primary_problem(*primary, s, where, ar.offset)
                                    : Finding{Problem::IMAGE_TRUNCATED, where, "unreadable",
                                              ar.offset});
    } else if (const auto* intact = primary && primary->signature_ok() && primary->checksum_ok()
                                        ? &*primary
                                    : backup && backup->signature_ok() && backup->checksum_ok()
                                        ? &*backup
                                        : nullptr) {
      // Neither copy is damaged: they name another parent. That is a BTT of another namespace
      // (the kernel ignores it and would lay out a fresh one: nd_btt_arena_is_valid); adopting
      // its map and data here would be a guess, so it is only reported.
      ar.findings.push_back(primary_problem(*intact, s, where, ar.offset));
      if (k > 0)
        ar.findings.push_back({Problem::BTT_ARENA_CHAIN_BROKEN, where,
                               "the kernel refuses the whole BTT: this arena names another "
                               "parent",
                               ar.offset});
      rep.arenas.push_back(std::move(ar));
      break;
    } else {
      auto rb = rebuild_from_geometry(s, rel, k, &rep, version);
      if (!rb.info) {
        if (k == 0 && !hit) return rep;  // nothing here after all
        ar.findings.push_back({Problem::BTT_INFO_BOTH_BAD, where,
                               fmt::format("primary: {}; backup at {}: {}; {}", pwhy,
                                           hex(ar.backup_offset), bwhy, rb.why),
                               ar.offset});
        if (k > 0)
          ar.findings.push_back({Problem::BTT_ARENA_CHAIN_BROKEN, where,
                                 "the kernel refuses the whole BTT (discover_arenas: a later "
                                 "arena's info block is invalid) and no copy is left",
                                 ar.offset});
        rep.arenas.push_back(std::move(ar));
        break;
      }
      hit = true;
      ar.findings.push_back({Problem::BTT_INFO_BOTH_BAD, where,
                             fmt::format("primary: {}; backup at {}: {}; {}", pwhy,
                                         hex(ar.backup_offset), bwhy, rb.why),
                             ar.offset});
      ar.source = InfoSource::Geometry;
      proof = std::move(rb.proof);
      ar.info = *rb.info;
      ar.rebuilt = *rb.info;
      ar.backup_offset = ar.offset + rb.info->info2off;
    }
    // Kernel discover_arenas reads every arena's primary and fails the whole BTT ("Found
    // corrupted metadata!") when a later one is invalid, although arena 0 is fine; the copy
    // found above (backup or geometry) restores it.
    if (k > 0 && !pvalid)
      ar.findings.push_back({Problem::BTT_ARENA_CHAIN_BROKEN, where,
                             fmt::format("primary invalid ({}): the kernel refuses the whole "
                                         "BTT until it is restored from the {}",
                                         pwhy, info_source_name(ar.source)),
                             ar.offset});
    const BttInfo& info = *ar.info;
    if (k == 0) {
      rep.uuid = info.uuid;
      rep.parent_uuid = info.parent_uuid;
      rep.external_lbasize = info.external_lbasize;
    }
    // Semantic checks of the copy in use (its identity is already established).
    if (!sem) sem = semantic_findings(info, s, rel, k, version, rep, where, ar.offset, usable);
    for (auto& f : *sem) ar.findings.push_back(std::move(f));
    ar.layout_usable = usable;
    if (usable) {
      if (ar.source == InfoSource::Geometry) {
        // The proof already ran the log/map pass on exactly this layout.
        for (auto& f : proof->findings) ar.findings.push_back(std::move(f));
        ar.log_indices = proof->log_indices;
        ar.map = proof->map;
      } else {
        check_arena_metadata(s.dev, info, s.flavor, ar, s.opts);
      }
    }
    first_lba += info.external_nlba;
    rep.external_nlba = first_lba;
    const std::uint64_t next = info.nextoff;
    rep.arenas.push_back(std::move(ar));
    if (next == 0 || !usable) break;
    auto n = checked_add(rel, next);
    if (!n || !range_fits(*n, kBttInfoSize, s.ns.size)) {
      rep.arenas.back().findings.push_back(
          {Problem::BTT_INFO_NEXTOFF, where,
           fmt::format("nextoff {} points past the namespace", hex(next)), rep.arenas.back().offset});
      break;
    }
    rel = *n;
  }
  return rep;
}

}  // namespace

std::optional<BttReport> check_btt(const BttSearch& s) {
  for (const auto& [rel, version] : s.candidates) {
    bool hit = false;
    BttReport r = walk(s, rel, version, hit);
    if (hit) return r;
  }
  return std::nullopt;
}

}  // namespace ndtk::check_detail
