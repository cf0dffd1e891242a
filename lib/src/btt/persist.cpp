// PersistRegion plumbing and the real implementation over a PmemMapping (libpmem on pmem,
// msync on page-cache files, nothing on anonymous memory).
#include "ndtk/btt/persist.h"

#include <algorithm>
#include <cstring>

namespace ndtk {

void PersistRegion::zero(std::uint64_t off, std::size_t len) {
  static constexpr std::uint8_t kZeros[4096] = {};
  while (len > 0) {
    const std::size_t n = std::min(len, sizeof kZeros);
    copy(off, kZeros, n);
    off += n;
    len -= n;
  }
}

std::string PersistRegion::error_message() const {
  std::lock_guard<std::mutex> lock(error_mutex_);
  return first_error_;
}

void PersistRegion::record_error(const std::string& what) {
  {
    std::lock_guard<std::mutex> lock(error_mutex_);
    if (first_error_.empty()) first_error_ = what;
  }
  error_flag_.store(true, std::memory_order_release);
}

namespace {

/// How a MappedRegion makes stores durable; fixed at construction so the hot path is one
/// predictable branch.
enum class Mode {
  Pmem,      // libpmem: nt copies, clwb/clflushopt, sfence
  MsyncNow,  // page-cache file, Durability::kStrict: msync at every copy/flush
  Deferred,  // page-cache file, Durability::kDeferred: msync only in sync()
  Volatile,  // anonymous memory
};

class MappedRegion final : public PersistRegion {
 public:
  MappedRegion(PmemMapping m, Durability d)
      : PersistRegion(m.data(), m.size(), m.writable(), m.name()), map_(std::move(m)) {
    if (map_.kind() == MapKind::Memory)
      mode_ = Mode::Volatile;
    else if (map_.is_pmem())
      mode_ = Mode::Pmem;
    else
      mode_ = d == Durability::kStrict ? Mode::MsyncNow : Mode::Deferred;
  }

  void copy(std::uint64_t off, const void* src, std::size_t len) override {
    map_.memcpy_nodrain(off, src, len);
    if (mode_ == Mode::MsyncNow) msync_range(off, len);
  }
  void store32(std::uint64_t off, std::uint32_t value) override { atomic_store32(off, value); }
  void store64(std::uint64_t off, std::uint64_t value) override { atomic_store64(off, value); }
  // movnti on pmem: the BTT's log and map lines were written back (on this CPU: evicted) by
  // an earlier write, so a cached store would first wait for the line to be read back, then
  // for its write-back (docs/performance.md: random writes 1.3-1.4x -> 1.6-1.8x libpmemblk).
  // An aligned 4/8-byte store is single-copy atomic either way.
  void store32_flushed(std::uint64_t off, std::uint32_t value) override {
#if defined(__x86_64__)
    if (mode_ == Mode::Pmem) {
      __builtin_ia32_movnti(reinterpret_cast<int*>(data() + off),
                            static_cast<int>(to_le32(value)));
      return;
    }
#endif
    store32(off, value);
    flush(off, 4);
  }
  void store64_flushed(std::uint64_t off, std::uint64_t value) override {
#if defined(__x86_64__)
    if (mode_ == Mode::Pmem) {
      __builtin_ia32_movnti64(reinterpret_cast<long long*>(data() + off),
                              static_cast<long long>(to_le64(value)));
      return;
    }
#endif
    store64(off, value);
    flush(off, 8);
  }
  void flush(std::uint64_t off, std::size_t len) override {
    if (mode_ == Mode::Pmem)
      map_.flush(off, len);
    else if (mode_ == Mode::MsyncNow)
      msync_range(off, len);
  }
  void flush_again(std::uint64_t off, std::size_t len) override {
    // msync/flush() already made it durable, or nothing ever is (memory, deferred).
    if (mode_ == Mode::Pmem) map_.flush(off, len);
  }
  bool drain() override {
    if (mode_ == Mode::Pmem) map_.drain();
    return !take_error_flag();
  }
  Result<void> sync() override {
    if (!writable()) return ok();
    auto r = map_.sync();
    if (!r) return r;
    if (take_error_flag()) return fail(Errc::kIo, error_message());
    return ok();
  }

 private:
  void msync_range(std::uint64_t off, std::size_t len) {
    auto r = map_.persist(off, len);
    if (!r) record_error(r.error().message());
  }

  PmemMapping map_;
  Mode mode_ = Mode::Volatile;
};

}  // namespace

PersistRegionPtr make_mapped_region(PmemMapping mapping, Durability durability) {
  return std::make_shared<MappedRegion>(std::move(mapping), durability);
}

Result<PersistRegionPtr> make_memory_region(Bytes bytes, std::string name) {
  NDTK_TRY(m, PmemMapping::anonymous(bytes.size(), std::move(name)));
  std::memcpy(m.data(), bytes.data(), bytes.size());
  return make_mapped_region(std::move(m), Durability::kStrict);
}

}  // namespace ndtk
