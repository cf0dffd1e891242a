// Read-only zstd images, decompressed once into a sparse chunk table (all-zero chunks are not
// stored), so a 256 MiB mostly-empty golden image costs a few MiB of memory.
#include <unistd.h>

#include <cstring>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <zstd.h>

#include "ndtk/io/block_device.h"
#include "ndtk/io/file_util.h"

namespace ndtk {

Error range_error(const std::string& name, std::uint64_t off, std::uint64_t len,
                  std::uint64_t size);

namespace {

constexpr std::size_t kChunk = 64 * 1024;

class ZstdDevice final : public BlockDevice {
 public:
  ZstdDevice(std::string name, std::vector<std::unique_ptr<std::uint8_t[]>> chunks,
             std::uint64_t size)
      : name_(std::move(name)), chunks_(std::move(chunks)), size_(size) {}

  Result<void> read_at(std::uint64_t off, MutBytes out) const override {
    if (!range_fits(off, out.size(), size_))
      return Unexpected{range_error(name_, off, out.size(), size_)};
    std::size_t done = 0;
    while (done < out.size()) {
      const std::uint64_t pos = off + done;
      const std::size_t ci = pos / kChunk, co = pos % kChunk;
      const std::size_t n = std::min(out.size() - done, kChunk - co);
      if (chunks_[ci])
        std::memcpy(out.data() + done, chunks_[ci].get() + co, n);
      else
        std::memset(out.data() + done, 0, n);
      done += n;
    }
    return ok();
  }
  Result<void> write_at(std::uint64_t, Bytes) override {
    return fail(Errc::kReadOnly, name_ + ": zstd-compressed images are read-only");
  }
  Result<void> flush() override { return ok(); }
  std::uint64_t size() const override { return size_; }
  bool writable() const override { return false; }
  const std::string& name() const override { return name_; }
  bool known_zero(std::uint64_t off, std::uint64_t len) const override {
    if (!range_fits(off, len, size_)) return false;
    if (len == 0) return true;
    for (std::uint64_t ci = off / kChunk; ci <= (off + len - 1) / kChunk; ++ci)
      if (chunks_[ci]) return false;
    return true;
  }

 private:
  std::string name_;
  std::vector<std::unique_ptr<std::uint8_t[]>> chunks_;
  std::uint64_t size_;
};

struct DctxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

}  // namespace

Result<DevicePtr> open_zstd_image(const std::string& path, UniqueFd fd, std::uint64_t size) {
  std::unique_ptr<ZSTD_DCtx, DctxDeleter> dctx(ZSTD_createDCtx());
  if (!dctx) return fail(Errc::kIo, path + ": cannot allocate zstd context");
  std::vector<std::uint8_t> in(ZSTD_DStreamInSize());
  std::vector<std::unique_ptr<std::uint8_t[]>> chunks;
  auto cur = std::make_unique<std::uint8_t[]>(kChunk);
  std::size_t cur_fill = 0;
  std::uint64_t total = 0;
  std::uint64_t read_pos = 0;
  std::size_t last_ret = 0;

  auto finish_chunk = [&]() {
    const bool zero = all_zero(Bytes(cur.get(), cur_fill));
    if (zero) {
      chunks.emplace_back();
    } else {
      chunks.push_back(std::move(cur));
      cur = std::make_unique<std::uint8_t[]>(kChunk);
    }
    cur_fill = 0;
  };

  while (read_pos < size) {
    ssize_t n = ::pread(fd.get(), in.data(), in.size(), static_cast<off_t>(read_pos));
    if (n < 0) return Unexpected{os_error(path, "read", errno)};
    if (n == 0) break;
    read_pos += static_cast<std::uint64_t>(n);
    ZSTD_inBuffer ib{in.data(), static_cast<std::size_t>(n), 0};
    while (ib.pos < ib.size) {
      ZSTD_outBuffer ob{cur.get() + cur_fill, kChunk - cur_fill, 0};
      last_ret = ZSTD_decompressStream(dctx.get(), &ob, &ib);
      if (ZSTD_isError(last_ret))
        return fail(Errc::kCorrupt, fmt::format("{}: corrupt zstd data near compressed offset "
                                                "{:#x}: {}",
                                                path, read_pos, ZSTD_getErrorName(last_ret)));
      cur_fill += ob.pos;
      total += ob.pos;
      if (cur_fill == kChunk) finish_chunk();
    }
  }
  // Drain anything still buffered in the decoder.
  while (last_ret != 0) {
    ZSTD_inBuffer ib{nullptr, 0, 0};
    ZSTD_outBuffer ob{cur.get() + cur_fill, kChunk - cur_fill, 0};
    last_ret = ZSTD_decompressStream(dctx.get(), &ob, &ib);
    if (ZSTD_isError(last_ret))
      return fail(Errc::kCorrupt,
                  fmt::format("{}: corrupt zstd data: {}", path, ZSTD_getErrorName(last_ret)));
    if (ob.pos == 0) break;
    cur_fill += ob.pos;
    total += ob.pos;
    if (cur_fill == kChunk) finish_chunk();
  }
  if (last_ret != 0)
    return fail(Errc::kTruncated,
                path + ": zstd stream ends in the middle of a frame (truncated file?)");
  if (cur_fill > 0) {
    std::memset(cur.get() + cur_fill, 0, kChunk - cur_fill);
    finish_chunk();
  }
  return DevicePtr(std::make_shared<ZstdDevice>(path, std::move(chunks), total));
}

}  // namespace ndtk
