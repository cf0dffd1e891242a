// Opening the BTT inside an image file: a PMDK pmemblk pool (recognised by its header), a bare
// namespace window (--offset/--size), or a whole image that is one namespace.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ndtk/base/result.h"
#include "ndtk/base/uuid.h"
#include "ndtk/btt/btt_device.h"
#include "ndtk/btt/persist.h"
#include "ndtk/io/block_device.h"

namespace ndtk {

struct BttImageOptions {
  /// Map the image read-write (the image must be a raw file, not .zst).
  bool writable = false;
  /// Namespace window in the image; default: a pmemblk pool's BTT area, else the whole image.
  std::optional<std::uint64_t> offset;
  std::optional<std::uint64_t> size;
  /// Namespace offset of arena 0 (see BttOpenOptions::arena0_offset).
  std::optional<std::uint64_t> arena0_offset;
  /// Default: Pmdk for a pmemblk pool, Kernel otherwise.
  std::optional<BttFlavor> flavor;
  /// The namespace uuid (label uuid) the BTT's parent_uuid must match (zero also matches).
  std::optional<Uuid> parent_uuid;
  Durability durability = Durability::kStrict;
  unsigned lanes = 0;
};

/// What was opened.
enum class BttContainer {
  PmemBlkPool,  // a PMDK pool file: BTT at pmemblk_btt_offset(), PMDK semantics
  Window,       // an explicit --offset/--size window
  Namespace,    // a namespace found by discovery (labels, or the label-less namespace)
  WholeImage,   // the whole file is the namespace
};
const char* btt_container_name(BttContainer c);

struct BttImage {
  BttDevice device;
  BttContainer container = BttContainer::WholeImage;
  std::uint64_t namespace_offset = 0;  // in the image file
  std::uint64_t namespace_size = 0;
  /// True when a compressed image was decompressed into memory (writes would not reach it).
  bool in_memory_copy = false;
  /// Container::Namespace: the label uuid (zero for a label-less namespace) and name.
  Uuid namespace_uuid;
  std::string namespace_name;
};

/// Open the BTT of an image file. Read-only opens map the file PROT_READ (a .zst image is
/// decompressed into a sparse in-memory copy of the namespace window instead); read-write
/// opens map it through libpmem. A file starting with a "PMEMBLK" pool header is a pmemblk
/// pool unless an explicit window is given: BTT at 8192, parent uuid = poolset uuid, sector
/// size = bsize, PMDK semantics, an unwritten layout reads as zeros. Errors are one line and
/// name the path.
Result<BttImage> open_btt_image(const std::string& path, const BttImageOptions& opts = {});

/// The same on an already opened (typically .zst) device; always read-only, through an
/// in-memory copy of the namespace window.
Result<BttImage> open_btt_device_copy(const BlockDevice& dev, const BttImageOptions& opts = {});

/// How to find the namespace holding the BTT in a DIMM image.
struct BttLocate {
  /// Namespace uuid (label or BTT instance uuid) or name; empty = automatic.
  std::string namespace_key;
  /// Explicit label area (default: found by discovery).
  std::optional<std::uint64_t> label_offset;
  std::optional<std::uint64_t> label_size;
};

/// Find the BTT the way the kernel would and open it: an explicit window (opts.offset/size),
/// else a pmemblk pool, else the namespace `where.namespace_key` names (labels -> namespaces
/// -> claim class; its uuid is the parent uuid the BTT must carry), else the only sector
/// namespace discovery finds, else the whole image. kNotFound names the missing namespace
/// and lists those present; kInvalidArgument when several BTT namespaces exist and none was
/// chosen; kNotPresent when the chosen namespace holds no BTT.
Result<BttImage> open_btt_in_image(const std::string& path, const BttLocate& where,
                                   BttImageOptions opts = {});

/// True iff the file at `path` starts with the zstd frame magic.
bool is_zstd_file(const std::string& path);

}  // namespace ndtk
