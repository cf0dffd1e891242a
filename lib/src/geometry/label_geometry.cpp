// Label-area geometry: kernel index-size / nslot formulas and initial index blocks.
#include "ndtk/geometry/label_geometry.h"

#include <fmt/format.h>

#include <algorithm>

namespace ndtk {

const char* label_formula_name(LabelFormula f) {
  switch (f) {
    case LabelFormula::Current:
      return "current";
    case LabelFormula::LabelPlusOne:
      return "cfg/(labelsize+1)";
    case LabelFormula::V4_6:
      return "cfg/129 (v4.6)";
  }
  return "?";
}

namespace {

Result<LabelGeometry> too_small(std::uint64_t cfg, std::uint32_t lsz, LabelFormula f) {
  return fail(Errc::kOutOfRange,
              fmt::format("label area of {} bytes is too small to host two index blocks and two "
                          "{}-byte labels ({} formula)",
                          cfg, lsz, label_formula_name(f)));
}

}  // namespace

Result<LabelGeometry> label_geometry(std::uint64_t cfg, std::uint32_t lsz, LabelFormula f) {
  if (lsz != 128 && lsz != 256)
    return fail(Errc::kInvalidArgument, fmt::format("label size {} is neither 128 nor 256", lsz));
  if (f == LabelFormula::V4_6 && lsz != 128)
    return fail(Errc::kInvalidArgument, "the v4.6 label formula only knew 128-byte labels");
  if (cfg > kLabelAreaMaxSize)
    return fail(Errc::kOutOfRange,
                fmt::format("label area of {} bytes exceeds the kernel's u32 config size", cfg));
  LabelGeometry g;
  g.config_size = cfg;
  g.label_size = lsz;
  g.formula = f;
  std::uint64_t nslot = 0;
  switch (f) {
    case LabelFormula::Current: {
      // Bound the index size by the slot count the whole area could hold, then fill what is
      // left after two such index blocks with labels.
      const std::uint64_t upper = index_block_size_for_slots(cfg / lsz);
      if (2 * upper > cfg) return too_small(cfg, lsz, f);
      nslot = (cfg - 2 * upper) / lsz;
      g.index_size = index_block_size_for_slots(nslot);
      break;
    }
    case LabelFormula::LabelPlusOne:
      nslot = cfg / (lsz + 1);
      g.index_size = index_block_size_for_slots(nslot);
      break;
    case LabelFormula::V4_6:
      nslot = cfg / 129;
      g.index_size = (cfg / 129 / 512) * kNsIndexAlign;
      if (g.index_size == 0) return too_small(cfg, lsz, f);
      break;
  }
  g.nslot = static_cast<std::uint32_t>(nslot);
  if (nslot < 2 || !nslot_fits(cfg, lsz, g.index_size, nslot)) return too_small(cfg, lsz, f);
  return g;
}

std::uint64_t kernel_index_size(std::uint64_t cfg, std::uint32_t lsz) {
  const auto g = label_geometry(cfg, lsz, LabelFormula::Current);
  return g ? g->index_size : 0;
}

bool nslot_fits(std::uint64_t cfg, std::uint32_t lsz, std::uint64_t isz, std::uint64_t nslot) {
  const auto labels = checked_mul(nslot, lsz);
  const auto two = checked_mul(isz, 2);
  if (!labels || !two) return false;
  const auto total = checked_add(*labels, *two);
  return total && *total <= cfg;
}

std::vector<LabelGeometry> candidate_geometries(std::uint64_t cfg, std::uint32_t lsz) {
  std::vector<LabelGeometry> out;
  for (LabelFormula f : {LabelFormula::Current, LabelFormula::LabelPlusOne, LabelFormula::V4_6}) {
    auto g = label_geometry(cfg, lsz, f);
    if (!g) continue;
    const bool seen = std::any_of(out.begin(), out.end(), [&](const LabelGeometry& o) {
      return o.index_size == g->index_size && o.nslot == g->nslot;
    });
    if (!seen) out.push_back(*g);
  }
  return out;
}

std::optional<LabelFormula> identify_formula(std::uint64_t cfg, std::uint32_t lsz,
                                             std::uint64_t isz, std::uint64_t nslot) {
  for (LabelFormula f : {LabelFormula::Current, LabelFormula::LabelPlusOne, LabelFormula::V4_6}) {
    const auto g = label_geometry(cfg, lsz, f);
    if (g && g->index_size == isz && g->nslot == nslot) return f;
  }
  return std::nullopt;
}

Findings validate_index(const LabelIndex& index, int index_number, std::uint64_t cfg,
                        std::uint32_t lsz, std::optional<std::uint64_t> at) {
  const std::uint64_t isz = kernel_index_size(cfg, lsz);
  if (isz == 0) {
    // The kernel's sizeof_namespace_index() returned 0: no index can validate.
    return {Finding{Problem::LABEL_INDEX_BAD_NSLOT, fmt::format("index {}", index_number),
                    fmt::format("a {}-byte label area cannot host {}-byte labels", cfg, lsz), at}};
  }
  return index.validate(index_number, cfg, lsz, isz, at);
}

bool kernel_accepts_index(const LabelIndex& index, int index_number, std::uint64_t cfg,
                          std::uint32_t lsz) {
  const std::uint64_t isz = kernel_index_size(cfg, lsz);
  return isz != 0 && index.kernel_accepts(index_number, cfg, lsz, isz);
}

std::array<LabelIndex, 2> initial_index_blocks(const LabelGeometry& g, InitStyle style) {
  std::array<LabelIndex, 2> out;
  const std::uint64_t rounded = align_up(g.nslot, 64);
  for (int i = 0; i < 2; ++i) {
    LabelIndex& x = out[static_cast<std::size_t>(i)];
    x.sig = kNsIndexSignature;
    x.labelsize = static_cast<std::uint8_t>(g.label_size >> 8);
    x.seq = i == 0 ? 3 : 2;
    x.myoff = i == 0 ? 0 : g.index_size;
    x.mysize = g.index_size;
    x.otheroff = i == 0 ? g.index_size : 0;
    x.labeloff = g.label_offset();
    x.nslot = g.nslot;
    x.major = 1;
    x.minor = g.label_size < 256 ? 1 : 2;
    x.tail.assign(g.index_size > kNsIndexHeaderSize ? g.index_size - kNsIndexHeaderSize : 0, 0);
    const std::uint64_t set_to = style == InitStyle::Kernel ? g.nslot : rounded;
    for (std::uint64_t s = 0; s < set_to; ++s) x.set_free(s, true);
    x = x.with_checksum();
  }
  return out;
}

}  // namespace ndtk
