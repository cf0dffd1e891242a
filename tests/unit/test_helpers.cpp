// Implementation of the shared unit-test helpers.
#include "test_helpers.h"

#include <unistd.h>

#include <fstream>
#include <random>
#include <stdexcept>

namespace ndtk::test {

ByteVec from_hex(const std::string& s) {
  ByteVec out;
  int hi = -1;
  for (char c : s) {
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else continue;
    if (hi < 0) hi = v;
    else { out.push_back(static_cast<std::uint8_t>(hi * 16 + v)); hi = -1; }
  }
  return out;
}

TempDir::TempDir() {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() /
          ("ndtk-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_file(const std::string& path, Bytes data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

ByteVec read_all(const BlockDevice& dev) {
  ByteVec v(dev.size());
  auto r = dev.read_at(0, v);
  if (!r) throw std::runtime_error(r.error().message());
  return v;
}

}  // namespace ndtk::test
