// Formatting a BTT the way the Linux kernel does (btt_arena_write_layout): the write plan for a
// namespace window, the content checks that keep a format from destroying data, and the job a
// `btt-format` run is (window or label namespace, or a new namespace written into the labels).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ndtk/base/result.h"
#include "ndtk/base/uuid.h"
#include "ndtk/format/btt_info.h"
#include "ndtk/geometry/btt_geometry.h"
#include "ndtk/io/block_device.h"
#include "ndtk/repair/label_create_plan.h"
#include "ndtk/repair/write_plan.h"

namespace ndtk {

/// One BTT to lay out in a namespace window of an image.
struct BttFormatRequest {
  std::uint64_t namespace_offset = 0;  // image offset of the namespace's first byte
  std::uint64_t namespace_size = 0;    // namespace capacity in bytes
  std::uint32_t external_lbasize = 0;  // 512, 520, 528, 4096, 4104, 4160 or 4224
  BttVersion version = BttVersion::V1_1;
  std::uint32_t nfree = kBttDefaultNfree;
  Uuid uuid;         // the BTT instance uuid (the kernel: nd_btt->uuid, random per format)
  Uuid parent_uuid;  // the namespace (label) uuid; zero for a label-less namespace
};

/// The kernel's layout and its write sequence.
struct BttFormatPlan {
  std::vector<ArenaLayout> arenas;  // kernel_btt_layout() of the request
  std::vector<BttInfo> infos;       // per arena: the info block written twice
  WritePlan plan;                   // image offsets, in the kernel's order
  std::uint64_t external_lbas = 0;  // the BTT's capacity in sectors
};

/// The kernel's format of one BTT, arena after arena (btt_meta_init -> btt_arena_write_layout):
/// zero the map [mapoff, logoff) (a zero range: sparse holes stay holes), zero the log
/// [logoff, info2off), write every lane's initial log group (slot 0 = {lane, ext+lane,
/// ext+lane, seq 1}, the rest zero), write info2, then the primary info block last: the commit.
/// The data area is never written. Errors: kInvalidArgument / kUnsupported from the geometry
/// (too small, unsupported lbasize, nfree 0), kOutOfRange when the window overflows u64.
Result<BttFormatPlan> plan_btt_format(const BttFormatRequest& req);

/// Something a format would overwrite.
struct ExistingContent {
  std::string what;          // "valid BTT 1.1 info block (uuid ...)", "ext2/3/4 superblock"
  std::uint64_t offset = 0;  // image offset of the signature
};

/// What sits in the namespace window [ns_offset, ns_offset+ns_size): a BTT info block (valid, or
/// with its signature but a bad checksum) at namespace offset 0 or 4096, a pfn/dax info block at
/// 4096, an ext2/3/4 (0xEF53 at 1080), XFS ("XFSB" at 0) or btrfs ("_BHRfS_M" at 65600)
/// superblock. Only reads; ranges the device knows are zero are not read. Fails only when the
/// window lies outside the device or a read fails.
Result<std::vector<ExistingContent>> detect_existing_content(const BlockDevice& dev,
                                                             std::uint64_t ns_offset,
                                                             std::uint64_t ns_size);

// ---- the btt-format job -------------------------------------------------------------------

/// Everything `btt-format` is asked to do (library form of its command line).
struct BttFormatJobOptions {
  // Where: an explicit window, a namespace of the labels, or a new namespace.
  std::optional<std::uint64_t> offset;
  std::optional<std::uint64_t> size;  // window size, or the new namespace's size
  std::string namespace_id;           // uuid or name of a label namespace
  std::optional<std::uint64_t> label_offset;
  std::optional<std::uint64_t> label_size;
  bool create_namespace = false;
  std::string name;                            // new namespace's name
  std::optional<LabelVersion> label_version;   // blank label areas only (default 1.2)
  std::optional<std::uint64_t> isetcookie;     // override the interleave-set cookie
  std::optional<std::uint32_t> serial;         // NFIT serial for the computed cookie
  std::optional<std::uint64_t> region_offset;  // NFIT region offset for the computed cookie
  // What: the BTT.
  std::uint32_t sector_size = 0;
  std::optional<BttVersion> version;
  std::uint32_t nfree = kBttDefaultNfree;
  std::optional<Uuid> uuid;         // default: random
  std::optional<Uuid> parent_uuid;  // default: the namespace's label uuid (zero label-less)
  bool force = false;               // overwrite existing content / initialise a garbage area
};

/// A planned run: every write in order plus what to tell the user.
struct BttFormatJob {
  std::uint64_t namespace_offset = 0;
  std::uint64_t namespace_size = 0;
  std::string where;  // "namespace 59ba662e-... (btt-one)", "window [0x0, +0x10000000)", ...
  BttFormatRequest request;
  BttFormatPlan btt;
  std::optional<NamespaceCreatePlan> labels;  // --create-namespace
  WritePlan plan;                  // labels first (when created), then the BTT
  std::vector<std::string> notes;  // how defaults were chosen, warnings
  std::vector<ExistingContent> overwritten;  // what --force let the plan overwrite
};

/// Work out the whole run on `image` without writing: resolve the window (explicit, label
/// namespace by uuid/name, the single label-less namespace, or a new namespace placed in the
/// labels), choose the version the kernel would, refuse (kInvalidArgument, one line naming the
/// image) to overwrite existing content without `force`, and build the plan.
Result<BttFormatJob> plan_btt_format_job(const DevicePtr& image, const BttFormatJobOptions& opts);

/// One line per write: "  0x00001000  +0x1000  arena 0: primary info block (commit)".
std::vector<std::string> describe_plan(const WritePlan& plan);

}  // namespace ndtk
