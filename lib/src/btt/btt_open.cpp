// BttDevice open: arena discovery (kernel discover_arenas / nd_btt_arena_is_valid, PMDK
// read_layout / read_info), log padding detection and load-time recovery (kernel
// btt_freelist_init, PMDK read_flog_pair). Read-only opens compute the same state in memory.
#include <algorithm>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "btt_device_impl.h"
#include "ndtk/btt/btt_layout_writer.h"
#include "ndtk/geometry/btt_geometry.h"

namespace ndtk {

using btt_detail::Arena;
using btt_detail::FreeEntry;

namespace {

std::string ns_where(std::uint64_t off) { return fmt::format("namespace offset {:#x}", off); }

/// The identity checks the writer applies before trusting an info block.
/// Kernel nd_btt_arena_is_valid: signature, parent uuid (zero matches anything), checksum.
/// PMDK read_info: signature, parent uuid (exact), checksum, major != 0.
Result<BttInfo> check_info(Bytes block, const BttOpenOptions& o, std::uint32_t index,
                           std::uint64_t ns_off) {
  const std::string what = fmt::format("arena {} info block at {}", index, ns_where(ns_off));
  auto parsed = BttInfo::parse(block);
  if (!parsed) {
    Error e = std::move(parsed).error();
    e.prefix(what);
    return Unexpected{std::move(e)};
  }
  const BttInfo& info = *parsed;
  if (o.parent_uuid) {
    const bool zero_ok = o.flavor == BttFlavor::Kernel && info.parent_uuid.is_zero();
    if (!zero_ok && info.parent_uuid != *o.parent_uuid)
      return Unexpected{field_error(Errc::kBadField, what, "parent_uuid",
                                    offsetof(BttInfoRaw, parent_uuid),
                                    o.parent_uuid->to_string() +
                                        (o.flavor == BttFlavor::Kernel ? " or zero" : ""),
                                    info.parent_uuid.to_string())};
  }
  if (o.flavor == BttFlavor::Pmdk && info.version_major == 0)
    return Unexpected{field_error(Errc::kBadField, what, "version_major",
                                  offsetof(BttInfoRaw, version_major), ">= 1", "0")};
  return info;
}

Error geometry_error(std::uint32_t index, const std::string& field, std::size_t field_off,
                     std::string expected, std::string found) {
  return field_error(Errc::kBadField, fmt::format("arena {} info block", index), field, field_off,
                     std::move(expected), std::move(found));
}

}  // namespace

Result<BttDevice> BttDevice::open(PersistRegionPtr region, const BttOpenOptions& opts) {
  if (!region) return fail(Errc::kInvalidArgument, "BttDevice::open: no region");
  if (opts.writable && !region->writable())
    return fail(Errc::kReadOnly, region->name() + ": region is read-only; cannot open the BTT "
                                                  "for writing");
  auto impl = std::make_unique<Impl>();
  impl->region_owner = std::move(region);
  impl->region = impl->region_owner.get();
  impl->base = impl->region->data();
  impl->opts = opts;
  impl->flavor = opts.flavor;
  impl->writable = opts.writable;
  auto found = impl->discover();
  if (!found) {
    // Every error names the image once.
    Error e = std::move(found).error();
    const std::string& name = impl->region->name();
    if (e.structure.rfind(name, 0) != 0 && e.what.rfind(name, 0) != 0) e.prefix(name);
    return Unexpected{std::move(e)};
  }
  return BttDevice(std::move(impl));
}

Result<void> BttDevice::Impl::discover() {
  const std::uint64_t rsize = region->size();
  if (opts.namespace_offset > rsize)
    return fail(Errc::kOutOfRange,
                fmt::format("{}: namespace offset {:#x} lies past the end ({:#x} bytes)",
                            region->name(), opts.namespace_offset, rsize));
  const std::uint64_t ns_size = opts.namespace_size.value_or(rsize - opts.namespace_offset);
  if (!range_fits(opts.namespace_offset, ns_size, rsize))
    return fail(Errc::kOutOfRange,
                fmt::format("{}: namespace [{:#x}, +{:#x}) lies past the end ({:#x} bytes)",
                            region->name(), opts.namespace_offset, ns_size, rsize));
  opts.namespace_size = ns_size;
  const std::uint64_t ns = opts.namespace_offset;
  auto info_bytes = [&](std::uint64_t off) -> std::optional<Bytes> {
    if (!range_fits(off, kBttInfoSize, ns_size)) return std::nullopt;
    return Bytes(base + ns + off, kBttInfoSize);
  };

  // --- arena 0: where, which version ---
  struct Candidate {
    std::uint64_t off;
    std::optional<BttVersion> version;  // required version, nullopt = 1.1 or 2.0 (or any, PMDK)
  };
  std::vector<Candidate> cands;
  if (opts.arena0_offset)
    cands.push_back({*opts.arena0_offset, std::nullopt});
  else if (flavor == BttFlavor::Pmdk)
    cands.push_back({0, std::nullopt});
  else
    cands = {{btt_initial_offset(BttVersion::V1_1), BttVersion::V1_1},
             {btt_initial_offset(BttVersion::V2_0), BttVersion::V2_0}};

  std::optional<BttInfo> info0;
  std::string why;
  for (const Candidate& c : cands) {
    auto b = info_bytes(c.off);
    if (!b) {
      why += fmt::format("{}{}: namespace too small ({:#x} bytes) for an info block",
                         why.empty() ? "" : "; ", ns_where(c.off), ns_size);
      continue;
    }
    auto info = check_info(*b, opts, 0, c.off);
    if (!info) {
      why += (why.empty() ? "" : "; ") + info.error().message();
      continue;
    }
    if (flavor == BttFlavor::Kernel) {
      const auto v = info->version();
      const bool ok_version = c.version ? v == c.version : v.has_value();
      if (!ok_version) {
        why += fmt::format("{}arena 0 info block at {}: version {}.{} (expected {})",
                           why.empty() ? "" : "; ", ns_where(c.off), info->version_major,
                           info->version_minor,
                           c.version ? btt_version_name(*c.version) : "1.1 or 2.0");
        continue;
      }
    }
    arena0_offset = c.off;
    info0 = std::move(*info);
    break;
  }

  if (!info0) {
    // A PMDK pool that was created but never written has no info block at all.
    auto b = info_bytes(0);
    const bool absent =
        b && std::memcmp(b->data(), kBttInfoSignature.data(), kBttInfoSignature.size()) != 0;
    if (flavor == BttFlavor::Pmdk && opts.allow_unformatted && absent) {
      if (!opts.expected_lbasize)
        return fail(Errc::kInvalidArgument,
                    "unformatted PMDK BTT: the pool's block size (expected_lbasize) is needed");
      NDTK_TRY(layout, pmdk_btt_layout(ns_size, *opts.expected_lbasize));
      nlba = btt_total_external_lbas(layout);
      lbasize = *opts.expected_lbasize;
      sector_size = lbasize;
      arena0_offset = 0;
      version = BttVersion::V1_1;
      formatted.store(false, std::memory_order_relaxed);
      std::uint32_t nfree = kBttDefaultNfree;
      for (const ArenaLayout& l : layout) nfree = std::min(nfree, l.nfree);
      const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
      nlanes = opts.lanes ? std::min<unsigned>(opts.lanes, nfree)
                          : std::min<unsigned>(nfree, std::clamp(2 * hw, 4u, 64u));
      lanes = std::vector<btt_detail::SpinLock>(nlanes);
      return ok();
    }
    Error e = make_error(Errc::kNotPresent, "no valid BTT: " + why);
    // Keep the most specific code when there was a single candidate.
    if (cands.size() == 1) {
      auto b0 = info_bytes(cands[0].off);
      if (b0) {
        auto r = check_info(*b0, opts, 0, cands[0].off);
        if (!r) e.code = r.error().code;
      }
    }
    e.prefix(region->name());
    return Unexpected{std::move(e)};
  }
  version = info0->version().value_or(BttVersion::V1_1);

  // --- pass 1: every arena's info block and geometry (PMDK needs the total LBA count before
  // it reads any log) ---
  struct Found {
    std::uint64_t off;
    BttInfo info;
  };
  std::vector<Found> found;
  std::uint64_t off = arena0_offset;
  std::uint64_t total = 0;
  for (std::uint32_t index = 0;; ++index) {
    BttInfo info;
    if (index == 0) {
      info = *info0;
    } else {
      auto b = info_bytes(off);
      if (!b)
        return fail(Errc::kCorrupt,
                    fmt::format("{}: arena {} at {} lies past the end of the namespace "
                                "(corrupted metadata: arena {} nextoff)",
                                region->name(), index, ns_where(off), index - 1));
      auto r = check_info(*b, opts, index, off);
      if (!r) {
        Error e = std::move(r).error();
        e.code = Errc::kCorrupt;
        e.prefix(region->name() + ": found corrupted metadata");
        return Unexpected{std::move(e)};
      }
      info = std::move(*r);
    }
    const std::string where = fmt::format("arena {} info block", index);
    const std::uint64_t avail = ns_size - off;  // bytes from this arena's start to the end
    if (info.nfree == 0)
      return Unexpected{geometry_error(index, "nfree", offsetof(BttInfoRaw, nfree), ">= 1", "0")};
    if (info.external_lbasize == 0 || info.internal_lbasize < info.external_lbasize)
      return Unexpected{geometry_error(index, "internal_lbasize",
                                       offsetof(BttInfoRaw, internal_lbasize),
                                       fmt::format(">= external_lbasize {}", info.external_lbasize),
                                       std::to_string(info.internal_lbasize))};
    if (info.internal_nlba > kBttMapLbaMask + 1u)
      return Unexpected{geometry_error(index, "internal_nlba", offsetof(BttInfoRaw, internal_nlba),
                                       "<= 2^30", std::to_string(info.internal_nlba))};
    if (index > 0 && info.external_lbasize != info0->external_lbasize)
      return Unexpected{geometry_error(index, "external_lbasize",
                                       offsetof(BttInfoRaw, external_lbasize),
                                       std::to_string(info0->external_lbasize) + " (arena 0)",
                                       std::to_string(info.external_lbasize))};
    if (flavor == BttFlavor::Pmdk) {
      if (opts.expected_lbasize && info.external_lbasize != *opts.expected_lbasize)
        return Unexpected{geometry_error(index, "external_lbasize",
                                         offsetof(BttInfoRaw, external_lbasize),
                                         std::to_string(*opts.expected_lbasize) + " (pool bsize)",
                                         std::to_string(info.external_lbasize))};
      if (info.external_nlba == 0)
        return Unexpected{geometry_error(index, "external_nlba",
                                         offsetof(BttInfoRaw, external_nlba), ">= 1", "0")};
      if (info.nextoff != 0 && info.nextoff != kBttArenaMaxSize)
        return Unexpected{geometry_error(index, "nextoff", offsetof(BttInfoRaw, nextoff),
                                         "0 or 512 GiB", hex(info.nextoff))};
    }
    // Every region the data path touches must lie inside the namespace.
    const auto data_len = checked_mul(info.internal_nlba, info.internal_lbasize);
    const auto map_len = checked_mul(info.external_nlba, kBttMapEntrySize);
    const auto log_len = checked_mul(info.nfree, kBttLogGroupSize);
    if (!data_len || !range_fits(info.dataoff, *data_len, avail))
      return Unexpected{geometry_error(index, "dataoff", offsetof(BttInfoRaw, dataoff),
                                       fmt::format("data area ({} blocks of {}) inside the "
                                                   "namespace ({:#x} bytes from the arena)",
                                                   info.internal_nlba, info.internal_lbasize, avail),
                                       hex(info.dataoff))};
    if (!map_len || !range_fits(info.mapoff, *map_len, avail))
      return Unexpected{geometry_error(index, "mapoff", offsetof(BttInfoRaw, mapoff),
                                       fmt::format("map ({} entries) inside the namespace "
                                                   "({:#x} bytes from the arena)",
                                                   info.external_nlba, avail),
                                       hex(info.mapoff))};
    if (!log_len || !range_fits(info.logoff, *log_len, avail))
      return Unexpected{geometry_error(index, "logoff", offsetof(BttInfoRaw, logoff),
                                       fmt::format("log ({} lanes) inside the namespace "
                                                   "({:#x} bytes from the arena)",
                                                   info.nfree, avail),
                                       hex(info.logoff))};
    const auto abs_map = reinterpret_cast<std::uintptr_t>(base + ns + off + info.mapoff);
    const auto abs_log = reinterpret_cast<std::uintptr_t>(base + ns + off + info.logoff);
    if (abs_map % kBttMapEntrySize != 0)
      return fail(Errc::kUnsupported,
                  fmt::format("{}: {}: map at {} is not 4-byte aligned in memory", region->name(),
                              where, ns_where(off + info.mapoff)));
    if (abs_log % 8 != 0)
      return fail(Errc::kUnsupported,
                  fmt::format("{}: {}: log at {} is not 8-byte aligned in memory", region->name(),
                              where, ns_where(off + info.logoff)));
    total += info.external_nlba;
    const std::uint64_t next = info.nextoff;
    found.push_back({off, std::move(info)});
    if (next == 0) break;
    // Kernel: remaining -= nextoff; stop when nothing remains.
    const auto next_off = checked_add(off, next);
    if (!next_off || *next_off > ns_size)
      return fail(Errc::kCorrupt,
                  fmt::format("{}: arena {} nextoff {:#x} points past the end of the namespace "
                              "(corrupted metadata)",
                              region->name(), index, next));
    if (*next_off == ns_size) break;
    off = *next_off;
  }
  nlba = total;
  lbasize = info0->external_lbasize;
  if (flavor == BttFlavor::Pmdk)
    sector_size = lbasize;
  else
    sector_size = lbasize >= 4096 ? 4096 : std::min<std::uint32_t>(lbasize, 512);

  // --- pass 2: logs, free lists, recovery ---
  arenas = std::vector<Arena>(found.size());
  std::uint64_t first = 0;
  std::uint32_t min_nfree = UINT32_MAX;
  for (std::size_t i = 0; i < found.size(); ++i) {
    Arena& a = arenas[i];
    const BttInfo& info = found[i].info;
    a.start = ns + found[i].off;
    a.data = a.start + info.dataoff;
    a.map = a.start + info.mapoff;
    a.log = a.start + info.logoff;
    a.internal_lbasize = info.internal_lbasize;
    a.internal_nlba = info.internal_nlba;
    a.external_nlba = info.external_nlba;
    a.nfree = info.nfree;
    a.first_lba = first;
    first += info.external_nlba;
    min_nfree = std::min(min_nfree, info.nfree);
    a.summary.index = static_cast<std::uint32_t>(i);
    a.summary.offset = found[i].off;
    a.summary.size = info.arena_size().value_or(0);
    a.summary.first_lba = a.first_lba;
    a.summary.info = info;
    a.free = std::vector<FreeEntry>(info.nfree);
    a.map_locks = std::vector<btt_detail::SpinLock>(info.nfree);
    NDTK_CHECK(load_arena_logs(a, static_cast<std::uint32_t>(i)));
  }
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  nlanes = opts.lanes ? std::min<unsigned>(opts.lanes, min_nfree)
                      : std::min<unsigned>(min_nfree, std::clamp(2 * hw, 4u, 64u));
  nlanes = std::max(nlanes, 1u);
  lanes = std::vector<btt_detail::SpinLock>(nlanes);
  if (writable)
    for (Arena& a : arenas) a.init_block_seqs();
  if (writable && !region->drain())
    return fail(Errc::kIo, region->name() + ": recovery writes failed: " + region->error_message());
  summaries.clear();
  for (const Arena& a : arenas) summaries.push_back(a.summary);
  return ok();
}

Result<void> BttDevice::Impl::load_arena_logs(Arena& a, std::uint32_t index) {
  const BttInfo& info = a.summary.info;
  auto refuse = [&](std::string why) {
    if (!a.write_refused) a.summary.write_refused = std::move(why);
    a.write_refused = true;
  };
  if (info.error_flag())
    refuse("info block flags has ERROR set (the arena is in the error state)");
  // Regions overlapping each other (or the info block) would let a write clobber metadata.
  {
    const std::uint64_t iv[4][2] = {
        {0, kBttInfoSize},
        {info.dataoff, info.dataoff + std::uint64_t{info.internal_nlba} * info.internal_lbasize},
        {info.mapoff, info.mapoff + std::uint64_t{info.external_nlba} * kBttMapEntrySize},
        {info.logoff, info.logoff + std::uint64_t{info.nfree} * kBttLogGroupSize}};
    static constexpr const char* kNames[4] = {"info block", "data area", "map", "log"};
    for (int i = 0; i < 4; ++i)
      for (int j = i + 1; j < 4; ++j)
        if (iv[i][0] < iv[i][1] && iv[j][0] < iv[j][1] && iv[i][0] < iv[j][1] &&
            iv[j][0] < iv[i][1])
          refuse(fmt::format("the {} and the {} overlap", kNames[i], kNames[j]));
  }

  const std::string where = fmt::format("{}: arena {}", region->name(), index);
  const Bytes log_bytes(base + a.log, std::size_t{a.nfree} * kBttLogGroupSize);
  NDTK_TRY(groups, decode_log_groups(log_bytes, a.nfree));
  BttLogIndices idx = kBttLogIndicesNew;
  if (flavor == BttFlavor::Kernel) {
    auto r = detect_log_indices(groups);
    if (!r) {
      Error e = std::move(r).error();
      e.code = Errc::kCorrupt;
      e.prefix(where + " log (unable to deduce the padding scheme; the kernel refuses this "
                       "BTT)");
      return Unexpected{std::move(e)};
    }
    idx = *r;
  }
  a.slot[0] = idx.sub0;
  a.slot[1] = idx.sub1;
  a.summary.log_indices = idx;

  for (std::uint32_t lane = 0; lane < a.nfree; ++lane) {
    const BttLogGroup& g = groups[lane];
    const BttLogEntry ent[2] = {g.slots[idx.sub0], g.slots[idx.sub1]};
    FreeEntry& fe = a.free[lane];
    std::optional<unsigned> cur;
    if (flavor == BttFlavor::Kernel) {
      cur = kernel_log_current_sub(ent[0].seq, ent[1].seq);
      if (!cur)
        return fail(Errc::kCorrupt,
                    fmt::format("{} lane {}: log corruption: seq [{}, {}] (the kernel refuses "
                                "this BTT)",
                                where, lane, ent[0].seq, ent[1].seq));
    } else {
      // libpmemblk read_flog_pair: an lba beyond the BTT fails the open.
      for (const BttLogEntry& e : ent)
        if (e.lba >= nlba)
          return fail(Errc::kCorrupt,
                      fmt::format("{} lane {}: flog entry lba {} beyond the BTT's {} blocks "
                                  "(libpmemblk refuses to open it)",
                                  where, lane, e.lba, nlba));
      cur = pmdk_flog_current_sub(ent[0].seq, ent[1].seq);
      if (!cur) {
        refuse(fmt::format("lane {}: flog pair has equal sequence numbers ({}); libpmemblk "
                           "marks the arena as in error",
                           lane, ent[0].seq));
        continue;
      }
    }
    const BttLogEntry& n = ent[*cur];
    fe.valid = true;
    fe.sub = static_cast<std::uint8_t>(1 - *cur);
    fe.seq = btt_next_seq(n.seq);
    fe.block = n.old_map & kBttMapLbaMask;
    if (fe.seq == 0)
      refuse(fmt::format("lane {}: current log entry has seq {} (not 1..3)", lane, n.seq));
    if (flavor == BttFlavor::Kernel) {
      const bool e_only = (n.old_map & kBttMapFlagMask) == kBttMapErrorFlag;
      if (e_only) {
        fe.has_err = true;
        ++a.summary.lanes_with_error;
        if (writable && fe.block < a.internal_nlba) {
          region->zero(a.block_offset(fe.block), sector_size);
          fe.has_err = false;
        }
      }
    }

    // Recovery: a logged write whose map update did not reach the media.
    std::optional<std::uint32_t> fix;
    if (flavor == BttFlavor::Kernel) {
      const std::uint32_t lo = n.old_map & kBttMapLbaMask, ln = n.new_map & kBttMapLbaMask;
      if (lo == ln) continue;
      if (n.lba >= a.external_nlba)
        return fail(Errc::kCorrupt,
                    fmt::format("{} lane {}: current log entry lba {} beyond the arena's {} "
                                "map entries",
                                where, lane, n.lba, a.external_nlba));
      const BttMapEntry m{map_load(a, n.lba)};
      const std::uint32_t eff = m.effective_postmap(n.lba);
      if (ln != eff && lo == eff) fix = ln | kBttMapNormal;
    } else {
      if (n.old_map == n.new_map) continue;
      if (n.lba >= a.external_nlba)
        return fail(Errc::kCorrupt,
                    fmt::format("{} lane {}: current flog entry lba {} beyond the arena's {} "
                                "map entries",
                                where, lane, n.lba, a.external_nlba));
      std::uint32_t entry = map_load(a, n.lba);
      if ((entry & kBttMapFlagMask) == 0) entry = n.lba | kBttMapNormal;
      if (n.new_map != entry && n.old_map == entry) fix = n.new_map;
    }
    if (!fix) continue;
    ++a.summary.recovered_map_entries;
    if (writable) {
      region->store32(a.map_offset(n.lba), *fix);
      region->flush(a.map_offset(n.lba), kBttMapEntrySize);
    } else {
      auto it = std::lower_bound(a.overlay.begin(), a.overlay.end(),
                                 std::make_pair(n.lba, std::uint32_t{0}));
      if (it != a.overlay.end() && it->first == n.lba)
        it->second = *fix;
      else
        a.overlay.insert(it, {n.lba, *fix});
    }
  }

  // Free blocks must be real blocks and distinct, or two writes would share a block.
  std::vector<std::uint32_t> blocks;
  for (std::uint32_t lane = 0; lane < a.nfree; ++lane) {
    const FreeEntry& fe = a.free[lane];
    if (!fe.valid) continue;
    if (fe.block >= a.internal_nlba) {
      refuse(fmt::format("lane {}: free block {} beyond internal_nlba {}", lane, fe.block,
                         a.internal_nlba));
      continue;
    }
    blocks.push_back(fe.block);
  }
  std::sort(blocks.begin(), blocks.end());
  const auto dup = std::adjacent_find(blocks.begin(), blocks.end());
  if (dup != blocks.end())
    refuse(fmt::format("block {} is the free block of two lanes", *dup));
  return ok();
}

Result<void> BttDevice::Impl::lay_out_pmdk() {
  std::lock_guard<std::mutex> lock(layout_mutex);
  if (formatted.load(std::memory_order_acquire)) return ok();
  const std::uint64_t ns_size = *opts.namespace_size;
  NDTK_TRY(layout, pmdk_btt_layout(ns_size, lbasize));
  const Uuid parent = opts.parent_uuid.value_or(Uuid{});
  NDTK_CHECK(write_btt_layout(*region, opts.namespace_offset, layout, Uuid::random(), parent,
                              BttVersion::V1_1, BttFlavor::Pmdk, opts.pool_is_zeroed));
  // Load it exactly as an open would; the lanes and their count stay as they are.
  Impl fresh;
  fresh.region_owner = region_owner;
  fresh.region = region;
  fresh.base = base;
  fresh.opts = opts;
  fresh.opts.allow_unformatted = false;
  fresh.opts.lanes = nlanes;
  fresh.flavor = flavor;
  fresh.writable = writable;
  NDTK_CHECK(fresh.discover());
  arenas = std::move(fresh.arenas);
  summaries = std::move(fresh.summaries);
  nlba = fresh.nlba;
  version = fresh.version;
  formatted.store(true, std::memory_order_release);
  return ok();
}

}  // namespace ndtk
