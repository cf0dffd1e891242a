// PmemMapping: an image file (or a window of it) mapped into memory for the BTT data path,
// with the persistence primitives of libpmem (non-temporal copies, flush, drain, msync).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "ndtk/base/bytes.h"
#include "ndtk/base/result.h"
#include "ndtk/io/block_device.h"

namespace ndtk {

/// How a mapping is opened. Read-only mappings are PROT_READ: a store is a crash, never a
/// silent change of the image.
enum class MapAccess { ReadOnly, ReadWrite };

/// Where the bytes live, which decides how they are made durable.
enum class MapKind {
  File,    // MAP_SHARED mapping of a file or device: durable via libpmem (pmem) or msync
  Memory,  // anonymous private memory (a copy of an image): volatile, persistence is a no-op
};

struct MapOptions {
  MapAccess access = MapAccess::ReadOnly;
  /// Start of the window inside the file (any byte offset).
  std::uint64_t offset = 0;
  /// Length of the window; default: from `offset` to the end of the file.
  std::optional<std::uint64_t> length;
};

/// A mapped window. RAII: the destructor unmaps (after nothing: callers persist explicitly).
/// Movable, not copyable. All offsets are relative to the window start.
///
/// Persistence model (the one the BTT data path is written against):
///  - memcpy_nodrain(): store bytes with non-temporal stores where the hardware allows; they
///    are durable after the next drain() of the same thread.
///  - flush(): write back cache lines holding ordinary stores to [off, off+len).
///  - drain(): wait until everything this thread copied or flushed is durable.
/// On real persistent memory (pmem_is_pmem, or PMEM_IS_PMEM_FORCE=1) these are libpmem's
/// pmem_memcpy_nodrain / pmem_flush / pmem_drain, with no system call. On anything else
/// (a file in the page cache) durability needs msync(2): persist() and sync() call it;
/// memcpy_nodrain/flush/drain alone only order the stores for other processes.
class PmemMapping {
 public:
  /// Map `path` (regular file, block device or device-DAX). Errors (one line, naming the
  /// path): missing file (kNotFound), directory (kIsDirectory), permission (kPermission),
  /// empty file or window past the end (kOutOfRange), zstd-compressed image (kUnsupported,
  /// with the command that decompresses it).
  static Result<PmemMapping> open(const std::string& path, const MapOptions& opts = {});

  /// A private in-memory copy of [offset, offset+length) of `dev` (default: to its end).
  /// Ranges the device knows to be zero (holes, absent zstd chunks) are not touched, so a
  /// sparse 256 MiB image costs only its non-zero pages. Always writable; writes never reach
  /// `dev`. This is how a .zst golden image is read.
  static Result<PmemMapping> copy_of(const BlockDevice& dev, std::uint64_t offset = 0,
                                     std::optional<std::uint64_t> length = std::nullopt);

  /// Zero-filled anonymous memory of `size` bytes (lazily allocated by the kernel).
  static Result<PmemMapping> anonymous(std::uint64_t size, std::string name = "<memory>");

  PmemMapping(PmemMapping&& o) noexcept;
  PmemMapping& operator=(PmemMapping&& o) noexcept;
  PmemMapping(const PmemMapping&) = delete;
  PmemMapping& operator=(const PmemMapping&) = delete;
  ~PmemMapping();

  /// First byte of the window.
  std::uint8_t* data() const { return window_; }
  std::uint64_t size() const { return size_; }
  Bytes bytes() const { return {window_, static_cast<std::size_t>(size_)}; }
  bool writable() const { return writable_; }
  /// True when stores become durable through cache flushes alone (no msync needed).
  bool is_pmem() const { return is_pmem_; }
  MapKind kind() const { return kind_; }
  /// The path (or "<memory>"/the copied device's name) for messages.
  const std::string& name() const { return name_; }

  /// Non-temporal copy into the window; durable after drain() (pmem) or persist/sync (file).
  void memcpy_nodrain(std::uint64_t off, const void* src, std::size_t len) const;
  /// Write back the cache lines of [off, off+len) (pmem only; no-op otherwise).
  void flush(std::uint64_t off, std::size_t len) const;
  /// Wait for this thread's non-temporal stores and flushes (pmem only; no-op otherwise).
  void drain() const;
  /// Make [off, off+len) durable now: flush+drain on pmem, msync on a file, nothing for
  /// memory. kIo if msync fails.
  Result<void> persist(std::uint64_t off, std::uint64_t len) const;
  /// Make the whole window durable (msync of the window / drain / nothing).
  Result<void> sync() const;

 private:
  PmemMapping() = default;
  void reset() noexcept;

  std::uint8_t* map_base_ = nullptr;  // what was mapped (page aligned)
  std::size_t map_len_ = 0;
  bool via_libpmem_ = false;          // unmap with pmem_unmap
  std::uint8_t* window_ = nullptr;
  std::uint64_t size_ = 0;
  bool writable_ = false;
  bool is_pmem_ = false;
  MapKind kind_ = MapKind::Memory;
  std::string name_;
};

}  // namespace ndtk
