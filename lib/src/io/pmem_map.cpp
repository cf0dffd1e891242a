// PmemMapping: read-write windows through libpmem (pmem_map_file), read-only windows through a
// PROT_READ mmap, and anonymous in-memory copies of any BlockDevice (how .zst images are read).
#include "ndtk/io/pmem_map.h"

#include <fcntl.h>
#include <libpmem.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "ndtk/io/file_util.h"

namespace ndtk {

namespace {

constexpr std::uint8_t kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};

std::uint64_t page_size() {
  const long p = ::sysconf(_SC_PAGESIZE);
  return p > 0 ? static_cast<std::uint64_t>(p) : 4096;
}

Error window_error(const std::string& path, std::uint64_t off, std::uint64_t len,
                   std::uint64_t size) {
  return make_error(Errc::kOutOfRange,
                    fmt::format("{}: window [{:#x}, +{:#x}) lies past the end of the image "
                                "({:#x} bytes)",
                                path, off, len, size));
}

}  // namespace

PmemMapping::PmemMapping(PmemMapping&& o) noexcept { *this = std::move(o); }

PmemMapping& PmemMapping::operator=(PmemMapping&& o) noexcept {
  if (this != &o) {
    reset();
    map_base_ = std::exchange(o.map_base_, nullptr);
    map_len_ = std::exchange(o.map_len_, 0);
    via_libpmem_ = std::exchange(o.via_libpmem_, false);
    window_ = std::exchange(o.window_, nullptr);
    size_ = std::exchange(o.size_, 0);
    writable_ = std::exchange(o.writable_, false);
    is_pmem_ = std::exchange(o.is_pmem_, false);
    kind_ = o.kind_;
    name_ = std::move(o.name_);
  }
  return *this;
}

PmemMapping::~PmemMapping() { reset(); }

void PmemMapping::reset() noexcept {
  if (map_base_ != nullptr) {
    if (via_libpmem_)
      ::pmem_unmap(map_base_, map_len_);
    else
      ::munmap(map_base_, map_len_);
  }
  map_base_ = nullptr;
  map_len_ = 0;
  window_ = nullptr;
  size_ = 0;
}

Result<PmemMapping> PmemMapping::open(const std::string& path, const MapOptions& opts) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Unexpected{os_error(path, "open", errno)};
  if (S_ISDIR(st.st_mode))
    return fail(Errc::kIsDirectory, path + ": is a directory, not an image file");
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode) && !S_ISCHR(st.st_mode))
    return fail(Errc::kUnsupported, path + ": not a regular file or device");

  const bool rw = opts.access == MapAccess::ReadWrite;
  UniqueFd fd(::open(path.c_str(), (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC));
  if (!fd) return Unexpected{os_error(path, "open", errno)};

  std::uint64_t file_size = 0;
  if (S_ISREG(st.st_mode)) {
    file_size = static_cast<std::uint64_t>(st.st_size);
  } else if (S_ISBLK(st.st_mode)) {
    if (::ioctl(fd.get(), BLKGETSIZE64, &file_size) != 0)
      return Unexpected{os_error(path, "BLKGETSIZE64", errno)};
  } else {
    // Device DAX: only libpmem knows its size (from sysfs); it maps the whole device.
    if (!rw)
      return fail(Errc::kUnsupported,
                  path + ": read-only mapping of a character device is not supported "
                         "(open it read-write, or copy it to a file)");
  }
  if (S_ISREG(st.st_mode) && file_size == 0)
    return fail(Errc::kOutOfRange, path + ": empty file (0 bytes), not an image");

  if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
    std::uint8_t magic[4] = {};
    if (::pread(fd.get(), magic, sizeof magic, 0) == static_cast<ssize_t>(sizeof magic) &&
        std::memcmp(magic, kZstdMagic, sizeof magic) == 0)
      return fail(Errc::kUnsupported,
                  fmt::format("{}: zstd-compressed image; the data path needs the raw bytes: "
                              "decompress it first (zstd -d --sparse '{}')",
                              path, path));
  }

  PmemMapping m;
  m.name_ = path;
  m.kind_ = MapKind::File;
  m.writable_ = rw;

  if (S_ISCHR(st.st_mode) || (rw && S_ISREG(st.st_mode))) {
    std::size_t mapped_len = 0;
    int is_pmem = 0;
    void* base = ::pmem_map_file(path.c_str(), 0, 0, 0, &mapped_len, &is_pmem);
    if (base == nullptr) {
      const int err = errno;
      return fail(err == ENOENT ? Errc::kNotFound
                  : (err == EACCES || err == EPERM || err == EROFS) ? Errc::kPermission
                                                                    : Errc::kIo,
                  fmt::format("{}: pmem_map_file: {}", path, ::pmem_errormsg()));
    }
    m.map_base_ = static_cast<std::uint8_t*>(base);
    m.map_len_ = mapped_len;
    m.via_libpmem_ = true;
    file_size = mapped_len;
    const std::uint64_t len = opts.length.value_or(
        opts.offset <= file_size ? file_size - opts.offset : 0);
    if (!range_fits(opts.offset, len, file_size) || len == 0)
      return Unexpected{window_error(path, opts.offset, len, file_size)};
    m.window_ = m.map_base_ + opts.offset;
    m.size_ = len;
    m.is_pmem_ = is_pmem != 0;
    return m;
  }

  const std::uint64_t len =
      opts.length.value_or(opts.offset <= file_size ? file_size - opts.offset : 0);
  if (!range_fits(opts.offset, len, file_size) || len == 0)
    return Unexpected{window_error(path, opts.offset, len, file_size)};
  const std::uint64_t pg = page_size();
  const std::uint64_t start = align_down(opts.offset, pg);
  const std::uint64_t map_len = opts.offset - start + len;
  const int prot = rw ? (PROT_READ | PROT_WRITE) : PROT_READ;
  void* base = ::mmap(nullptr, map_len, prot, MAP_SHARED, fd.get(), static_cast<off_t>(start));
  if (base == MAP_FAILED) return Unexpected{os_error(path, "mmap", errno)};
  m.map_base_ = static_cast<std::uint8_t*>(base);
  m.map_len_ = map_len;
  m.window_ = m.map_base_ + (opts.offset - start);
  m.size_ = len;
  m.is_pmem_ = rw && ::pmem_is_pmem(m.window_, len) != 0;
  return m;
}

Result<PmemMapping> PmemMapping::anonymous(std::uint64_t size, std::string name) {
  if (size == 0) return fail(Errc::kInvalidArgument, name + ": cannot map 0 bytes");
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return Unexpected{os_error(name, "mmap (anonymous)", errno)};
  PmemMapping m;
  m.map_base_ = static_cast<std::uint8_t*>(base);
  m.map_len_ = size;
  m.window_ = m.map_base_;
  m.size_ = size;
  m.writable_ = true;
  m.kind_ = MapKind::Memory;
  m.name_ = std::move(name);
  return m;
}

Result<PmemMapping> PmemMapping::copy_of(const BlockDevice& dev, std::uint64_t offset,
                                         std::optional<std::uint64_t> length) {
  const std::uint64_t len =
      length.value_or(offset <= dev.size() ? dev.size() - offset : 0);
  if (!range_fits(offset, len, dev.size()) || len == 0)
    return Unexpected{window_error(dev.name(), offset, len, dev.size())};
  NDTK_TRY(m, anonymous(len, dev.name()));
  // Bounce through a buffer so all-zero stretches never touch (allocate) the copy's pages.
  constexpr std::uint64_t kChunk = 64 * 1024;
  ByteVec buf(kChunk);
  for (std::uint64_t done = 0; done < len; done += kChunk) {
    const std::uint64_t n = std::min(kChunk, len - done);
    if (dev.known_zero(offset + done, n)) continue;
    MutBytes chunk(buf.data(), static_cast<std::size_t>(n));
    NDTK_CHECK(dev.read_at(offset + done, chunk));
    if (all_zero(chunk)) continue;
    std::memcpy(m.window_ + done, chunk.data(), chunk.size());
  }
  return m;
}

void PmemMapping::memcpy_nodrain(std::uint64_t off, const void* src, std::size_t len) const {
  if (is_pmem_)
    ::pmem_memcpy_nodrain(window_ + off, src, len);
  else
    std::memcpy(window_ + off, src, len);
}

void PmemMapping::flush(std::uint64_t off, std::size_t len) const {
  if (is_pmem_) ::pmem_flush(window_ + off, len);
}

void PmemMapping::drain() const {
  if (is_pmem_) ::pmem_drain();
}

Result<void> PmemMapping::persist(std::uint64_t off, std::uint64_t len) const {
  if (!range_fits(off, len, size_))
    return Unexpected{window_error(name_, off, len, size_)};
  if (len == 0 || kind_ == MapKind::Memory || !writable_) return ok();
  if (is_pmem_) {
    ::pmem_persist(window_ + off, len);
    return ok();
  }
  if (::pmem_msync(window_ + off, len) != 0)
    return Unexpected{os_error(name_, "msync", errno)};
  return ok();
}

Result<void> PmemMapping::sync() const {
  if (kind_ == MapKind::Memory || !writable_) return ok();
  if (is_pmem_) {
    ::pmem_drain();
    return ok();
  }
  return persist(0, size_);
}

}  // namespace ndtk
