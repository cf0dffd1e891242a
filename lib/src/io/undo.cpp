// Undo file format (all little-endian):
//   header: "NDTKUNDO" | u32 version=1 | u32 reserved | u64 target_size | u64 record_count
//           | u32 name_len | name | u32 tool_len | tool
//   record: u64 offset | u64 length | u8 zero | (if not zero) old bytes | u64 fletcher64(bytes)
//   trailer: u64 fletcher64 over everything before it
#include "ndtk/io/undo.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "ndtk/io/file_util.h"

namespace ndtk {

namespace {

constexpr char kMagic[8] = {'N', 'D', 'T', 'K', 'U', 'N', 'D', 'O'};
constexpr std::uint32_t kVersion = 1;
constexpr std::uint64_t kChunk = 1 << 20;

void append_le(ByteVec& v, std::uint64_t x, int width) {
  for (int i = 0; i < width; ++i) v.push_back(static_cast<std::uint8_t>(x >> (8 * i)));
}

// Streams bytes to a file while keeping a running checksum of everything written.
class Writer {
 public:
  explicit Writer(int fd) : fd_(fd) {}
  Result<void> put(Bytes b, const std::string& path) {
    add(b);
    std::size_t done = 0;
    while (done < b.size()) {
      ssize_t n = ::write(fd_, b.data() + done, b.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Unexpected{os_error(path, "write", errno)};
      }
      done += static_cast<std::size_t>(n);
    }
    return ok();
  }
  // Fletcher64 is defined on 4-byte words; keep a carry so the running sum equals the sum of
  // the concatenation.
  void add(Bytes b) {
    for (std::uint8_t x : b) {
      word_[wlen_++] = x;
      if (wlen_ == 4) {
        lo_ += le32(Bytes(word_, 4), 0);
        hi_ += lo_;
        wlen_ = 0;
      }
    }
  }
  std::uint64_t sum() const {
    std::uint32_t lo = lo_, hi = hi_;
    if (wlen_) {
      std::uint8_t w[4] = {};
      std::copy_n(word_, wlen_, w);
      lo += le32(Bytes(w, 4), 0);
      hi += lo;
    }
    return (std::uint64_t{hi} << 32) | lo;
  }

 private:
  int fd_;
  std::uint8_t word_[4] = {};
  int wlen_ = 0;
  std::uint32_t lo_ = 0, hi_ = 0;
};

// Fletcher64 of bytes zero-padded to a whole word (what Writer accumulates).
std::uint64_t padded_sum(Bytes b) {
  Writer w(-1);
  w.add(b);
  return w.sum();
}

}  // namespace

Result<void> save_undo(const std::string& undo_path, const BlockDevice& dev,
                       std::span<const ByteRange> ranges, const std::string& tool) {
  for (const auto& r : ranges)
    if (!range_fits(r.offset, r.length, dev.size()))
      return fail(Errc::kOutOfRange,
                  fmt::format("{}: undo range [{:#x}, +{:#x}) lies past the end", dev.name(),
                              r.offset, r.length));
  const std::string tmp = undo_path + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return Unexpected{os_error(tmp, "cannot create undo file", errno)};
  auto cleanup_on_error = [&](Error e) {
    ::unlink(tmp.c_str());
    return Unexpected{std::move(e)};
  };
  Writer w(fd.get());
  ByteVec hdr(kMagic, kMagic + 8);
  append_le(hdr, kVersion, 4);
  append_le(hdr, 0, 4);
  append_le(hdr, dev.size(), 8);
  append_le(hdr, ranges.size(), 8);
  append_le(hdr, dev.name().size(), 4);
  hdr.insert(hdr.end(), dev.name().begin(), dev.name().end());
  append_le(hdr, tool.size(), 4);
  hdr.insert(hdr.end(), tool.begin(), tool.end());
  if (auto r = w.put(hdr, tmp); !r) return cleanup_on_error(r.error());

  ByteVec buf;
  for (const auto& r : ranges) {
    // Pass 1 decides zero-ness (holes without reading); pass 2 streams the old bytes.
    bool zero = dev.known_zero(r.offset, r.length);
    for (std::uint64_t done = 0; !zero && done < r.length; done += kChunk) {
      buf.resize(std::min(kChunk, r.length - done));
      if (auto rr = dev.read_at(r.offset + done, buf); !rr) return cleanup_on_error(rr.error());
      if (!all_zero(buf)) break;
      if (done + buf.size() >= r.length) zero = true;
    }
    if (r.length == 0) zero = true;
    ByteVec rec;
    append_le(rec, r.offset, 8);
    append_le(rec, r.length, 8);
    rec.push_back(zero ? 1 : 0);
    if (auto wr = w.put(rec, tmp); !wr) return cleanup_on_error(wr.error());
    if (zero) continue;
    Writer sum(-1);
    for (std::uint64_t done = 0; done < r.length; done += kChunk) {
      buf.resize(std::min(kChunk, r.length - done));
      if (auto rr = dev.read_at(r.offset + done, buf); !rr) return cleanup_on_error(rr.error());
      sum.add(buf);
      if (auto wr = w.put(buf, tmp); !wr) return cleanup_on_error(wr.error());
    }
    ByteVec tail;
    append_le(tail, sum.sum(), 8);
    if (auto wr = w.put(tail, tmp); !wr) return cleanup_on_error(wr.error());
  }
  ByteVec trailer;
  append_le(trailer, w.sum(), 8);
  Writer tw(fd.get());  // the trailer is not part of its own checksum
  if (auto wr = tw.put(trailer, tmp); !wr) return cleanup_on_error(wr.error());
  if (::fsync(fd.get()) != 0) return cleanup_on_error(os_error(tmp, "fsync", errno));
  fd.reset();
  if (::rename(tmp.c_str(), undo_path.c_str()) != 0)
    return cleanup_on_error(os_error(undo_path, "rename", errno));
  auto dir = std::filesystem::path(undo_path).parent_path();
  if (dir.empty()) dir = ".";
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd) ::fsync(dfd.get());
  return ok();
}

Result<UndoFile> load_undo(const std::string& undo_path) {
  NDTK_TRY(dev, open_image(undo_path));
  const std::uint64_t size = dev->size();
  auto bad = [&](const std::string& why) {
    return fail(Errc::kCorrupt, fmt::format("{}: not a valid ndtk undo file: {}", undo_path, why));
  };
  if (size < 8 + 4 + 4 + 8 + 8 + 4 + 4 + 8) return bad("too short");
  if (size > (std::uint64_t{1} << 34)) return bad("larger than 16 GiB");
  NDTK_TRY(all, dev->read_vec(0, size));
  const Bytes b(all);
  if (!std::equal(kMagic, kMagic + 8, b.begin())) return bad("bad magic");
  if (padded_sum(b.first(size - 8)) != le64(b, size - 8)) return bad("checksum mismatch");
  if (le32(b, 8) != kVersion) return bad(fmt::format("unknown version {}", le32(b, 8)));
  UndoFile u;
  u.target_size = le64(b, 16);
  const std::uint64_t count = le64(b, 24);
  std::uint64_t pos = 32;
  auto take_string = [&](std::string& out) -> bool {
    if (!range_fits(pos, 4, size - 8)) return false;
    const std::uint32_t n = le32(b, pos);
    pos += 4;
    if (!range_fits(pos, n, size - 8)) return false;
    out.assign(b.begin() + pos, b.begin() + pos + n);
    pos += n;
    return true;
  };
  if (!take_string(u.target_name) || !take_string(u.tool)) return bad("truncated header");
  for (std::uint64_t i = 0; i < count; ++i) {
    if (!range_fits(pos, 17, size - 8)) return bad(fmt::format("record {} truncated", i));
    UndoRecord r;
    r.offset = le64(b, pos);
    r.length = le64(b, pos + 8);
    r.zero = b[pos + 16] != 0;
    pos += 17;
    if (!r.zero) {
      if (!range_fits(pos, r.length, size - 8) || !range_fits(pos + r.length, 8, size - 8))
        return bad(fmt::format("record {} truncated", i));
      r.old_bytes.assign(b.begin() + pos, b.begin() + pos + r.length);
      pos += r.length;
      if (padded_sum(r.old_bytes) != le64(b, pos)) return bad(fmt::format("record {} checksum", i));
      pos += 8;
    }
    u.records.push_back(std::move(r));
  }
  if (pos != size - 8) return bad("trailing bytes");
  return u;
}

Result<void> apply_undo(const UndoFile& undo, BlockDevice& dev) {
  if (dev.size() != undo.target_size)
    return fail(Errc::kInvalidArgument,
                fmt::format("{}: size {} differs from the {} recorded in the undo file (made for {})",
                            dev.name(), dev.size(), undo.target_size, undo.target_name));
  for (const auto& r : undo.records)
    if (!range_fits(r.offset, r.length, dev.size()))
      return fail(Errc::kOutOfRange, fmt::format("{}: undo record [{:#x}, +{:#x}) past the end",
                                                 dev.name(), r.offset, r.length));
  ByteVec zeros;
  for (auto it = undo.records.rbegin(); it != undo.records.rend(); ++it) {
    if (!it->zero) {
      NDTK_CHECK(dev.write_at(it->offset, it->old_bytes));
      continue;
    }
    for (std::uint64_t done = 0; done < it->length; done += kChunk) {
      const std::uint64_t n = std::min(kChunk, it->length - done);
      zeros.assign(n, 0);
      NDTK_CHECK(dev.write_at(it->offset + done, zeros));
    }
  }
  return dev.flush();
}

}  // namespace ndtk
