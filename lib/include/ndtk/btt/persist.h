// PersistRegion: the one interface every persistent store of the BTT data path goes through
// (non-temporal copy, single-copy-atomic 4/8-byte stores, flush, drain), so the same code runs
// on libpmem mappings, plain memory and a recorder that replays crash points in tests.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "ndtk/base/bytes.h"
#include "ndtk/base/result.h"
#include "ndtk/io/pmem_map.h"

namespace ndtk {

/// Host value <-> little-endian storage representation of a naturally aligned integer.
constexpr std::uint32_t to_le32(std::uint32_t v) {
  if constexpr (std::endian::native == std::endian::little) return v;
  else return __builtin_bswap32(v);
}
constexpr std::uint64_t to_le64(std::uint64_t v) {
  if constexpr (std::endian::native == std::endian::little) return v;
  else return __builtin_bswap64(v);
}
constexpr std::uint32_t from_le32(std::uint32_t v) { return to_le32(v); }
constexpr std::uint64_t from_le64(std::uint64_t v) { return to_le64(v); }

/// A byte region with direct read access and ordered, durable stores.
///
/// Contract (what the BTT write path relies on, and what the crash recorder models):
///  - copy(): bytes stored with non-temporal semantics: durable after the next drain() by the
///    same thread; visible to other threads only after a later synchronising atomic.
///  - store32()/store64(): one single-copy-atomic store of a naturally aligned little-endian
///    integer: other threads see the old or the new value, never a mix; durable after flush()
///    of its range and a drain(). store32 is sequentially consistent, store64 a release
///    store.
///  - store32_flushed()/store64_flushed(): store32()/store64() and flush() of those bytes in
///    one: durable after the next drain(), visible to other threads after it. On pmem a
///    non-temporal store, as the kernel writes map and log entries (memcpy_flushcache): the
///    line is neither read for ownership nor written back.
///  - flush(): write back the cache lines of a range holding store32/store64 values;
///    flush_again(): the same for a range stored earlier (possibly by another thread) and not
///    yet drained.
///  - drain(): wait until this thread's copies and flushes are durable (the ordering point).
///    Returns false if the backing store reported an error since the last drain (msync
///    failure); error_message() says which.
///  - sync(): drain(), and on a page-cache file also msync of the whole window: with every
///    writer having drained its own copies and flushes, everything is durable afterwards
///    (BttDevice::flush()).
/// Reads go straight through data(); 4/8-byte metadata is read with load32()/load64().
/// Offsets are never range-checked here: callers validate geometry once, at open.
class PersistRegion {
 public:
  virtual ~PersistRegion() = default;
  PersistRegion(const PersistRegion&) = delete;
  PersistRegion& operator=(const PersistRegion&) = delete;

  std::uint8_t* data() const { return data_; }
  std::uint64_t size() const { return size_; }
  Bytes bytes() const { return {data_, static_cast<std::size_t>(size_)}; }
  bool writable() const { return writable_; }
  const std::string& name() const { return name_; }

  virtual void copy(std::uint64_t off, const void* src, std::size_t len) = 0;
  virtual void store32(std::uint64_t off, std::uint32_t value) = 0;
  virtual void store64(std::uint64_t off, std::uint64_t value) = 0;
  virtual void flush(std::uint64_t off, std::size_t len) = 0;
  /// Default: store32() then flush() (what the crash recorder models).
  virtual void store32_flushed(std::uint64_t off, std::uint32_t value) {
    store32(off, value);
    flush(off, 4);
  }
  /// Default: store64() then flush().
  virtual void store64_flushed(std::uint64_t off, std::uint64_t value) {
    store64(off, value);
    flush(off, 8);
  }
  /// Make a range stored and flush()ed earlier, possibly by another thread, durable at this
  /// thread's next drain(): a cache-line write-back on pmem (a cheap no-op if the line is
  /// already clean), nothing where flush() itself made it durable (msync) or nothing is
  /// durable anyway. Default: flush().
  virtual void flush_again(std::uint64_t off, std::size_t len) { flush(off, len); }
  [[nodiscard]] virtual bool drain() = 0;
  virtual Result<void> sync() = 0;
  /// Zero [off, off+len) with copy() semantics (non-temporal, durable after drain()).
  void zero(std::uint64_t off, std::size_t len);

  /// Atomic (acquire / sequentially consistent) loads of aligned little-endian integers.
  std::uint32_t load32(std::uint64_t off) const {
    return from_le32(__atomic_load_n(word32(off), __ATOMIC_SEQ_CST));
  }
  std::uint64_t load64(std::uint64_t off) const {
    return from_le64(__atomic_load_n(word64(off), __ATOMIC_SEQ_CST));
  }

  /// The first msync/backing-store error since construction ("" if none).
  std::string error_message() const;

 protected:
  PersistRegion(std::uint8_t* data, std::uint64_t size, bool writable, std::string name)
      : data_(data), size_(size), writable_(writable), name_(std::move(name)) {}
  /// For implementations: the raw atomic store into the live bytes.
  void atomic_store32(std::uint64_t off, std::uint32_t v) {
    __atomic_store_n(word32(off), to_le32(v), __ATOMIC_SEQ_CST);
  }
  void atomic_store64(std::uint64_t off, std::uint64_t v) {
    __atomic_store_n(word64(off), to_le64(v), __ATOMIC_RELEASE);
  }
  /// Remember a backing-store failure; the next drain() reports it.
  void record_error(const std::string& what);
  /// Cheap when nothing failed: a plain load, no locked instruction on the hot path.
  bool take_error_flag() {
    return error_flag_.load(std::memory_order_relaxed) &&
           error_flag_.exchange(false, std::memory_order_acq_rel);
  }

 private:
  // The data path works on naturally aligned words inside the mapping; BttDevice checks the
  // alignment of every map and log offset at open, so these casts never see a misaligned word.
  std::uint32_t* word32(std::uint64_t off) const {
    return reinterpret_cast<std::uint32_t*>(data_ + off);
  }
  std::uint64_t* word64(std::uint64_t off) const {
    return reinterpret_cast<std::uint64_t*>(data_ + off);
  }

  std::uint8_t* data_;
  std::uint64_t size_;
  bool writable_;
  std::string name_;
  std::atomic<bool> error_flag_{false};
  mutable std::mutex error_mutex_;
  std::string first_error_;
};

using PersistRegionPtr = std::shared_ptr<PersistRegion>;

/// How stores to a non-pmem file mapping (page cache) are made durable.
enum class Durability {
  /// Every ordering point is durable before the next store (msync per copy/flush: one
  /// system call each, like libpmemblk on non-pmem). Survives power loss and OS crashes.
  kStrict,
  /// Stores reach the page cache in program order and are msync'ed only by sync()
  /// (BttDevice::flush()). Survives a crash of the process (the BTT stays consistent), not
  /// of the OS; no system call on the hot path.
  kDeferred,
};

/// The real implementation over a PmemMapping: on pmem, libpmem non-temporal copies, cache
/// flushes and one sfence per drain() (no system call); on a file in the page cache, msync
/// per `durability`; on an anonymous copy, plain memory.
PersistRegionPtr make_mapped_region(PmemMapping mapping, Durability durability = Durability::kStrict);

/// Plain memory holding a copy of `bytes` (tests, scratch work); persistence calls are no-ops.
Result<PersistRegionPtr> make_memory_region(Bytes bytes, std::string name = "<memory>");

}  // namespace ndtk
