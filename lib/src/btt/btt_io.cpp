// BttDevice I/O: the read path (kernel btt_read_pg, PMDK btt_read), the write path (kernel
// btt_write_pg, PMDK btt_write) and the map flag updates, with lanes, map locks and the read
// tracking table. No heap allocation and no system call per sector on pmem.
#include <algorithm>
#include <cstring>
#include <functional>

#include <fmt/format.h>

#include "btt_device_impl.h"

namespace ndtk {

using btt_detail::Arena;
using btt_detail::FreeEntry;
using btt_detail::kRttValid;
using btt_detail::RttSlot;

namespace {

/// Releases a lane on every exit path.
class LaneGuard {
 public:
  LaneGuard(BttDevice::Impl& d, unsigned lane) : d_(d), lane_(lane) {}
  ~LaneGuard() { d_.release_lane(lane_); }
  LaneGuard(const LaneGuard&) = delete;
  LaneGuard& operator=(const LaneGuard&) = delete;
  unsigned lane() const { return lane_; }

 private:
  BttDevice::Impl& d_;
  unsigned lane_;
};

class MapLockGuard {
 public:
  explicit MapLockGuard(btt_detail::SpinLock& l) : l_(l) { l_.lock(); }
  ~MapLockGuard() { l_.unlock(); }
  MapLockGuard(const MapLockGuard&) = delete;
  MapLockGuard& operator=(const MapLockGuard&) = delete;

 private:
  btt_detail::SpinLock& l_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Lanes and lookup

unsigned BttDevice::Impl::acquire_lane() {
  // A thread keeps coming back to the lane it last got, so N threads settle on N distinct
  // lanes and never touch each other's cache lines; a taken lane is skipped, never waited on.
  // Constant-initialised so the access is a plain TLS load (no init guard per call).
  static thread_local unsigned hint = UINT32_MAX;
  if (hint == UINT32_MAX)
    hint = static_cast<unsigned>(std::hash<std::thread::id>{}(std::this_thread::get_id()) >> 1);
  unsigned l = hint % nlanes;
  unsigned spins = 0;
  for (;;) {
    for (unsigned k = 0; k < nlanes; ++k) {
      if (lanes[l].try_lock()) {
        hint = l;
        return l;
      }
      if (++l == nlanes) l = 0;
    }
    btt_detail::backoff(spins);
  }
}

Arena& BttDevice::Impl::locate(std::uint64_t lba, std::uint32_t& premap) {
  for (Arena& a : arenas) {
    if (lba < a.external_nlba) {
      premap = static_cast<std::uint32_t>(lba);
      return a;
    }
    lba -= a.external_nlba;
  }
  // check_io() keeps lba < nlba = sum of external_nlba, so this is unreachable.
  premap = 0;
  return arenas.back();
}

std::uint32_t BttDevice::Impl::map_load(const Arena& a, std::uint32_t premap) const {
  if (!a.overlay.empty()) {
    auto it = std::lower_bound(a.overlay.begin(), a.overlay.end(),
                               std::make_pair(premap, std::uint32_t{0}));
    if (it != a.overlay.end() && it->first == premap) return it->second;
  }
  return region->load32(a.map_offset(premap));
}

std::string BttDevice::Impl::where(std::uint64_t lba) const {
  return fmt::format("{}: lba {}", region->name(), lba);
}

Result<void> BttDevice::Impl::check_io(std::uint64_t lba, std::size_t bytes, bool write) const {
  if (write && !writable)
    return fail(Errc::kReadOnly, region->name() + ": BTT opened read-only");
  if (bytes == 0 || bytes % lbasize != 0)
    return fail(Errc::kInvalidArgument,
                fmt::format("{}: buffer of {} bytes is not a non-zero multiple of the sector "
                            "size {}",
                            region->name(), bytes, lbasize));
  const std::uint64_t count = bytes / lbasize;
  if (!range_fits(lba, count, nlba))
    return fail(Errc::kOutOfRange,
                fmt::format("{}: sectors [{}, +{}) lie past the end of the BTT ({} sectors)",
                            region->name(), lba, count, nlba));
  return ok();
}

// ---------------------------------------------------------------------------------------------
// Read path

Result<void> BttDevice::Impl::read_one(Arena& a, std::uint32_t premap, std::uint64_t lba,
                                       std::uint8_t* dst, RttSlot* rtt) {
  std::uint32_t raw = map_load(a, premap);
  std::uint32_t postmap = 0;
  for (;;) {
    const std::uint32_t flags = raw & kBttMapFlagMask;
    if (flags == kBttMapZeroFlag || (flags == 0 && flavor == BttFlavor::Pmdk)) {
      if (rtt) rtt->value.store(0, std::memory_order_release);
      std::memset(dst, 0, lbasize);
      return ok();
    }
    if (flags == kBttMapErrorFlag) {
      if (rtt) rtt->value.store(0, std::memory_order_release);
      return fail(Errc::kMediaError, where(lba) + ": media error (map entry flagged E)");
    }
    postmap = flags == 0 ? premap : (raw & kBttMapLbaMask);
    if (rtt == nullptr) break;  // read-only device: nobody writes, nothing to track
    // Publish the block we are about to copy, then re-read the map: a writer that freed the
    // block before our publication is seen here (seq_cst store/load pair, the kernel's
    // smp_mb between the rtt store and the map re-read); one that frees it afterwards sees
    // our rtt entry and waits.
    rtt->value.store(kRttValid | postmap, std::memory_order_seq_cst);
    const std::uint32_t again = map_load(a, premap);
    if (again == raw) break;
    raw = again;
  }
  if (postmap >= a.internal_nlba) {
    if (rtt) rtt->value.store(0, std::memory_order_release);
    return fail(Errc::kCorrupt, fmt::format("{}: map entry {:#x} points past internal_nlba {}",
                                            where(lba), raw, a.internal_nlba));
  }
  std::memcpy(dst, base + a.block_offset(postmap), lbasize);
  if (rtt) rtt->value.store(0, std::memory_order_release);
  return ok();
}

// ---------------------------------------------------------------------------------------------
// Write path

void BttDevice::Impl::wait_for_readers(Arena& a, std::uint32_t block) {
  const std::uint32_t busy = kRttValid | block;
  for (unsigned i = 0; i < nlanes; ++i) {
    unsigned spins = 0;
    while (a.rtt[i].value.load(std::memory_order_seq_cst) == busy) btt_detail::backoff(spins);
  }
}

Result<void> BttDevice::Impl::write_one(Arena& a, std::uint32_t premap, std::uint64_t lba,
                                        const std::uint8_t* src, unsigned lane) {
  if (a.write_refused)
    return fail(Errc::kCorrupt, fmt::format("{}: arena {} refuses writes: {}", where(lba),
                                            a.summary.index, a.summary.write_refused));
  FreeEntry& fe = a.free[lane];
  bool durable = true;
  if (fe.has_err) {
    // Kernel arena_clear_freelist_error: the block carried a media error; overwrite it before
    // it takes data (on real pmem this clears the poison).
    region->zero(a.block_offset(fe.block), sector_size);
    durable &= region->drain();
    fe.has_err = false;
  }
  const std::uint32_t free_block = fe.block;
  wait_for_readers(a, free_block);

  // 1. The data, durable before anything refers to it.
  region->copy(a.block_offset(free_block), src, lbasize);
  durable &= region->drain();

  MapLockGuard map_lock(a.map_lock(premap));
  const std::uint32_t raw = map_load(a, premap);
  const std::uint32_t flags = raw & kBttMapFlagMask;
  std::uint32_t old_map;  // as logged
  if (flavor == BttFlavor::Kernel) {
    // Plain block numbers; E marks a replaced entry that was in the error state.
    old_map = flags == 0 ? premap : (raw & kBttMapLbaMask);
    if (flags == kBttMapErrorFlag) old_map |= kBttMapErrorFlag;
  } else {
    // libpmemblk logs the full map entry, initial ones as premap|NORMAL.
    old_map = flags == 0 ? (premap | kBttMapNormal) : raw;
  }
  const std::uint32_t old_block = old_map & kBttMapLbaMask;
  if (old_block >= a.internal_nlba)
    return fail(Errc::kCorrupt, fmt::format("{}: map entry {:#x} points past internal_nlba {}",
                                            where(lba), raw, a.internal_nlba));
  const std::uint32_t new_map =
      flavor == BttFlavor::Kernel ? free_block : (free_block | kBttMapNormal);

  // 2. The log entry in the lane's older sub-slot: {lba, old_map} then {new_map, seq}, each
  // half durable before the next; the seq half is the commit point of the write.
  const std::uint64_t slot = a.log_slot_offset(lane, fe.sub);
  region->store64(slot, std::uint64_t{premap} | (std::uint64_t{old_map} << 32));
  region->flush(slot, 8);
  region->store64(slot + 8, std::uint64_t{new_map} | (std::uint64_t{fe.seq} << 32));
  region->flush(slot + 8, 8);
  durable &= region->drain();

  // The lane's next write goes to the other sub-slot and uses the block we replaced.
  fe.sub ^= 1;
  fe.seq = btt_next_seq(fe.seq);
  fe.block = old_block;
  fe.has_err = flavor == BttFlavor::Kernel && (old_map & kBttMapErrorFlag) != 0;

  // 3. The map entry (seq_cst store: readers re-check it after publishing their rtt entry).
  const std::uint64_t map_off = a.map_offset(premap);
  region->store32(map_off, free_block | kBttMapNormal);
  region->flush(map_off, kBttMapEntrySize);
  durable &= region->drain();

  if (!durable)
    return fail(Errc::kIo, fmt::format("{}: write may not be durable: {}", where(lba),
                                       region->error_message()));
  return ok();
}

Result<void> BttDevice::Impl::set_flag(std::uint64_t lba, std::uint32_t flag) {
  NDTK_CHECK(check_io(lba, lbasize, true));
  if (!formatted.load(std::memory_order_acquire)) {
    // libpmemblk map_entry_setf: zeroing an unwritten pool is a no-op; an error flag lays the
    // BTT out first.
    if (flag == kBttMapZeroFlag) return ok();
    NDTK_CHECK(lay_out_pmdk());
  }
  std::uint32_t premap = 0;
  Arena& a = locate(lba, premap);
  if (a.write_refused)
    return fail(Errc::kCorrupt, fmt::format("{}: arena {} refuses writes: {}", where(lba),
                                            a.summary.index, a.summary.write_refused));
  MapLockGuard map_lock(a.map_lock(premap));
  const std::uint32_t raw = map_load(a, premap);
  const std::uint32_t flags = raw & kBttMapFlagMask;
  if (flag == kBttMapZeroFlag &&
      (flags == kBttMapZeroFlag || (flags == 0 && flavor == BttFlavor::Pmdk)))
    return ok();  // already reads as zeros
  // The block stays referenced by the entry (identity for an initial one), so the free-block
  // bookkeeping is untouched and no log entry is needed: one atomic 4-byte store.
  const std::uint32_t block = flags == 0 ? premap : (raw & kBttMapLbaMask);
  const std::uint64_t map_off = a.map_offset(premap);
  region->store32(map_off, block | flag);
  region->flush(map_off, kBttMapEntrySize);
  if (!region->drain())
    return fail(Errc::kIo, fmt::format("{}: map update may not be durable: {}", where(lba),
                                       region->error_message()));
  return ok();
}

// ---------------------------------------------------------------------------------------------
// Public members

BttDevice::BttDevice(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BttDevice::BttDevice(BttDevice&&) noexcept = default;
BttDevice& BttDevice::operator=(BttDevice&&) noexcept = default;
BttDevice::~BttDevice() = default;

std::uint32_t BttDevice::external_lbasize() const { return impl_->lbasize; }
std::uint32_t BttDevice::sector_size() const { return impl_->sector_size; }
std::uint32_t BttDevice::integrity_size() const { return impl_->lbasize - impl_->sector_size; }
std::uint64_t BttDevice::sector_count() const { return impl_->nlba; }
BttFlavor BttDevice::flavor() const { return impl_->flavor; }
bool BttDevice::writable() const { return impl_->writable; }
bool BttDevice::formatted() const { return impl_->formatted.load(std::memory_order_acquire); }
unsigned BttDevice::lanes() const { return impl_->nlanes; }
std::uint64_t BttDevice::arena0_offset() const { return impl_->arena0_offset; }
BttVersion BttDevice::version() const { return impl_->version; }
const PersistRegion& BttDevice::region() const { return *impl_->region; }

std::vector<BttArenaInfo> BttDevice::arenas() const {
  std::vector<BttArenaInfo> out;
  if (!formatted()) return out;
  for (const Arena& a : impl_->arenas) out.push_back(a.summary);
  return out;
}

Result<void> BttDevice::read(std::uint64_t lba, MutBytes out) {
  Impl& d = *impl_;
  NDTK_CHECK(d.check_io(lba, out.size(), false));
  if (!d.formatted.load(std::memory_order_acquire)) {
    std::memset(out.data(), 0, out.size());  // libpmemblk: no layout yet, every block is zeros
    return ok();
  }
  const std::uint64_t count = out.size() / d.lbasize;
  std::uint8_t* dst = out.data();
  if (!d.writable) {
    for (std::uint64_t i = 0; i < count; ++i, dst += d.lbasize) {
      std::uint32_t premap = 0;
      Arena& a = d.locate(lba + i, premap);
      NDTK_CHECK(d.read_one(a, premap, lba + i, dst, nullptr));
    }
    return ok();
  }
  LaneGuard lane(d, d.acquire_lane());
  for (std::uint64_t i = 0; i < count; ++i, dst += d.lbasize) {
    std::uint32_t premap = 0;
    Arena& a = d.locate(lba + i, premap);
    NDTK_CHECK(d.read_one(a, premap, lba + i, dst, &a.rtt[lane.lane()]));
  }
  return ok();
}

Result<void> BttDevice::write(std::uint64_t lba, Bytes in) {
  Impl& d = *impl_;
  NDTK_CHECK(d.check_io(lba, in.size(), true));
  if (!d.formatted.load(std::memory_order_acquire)) NDTK_CHECK(d.lay_out_pmdk());
  const std::uint64_t count = in.size() / d.lbasize;
  const std::uint8_t* src = in.data();
  LaneGuard lane(d, d.acquire_lane());
  for (std::uint64_t i = 0; i < count; ++i, src += d.lbasize) {
    std::uint32_t premap = 0;
    Arena& a = d.locate(lba + i, premap);
    NDTK_CHECK(d.write_one(a, premap, lba + i, src, lane.lane()));
  }
  return ok();
}

Result<void> BttDevice::set_zero(std::uint64_t lba) { return impl_->set_flag(lba, kBttMapZeroFlag); }
Result<void> BttDevice::set_error(std::uint64_t lba) {
  return impl_->set_flag(lba, kBttMapErrorFlag);
}

Result<void> BttDevice::flush() {
  if (!impl_->writable) return ok();
  return impl_->region->sync();
}

Result<BttSectorInfo> BttDevice::sector_info(std::uint64_t lba) const {
  Impl& d = *impl_;
  if (lba >= d.nlba)
    return fail(Errc::kOutOfRange, fmt::format("{}: lba {} lies past the end of the BTT ({} "
                                               "sectors)",
                                               d.region->name(), lba, d.nlba));
  if (!formatted())
    return fail(Errc::kNotPresent, d.region->name() + ": BTT layout not written yet");
  BttSectorInfo s;
  Arena& a = d.locate(lba, s.premap);
  s.arena = a.summary.index;
  s.entry = BttMapEntry{d.map_load(a, s.premap)};
  s.state = s.entry.state();
  s.postmap = s.entry.effective_postmap(s.premap);
  s.data_offset = a.block_offset(s.postmap);
  return s;
}

std::vector<std::uint32_t> BttDevice::free_blocks(std::uint32_t arena) const {
  std::vector<std::uint32_t> out;
  if (!formatted() || arena >= impl_->arenas.size()) return out;
  for (const FreeEntry& fe : impl_->arenas[arena].free) out.push_back(fe.block);
  return out;
}

Result<void> BttDevice::verify_block_references() const {
  const Impl& d = *impl_;
  if (!formatted()) return ok();
  for (const Arena& a : d.arenas) {
    const std::string where = fmt::format("{}: arena {}", d.region->name(), a.summary.index);
    std::vector<std::uint8_t> seen(a.internal_nlba, 0);
    // Runs once per map entry: the referrer is named only when something is wrong.
    auto claim = [&](std::uint32_t block, bool is_lane, std::uint32_t idx) -> Result<void> {
      if (block < a.internal_nlba && !seen[block]) {
        seen[block] = 1;
        return ok();
      }
      const std::string by =
          is_lane ? fmt::format("lane {}'s free block", idx) : fmt::format("map[{}]", idx);
      if (block >= a.internal_nlba)
        return fail(Errc::kCorrupt, fmt::format("{}: {} names block {} beyond internal_nlba {}",
                                                where, by, block, a.internal_nlba));
      return fail(Errc::kCorrupt, fmt::format("{}: block {} is referenced twice (again by {})",
                                              where, block, by));
    };
    for (std::uint32_t premap = 0; premap < a.external_nlba; ++premap) {
      const BttMapEntry e{d.map_load(a, premap)};
      NDTK_CHECK(claim(e.effective_postmap(premap), false, premap));
    }
    for (std::uint32_t lane = 0; lane < a.nfree; ++lane) {
      if (!a.free[lane].valid)
        return fail(Errc::kCorrupt, fmt::format("{}: lane {} has no valid log entry", where, lane));
      NDTK_CHECK(claim(a.free[lane].block, true, lane));
    }
    const auto missing = std::find(seen.begin(), seen.end(), 0);
    if (missing != seen.end())
      return fail(Errc::kCorrupt, fmt::format("{}: block {} is referenced by neither the map nor "
                                              "a lane",
                                              where, missing - seen.begin()));
  }
  return ok();
}

}  // namespace ndtk
