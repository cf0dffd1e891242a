// label-dump's report model (what one or more DIMM images hold: label area, slots, namespaces,
// info blocks, interleave sets) and its renderers: text, JSON, and the annotated hex view.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ndtk/base/bytes.h"
#include "ndtk/base/finding.h"
#include "ndtk/base/result.h"
#include "ndtk/discover/discovery.h"
#include "ndtk/discover/label_area.h"

namespace ndtk {

/// Where the label area of an image was looked for.
struct LabelDumpOptions {
  std::optional<std::uint64_t> label_offset;  // explicit label area (--label-offset)
  std::optional<std::uint64_t> label_size;    // explicit size (--label-size)
};

/// How the label area was located.
enum class AreaSource {
  None,       // no label area (label-less DIMM, pmemblk pool)
  Explicit,   // --label-offset / --label-size
  Bare,       // the whole image is a label area
  QemuTail,   // the last 128 KiB of a QEMU NVDIMM backing file
  Recovered,  // found by its index signature where no standard layout fits (e.g. truncated)
};
/// "none", "explicit", "bare", "qemu-tail", "recovered".
const char* area_source_name(AreaSource s);

/// The kind of info block found at the start of a namespace.
enum class InfoKind { Btt, Pfn, Dax };
/// "btt", "pfn", "dax".
const char* info_kind_name(InfoKind k);

/// What a namespace's first blocks hold: the personality the kernel attaches, or an info block
/// it would not use (bad checksum, wrong parent uuid, version at the wrong offset...).
struct InfoBlockView {
  InfoKind kind = InfoKind::Btt;
  std::uint64_t offset = 0;  // namespace-relative offset of the block
  std::uint64_t image_offset = 0;
  bool in_use = false;        // the kernel attaches this personality
  std::string verdict;        // "accepted" or why the kernel would not use it
  std::optional<BttSummary> btt;
  std::optional<PfnSummary> pfn;
};

/// One namespace, active or recoverable from stale labels.
struct NamespaceReport {
  Namespace ns;                           // discovery's view (mode, personality, capacity)
  std::optional<LabelNamespace> labels;   // the label set it came from (extents, slots)
  std::optional<InfoBlockView> info;      // what its first blocks hold
  bool bytes_present = false;             // the namespace's bytes are inside this image
};

/// Everything label-dump knows about one image.
struct LabelImageReport {
  std::string path;  // as given on the command line
  Discovery discovery;
  AreaSource area_source = AreaSource::None;
  std::string area_note;  // how the area was found, in words
  std::vector<NamespaceReport> namespaces;
  std::vector<NamespaceReport> stale_namespaces;
  /// Interleave sets this image's active labels take part in (grouped over every image given).
  std::vector<InterleavedNamespace> sets;
  /// Every finding about this image: label area, discovery, pool and (with several images)
  /// interleave-set membership.
  Findings findings;

  const LabelArea* area() const { return discovery.labels ? &*discovery.labels : nullptr; }
  /// No finding of severity Warning or Error.
  bool consistent() const;
};

struct LabelDumpReport {
  std::vector<LabelImageReport> images;
  bool several = false;  // more than one image: interleave membership findings apply
  /// 0 when every image is consistent, else 1 (2, unreadable, never gets this far).
  int exit_code() const;
};

/// Inspect one image read-only. Errors (the path cannot be opened or read, an explicit label
/// area outside the image) name the path; damaged contents become findings.
Result<LabelImageReport> inspect_label_image(const std::string& path,
                                             const LabelDumpOptions& opts = {});
/// Inspect every image and group their active labels into interleave sets. Fails on the first
/// image that cannot be read.
Result<LabelDumpReport> build_label_dump(std::span<const std::string> paths,
                                         const LabelDumpOptions& opts = {});

/// Human-readable report (fmt).
std::string render_label_text(const LabelDumpReport& r);
/// JSON report: an array with one object per image (schema in docs/label-dump.md).
std::string render_label_json(const LabelDumpReport& r);

// ---- annotated hex view -------------------------------------------------------------------

struct AnnotatedField {
  std::string name;
  std::uint64_t offset = 0;  // structure-relative
  std::uint64_t size = 0;
  std::string value;         // decoded value, in words
  bool ok = true;            // no problem touches this field
  std::vector<std::string> problems;
};

/// One structure, byte by byte: every byte belongs to exactly one field.
struct Annotation {
  std::string title;            // "index 1", "label slot 3", "pfn info of namespace <uuid>"
  std::uint64_t image_offset = 0;
  ByteVec bytes;
  std::vector<AnnotatedField> fields;  // ascending offsets, covering [0, bytes.size())
  std::vector<std::string> notes;      // checksum summary and structure-level findings
};

/// Build the annotated view of one structure of `img`. Selector: `index0`, `index1`, `slot:N`,
/// `info:<uuid or name>` (the namespace's BTT/pfn/dax info block). kInvalidArgument for an
/// unknown selector, kNotPresent when the image has no such structure.
Result<Annotation> annotate_structure(const LabelImageReport& img, const std::string& selector);
std::string render_annotation_text(const Annotation& a);
std::string render_annotation_json(const Annotation& a);

}  // namespace ndtk
