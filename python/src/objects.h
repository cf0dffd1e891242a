// The stateful Python objects (Image, Namespace, Btt) shared between binding files. Each holds
// shared_ptrs so a call in flight (GIL released) keeps its device alive even if another thread
// closes the object meanwhile.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common.h"
#include "ndtk/btt/btt_image.h"
#include "ndtk/discover/discovery.h"
#include "ndtk/io/block_device.h"

namespace ndtk::pyb {

/// What an ndtk.Image owns.
struct ImageState {
  std::string path;  // as given, or "<memory>"
  DevicePtr dev;     // null once closed
  bool compressed = false;
  bool memory = false;  // Image.from_bytes
  DiscoverOptions where;
  std::optional<Discovery> disc;

  /// The device, or BadArgumentError "image is closed".
  DevicePtr device() const;
  /// The discovery (run at open and by refresh()).
  const Discovery& discovery() const;
};
using ImageRef = std::shared_ptr<ImageState>;

/// ndtk.Namespace: a discovered namespace plus the image it lives in.
struct PyNamespace {
  ImageRef image;
  Namespace ns;
};

/// ndtk.Btt: an open BTT data path.
struct PyBtt {
  std::shared_ptr<BttImage> handle;  // null once closed
  std::string name;
  ImageRef image;  // the Image it came from, if any (kept alive for repr/ownership only)

  std::shared_ptr<BttImage> get() const;
  /// Region offset of namespace offset 0 (the region is the file, or a copy of the window).
  static std::uint64_t region_base(const BttImage& b) {
    return b.in_memory_copy ? 0 : b.namespace_offset;
  }
};

/// Options shared by every way of opening a BTT from Python.
struct BttPyOptions {
  bool writable = false;
  std::optional<std::uint64_t> offset;
  std::optional<std::uint64_t> size;
  std::optional<std::uint64_t> arena0_offset;
  std::optional<BttFlavor> flavor;
  std::optional<Uuid> parent_uuid;
  Durability durability = Durability::kStrict;
  unsigned lanes = 0;
};

/// Open a BTT in a file (.zst: a read-only in-memory copy), releasing the GIL.
PyBtt open_btt_path(const std::string& path, const BttPyOptions& o);
/// Open the BTT of a discovered namespace of an image.
PyBtt open_btt_namespace(const ImageRef& img, const Namespace& ns, const BttPyOptions& o);

}  // namespace ndtk::pyb
