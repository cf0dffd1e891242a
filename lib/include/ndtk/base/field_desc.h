// Field descriptors: name/offset/size of every field of an on-media structure, used by the
// annotated hex view and by tests that corrupt one field at a time.
#pragma once

#include <cstddef>
#include <span>

namespace ndtk {

struct FieldDesc {
  const char* name;
  std::size_t offset;
  std::size_t size;
};

using FieldTable = std::span<const FieldDesc>;

}  // namespace ndtk
