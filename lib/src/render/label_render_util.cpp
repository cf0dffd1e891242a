// Formatting helpers shared by label-dump's renderers.
#include <fmt/format.h>

#include "label_render_internal.h"

namespace ndtk::render_detail {

std::string human_size(std::uint64_t bytes) {
  constexpr std::pair<std::uint64_t, const char*> kUnits[] = {
      {1ull << 40, "TiB"}, {1ull << 30, "GiB"}, {1ull << 20, "MiB"}, {1ull << 10, "KiB"}};
  for (const auto& [unit, name] : kUnits)
    if (bytes >= unit) return fmt::format("{:.2f} {}", static_cast<double>(bytes) / unit, name);
  return fmt::format("{} B", bytes);
}

std::string printable(Bytes b) {
  std::string out;
  for (std::uint8_t c : b) {
    if (c == 0) break;
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
      out += static_cast<char>(c);
    else
      out += fmt::format("\\x{:02x}", c);
  }
  return out;
}

std::string ranges_text(const std::vector<SlotRange>& r) {
  if (r.empty()) return "none";
  std::string out;
  for (const auto& x : r) {
    if (!out.empty()) out += ", ";
    out += x.count == 1 ? std::to_string(x.first)
                        : fmt::format("{}-{}", x.first, std::uint64_t{x.first} + x.count - 1);
  }
  return out;
}

std::string severity_word(Severity s) {
  switch (s) {
    case Severity::Info: return "info";
    case Severity::Warning: return "warning";
    case Severity::Error: return "error";
  }
  return "?";
}

const char* pfn_map_name(std::uint32_t mode) {
  if (mode == static_cast<std::uint32_t>(PfnMode::Ram)) return "mem";
  if (mode == static_cast<std::uint32_t>(PfnMode::Pmem)) return "dev";
  return "none";
}

std::string guid_with_name(const Uuid& efi_bytes) {
  std::string out = efi_bytes.to_guid_string();
  const std::string name = efi_guid_name(efi_bytes);
  if (!name.empty()) out += " (" + name + ")";
  else if (efi_bytes.is_zero()) out += " (none)";
  return out;
}

std::string slot_format(const LabelSlot& s) {
  if (const auto* e = s.efi())
    return e->label_size == kLabelSizeV11 ? "EFI v1.1 label" : "EFI v1.2 label";
  if (s.cxl_namespace()) return "CXL namespace label";
  if (s.cxl_region()) return "CXL region label";
  return "undecodable";
}

}  // namespace ndtk::render_detail
