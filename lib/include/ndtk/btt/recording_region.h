// RecordingRegion: an in-memory PersistRegion that logs every store, flush and drain, so a crash
// simulator can cut the sequence at any point, lose what was not yet durable, and reopen.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ndtk/base/bytes.h"
#include "ndtk/base/result.h"
#include "ndtk/btt/persist.h"
#include "ndtk/io/pmem_map.h"

namespace ndtk {

/// What a recorded operation was.
enum class PersistOpKind : std::uint8_t {
  Copy,   // non-temporal bytes: durable at the next Drain
  Store,  // one atomic 4/8-byte store: durable once Flushed and then Drained
  Flush,  // write back the cache lines of [off, off+len)
  Drain,  // ordering point of the issuing thread (drain() and sync())
};

struct PersistOp {
  PersistOpKind kind = PersistOpKind::Drain;
  std::uint16_t thread = 0;  // which thread issued it (0, 1, ... in order of first use)
  std::uint64_t off = 0;
  std::uint64_t len = 0;
  std::uint64_t payload = 0;  // index of the stored bytes in the payload log (Copy/Store)
};

/// What happens to stores that were not durable when power failed.
enum class CrashLoss {
  DropUnfenced,    // none of them reached the media
  KeepUnfenced,    // all of them did (caches were written back just in time)
  RandomUnfenced,  // each aligned 8-byte unit independently (torn copies included)
};

/// The x86 persistence rules, per thread: a drain() makes durable the copies and flushes its
/// own thread issued before it, not another thread's (sfence orders only the issuing core).
/// A flush writes back a cache line whoever stored into it. Operations are recorded in the
/// order they happened; concurrent use is safe, and crash scenarios meant to be replayed are
/// best run with one operation at a time so that order is the program order.
class RecordingRegion final : public PersistRegion {
 public:
  /// A region holding a copy of `initial`; recording starts empty.
  static Result<std::shared_ptr<RecordingRegion>> create(Bytes initial,
                                                         std::string name = "<recording>");

  void copy(std::uint64_t off, const void* src, std::size_t len) override;
  void store32(std::uint64_t off, std::uint32_t value) override;
  void store64(std::uint64_t off, std::uint64_t value) override;
  void flush(std::uint64_t off, std::size_t len) override;
  [[nodiscard]] bool drain() override;
  Result<void> sync() override;

  /// Number of operations recorded so far: a cut point lies in [0, op_count()].
  std::size_t op_count() const;
  /// A copy of the recorded operations.
  std::vector<PersistOp> ops() const;
  /// The bytes stored by a Copy/Store op.
  ByteVec payload(const PersistOp& op) const;
  /// Forget the recorded operations (the bytes stay as they are).
  void clear_ops();

  /// Write into `target` (another region) the stores that survive a power failure after the
  /// first `cut` operations, in recorded order: every durable store, plus the non-durable ones
  /// `loss` keeps (`seed` drives RandomUnfenced). `target` must hold this region's contents as
  /// they were when recording started (or last clear_ops()). Stores go through target.copy(),
  /// so a RecordingRegion target can be restore()d afterwards.
  void apply_crash(std::size_t cut, CrashLoss loss, std::uint64_t seed,
                   PersistRegion& target) const;

  /// Copy back from `original` every byte range a recorded Copy/Store touched, then clear the
  /// log: cheap reset of a scratch region to its starting state.
  Result<void> restore(Bytes original);

 private:
  explicit RecordingRegion(PmemMapping mem);
  void append(PersistOpKind kind, std::uint64_t off, std::uint64_t len, const void* bytes);

  PmemMapping mem_;
  mutable std::mutex mutex_;
  std::vector<PersistOp> ops_;
  ByteVec payload_;
  std::vector<std::thread::id> threads_;  // index = PersistOp::thread
};

}  // namespace ndtk
