// BTT log + map + block-reference pass: per lane the current entry (or, for a damaged lane, the
// one entry the map corroborates), torn writes, then the map streamed in chunks against a
// bitmap of internal blocks: every block referenced exactly once by the map and the free list.
#include <algorithm>
#include <cstring>
#include <bit>
#include <map>
#include <set>

#include <fmt/format.h>

#include "ndtk/format/btt_map.h"
#include "passes.h"

namespace ndtk::check_detail {

namespace {

constexpr std::size_t kListInDetail = 16;
// Individual findings per code and arena; the rest is summarised in one finding (every listed
// entry is still in the repair plan and in affected_lbas).
constexpr std::size_t kFindingsPerCode = 64;

std::string list_text(const std::vector<std::uint64_t>& v, std::uint64_t total) {
  std::string s;
  for (std::size_t i = 0; i < v.size() && i < kListInDetail; ++i)
    s += fmt::format("{}{}", i ? ", " : "", v[i]);
  if (total > std::min<std::uint64_t>(v.size(), kListInDetail))
    s += fmt::format(" ... ({} in all)", total);
  return s;
}

/// 16 map entries (one 64-byte line of an aligned chunk) all zero.
inline bool zero_line(const std::uint32_t* p) {
  std::uint64_t acc = 0;
  for (int k = 0; k < 8; ++k) {
    std::uint64_t w;
    std::memcpy(&w, p + 2 * k, sizeof w);
    acc |= w;
  }
  return acc == 0;
}

class BlockBitmap {
 public:
  explicit BlockBitmap(std::uint32_t n) : words_((std::size_t{n} + 63) / 64, 0), n_(n) {}
  bool test(std::uint32_t b) const { return (words_[b / 64] >> (b % 64)) & 1u; }
  void set(std::uint32_t b) { words_[b / 64] |= std::uint64_t{1} << (b % 64); }
  std::uint32_t size() const { return n_; }
  std::uint64_t count() const {
    std::uint64_t c = 0;
    // Full words (blocks referenced) and empty ones (no duplicates) are the rule in a healthy
    // BTT, and without -mpopcnt std::popcount is a libgcc call.
    for (auto w : words_)
      if (w != 0) c += w == ~std::uint64_t{0} ? 64 : static_cast<std::uint64_t>(std::popcount(w));
    return c;
  }
  /// Any bit of [lo, hi) set (lo < hi <= size()).
  bool any_in(std::uint32_t lo, std::uint32_t hi) const {
    std::size_t wl = lo / 64, wh = (hi - 1) / 64;
    const std::uint64_t ml = ~std::uint64_t{0} << (lo % 64);
    const std::uint64_t mh = ~std::uint64_t{0} >> (63 - (hi - 1) % 64);
    if (wl == wh) return (words_[wl] & ml & mh) != 0;
    if (words_[wl] & ml) return true;
    for (std::size_t w = wl + 1; w < wh; ++w)
      if (words_[w]) return true;
    return (words_[wh] & mh) != 0;
  }
  /// Set every bit of [lo, hi) (lo < hi <= size()).
  void set_range(std::uint32_t lo, std::uint32_t hi) {
    std::size_t wl = lo / 64, wh = (hi - 1) / 64;
    const std::uint64_t ml = ~std::uint64_t{0} << (lo % 64);
    const std::uint64_t mh = ~std::uint64_t{0} >> (63 - (hi - 1) % 64);
    if (wl == wh) {
      words_[wl] |= ml & mh;
      return;
    }
    words_[wl] |= ml;
    std::fill(words_.begin() + static_cast<std::ptrdiff_t>(wl + 1),
              words_.begin() + static_cast<std::ptrdiff_t>(wh), ~std::uint64_t{0});
    words_[wh] |= mh;
  }
  /// Calls fn(b) for every clear bit b < size(), in ascending order, until fn returns false.
  template <class Fn>
  void for_each_clear(Fn&& fn) const {
    for (std::size_t w = 0; w < words_.size(); ++w) {
      std::uint64_t clear = ~words_[w];
      const std::uint64_t base = std::uint64_t{w} * 64;
      if (base + 64 > n_) clear &= (std::uint64_t{1} << (n_ - base)) - 1;
      while (clear) {
        const int bit = std::countr_zero(clear);
        clear &= clear - 1;
        if (!fn(static_cast<std::uint32_t>(base + static_cast<std::uint64_t>(bit)))) return;
      }
    }
  }

 private:
  std::vector<std::uint64_t> words_;
  std::uint32_t n_;
};

// Reads map entries of one arena; chunked stream or single lookups.
class MapReader {
 public:
  MapReader(const BlockDevice& dev, std::uint64_t map_abs, std::uint32_t n)
      : dev_(dev), base_(map_abs), n_(n) {}
  std::optional<BttMapEntry> entry(std::uint32_t premap) const {
    if (premap >= n_) return std::nullopt;
    std::uint8_t b[4];
    if (!dev_.read_at(base_ + std::uint64_t{premap} * 4, MutBytes(b, 4))) return std::nullopt;
    return BttMapEntry{le32(Bytes(b, 4), 0)};
  }
  /// Calls fn(first, raw, cnt) for every chunk of up to `chunk` entries: raw[i] is the
  /// decoded (host-order) entry of premap first + i. False on a read error.
  template <class Fn>
  bool stream_chunks(std::uint32_t chunk, Fn&& fn) const {
    std::vector<std::uint32_t> words(chunk);
    for (std::uint32_t first = 0; first < n_;) {
      const std::uint32_t cnt = std::min(chunk, n_ - first);
      MutBytes out(reinterpret_cast<std::uint8_t*>(words.data()), std::size_t{cnt} * 4);
      if (!dev_.read_at(base_ + std::uint64_t{first} * 4, out)) return false;
      if constexpr (std::endian::native != std::endian::little) {
        for (std::uint32_t i = 0; i < cnt; ++i)
          words[i] = le32(Bytes(out.data(), out.size()), std::size_t{i} * 4);
      }
      fn(first, words.data(), cnt);
      first += cnt;
    }
    return true;
  }

 private:
  const BlockDevice& dev_;
  std::uint64_t base_;
  std::uint32_t n_;
};

// What the log says about one lane.
struct LaneState {
  std::optional<BttLogEntry> current;       // accepted current entry (valid lane)
  bool damaged = false;                     // seq/padding/range problems: needs a rewrite
  std::vector<BttLogEntry> candidates;      // damaged lane: in-range live entries
  std::optional<std::uint32_t> free_block;  // after analysis
};

bool entry_in_range(const BttLogEntry& e, const BttInfo& info) {
  return e.lba < info.external_nlba && e.old_block() < info.internal_nlba &&
         e.new_block() < info.internal_nlba;
}

// The initial-style entry a lane gets when it is handed a free block.
BttLogEntry free_block_entry(std::uint32_t lane, std::uint32_t block, const BttInfo& info,
                             BttFlavor flavor) {
  BttLogEntry e;
  e.lba = info.external_nlba ? lane % info.external_nlba : 0;
  e.old_map = e.new_map = flavor == BttFlavor::Pmdk ? (block | kBttMapZeroFlag) : block;
  e.seq = kBttLogSeqInit;
  return e;
}

}  // namespace

void check_arena_metadata(const BlockDevice& dev, const BttInfo& info, BttFlavor flavor,
                          ArenaReport& ar, const CheckOptions& opts) {
  const std::string where = fmt::format("arena {}", ar.index);
  auto add = [&](Problem p, std::string w, std::string detail, std::optional<std::uint64_t> off) {
    ar.findings.push_back(Finding{p, std::move(w), std::move(detail), off});
  };
  const std::uint64_t log_abs = ar.offset + info.logoff;
  const std::uint64_t map_abs = ar.offset + info.mapoff;
  const std::uint32_t nfree = info.nfree;

  // ---- log ---------------------------------------------------------------------------
  auto raw_log = dev.read_vec(log_abs, std::size_t{nfree} * kBttLogGroupSize);
  if (!raw_log) {
    add(Problem::IMAGE_TRUNCATED, where, "log unreadable: " + raw_log.error().message(), log_abs);
    return;
  }
  auto groups_r = decode_log_groups(*raw_log, nfree);
  if (!groups_r) {
    add(Problem::IMAGE_TRUNCATED, where, groups_r.error().message(), log_abs);
    return;
  }
  const auto& groups = *groups_r;
  auto idx_r = detect_log_indices(groups);
  BttLogIndices idx = kBttLogIndicesNew;
  const bool scheme_known = idx_r.has_value();
  if (scheme_known) {
    idx = *idx_r;
    ar.log_indices = idx;
    if (idx.old_scheme())
      add(Problem::BTT_LOG_OLD_PADDING_SCHEME, where + " log", "live slots (0,2)", log_abs);
  } else {
    const auto& e = idx_r.error();
    add(Problem::BTT_LOG_UNKNOWN_PADDING, where + " log", e.message(),
        e.offset ? std::optional<std::uint64_t>(log_abs + *e.offset) : log_abs);
  }
  MapReader map(dev, map_abs, info.external_nlba);
  std::vector<LaneState> lanes(nfree);
  std::map<std::uint32_t, std::uint32_t> override_block;  // premap -> block after recovery
  for (std::uint32_t l = 0; l < nfree; ++l) {
    const BttLogGroup& g = groups[l];
    LaneState& ls = lanes[l];
    BttLaneContext lc;
    lc.flavor = flavor;
    lc.arena_index = ar.index;
    lc.lane = l;
    lc.external_nlba = info.external_nlba;
    lc.internal_nlba = info.internal_nlba;
    lc.indices = idx;
    lc.offset = log_abs + std::uint64_t{l} * kBttLogGroupSize;
    Findings lf = scheme_known ? validate_log_lane(g, lc) : Findings{};
    const auto sel = select_current(lane_of(g, idx));
    std::optional<BttLogEntry> cur;
    if (auto c = sel.current()) cur = lane_of(g, idx).sub[*c];
    bool bad = !scheme_known || !cur;
    for (const auto& f : lf)
      if (f.code == Problem::BTT_LOG_BAD_SEQ || f.code == Problem::BTT_LOG_PADDING_NONZERO ||
          f.code == Problem::BTT_LOG_LBA_OUT_OF_RANGE || f.code == Problem::BTT_LOG_MAP_OUT_OF_RANGE)
        bad = true;
    for (auto& f : lf) ar.findings.push_back(std::move(f));
    if (bad) {
      ls.damaged = true;
      for (const auto& e : g.slots)
        if (!e.is_padding() && entry_in_range(e, info) &&
            std::find(ls.candidates.begin(), ls.candidates.end(), e) == ls.candidates.end())
          ls.candidates.push_back(e);
      continue;
    }
    ls.current = cur;
    ls.free_block = cur->old_block();
    if (cur->old_block() == cur->new_block()) continue;
    const auto m = map.entry(cur->lba);
    if (!m) continue;
    const std::uint32_t mb = m->effective_postmap(cur->lba);
    if (mb == cur->new_block()) continue;
    if (mb == cur->old_block()) {
      ++ar.torn_writes;
      override_block[cur->lba] = cur->new_block();
      add(Problem::BTT_LOG_MAP_MISMATCH, fmt::format("{} lane {}", where, l),
          fmt::format("lba {}: map holds old block {}, log entry (seq {}) wrote block {}; the "
                      "kernel completes this write at load",
                      cur->lba, mb, cur->seq, cur->new_block()),
          map_abs + std::uint64_t{cur->lba} * 4);
      ar.map_fixes.push_back({cur->lba, BttMapEntry::normal(cur->new_block()).raw,
                              Problem::BTT_LOG_MAP_MISMATCH,
                              fmt::format("complete the logged write of lane {}", l)});
    } else {
      add(Problem::BTT_LOG_MAP_INCONSISTENT, fmt::format("{} lane {}", where, l),
          fmt::format("lba {}: map block {} is neither old_map {} nor new_map {}", cur->lba, mb,
                      cur->old_block(), cur->new_block()),
          map_abs + std::uint64_t{cur->lba} * 4);
    }
  }

  // ---- map stream: state counts, range, first-pass references ------------------------------
  BlockBitmap seen(info.internal_nlba);
  // Every block referenced more than once (the true count), and the first max_listed of them
  // with their extra references (the ones listed and planned for repair).
  BlockBitmap dup_bits(info.internal_nlba);
  std::map<std::uint32_t, std::uint32_t> dup_count;  // block -> extra references
  std::vector<std::uint32_t> oor;                    // premaps out of range (capped)
  std::uint64_t done = 0;
  auto reference = [&](std::uint32_t b) {
    if (seen.test(b)) {
      dup_bits.set(b);
      if (dup_count.size() < opts.max_listed || dup_count.count(b)) ++dup_count[b];
      else ar.fixes_complete = false;
    } else {
      seen.set(b);
    }
  };
  const bool have_overrides = !override_block.empty();
  // No override for any premap in [lo, hi).
  auto no_override_in = [&](std::uint32_t lo, std::uint32_t hi) {
    if (!have_overrides) return true;
    auto it = override_block.lower_bound(lo);
    return it == override_block.end() || it->first >= hi;
  };
  auto one_entry = [&](std::uint32_t p, BttMapEntry e) {
    switch (e.state()) {
      case BttMapState::Initial: ++ar.map.initial; break;
      case BttMapState::Normal: ++ar.map.normal; break;
      case BttMapState::Zero: ++ar.map.zero; break;
      case BttMapState::Error: ++ar.map.error; break;
    }
    std::uint32_t b = e.effective_postmap(p);
    if (have_overrides)
      if (auto it = override_block.find(p); it != override_block.end()) b = it->second;
    if (b >= info.internal_nlba) {
      ++ar.map.out_of_range;
      if (oor.size() < opts.max_listed) oor.push_back(p);
      else ar.fixes_complete = false;
    } else {
      reference(b);
    }
  };
  constexpr std::uint64_t kProgressEvery = 1u << 20;
  const bool map_ok = map.stream_chunks(opts.map_chunk_entries, [&](std::uint32_t first,
                                                                    const std::uint32_t* raw,
                                                                    std::uint32_t cnt) {
    for (std::uint32_t i = 0; i < cnt;) {
      if (raw[i] != 0) {
        one_entry(first + i, BttMapEntry{raw[i]});
        ++i;
        continue;
      }
      // A run of initial entries maps premap -> premap: blocks [p, p + n) in one go, unless
      // a block is already referenced, lies out of range or an override applies (then the
      // per-entry path finds exactly what it finds for any other entry).
      std::uint32_t j = i + 1;
      while (j < cnt && (j % 16) != 0 && raw[j] == 0) ++j;
      // Then a cache line (16 entries) at a time: the early-exit scalar loop is not
      // vectorised, and untouched maps are mostly such runs.
      while (j + 16 <= cnt && raw[j] == 0 && zero_line(raw + j)) j += 16;
      while (j < cnt && raw[j] == 0) ++j;
      const std::uint32_t lo = first + i, hi = first + j;
      if (hi <= info.internal_nlba && no_override_in(lo, hi) && !seen.any_in(lo, hi)) {
        seen.set_range(lo, hi);
        ar.map.initial += hi - lo;
      } else {
        for (std::uint32_t k = i; k < j; ++k) one_entry(first + k, BttMapEntry{0});
      }
      i = j;
    }
    // Same callbacks as a per-entry check: one at every multiple of kProgressEvery entries.
    const std::uint64_t before = done;
    done += cnt;
    if (opts.progress)
      for (std::uint64_t m = (before / kProgressEvery + 1) * kProgressEvery; m <= done;
           m += kProgressEvery)
        opts.progress({where + " map", m, info.external_nlba});
  });
  if (!map_ok) {
    add(Problem::IMAGE_TRUNCATED, where + " map", "map unreadable", map_abs);
    return;
  }

  // ---- lanes: free blocks; damaged lanes take the one entry the map corroborates ----------
  std::set<std::uint32_t> lane_claimed;
  std::vector<std::uint32_t> lanes_needing_block;
  for (std::uint32_t l = 0; l < nfree; ++l) {
    LaneState& ls = lanes[l];
    if (!ls.damaged) continue;
    // A completed write: map[lba] holds new_map and old_map is referenced by nobody. An
    // initial entry (old == new): the block is referenced by nobody. Either keeps every
    // sector's content as the map has it now.
    std::vector<BttLogEntry> ok;
    for (const auto& e : ls.candidates) {
      const std::uint32_t ob = e.old_block();
      if (seen.test(ob) || lane_claimed.count(ob)) continue;
      bool claimed_by_valid_lane = false;
      for (std::uint32_t k = 0; k < nfree; ++k)
        if (k != l && lanes[k].free_block && *lanes[k].free_block == ob) claimed_by_valid_lane = true;
      if (claimed_by_valid_lane) continue;
      if (ob != e.new_block()) {
        const auto m = map.entry(e.lba);
        if (!m || m->effective_postmap(e.lba) != e.new_block()) continue;
      }
      ok.push_back(e);
    }
    const std::string lw = fmt::format("{} lane {}", where, l);
    if (ok.size() == 1) {
      ls.free_block = ok[0].old_block();
      lane_claimed.insert(*ls.free_block);
      ar.lane_fixes.push_back(
          {l, ok[0], scheme_known ? Problem::BTT_LOG_BAD_SEQ : Problem::BTT_LOG_UNKNOWN_PADDING,
           fmt::format("keep entry {{lba {}, old {}, new {}}}: the map corroborates it", ok[0].lba,
                       ok[0].old_block(), ok[0].new_block())});
    } else {
      lanes_needing_block.push_back(l);
      ++ar.lanes_without_free_block;
    }
  }
  for (std::uint32_t l = 0; l < nfree; ++l)
    if (!lanes[l].damaged && lanes[l].free_block) reference(*lanes[l].free_block);
  for (std::uint32_t b : lane_claimed) reference(b);

  // ---- duplicates: who claims each shared block (second stream only when there are any) ---
  std::map<std::uint32_t, std::vector<std::uint32_t>> dup_map_claimants;  // block -> premaps
  std::map<std::uint32_t, std::vector<std::uint32_t>> dup_lane_claimants;
  if (!dup_count.empty()) {
    (void)map.stream_chunks(opts.map_chunk_entries, [&](std::uint32_t first,
                                                        const std::uint32_t* raw,
                                                        std::uint32_t cnt) {
      for (std::uint32_t i = 0; i < cnt; ++i) {
        const std::uint32_t p = first + i;
        std::uint32_t b = BttMapEntry{raw[i]}.effective_postmap(p);
        if (have_overrides)
          if (auto it = override_block.find(p); it != override_block.end()) b = it->second;
        if (b < info.internal_nlba && dup_bits.test(b) && dup_count.count(b))
          dup_map_claimants[b].push_back(p);
      }
    });
    for (std::uint32_t l = 0; l < nfree; ++l)
      if (lanes[l].free_block && dup_count.count(*lanes[l].free_block))
        dup_lane_claimants[*lanes[l].free_block].push_back(l);
  }
  ar.duplicate_blocks = dup_bits.count();

  // ---- leaks ---------------------------------------------------------------------------
  std::vector<std::uint32_t> leaked;
  seen.for_each_clear([&](std::uint32_t b) {
    ++ar.leaked_blocks;
    if (leaked.size() < opts.max_listed) leaked.push_back(b);
    return true;
  });

  // ---- fixes: hand leaked blocks to lanes first, then to map entries that must move -------
  // Lanes first: a lane without a usable free block makes the kernel's btt_freelist_init
  // refuse the whole arena, a map entry left alone costs only its own LBA.
  std::size_t next_leak = 0;
  auto take_leak = [&]() -> std::optional<std::uint32_t> {
    if (next_leak < leaked.size()) return leaked[next_leak++];
    return std::nullopt;
  };
  // Who keeps each shared block: a lane if one has it as its free block (the first such lane;
  // any further lane gets an unowned block), else the first map claimant, E-flagged like the
  // others since which claimant wrote the block last is unknown.
  for (const auto& [b, lanes_b] : dup_lane_claimants) {
    for (std::size_t i = 1; i < lanes_b.size(); ++i) {
      const std::uint32_t l = lanes_b[i];
      auto nb = take_leak();
      if (!nb) {
        ar.fixes_complete = false;
        continue;
      }
      ar.lane_fixes.push_back({l, free_block_entry(l, *nb, info, flavor),
                               Problem::BTT_BLOCK_DUPLICATE,
                               fmt::format("lane {} shares free block {} with lane {}: give it "
                                           "unowned block {}",
                                           l, b, lanes_b[0], *nb)});
    }
  }
  for (std::uint32_t l : lanes_needing_block) {
    auto nb = take_leak();
    if (!nb) {
      ar.fixes_complete = false;
      continue;
    }
    ar.lane_fixes.push_back({l, free_block_entry(l, *nb, info, flavor), Problem::BTT_BLOCK_LEAKED,
                             fmt::format("give the lane unowned block {} as its free block", *nb)});
  }
  std::vector<std::uint64_t> affected;
  std::size_t dup_findings = 0;
  for (const auto& [b, extra] : dup_count) {
    (void)extra;
    const auto mit = dup_map_claimants.find(b);
    const auto lit = dup_lane_claimants.find(b);
    const std::vector<std::uint32_t> none;
    const auto& premaps = mit != dup_map_claimants.end() ? mit->second : none;
    const auto& lanes_b = lit != dup_lane_claimants.end() ? lit->second : none;
    if (dup_findings++ < kFindingsPerCode) {
      std::vector<std::string> who;
      for (auto p : premaps) who.push_back(fmt::format("lba {}", ar.first_lba + p));
      for (auto l : lanes_b) who.push_back(fmt::format("lane {} free block", l));
      add(Problem::BTT_BLOCK_DUPLICATE, where,
          fmt::format("block {} referenced {} times: {}", b, who.size(), fmt::join(who, ", ")),
          ar.offset + info.dataoff + std::uint64_t{b} * info.internal_lbasize);
    }
    for (std::size_t i = 0; i < premaps.size(); ++i) {
      const std::uint32_t p = premaps[i];
      affected.push_back(ar.first_lba + p);
      std::optional<std::uint32_t> nb;
      if (i == 0 && lanes_b.empty()) nb = b;
      else nb = take_leak();
      if (!nb) {
        ar.fixes_complete = false;
        nb = b;
      }
      ar.map_fixes.push_back({p, BttMapEntry::error(*nb).raw, Problem::BTT_BLOCK_DUPLICATE,
                              fmt::format("lba {} shares block {}: flag it as a media error",
                                          ar.first_lba + p, b)});
    }
  }
  const std::uint64_t dup_listed = dup_count.size();
  if (ar.duplicate_blocks > std::min<std::uint64_t>(dup_listed, kFindingsPerCode))
    add(Problem::BTT_BLOCK_DUPLICATE, where,
        fmt::format("{} block(s) referenced more than once in all; {} listed (each in the repair "
                    "plan){}",
                    ar.duplicate_blocks, dup_listed,
                    ar.duplicate_blocks > dup_listed
                        ? fmt::format("; list truncated at {}: --repair fixes the listed ones, "
                                      "run it again for the rest",
                                      opts.max_listed)
                        : ""),
        std::nullopt);
  std::size_t oor_findings = 0;
  for (std::uint32_t p : oor) {
    affected.push_back(ar.first_lba + p);
    if (oor_findings++ < kFindingsPerCode) {
      const auto e = map.entry(p);
      add(Problem::BTT_MAP_OUT_OF_RANGE, fmt::format("{} lba {}", where, ar.first_lba + p),
          fmt::format("map entry {} -> block {} >= internal_nlba {}", e ? hex(e->raw) : "?",
                      e ? e->postmap() : 0, info.internal_nlba),
          map_abs + std::uint64_t{p} * 4);
    }
    auto nb = take_leak();
    if (!nb) {
      ar.fixes_complete = false;
      continue;
    }
    ar.map_fixes.push_back({p, BttMapEntry::error(*nb).raw, Problem::BTT_MAP_OUT_OF_RANGE,
                            fmt::format("lba {}: flag as a media error (block {} is unowned)",
                                        ar.first_lba + p, *nb)});
  }
  if (ar.map.out_of_range > std::min<std::uint64_t>(oor.size(), kFindingsPerCode))
    add(Problem::BTT_MAP_OUT_OF_RANGE, where,
        fmt::format("{} map entries out of range in all; {} listed (each in the repair plan){}",
                    ar.map.out_of_range, oor.size(),
                    ar.map.out_of_range > oor.size()
                        ? fmt::format("; list truncated at {}: --repair fixes the listed ones, "
                                      "run it again for the rest",
                                      opts.max_listed)
                        : ""),
        map_abs);
  if (ar.leaked_blocks > 0) {
    std::vector<std::uint64_t> lv(leaked.begin(), leaked.end());
    add(Problem::BTT_BLOCK_LEAKED, where,
        fmt::format("{} block(s) referenced by neither the map nor a lane: {}{}", ar.leaked_blocks,
                    list_text(lv, ar.leaked_blocks),
                    ar.lanes_without_free_block
                        ? fmt::format("; {} lane(s) have no usable free block",
                                      ar.lanes_without_free_block)
                        : ""),
        std::nullopt);
  } else if (ar.lanes_without_free_block > 0) {
    add(Problem::BTT_BLOCK_LEAKED, where,
        fmt::format("{} lane(s) have no usable free block and no unowned block is left for them",
                    ar.lanes_without_free_block),
        std::nullopt);
  }
  std::sort(affected.begin(), affected.end());
  affected.erase(std::unique(affected.begin(), affected.end()), affected.end());
  ar.affected_lbas = std::move(affected);
  if (ar.map.error)
    add(Problem::BTT_MAP_ERROR_ENTRIES, where, fmt::format("{} entries", ar.map.error), map_abs);
  if (ar.map.zero)
    add(Problem::BTT_MAP_ZERO_ENTRIES, where, fmt::format("{} entries", ar.map.zero), map_abs);
}

}  // namespace ndtk::check_detail
