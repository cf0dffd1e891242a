// Label-area geometry (FORMATS.md §2.2, §2.5, §8 item 9): index block size and slot count for a
// config size and label size under the current and older kernel formulas, and the index
// blocks a kernel (or ndctl init-labels) writes when it initialises a label area.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "ndtk/base/finding.h"
#include "ndtk/base/result.h"
#include "ndtk/format/label_index.h"

namespace ndtk {

/// Smallest label area the kernel accepts: two 256-byte index blocks + two 256-byte labels.
inline constexpr std::uint64_t kLabelAreaMinSize = 256 * 4;
/// The kernel keeps config_size in a u32.
inline constexpr std::uint64_t kLabelAreaMaxSize = 0xffffffffull;

/// Which kernel's arithmetic produced a geometry.
enum class LabelFormula {
  Current,       // mainline since ~5.x: nslot from an index-size upper bound (§2.2)
  LabelPlusOne,  // ~4.10..5.x: nslot = cfg / (LSZ + 1), ISZ = isize(nslot)
  V4_6,          // first kernels: nslot = cfg / 129, ISZ = (cfg / 129 / 512) * 256, 128-B only
};
const char* label_formula_name(LabelFormula f);

struct LabelGeometry {
  std::uint64_t config_size = 0;
  std::uint32_t label_size = 0;  // 128 or 256
  std::uint64_t index_size = 0;  // ISZ, bytes per index block
  std::uint32_t nslot = 0;
  LabelFormula formula = LabelFormula::Current;

  std::uint64_t label_offset() const { return 2 * index_size; }
  /// Area offset of label slot `slot`.
  std::uint64_t slot_offset(std::uint32_t slot) const {
    return label_offset() + std::uint64_t{slot} * label_size;
  }
  bool operator==(const LabelGeometry&) const = default;
};

/// The geometry a kernel of the given era computes for `config_size` and `label_size`
/// (128 or 256). Errors: kInvalidArgument for another label size or a V4_6 request with
/// 256-byte labels; kOutOfRange when the area is too small to host two index blocks and two
/// labels (the kernel's "label area too small") or larger than a u32.
Result<LabelGeometry> label_geometry(std::uint64_t config_size, std::uint32_t label_size,
                                     LabelFormula formula = LabelFormula::Current);
/// The current kernel's ISZ (sizeof_namespace_index), 0 when it would refuse the area.
std::uint64_t kernel_index_size(std::uint64_t config_size, std::uint32_t label_size);

/// §8 item 9: an index's nslot is acceptable iff nslot*LSZ + 2*ISZ <= config_size (what the
/// kernel checks), whichever formula produced it.
bool nslot_fits(std::uint64_t config_size, std::uint32_t label_size, std::uint64_t index_size,
                std::uint64_t nslot);

/// Every distinct geometry any known formula yields for this area and label size, current
/// first (used to recognise index blocks laid out by older kernels).
std::vector<LabelGeometry> candidate_geometries(std::uint64_t config_size,
                                                std::uint32_t label_size);

/// The formula an observed (ISZ, nslot) pair matches exactly, if any.
std::optional<LabelFormula> identify_formula(std::uint64_t config_size, std::uint32_t label_size,
                                             std::uint64_t index_size, std::uint64_t nslot);

/// The kernel's __nd_label_validate checks for one index block with the current kernel's ISZ
/// (LabelIndex::validate with kernel_index_size()); an area the kernel refuses outright yields
/// a LABEL_INDEX_BAD_NSLOT finding.
Findings validate_index(const LabelIndex& index, int index_number, std::uint64_t config_size,
                        std::uint32_t trial_label_size,
                        std::optional<std::uint64_t> at = std::nullopt);
/// True iff the current kernel accepts the block as index `index_number`.
bool kernel_accepts_index(const LabelIndex& index, int index_number, std::uint64_t config_size,
                          std::uint32_t trial_label_size);

/// Who initialised the area: they differ only in the free-bitmap bits past nslot.
enum class InitStyle {
  Kernel,  // nd_label_write_index(ND_NSINDEX_INIT): bits nslot..ALIGN(nslot,64)-1 cleared
  Ndctl,   // ndctl init-labels: every bit up to ALIGN(nslot, 64) left set (§8 item 11)
};

/// The two index blocks written when an area is initialised (§2.5): index 0 with seq 3,
/// index 1 with seq 2, all nslot slots free, version 1.1 for 128-byte labels and 1.2 for
/// 256-byte labels, checksums filled in. Each block is exactly ISZ bytes.
std::array<LabelIndex, 2> initial_index_blocks(const LabelGeometry& g,
                                               InitStyle style = InitStyle::Kernel);

}  // namespace ndtk
