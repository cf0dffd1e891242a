// Regular files and block devices through pread/pwrite; .zst files are handed to the zstd reader.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "ndtk/io/block_device.h"
#include "ndtk/io/file_util.h"

namespace ndtk {

Error range_error(const std::string& name, std::uint64_t off, std::uint64_t len,
                  std::uint64_t size);

Error os_error(const std::string& path, const char* op, int err) {
  Errc code = Errc::kIo;
  if (err == ENOENT || err == ENOTDIR) code = Errc::kNotFound;
  if (err == EACCES || err == EPERM || err == EROFS) code = Errc::kPermission;
  if (err == EISDIR) code = Errc::kIsDirectory;
  return make_error(code, fmt::format("{}: {}: {}", path, op, std::strerror(err)));
}

namespace {

class FileDevice final : public BlockDevice {
 public:
  FileDevice(UniqueFd fd, std::string name, std::uint64_t size, bool writable, bool regular)
      : fd_(std::move(fd)), name_(std::move(name)), size_(size), writable_(writable),
        regular_(regular) {}

  Result<void> read_at(std::uint64_t off, MutBytes out) const override {
    if (!range_fits(off, out.size(), size_))
      return Unexpected{range_error(name_, off, out.size(), size_)};
    std::size_t done = 0;
    while (done < out.size()) {
      ssize_t n = ::pread(fd_.get(), out.data() + done, out.size() - done,
                          static_cast<off_t>(off + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Unexpected{os_error(name_, "read", errno)};
      }
      if (n == 0)  // file shrank under us
        return fail(Errc::kTruncated,
                    fmt::format("{}: unexpected end of file at {:#x}", name_, off + done));
      done += static_cast<std::size_t>(n);
    }
    return ok();
  }

  Result<void> write_at(std::uint64_t off, Bytes in) override {
    if (!writable_) return fail(Errc::kReadOnly, name_ + ": opened read-only");
    if (!range_fits(off, in.size(), size_))
      return Unexpected{range_error(name_, off, in.size(), size_)};
    std::size_t done = 0;
    while (done < in.size()) {
      ssize_t n = ::pwrite(fd_.get(), in.data() + done, in.size() - done,
                           static_cast<off_t>(off + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Unexpected{os_error(name_, "write", errno)};
      }
      done += static_cast<std::size_t>(n);
    }
    return ok();
  }

  Result<void> flush() override {
    if (writable_ && ::fsync(fd_.get()) != 0) return Unexpected{os_error(name_, "fsync", errno)};
    return ok();
  }
  std::uint64_t size() const override { return size_; }
  bool writable() const override { return writable_; }
  const std::string& name() const override { return name_; }

  Result<void> write_zeros(std::uint64_t off, std::uint64_t len) override {
    if (!writable_) return fail(Errc::kReadOnly, name_ + ": opened read-only");
    if (!range_fits(off, len, size_)) return Unexpected{range_error(name_, off, len, size_)};
    if (len == 0 || known_zero(off, len)) return ok();
    if (regular_ && ::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                static_cast<off_t>(off), static_cast<off_t>(len)) == 0)
      return ok();
    return BlockDevice::write_zeros(off, len);
  }

  bool known_zero(std::uint64_t off, std::uint64_t len) const override {
    if (len == 0) return true;
    if (!range_fits(off, len, size_)) return false;
    off_t data = ::lseek(fd_.get(), static_cast<off_t>(off), SEEK_DATA);
    if (data < 0) return errno == ENXIO;  // no data after off: all hole
    return static_cast<std::uint64_t>(data) >= off + len;
  }

 private:
  UniqueFd fd_;
  std::string name_;
  std::uint64_t size_;
  bool writable_;
  bool regular_;
};

}  // namespace

Result<DevicePtr> open_zstd_image(const std::string& path, UniqueFd fd, std::uint64_t size);

Result<DevicePtr> open_image(const std::string& path, OpenMode mode) {
  const bool rw = mode == OpenMode::ReadWrite;
  int fd = ::open(path.c_str(), (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) {
    // Opening a directory read-write fails with EISDIR; read-only succeeds and is caught below.
    return Unexpected{os_error(path, "cannot open", errno)};
  }
  UniqueFd ufd(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Unexpected{os_error(path, "cannot stat", errno)};
  if (S_ISDIR(st.st_mode)) return fail(Errc::kIsDirectory, path + ": is a directory, not an image");
  std::uint64_t size = 0;
  if (S_ISBLK(st.st_mode)) {
    if (::ioctl(fd, BLKGETSIZE64, &size) != 0)
      return Unexpected{os_error(path, "cannot get block device size", errno)};
  } else if (S_ISREG(st.st_mode)) {
    size = static_cast<std::uint64_t>(st.st_size);
  } else {
    return fail(Errc::kUnsupported, path + ": not a regular file or block device");
  }
  std::uint8_t magic[4] = {};
  if (size >= 4 && ::pread(fd, magic, 4, 0) == 4 && magic[0] == 0x28 && magic[1] == 0xb5 &&
      magic[2] == 0x2f && magic[3] == 0xfd) {
    if (rw)
      return fail(Errc::kReadOnly,
                  path + ": zstd-compressed images are read-only (decompress it to write)");
    return open_zstd_image(path, std::move(ufd), size);
  }
  return DevicePtr(std::make_shared<FileDevice>(std::move(ufd), path, size, rw, S_ISREG(st.st_mode)));
}

}  // namespace ndtk
