// Discovery: what an image holds, decided the way the kernel decides it. Image -> label area
// (bare, QEMU tail, explicit) -> namespaces from the current labels -> each namespace's
// personality by its claim class (BTT 1.1 @4K, BTT 2.0 @0, pfn, dax, raw). Also label-less
// DIMMs, PMDK pmemblk pools and bare namespace windows.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ndtk/base/finding.h"
#include "ndtk/base/result.h"
#include "ndtk/base/uuid.h"
#include "ndtk/discover/label_area.h"
#include "ndtk/format/btt_info.h"
#include "ndtk/format/namespace_label.h"
#include "ndtk/format/pfn_info.h"
#include "ndtk/format/pmdk_pool.h"
#include "ndtk/io/block_device.h"

namespace ndtk {

enum class ImageKind {
  DimmWithLabels,  // pmem followed by a label area (QEMU NVDIMM backing file, or explicit)
  LabelAreaOnly,   // a bare label area (e.g. `ndctl read-labels -o`)
  Labelless,       // no valid label area: one namespace spanning the whole pmem range
  PmemBlkPool,     // a PMDK pmemblk pool file (pool header, then one BTT)
  Namespace,       // an explicit --offset/--size window treated as one namespace
};
const char* image_kind_name(ImageKind k);

/// ndctl's mode names.
enum class NsMode { Raw, Sector, Fsdax, Devdax };
const char* ns_mode_name(NsMode m);

/// A BTT found where the kernel looks for it.
struct BttSummary {
  BttVersion version = BttVersion::V1_1;
  std::uint64_t info_offset = 0;  // namespace-relative offset of arena 0's info block
  BttInfo info;                   // arena 0's primary info block
  std::uint32_t arenas = 0;       // arenas reachable through nextoff with valid info blocks
  std::uint64_t external_nlba = 0;  // summed over those arenas
  bool complete = true;  // false: a later arena's info block is invalid (kernel refuses)
  std::string problem;   // why not complete
  /// Namespace-relative end of the BTT as its valid info blocks describe it: the last
  /// reachable arena's info2off + 4096, or the end of the next info block a nextoff points at
  /// outside the namespace (0 when that arithmetic overflows).
  std::uint64_t described_end = 0;
  std::uint32_t sector_size() const { return info.external_lbasize >= 4096 ? 4096 : 512; }
};

/// A pfn/dax info block as the kernel would judge it.
struct PfnSummary {
  PfnInfo info;
  PfnValidation validation;
};

struct Namespace {
  std::uint32_t index = 0;  // order of discovery (by DPA)
  Uuid uuid;                // label uuid; zero for label-less, pools and bare windows
  std::string name;
  std::uint64_t offset = 0;  // byte offset of the namespace in the image (= DPA on a DIMM image)
  std::uint64_t size = 0;    // raw size in bytes
  ClaimClass claim = ClaimClass::None;
  std::uint64_t lbasize = 0;  // label lbasize (raw-mode logical block size)
  bool from_labels = false;
  bool stale = false;         // assembled from stale (freed) labels
  /// A bare window's namespace uuid is unknown: info blocks are accepted with any parent_uuid.
  bool any_parent = false;
  NsMode mode = NsMode::Raw;
  std::optional<BttSummary> btt;
  std::optional<PfnSummary> pfn;
  /// The claim class asks for a personality the media does not hold (kernel exposes it raw or
  /// not at all); `personality_note` says what was expected and found.
  bool personality_missing = false;
  std::string personality_note;

  /// What `ndctl list` reports as "size": external LBAs x sector size (sector), the usable
  /// data range (fsdax/devdax), the raw size (raw).
  std::uint64_t capacity() const;
  /// ndctl's "uuid": the BTT/pfn instance uuid when present, else the label uuid.
  Uuid display_uuid() const;
  /// ndctl's "sector_size".
  std::uint32_t sector_size() const;
  /// ndctl's "align" for fsdax/devdax.
  std::optional<std::uint64_t> align() const;
};

struct DiscoverOptions {
  std::optional<std::uint64_t> label_offset;  // explicit label area
  std::optional<std::uint64_t> label_size;
  std::optional<std::uint64_t> ns_offset;     // explicit namespace window
  std::optional<std::uint64_t> ns_size;
};

struct Discovery {
  DevicePtr image;
  ImageKind kind = ImageKind::Labelless;
  std::uint64_t pmem_size = 0;  // bytes of namespace space (DPA range) in the image
  std::optional<LabelArea> labels;
  std::optional<PmemBlkPool> pool;
  std::vector<Namespace> namespaces;
  std::vector<Namespace> stale_namespaces;
  Findings findings;  // discovery-level findings (the label area's own are in labels->findings)

  /// Find by uuid (label or instance uuid) or by name.
  const Namespace* find(const std::string& uuid_or_name) const;
};

/// Work out what `image` holds. Fails only for an unusable request (an explicit window or label
/// area outside the image, an unreadable device); damaged contents become findings.
Result<Discovery> discover(DevicePtr image, const DiscoverOptions& opts = {});

/// Probe one namespace window the way nd_pmem_probe does, given its claim class and uuid
/// (zero for label-less) and its physical start (alignment of pfn blocks is judged on it).
void probe_personality(const BlockDevice& image, Namespace& ns);

/// A device for the namespace's bytes (a view of the image).
Result<DevicePtr> namespace_device(const Discovery& d, const Namespace& ns);

}  // namespace ndtk
