// BlockDevice: the byte interface every reader and writer in ndtk goes through.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ndtk/base/bytes.h"
#include "ndtk/base/result.h"

namespace ndtk {

/// Random-access bytes with a fixed size. Implementations: file/block device (pread/pwrite),
/// memory, zstd (read-only), view (a window of another device), undo (records old bytes).
/// Reads or writes that do not lie entirely inside [0, size()) fail with kOutOfRange and
/// transfer nothing.
class BlockDevice {
 public:
  virtual ~BlockDevice() = default;
  /// Fill `out` with the bytes at [off, off+out.size()).
  virtual Result<void> read_at(std::uint64_t off, MutBytes out) const = 0;
  /// Store `in` at [off, off+in.size()); kReadOnly if the device was not opened writable.
  virtual Result<void> write_at(std::uint64_t off, Bytes in) = 0;
  /// Make prior writes durable (fsync / msync / nothing for memory).
  virtual Result<void> flush() = 0;
  virtual std::uint64_t size() const = 0;
  virtual bool writable() const = 0;
  /// What to call this device in messages (usually the path).
  virtual const std::string& name() const = 0;

  /// Make [off, off+len) read as zeros. Ranges already known to be zero are skipped (so a
  /// multi-TiB sparse image is formatted without writing pages); regular files punch holes
  /// where they can. Default: chunked writes of zeros.
  virtual Result<void> write_zeros(std::uint64_t off, std::uint64_t len);

  /// Convenience: read `len` bytes into a new vector.
  Result<ByteVec> read_vec(std::uint64_t off, std::size_t len) const;
  /// True iff the range [off, off+len) is known to read as zeros without reading it
  /// (a hole in a sparse file or an absent zstd chunk). Default: false (unknown).
  virtual bool known_zero(std::uint64_t off, std::uint64_t len) const;
};

using DevicePtr = std::shared_ptr<BlockDevice>;

enum class OpenMode { ReadOnly, ReadWrite };

/// Open a regular file or block device; a .zst file (detected by its magic, not its name) is
/// decompressed transparently and is read-only. Errors name the path: missing, directory,
/// permission, corrupt zstd frame.
Result<DevicePtr> open_image(const std::string& path, OpenMode mode = OpenMode::ReadOnly);

/// An in-memory device (tests, fuzzers, scratch copies).
DevicePtr make_memory_device(ByteVec bytes, std::string name = "<memory>", bool writable = true);

/// A window [offset, offset+length) of `parent`; offsets are relative to the window.
/// Fails with kOutOfRange (naming the parent) if the window does not fit.
Result<DevicePtr> make_view(DevicePtr parent, std::uint64_t offset, std::uint64_t length,
                            std::string name = {});

}  // namespace ndtk
