// A read-only view of a device with a WritePlan applied in memory (for predicting a repair).
#include <algorithm>

#include "ndtk/repair/repair.h"

namespace ndtk {

namespace {

class OverlayDevice final : public BlockDevice {
 public:
  OverlayDevice(DevicePtr base, WritePlan plan)
      : base_(std::move(base)), plan_(std::move(plan)), name_(base_->name() + " (after repair)") {}

  Result<void> read_at(std::uint64_t off, MutBytes out) const override {
    NDTK_CHECK(base_->read_at(off, out));
    const std::uint64_t end = off + out.size();
    for (const auto& w : plan_.writes) {  // in order: later writes win, as on media
      const std::uint64_t wend = w.offset + w.length();
      if (wend <= off || w.offset >= end) continue;
      const std::uint64_t from = std::max(off, w.offset), to = std::min(end, wend);
      for (std::uint64_t x = from; x < to; ++x)
        out[x - off] = w.zero_length ? 0 : w.bytes[x - w.offset];
    }
    return ok();
  }
  Result<void> write_at(std::uint64_t, Bytes) override {
    return fail(Errc::kReadOnly, name_ + ": overlay is read-only");
  }
  Result<void> flush() override { return ok(); }
  std::uint64_t size() const override { return base_->size(); }
  bool writable() const override { return false; }
  const std::string& name() const override { return name_; }
  bool known_zero(std::uint64_t off, std::uint64_t len) const override {
    for (const auto& w : plan_.writes)
      if (w.offset < off + len && off < w.offset + w.length()) return false;
    return base_->known_zero(off, len);
  }

 private:
  DevicePtr base_;
  WritePlan plan_;
  std::string name_;
};

}  // namespace

DevicePtr make_overlay_device(DevicePtr base, const WritePlan& plan) {
  return std::make_shared<OverlayDevice>(std::move(base), plan);
}

Result<CheckReport> predict_after(DevicePtr image, const WritePlan& plan, const CheckOptions& opts) {
  CheckOptions o = opts;
  o.progress = nullptr;
  const std::string name = image->name();
  auto r = check_image(make_overlay_device(std::move(image), plan), o);
  if (r) r->image = name;
  return r;
}

}  // namespace ndtk
