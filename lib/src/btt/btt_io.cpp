// BttDevice I/O: the read path (kernel btt_read_pg, PMDK btt_read), the write path (kernel
// btt_write_pg, PMDK btt_write) and the map flag updates, with lanes, map locks and the block
// sequence counters. No heap allocation, no Result and no system call per sector on pmem.
#include <algorithm>
#include <cstring>
#include <functional>

#include <fmt/format.h>

#include "btt_device_impl.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NDTK_TSAN_BUILD 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define NDTK_TSAN_BUILD 1
#endif
#if defined(NDTK_TSAN_BUILD)
extern "C" void __tsan_ignore_thread_begin();
extern "C" void __tsan_ignore_thread_end();
#endif

namespace ndtk {

using btt_detail::Arena;
using btt_detail::FreeEntry;
using IoStatus = BttDevice::Impl::IoStatus;

namespace {

/// read_target's postmap when the entry reads as zeros (no block to copy).
constexpr std::uint32_t kNoBlock = UINT32_MAX;

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

/// A per-thread starting point for lane searches. Constant-initialised so the
/// access is a plain TLS load (no init guard per call).
unsigned& thread_hint(unsigned& h) {
  if (h == UINT32_MAX)
    h = static_cast<unsigned>(std::hash<std::thread::id>{}(std::this_thread::get_id()) >> 1);
  return h;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Lanes, lookup

unsigned BttDevice::Impl::acquire_lane() {
  // A thread keeps coming back to the lane it last got, so N threads settle on N distinct
  // lanes and never touch each other's cache lines; a taken lane is skipped, never waited on.
  static thread_local unsigned hint = UINT32_MAX;
  unsigned l = thread_hint(hint) % nlanes;
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

std::uint32_t BttDevice::Impl::overlay_load(const Arena& a, std::uint32_t premap) const {
  auto it = std::lower_bound(a.overlay.begin(), a.overlay.end(),
                             std::make_pair(premap, std::uint32_t{0}));
  if (it != a.overlay.end() && it->first == premap) return it->second;
  return region->load32(a.map_offset(premap));
}

std::string BttDevice::Impl::where(std::uint64_t lba) const {
  return fmt::format("{}: lba {}", region->name(), lba);
}

Result<void> BttDevice::Impl::io_argument_error(std::uint64_t lba, std::size_t bytes,
                                                bool write) const {
  if (write && !writable) return fail(Errc::kReadOnly, region->name() + ": BTT opened read-only");
  if (bytes == 0 || bytes % lbasize != 0)
    return fail(Errc::kInvalidArgument,
                fmt::format("{}: buffer of {} bytes is not a non-zero multiple of the sector "
                            "size {}",
                            region->name(), bytes, lbasize));
  return fail(Errc::kOutOfRange,
              fmt::format("{}: sectors [{}, +{}) lie past the end of the BTT ({} sectors)",
                          region->name(), lba, bytes / lbasize, nlba));
}

Result<void> BttDevice::Impl::io_error(IoStatus st, const Arena& a, std::uint64_t lba,
                                       std::uint32_t bad_entry) const {
  switch (st) {
    case IoStatus::kOk: return ok();
    case IoStatus::kMediaError:
      return fail(Errc::kMediaError, where(lba) + ": media error (map entry flagged E)");
    case IoStatus::kBadMapEntry:
      return fail(Errc::kCorrupt, fmt::format("{}: map entry {:#x} points past internal_nlba {}",
                                              where(lba), bad_entry, a.internal_nlba));
    case IoStatus::kRefused:
      return fail(Errc::kCorrupt, fmt::format("{}: arena {} refuses writes: {}", where(lba),
                                              a.summary.index, a.summary.write_refused));
    case IoStatus::kNotDurable:
      return fail(Errc::kIo, fmt::format("{}: write may not be durable: {}", where(lba),
                                         region->error_message()));
  }
  return ok();
}

// ---------------------------------------------------------------------------------------------
// Read path

IoStatus BttDevice::Impl::read_target(const Arena& a, std::uint32_t premap, std::uint32_t raw,
                                      std::uint8_t* dst, std::uint32_t& postmap,
                                      std::uint32_t& bad_entry) const {
  const std::uint32_t flags = raw & kBttMapFlagMask;
  if (flags == kBttMapZeroFlag || (flags == 0 && flavor == BttFlavor::Pmdk)) {
    std::memset(dst, 0, lbasize);
    postmap = kNoBlock;
    return IoStatus::kOk;
  }
  if (flags == kBttMapErrorFlag) return IoStatus::kMediaError;
  postmap = flags == 0 ? premap : (raw & kBttMapLbaMask);
  if (postmap >= a.internal_nlba) [[unlikely]] {
    bad_entry = raw;
    return IoStatus::kBadMapEntry;
  }
  return IoStatus::kOk;
}

namespace {

/// The block copy of an optimistic read. It may overlap a writer's stores into the same block
/// (the copy is then discarded and retried, see read_one), a race by design that
/// ThreadSanitizer would report; it is told to ignore these loads. The writer's side and
/// every counter and map access stay checked.
inline void copy_block_optimistic(std::uint8_t* dst, const std::uint8_t* src, std::size_t n) {
#if defined(NDTK_TSAN_BUILD)
  __tsan_ignore_thread_begin();
  std::memcpy(dst, src, n);
  __tsan_ignore_thread_end();
#else
  std::memcpy(dst, src, n);
#endif
}

/// The counter again, after the copy's loads. An acquire fence then a plain load (no instruction
/// at all on x86); ThreadSanitizer cannot follow fences, so there an acquire load (it ignores
/// the copy's loads anyway, see copy_block_optimistic).
inline std::uint32_t seq_after_copy(const std::atomic<std::uint32_t>& seq) {
#if defined(NDTK_TSAN_BUILD)
  return seq.load(std::memory_order_acquire);
#else
  std::atomic_thread_fence(std::memory_order_acquire);
  return seq.load(std::memory_order_relaxed);
#endif
}

/// Ask for every line of a block before copying it: the fills run in parallel from the start
/// instead of waiting for the hardware prefetcher to ramp up inside the copy (4 KiB random
/// reads on /dev/shm: 0.76-0.80 -> 0.83-0.91 of a raw memcpy read, docs/performance.md).
/// Non-temporal: a block read once should not push the map's lines out of the cache.
inline void prefetch_block(const std::uint8_t* blk, std::uint32_t len) {
  for (std::uint32_t off = 0; off < len; off += 64) __builtin_prefetch(blk + off, 0, 0);
}

}  // namespace

IoStatus BttDevice::Impl::read_one(Arena& a, std::uint32_t premap, std::uint8_t* dst, bool track,
                                   std::uint32_t& bad_entry) {
  if (!track) return read_stable(a, premap, dst, bad_entry);  // read-only: nobody writes
  // Seqlock read: map entry, the block's counter, copy, counter again, map entry again. The
  // copy is the block's contents for this LBA if the counter was even and unchanged (no
  // writer stored into the block meanwhile) and the map still names the block (it was not
  // freed and refilled for another LBA before our first counter load). The loads are ordered
  // by acquire semantics alone: on x86 nothing here is a locked instruction or a fence, so
  // the next read's cache misses can start while this one copies.
  for (unsigned attempt = 0; attempt < opts.optimistic_reads; ++attempt) {
    const std::uint32_t raw = map_load(a, premap);
    std::uint32_t postmap = 0;
    const IoStatus st = read_target(a, premap, raw, dst, postmap, bad_entry);
    if (st != IoStatus::kOk || postmap == kNoBlock) return st;  // decided by the entry alone
    prefetch_block(base + a.block_offset(postmap), lbasize);
    std::atomic<std::uint32_t>& seq = a.block_seq(postmap);
    const std::uint32_t before = seq.load(std::memory_order_acquire);
    if ((before & 1) == 0) {
      copy_block_optimistic(dst, base + a.block_offset(postmap), lbasize);
      if (seq_after_copy(seq) == before && map_load(a, premap) == raw)
        return IoStatus::kOk;
    }
    btt_detail::cpu_relax();
  }
  return read_locked(a, premap, dst, bad_entry);
}

IoStatus BttDevice::Impl::read_locked(Arena& a, std::uint32_t premap, std::uint8_t* dst,
                                      std::uint32_t& bad_entry) {
  MapLockGuard map_lock(a.map_lock(premap));
  return read_stable(a, premap, dst, bad_entry);
}

IoStatus BttDevice::Impl::read_stable(const Arena& a, std::uint32_t premap, std::uint8_t* dst,
                                      std::uint32_t& bad_entry) const {
  std::uint32_t postmap = 0;
  const IoStatus st = read_target(a, premap, map_load(a, premap), dst, postmap, bad_entry);
  if (st == IoStatus::kOk && postmap != kNoBlock) {
    prefetch_block(base + a.block_offset(postmap), lbasize);
    std::memcpy(dst, base + a.block_offset(postmap), lbasize);
  }
  return st;
}

// ---------------------------------------------------------------------------------------------
// Write path

IoStatus BttDevice::Impl::write_one(Arena& a, std::uint32_t premap, const std::uint8_t* src,
                                    unsigned lane, std::uint32_t& bad_entry) {
  if (a.write_refused) [[unlikely]]
    return IoStatus::kRefused;
  FreeEntry& fe = a.free[lane];
  bool durable = true;
  const std::uint32_t free_block = fe.block;
  // Readers that still copy the free block from a stale map entry must see it change: its
  // counter goes odd before our first store into it (a locked RMW, so no store of ours passes
  // it) and even once the data is in and mapped (after the map store below).
  std::atomic<std::uint32_t>& block_seq = a.block_seq(free_block);
  block_seq.fetch_add(1, std::memory_order_seq_cst);
  if (fe.has_err) [[unlikely]] {
    // Kernel arena_clear_freelist_error: the block carried a media error; overwrite it before
    // it takes data (on real pmem this clears the poison).
    region->zero(a.block_offset(free_block), sector_size);
    durable &= region->drain();
    fe.has_err = false;
  }

  // Taken before the copy so its locked instruction does not wait for the copy's
  // non-temporal stores; the entry's cache miss overlaps the copy.
  MapLockGuard map_lock(a.map_lock(premap));
  const std::uint64_t map_off = a.map_offset(premap);
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
  if (old_block >= a.internal_nlba) [[unlikely]] {
    block_seq.fetch_add(1, std::memory_order_release);
    bad_entry = raw;
    return IoStatus::kBadMapEntry;
  }
  const std::uint32_t new_map =
      flavor == BttFlavor::Kernel ? free_block : (free_block | kBttMapNormal);
  const std::uint64_t slot = a.log_slot_offset(lane, fe.sub);

  // 1. Ordering point one makes durable together:
  //    - the data, before anything can refer to it;
  //    - the first half of the log entry, {lba, old_map}. It goes into the lane's older
  //      sub-slot, whose seq it does not touch, so until the second half lands the lane's
  //      current entry is unchanged (the state a crash between the kernel's two halves
  //      leaves): it may share the data's drain.
  //    Every store is non-temporal on pmem (copy, store64_flushed): no line is read for
  //    ownership and none is written back, as in the kernel (memcpy_flushcache).
  region->copy(a.block_offset(free_block), src, lbasize);
  region->store64_flushed(slot, std::uint64_t{premap} | (std::uint64_t{old_map} << 32));
  durable &= region->drain();

  // 2. The second half, {new_map, seq}: the commit point of the write.
  region->store64_flushed(slot + 8, std::uint64_t{new_map} | (std::uint64_t{fe.seq} << 32));
  durable &= region->drain();

  // The lane's next write goes to the other sub-slot and uses the block we replaced.
  fe.sub ^= 1;
  fe.seq = btt_next_seq(fe.seq);
  fe.block = old_block;
  fe.has_err = flavor == BttFlavor::Kernel && (old_map & kBttMapErrorFlag) != 0;

  // 3. The map entry, durable before the map lock is released: the next writer of this entry
  //    logs our block as its old_map, and this lane's next commit makes our log entry the
  //    older one, so neither may find it undone. (The write was durable at step 2 already: a
  //    lost map update is completed from the log by the load-time recovery.) Readers that see
  //    the entry see the data: it was drained first.
  region->store32_flushed(map_off, free_block | kBttMapNormal);
  durable &= region->drain();
  // The block holds the new data and is mapped. A reader that finds the new map entry before
  // this sees an odd count and retries. Last, because a locked instruction waits for every
  // outstanding write-back, and here none are left.
  block_seq.fetch_add(1, std::memory_order_release);

  return durable ? IoStatus::kOk : IoStatus::kNotDurable;
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
  if (a.write_refused) return io_error(IoStatus::kRefused, a, lba, 0);
  MapLockGuard map_lock(a.map_lock(premap));
  const std::uint32_t raw = map_load(a, premap);
  const std::uint32_t flags = raw & kBttMapFlagMask;
  if (flag == kBttMapZeroFlag &&
      (flags == kBttMapZeroFlag || (flags == 0 && flavor == BttFlavor::Pmdk)))
    return ok();  // already reads as zeros
  // The block stays referenced by the entry (identity for an initial one), so the free-block
  // bookkeeping is untouched and no log entry is needed: one atomic 4-byte store, durable
  // before we return.
  const std::uint32_t block = flags == 0 ? premap : (raw & kBttMapLbaMask);
  const std::uint64_t map_off = a.map_offset(premap);
  region->store32(map_off, block | flag);
  region->flush(map_off, kBttMapEntrySize);
  if (!region->drain())
    return fail(Errc::kIo, fmt::format("{}: map update may not be durable: {}", where(lba),
                                       region->error_message()));
  return ok();
}

BttDevice::Impl::~Impl() = default;

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

const std::vector<BttArenaInfo>& BttDevice::arenas() const {
  static const std::vector<BttArenaInfo> kNone;
  return formatted() ? impl_->summaries : kNone;
}

Result<void> BttDevice::read(std::uint64_t lba, MutBytes out) {
  Impl& d = *impl_;
  NDTK_CHECK(d.check_io(lba, out.size(), false));
  if (!d.formatted.load(std::memory_order_acquire)) [[unlikely]] {
    std::memset(out.data(), 0, out.size());  // libpmemblk: no layout yet, every block is zeros
    return ok();
  }
  const std::uint64_t count = out.size() / d.lbasize;
  std::uint8_t* dst = out.data();
  for (std::uint64_t i = 0; i < count; ++i, dst += d.lbasize) {
    std::uint32_t premap = 0, bad = 0;
    Arena& a = d.locate(lba + i, premap);
    const IoStatus st = d.read_one(a, premap, dst, d.writable, bad);
    if (st != IoStatus::kOk) [[unlikely]]
      return d.io_error(st, a, lba + i, bad);
  }
  return ok();
}

Result<void> BttDevice::write(std::uint64_t lba, Bytes in) {
  return write_on_lane(lba, in, std::nullopt);
}

Result<void> BttDevice::write(std::uint64_t lba, Bytes in, unsigned lane) {
  if (lane >= impl_->nlanes)
    return fail(Errc::kInvalidArgument, fmt::format("{}: lane {} out of range (the device has "
                                                    "{} lanes)",
                                                    impl_->region->name(), lane, impl_->nlanes));
  return write_on_lane(lba, in, lane);
}

Result<void> BttDevice::write_on_lane(std::uint64_t lba, Bytes in,
                                      std::optional<unsigned> chosen) {
  Impl& d = *impl_;
  NDTK_CHECK(d.check_io(lba, in.size(), true));
  if (!d.formatted.load(std::memory_order_acquire)) [[unlikely]]
    NDTK_CHECK(d.lay_out_pmdk());
  const std::uint64_t count = in.size() / d.lbasize;
  const std::uint8_t* src = in.data();
  if (chosen) d.lanes[*chosen].lock();
  LaneGuard lane(d, chosen ? *chosen : d.acquire_lane());
  for (std::uint64_t i = 0; i < count; ++i, src += d.lbasize) {
    std::uint32_t premap = 0, bad = 0;
    Arena& a = d.locate(lba + i, premap);
    const IoStatus st = d.write_one(a, premap, src, lane.lane(), bad);
    if (st != IoStatus::kOk) [[unlikely]]
      return d.io_error(st, a, lba + i, bad);
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
    // Runs once per map entry, so it returns a bool; the referrer is named only on failure.
    auto claim = [&](std::uint32_t block) {
      if (block >= a.internal_nlba || seen[block]) return false;
      seen[block] = 1;
      return true;
    };
    auto failure = [&](std::uint32_t block, bool is_lane, std::uint32_t idx) -> Result<void> {
      const std::string by =
          is_lane ? fmt::format("lane {}'s free block", idx) : fmt::format("map[{}]", idx);
      if (block >= a.internal_nlba)
        return fail(Errc::kCorrupt, fmt::format("{}: {} names block {} beyond internal_nlba {}",
                                                where, by, block, a.internal_nlba));
      return fail(Errc::kCorrupt, fmt::format("{}: block {} is referenced twice (again by {})",
                                              where, block, by));
    };
    // Quiescent by contract: read the map in bulk (plain loads, a chunk at a time) rather than
    // one atomic load per entry; read-only opens then apply their recovery overlay.
    constexpr std::uint32_t kChunk = 4096;
    std::uint32_t chunk[kChunk];
    auto ov = a.overlay.begin();
    for (std::uint32_t first = 0; first < a.external_nlba; first += kChunk) {
      const std::uint32_t n = std::min(kChunk, a.external_nlba - first);
      std::memcpy(chunk, d.base + a.map_offset(first), std::size_t{n} * kBttMapEntrySize);
      for (std::uint32_t i = 0; i < n; ++i) {
        const std::uint32_t premap = first + i;
        std::uint32_t raw = from_le32(chunk[i]);
        while (ov != a.overlay.end() && ov->first < premap) ++ov;
        if (ov != a.overlay.end() && ov->first == premap) raw = ov->second;
        const std::uint32_t block = BttMapEntry{raw}.effective_postmap(premap);
        if (!claim(block)) return failure(block, false, premap);
      }
    }
    for (std::uint32_t lane = 0; lane < a.nfree; ++lane) {
      if (!a.free[lane].valid)
        return fail(Errc::kCorrupt, fmt::format("{}: lane {} has no valid log entry", where, lane));
      if (!claim(a.free[lane].block)) return failure(a.free[lane].block, true, lane);
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
