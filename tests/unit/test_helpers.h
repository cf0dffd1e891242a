// Shared helpers for unit tests: locating golden images and making scratch files.
#pragma once

#include <filesystem>
#include <string>

#include "ndtk/base/bytes.h"
#include "ndtk/io/block_device.h"

namespace ndtk::test {

/// tests/images/<name> in the source tree.
inline std::string image_path(const std::string& name) {
  return std::string(NDTK_TEST_IMAGES) + "/" + name;
}

/// Bytes from a hex string with optional spaces: "4e 41 4d".
ByteVec from_hex(const std::string& s);

/// A fresh empty directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

/// Write bytes to a file (creating/truncating it).
void write_file(const std::string& path, Bytes data);

/// Read a whole device into memory (small images only).
ByteVec read_all(const BlockDevice& dev);

}  // namespace ndtk::test
