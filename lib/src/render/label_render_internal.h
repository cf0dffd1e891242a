// Helpers shared by label-dump's text, JSON and annotation renderers (not a public header).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ndtk/base/bytes.h"
#include "ndtk/base/finding.h"
#include "ndtk/format/label_index.h"
#include "ndtk/render/label_render.h"

namespace ndtk::render_detail {

/// "256.00 MiB", "4.00 KiB", "512 B".
std::string human_size(std::uint64_t bytes);
/// Characters up to the first NUL; anything unprintable as \xNN.
std::string printable(Bytes b);
/// "1-2, 5" for slot ranges; "none" when empty.
std::string ranges_text(const std::vector<SlotRange>& r);
/// Severity in lower case: "error", "warning", "info".
std::string severity_word(Severity s);
/// ndctl's "map" for a pfn/dax namespace: "mem" (RAM mode) or "dev" (PMEM mode).
const char* pfn_map_name(std::uint32_t mode);
/// The stored (raw byte order) spelling ndctl uses for EFI GUID fields, and the canonical one.
std::string guid_with_name(const Uuid& efi_bytes);
/// The label in a slot as (format name) e.g. "EFI v1.2 label", "CXL namespace label".
std::string slot_format(const LabelSlot& s);

}  // namespace ndtk::render_detail
