// Test-only SHA-256 (FIPS 180-4) so golden-image tests can compare against manifest digests
// without an external crypto dependency.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "ndtk/base/bytes.h"

namespace ndtk::test {

/// Incremental SHA-256.
class Sha256 {
 public:
  Sha256();
  void update(Bytes data);
  /// The digest; the object must not be updated afterwards.
  std::array<std::uint8_t, 32> finish();

 private:
  void block(const std::uint8_t* p);
  std::array<std::uint32_t, 8> h_;
  std::array<std::uint8_t, 64> buf_{};
  std::size_t buf_len_ = 0;
  std::uint64_t total_ = 0;
};

/// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(Bytes data);

}  // namespace ndtk::test
