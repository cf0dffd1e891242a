// WritePlan bookkeeping and the one applier.
#include "ndtk/repair/write_plan.h"

#include <fmt/format.h>

namespace ndtk {

void WritePlan::add(std::uint64_t offset, ByteVec bytes, std::string what,
                    std::optional<Problem> fixes) {
  writes.push_back({offset, std::move(bytes), 0, std::move(what), fixes});
}

void WritePlan::add_zeros(std::uint64_t offset, std::uint64_t length, std::string what,
                          std::optional<Problem> fixes) {
  if (length == 0) return;
  writes.push_back({offset, {}, length, std::move(what), fixes});
}

std::vector<ByteRange> WritePlan::ranges() const {
  std::vector<ByteRange> r;
  r.reserve(writes.size());
  for (const auto& w : writes) r.push_back({w.offset, w.length()});
  return r;
}

std::uint64_t WritePlan::total_bytes() const {
  std::uint64_t n = 0;
  for (const auto& w : writes) n += w.length();
  return n;
}

Result<void> apply_plan(BlockDevice& dev, const WritePlan& plan, const ApplyOptions& opts) {
  if (!dev.writable()) return fail(Errc::kReadOnly, dev.name() + ": opened read-only");
  for (const auto& w : plan.writes)
    if (!range_fits(w.offset, w.length(), dev.size()))
      return fail(Errc::kOutOfRange,
                  fmt::format("{}: planned write [{:#x}, +{:#x}) ({}) lies past the end ({:#x} bytes)",
                              dev.name(), w.offset, w.length(), w.what, dev.size()));
  if (!opts.undo_path.empty()) {
    const auto r = plan.ranges();
    NDTK_CHECK(save_undo(opts.undo_path, dev, r, opts.tool));
  }
  for (const auto& w : plan.writes) {
    if (w.zero_length)
      NDTK_CHECK(dev.write_zeros(w.offset, w.zero_length));
    else
      NDTK_CHECK(dev.write_at(w.offset, w.bytes));
  }
  return dev.flush();
}

}  // namespace ndtk
