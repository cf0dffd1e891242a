// Private state of BttDevice: per-arena geometry (region-absolute offsets), the lanes' free
// blocks, the block sequence counters and the map locks. Shared by btt_open.cpp and btt_io.cpp.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ndtk/btt/btt_device.h"
#include "ndtk/btt/persist.h"

namespace ndtk {

namespace btt_detail {

/// One pause instruction: lets the sibling hyper-thread run while we spin.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

/// Spin a little, then yield: with more runnable threads than cores (CI machines, sanitizers)
/// the holder must get the CPU back.
inline void backoff(unsigned& spins) {
  if (++spins < 64) {
    cpu_relax();
  } else {
    std::this_thread::yield();
    spins = 0;
  }
}

/// Test-and-test-and-set lock on its own cache line. The critical sections it guards are a
/// few stores long (lanes: one sector write; map locks: one log entry + one map entry).
struct alignas(64) SpinLock {
  std::atomic<std::uint32_t> word{0};

  bool try_lock() {
    return word.load(std::memory_order_relaxed) == 0 &&
           word.exchange(1, std::memory_order_acquire) == 0;
  }
  void lock() {
    unsigned spins = 0;
    while (!try_lock())
      while (word.load(std::memory_order_relaxed) != 0) backoff(spins);
  }
  void unlock() { word.store(0, std::memory_order_release); }
};

/// Block sequence counters (a seqlock per group of internal blocks). A writer makes its free
/// block's counter odd before it stores a byte into the block and even again once the block
/// holds the new data; a reader copies a block between two loads of its counter and keeps the
/// copy only if the counter was even and unchanged and the map still names the block. Readers
/// store nothing, so consecutive reads overlap their cache misses; writers never wait for them.
/// Blocks are hashed onto at most kMaxBlockSeqs counters (16 per cache line, so two writers'
/// blocks rarely share a line); a collision costs a reader a retry, never correctness.
inline constexpr std::uint32_t kMaxBlockSeqs = 1u << 14;

/// A lane's free block in one arena (kernel struct free_entry). Touched only by the lane's
/// owner, so plain fields; padded so two lanes never share a cache line.
struct alignas(64) FreeEntry {
  std::uint32_t block = 0;  // internal block the next write on this lane fills
  std::uint32_t seq = 0;    // seq of the next log entry
  std::uint8_t sub = 0;     // sub-slot (0/1) the next log entry goes to
  bool has_err = false;     // block must be zeroed before use (kernel: E in old_map)
  bool valid = false;       // false: PMDK rejected this lane's log pair
};

struct Arena {
  // Region-absolute offsets (namespace offset + arena offset + arena-relative offset).
  std::uint64_t start = 0;
  std::uint64_t data = 0;
  std::uint64_t map = 0;
  std::uint64_t log = 0;
  std::uint32_t internal_lbasize = 0;
  std::uint32_t internal_nlba = 0;
  std::uint32_t external_nlba = 0;
  std::uint32_t nfree = 0;
  std::uint64_t first_lba = 0;
  std::uint32_t slot[2] = {0, 1};  // log slot index of sub-slot 0 / 1
  bool write_refused = false;
  std::vector<FreeEntry> free;          // nfree
  /// Block sequence counters (writable devices only): power-of-two count, see kMaxBlockSeqs.
  std::vector<std::atomic<std::uint32_t>> block_seqs;
  unsigned block_seq_shift = 64;
  std::vector<SpinLock> map_locks;      // nfree
  /// Read-only opens: map entries the recovery would have written, sorted by premap.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> overlay;
  BttArenaInfo summary;

  std::uint64_t block_offset(std::uint32_t block) const {
    return data + std::uint64_t{block} * internal_lbasize;
  }
  std::uint64_t map_offset(std::uint32_t premap) const {
    return map + std::uint64_t{premap} * kBttMapEntrySize;
  }
  std::uint64_t log_slot_offset(std::uint32_t lane, std::uint32_t sub) const {
    return log + std::uint64_t{lane} * kBttLogGroupSize + std::uint64_t{slot[sub]} * kBttLogEntrySize;
  }
  /// Size the block sequence counters for this arena's internal_nlba.
  void init_block_seqs() {
    const std::uint32_t n = std::clamp<std::uint32_t>(std::bit_ceil(internal_nlba), 2, kMaxBlockSeqs);
    block_seqs = std::vector<std::atomic<std::uint32_t>>(n);
    block_seq_shift = 64 - static_cast<unsigned>(std::countr_zero(n));
  }
  /// Fibonacci hashing: neighbouring blocks (a sequential write frees them in order) land on
  /// different cache lines of the table.
  std::atomic<std::uint32_t>& block_seq(std::uint32_t block) {
    return block_seqs[(std::uint64_t{block} * 0x9E3779B97F4A7C15ull) >> block_seq_shift];
  }
  /// Kernel lock_map(): one lock per 64-byte cache line of the map, folded onto nfree locks.
  SpinLock& map_lock(std::uint32_t premap) {
    return map_locks[(std::uint64_t{premap} * kBttMapEntrySize / 64) % nfree];
  }
};

}  // namespace btt_detail

class BttDevice::Impl {
 public:
  PersistRegionPtr region_owner;
  PersistRegion* region = nullptr;
  const std::uint8_t* base = nullptr;
  BttOpenOptions opts;
  BttFlavor flavor = BttFlavor::Kernel;
  bool writable = false;
  std::uint32_t lbasize = 0;
  std::uint32_t sector_size = 0;
  std::uint64_t nlba = 0;
  unsigned nlanes = 1;
  std::uint64_t arena0_offset = 0;
  BttVersion version = BttVersion::V1_1;
  std::vector<btt_detail::Arena> arenas;
  /// The arenas' summaries, published with `formatted` (empty while unformatted).
  std::vector<BttArenaInfo> summaries;
  std::vector<btt_detail::SpinLock> lanes;
  /// PMDK pools whose layout is not written yet: false until the first write lays it out.
  std::atomic<bool> formatted{true};
  std::mutex layout_mutex;

  // --- open (btt_open.cpp) ---
  Result<void> discover();
  Result<void> load_arena_logs(btt_detail::Arena& a, std::uint32_t index);
  Result<void> lay_out_pmdk();  // first write to an unformatted PMDK pool

  // --- I/O (btt_io.cpp) ---
  /// What an internal I/O step reports; the public members turn it into an Error (cold path),
  /// so the hot path never builds a Result.
  enum class IoStatus : std::uint8_t { kOk, kMediaError, kBadMapEntry, kRefused, kNotDurable };

  unsigned acquire_lane();
  void release_lane(unsigned lane) { lanes[lane].unlock(); }
  /// Arena and pre-map LBA of an external LBA (< nlba).
  btt_detail::Arena& locate(std::uint64_t lba, std::uint32_t& premap) {
    for (btt_detail::Arena& a : arenas) {
      if (lba < a.external_nlba) {
        premap = static_cast<std::uint32_t>(lba);
        return a;
      }
      lba -= a.external_nlba;
    }
    premap = 0;  // unreachable: callers check lba < nlba = sum of external_nlba
    return arenas.back();
  }
  /// The raw map entry (sequentially consistent load; read-only opens consult the recovery
  /// overlay first).
  std::uint32_t map_load(const btt_detail::Arena& a, std::uint32_t premap) const {
    if (!a.overlay.empty()) [[unlikely]]
      return overlay_load(a, premap);
    return region->load32(a.map_offset(premap));
  }
  std::uint32_t overlay_load(const btt_detail::Arena& a, std::uint32_t premap) const;
  IoStatus read_one(btt_detail::Arena& a, std::uint32_t premap, std::uint8_t* dst, bool track,
                    std::uint32_t& bad_entry);
  /// The reader's fallback after opts.optimistic_reads attempts: under the entry's map lock the
  /// mapping cannot change, so the mapped block cannot be a lane's free block being filled.
  IoStatus read_locked(btt_detail::Arena& a, std::uint32_t premap, std::uint8_t* dst,
                       std::uint32_t& bad_entry);
  /// Map entry, then the block, with no validation: for when the mapping cannot change
  /// (read-only devices, or under the entry's map lock).
  IoStatus read_stable(const btt_detail::Arena& a, std::uint32_t premap, std::uint8_t* dst,
                       std::uint32_t& bad_entry) const;
  /// Decode a map entry for reading: kOk with `postmap` set, or the entry's answer (zeros
  /// written to dst, a media error, a bad entry).
  IoStatus read_target(const btt_detail::Arena& a, std::uint32_t premap, std::uint32_t raw,
                       std::uint8_t* dst, std::uint32_t& postmap, std::uint32_t& bad_entry) const;
  IoStatus write_one(btt_detail::Arena& a, std::uint32_t premap, const std::uint8_t* src,
                     unsigned lane, std::uint32_t& bad_entry);
  Result<void> set_flag(std::uint64_t lba, std::uint32_t flag);
  Result<void> check_io(std::uint64_t lba, std::size_t bytes, bool write) const {
    if ((write && !writable) || bytes == 0 || bytes % lbasize != 0 ||
        !range_fits(lba, bytes / lbasize, nlba)) [[unlikely]]
      return io_argument_error(lba, bytes, write);
    return {};
  }
  Result<void> io_argument_error(std::uint64_t lba, std::size_t bytes, bool write) const;
  Result<void> io_error(IoStatus st, const btt_detail::Arena& a, std::uint64_t lba,
                        std::uint32_t bad_entry) const;
  std::string where(std::uint64_t lba) const;
  ~Impl();
};

}  // namespace ndtk
