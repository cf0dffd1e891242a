// RecordingRegion: logs every store/flush/drain and rebuilds what would survive a power failure
// at any cut point of the log (x86 model: 8-byte power-fail atomicity, cache-line flushes).
#include "ndtk/btt/recording_region.h"

#include <algorithm>
#include <cstring>
#include <random>

#include <fmt/format.h>

namespace ndtk {

namespace {
constexpr std::uint64_t kLine = 64;  // cache line: the unit flush() writes back
constexpr std::uint64_t kAtom = 8;   // power-fail atomic unit
}  // namespace

RecordingRegion::RecordingRegion(PmemMapping mem)
    : PersistRegion(mem.data(), mem.size(), true, mem.name()), mem_(std::move(mem)) {}

Result<std::shared_ptr<RecordingRegion>> RecordingRegion::create(Bytes initial, std::string name) {
  NDTK_TRY(m, PmemMapping::anonymous(initial.size(), std::move(name)));
  std::memcpy(m.data(), initial.data(), initial.size());
  return std::shared_ptr<RecordingRegion>(new RecordingRegion(std::move(m)));
}

void RecordingRegion::append(PersistOpKind kind, std::uint64_t off, std::uint64_t len,
                             const void* bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  PersistOp op;
  const std::thread::id me = std::this_thread::get_id();
  const auto it = std::find(threads_.begin(), threads_.end(), me);
  op.thread = static_cast<std::uint16_t>(it - threads_.begin());
  if (it == threads_.end()) threads_.push_back(me);
  op.kind = kind;
  op.off = off;
  op.len = len;
  if (bytes != nullptr) {
    op.payload = payload_.size();
    const auto* p = static_cast<const std::uint8_t*>(bytes);
    payload_.insert(payload_.end(), p, p + len);
  }
  ops_.push_back(op);
}

void RecordingRegion::copy(std::uint64_t off, const void* src, std::size_t len) {
  std::memcpy(data() + off, src, len);
  append(PersistOpKind::Copy, off, len, src);
}

void RecordingRegion::store32(std::uint64_t off, std::uint32_t value) {
  atomic_store32(off, value);
  const std::uint32_t le = to_le32(value);
  append(PersistOpKind::Store, off, sizeof le, &le);
}

void RecordingRegion::store64(std::uint64_t off, std::uint64_t value) {
  atomic_store64(off, value);
  const std::uint64_t le = to_le64(value);
  append(PersistOpKind::Store, off, sizeof le, &le);
}

void RecordingRegion::flush(std::uint64_t off, std::size_t len) {
  append(PersistOpKind::Flush, off, len, nullptr);
}

bool RecordingRegion::drain() {
  append(PersistOpKind::Drain, 0, 0, nullptr);
  return true;
}

Result<void> RecordingRegion::sync() {
  // Memory has no msync: a sync is this thread's ordering point, as on pmem.
  append(PersistOpKind::Drain, 0, 0, nullptr);
  return ok();
}

std::size_t RecordingRegion::op_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ops_.size();
}

std::vector<PersistOp> RecordingRegion::ops() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ops_;
}

ByteVec RecordingRegion::payload(const PersistOp& op) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (op.kind != PersistOpKind::Copy && op.kind != PersistOpKind::Store) return {};
  if (!range_fits(op.payload, op.len, payload_.size())) return {};
  return ByteVec(payload_.begin() + static_cast<std::ptrdiff_t>(op.payload),
                 payload_.begin() + static_cast<std::ptrdiff_t>(op.payload + op.len));
}

void RecordingRegion::clear_ops() {
  std::lock_guard<std::mutex> lock(mutex_);
  ops_.clear();
  payload_.clear();
  threads_.clear();
}

void RecordingRegion::apply_crash(std::size_t cut, CrashLoss loss, std::uint64_t seed,
                                  PersistRegion& target) const {
  std::lock_guard<std::mutex> lock(mutex_);
  cut = std::min(cut, ops_.size());

  // Backward sweep: a Copy is durable if a Drain of its own thread follows it before the cut;
  // a Store is durable if a Flush covering one of its cache lines follows it and a Drain of
  // the flushing thread follows that Flush.
  std::vector<std::uint8_t> durable(cut, 0);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> flushed;  // [first line, last line]
  std::vector<std::uint8_t> drained(threads_.size() + 1, 0);     // per thread, later in time
  for (std::size_t i = cut; i-- > 0;) {
    const PersistOp& op = ops_[i];
    switch (op.kind) {
      case PersistOpKind::Drain:
        drained[op.thread] = 1;
        break;
      case PersistOpKind::Flush:
        if (drained[op.thread] && op.len > 0)
          flushed.emplace_back(op.off / kLine, (op.off + op.len - 1) / kLine);
        break;
      case PersistOpKind::Copy:
        durable[i] = drained[op.thread];
        break;
      case PersistOpKind::Store: {
        const std::uint64_t first = op.off / kLine, last = (op.off + op.len - 1) / kLine;
        for (const auto& [a, b] : flushed)
          if (a <= last && first <= b) {
            durable[i] = 1;
            break;
          }
        break;
      }
    }
  }

  std::mt19937_64 rng(seed);
  for (std::size_t i = 0; i < cut; ++i) {
    const PersistOp& op = ops_[i];
    if (op.kind != PersistOpKind::Copy && op.kind != PersistOpKind::Store) continue;
    const std::uint8_t* bytes = payload_.data() + op.payload;
    if (durable[i] || loss == CrashLoss::KeepUnfenced) {
      target.copy(op.off, bytes, op.len);
      continue;
    }
    if (loss == CrashLoss::DropUnfenced) continue;
    // RandomUnfenced: every aligned 8-byte unit of the store independently made it or not.
    std::uint64_t pos = op.off;
    const std::uint64_t end = op.off + op.len;
    while (pos < end) {
      const std::uint64_t unit_end = std::min(end, align_down(pos, kAtom) + kAtom);
      if (rng() & 1) target.copy(pos, bytes + (pos - op.off), unit_end - pos);
      pos = unit_end;
    }
  }
  (void)target.drain();
}

Result<void> RecordingRegion::restore(Bytes original) {
  if (original.size() != size())
    return fail(Errc::kInvalidArgument,
                fmt::format("{}: restore from {} bytes into a {}-byte region", name(),
                            original.size(), size()));
  std::lock_guard<std::mutex> lock(mutex_);
  for (const PersistOp& op : ops_) {
    if (op.kind != PersistOpKind::Copy && op.kind != PersistOpKind::Store) continue;
    std::memcpy(data() + op.off, original.data() + op.off, op.len);
  }
  ops_.clear();
  payload_.clear();
  threads_.clear();
  return ok();
}

}  // namespace ndtk
