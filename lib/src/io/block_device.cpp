// BlockDevice defaults plus the memory and view devices.
#include "ndtk/io/block_device.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace ndtk {

Result<ByteVec> BlockDevice::read_vec(std::uint64_t off, std::size_t len) const {
  ByteVec v(len);
  NDTK_CHECK(read_at(off, v));
  return v;
}

bool BlockDevice::known_zero(std::uint64_t, std::uint64_t) const { return false; }

Result<void> BlockDevice::write_zeros(std::uint64_t off, std::uint64_t len) {
  if (!range_fits(off, len, size()))
    return fail(Errc::kOutOfRange, fmt::format("{}: zero range [{:#x}, +{:#x}) lies past the end",
                                               name(), off, len));
  constexpr std::uint64_t kChunk = 1 << 20;
  ByteVec zeros;
  for (std::uint64_t done = 0; done < len; done += kChunk) {
    const std::uint64_t n = std::min(kChunk, len - done);
    if (known_zero(off + done, n)) continue;
    zeros.resize(n);
    NDTK_CHECK(write_at(off + done, zeros));
  }
  return ok();
}

Error range_error(const std::string& name, std::uint64_t off, std::uint64_t len,
                  std::uint64_t size) {
  return make_error(Errc::kOutOfRange,
                    fmt::format("{}: range [{:#x}, +{:#x}) lies past the end ({:#x} bytes)", name,
                                off, len, size));
}

namespace {

class MemoryDevice final : public BlockDevice {
 public:
  MemoryDevice(ByteVec bytes, std::string name, bool writable)
      : bytes_(std::move(bytes)), name_(std::move(name)), writable_(writable) {}
  Result<void> read_at(std::uint64_t off, MutBytes out) const override {
    if (!range_fits(off, out.size(), bytes_.size()))
      return Unexpected{range_error(name_, off, out.size(), bytes_.size())};
    if (!out.empty()) std::memcpy(out.data(), bytes_.data() + off, out.size());
    return ok();
  }
  Result<void> write_at(std::uint64_t off, Bytes in) override {
    if (!writable_) return fail(Errc::kReadOnly, name_ + ": opened read-only");
    if (!range_fits(off, in.size(), bytes_.size()))
      return Unexpected{range_error(name_, off, in.size(), bytes_.size())};
    if (!in.empty()) std::memcpy(bytes_.data() + off, in.data(), in.size());
    return ok();
  }
  Result<void> flush() override { return ok(); }
  std::uint64_t size() const override { return bytes_.size(); }
  bool writable() const override { return writable_; }
  const std::string& name() const override { return name_; }

 private:
  ByteVec bytes_;
  std::string name_;
  bool writable_;
};

class ViewDevice final : public BlockDevice {
 public:
  ViewDevice(DevicePtr parent, std::uint64_t off, std::uint64_t len, std::string name)
      : parent_(std::move(parent)), off_(off), len_(len), name_(std::move(name)) {}
  Result<void> read_at(std::uint64_t off, MutBytes out) const override {
    if (!range_fits(off, out.size(), len_))
      return Unexpected{range_error(name_, off, out.size(), len_)};
    return parent_->read_at(off_ + off, out);
  }
  Result<void> write_at(std::uint64_t off, Bytes in) override {
    if (!range_fits(off, in.size(), len_))
      return Unexpected{range_error(name_, off, in.size(), len_)};
    return parent_->write_at(off_ + off, in);
  }
  Result<void> flush() override { return parent_->flush(); }
  std::uint64_t size() const override { return len_; }
  bool writable() const override { return parent_->writable(); }
  const std::string& name() const override { return name_; }
  bool known_zero(std::uint64_t off, std::uint64_t len) const override {
    return range_fits(off, len, len_) && parent_->known_zero(off_ + off, len);
  }
  Result<void> write_zeros(std::uint64_t off, std::uint64_t len) override {
    if (!range_fits(off, len, len_)) return Unexpected{range_error(name_, off, len, len_)};
    return parent_->write_zeros(off_ + off, len);
  }

 private:
  DevicePtr parent_;
  std::uint64_t off_, len_;
  std::string name_;
};

}  // namespace

DevicePtr make_memory_device(ByteVec bytes, std::string name, bool writable) {
  return std::make_shared<MemoryDevice>(std::move(bytes), std::move(name), writable);
}

Result<DevicePtr> make_view(DevicePtr parent, std::uint64_t offset, std::uint64_t length,
                            std::string name) {
  if (!parent) return fail(Errc::kInvalidArgument, "view of a null device");
  if (!range_fits(offset, length, parent->size()))
    return fail(Errc::kOutOfRange,
                fmt::format("{}: view [{:#x}, +{:#x}) lies past the end ({:#x} bytes)",
                            parent->name(), offset, length, parent->size()));
  if (name.empty()) name = fmt::format("{}[{:#x}+{:#x}]", parent->name(), offset, length);
  return DevicePtr(std::make_shared<ViewDevice>(std::move(parent), offset, length, std::move(name)));
}

}  // namespace ndtk
