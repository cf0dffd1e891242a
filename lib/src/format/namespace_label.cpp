// EFI namespace label v1.1/v1.2 decode/serialize/validate, claim classes and GUID names.
#include "ndtk/format/namespace_label.h"

#include <fmt/format.h>

#include <algorithm>

#include "ndtk/base/fletcher.h"

namespace ndtk {

namespace {

using R11 = NamespaceLabelV11Raw;
using R12 = NamespaceLabelV12Raw;

constexpr FieldDesc kFieldsV11[] = {
    {"uuid", offsetof(R11, uuid), 16},        {"name", offsetof(R11, name), 64},
    {"flags", offsetof(R11, flags), 4},       {"nlabel", offsetof(R11, nlabel), 2},
    {"position", offsetof(R11, position), 2}, {"isetcookie", offsetof(R11, isetcookie), 8},
    {"lbasize", offsetof(R11, lbasize), 8},   {"dpa", offsetof(R11, dpa), 8},
    {"rawsize", offsetof(R11, rawsize), 8},   {"slot", offsetof(R11, slot), 4},
    {"unused", offsetof(R11, unused), 4},
};
constexpr FieldDesc kFieldsV12[] = {
    {"uuid", offsetof(R12, uuid), 16},
    {"name", offsetof(R12, name), 64},
    {"flags", offsetof(R12, flags), 4},
    {"nlabel", offsetof(R12, nlabel), 2},
    {"position", offsetof(R12, position), 2},
    {"isetcookie", offsetof(R12, isetcookie), 8},
    {"lbasize", offsetof(R12, lbasize), 8},
    {"dpa", offsetof(R12, dpa), 8},
    {"rawsize", offsetof(R12, rawsize), 8},
    {"slot", offsetof(R12, slot), 4},
    {"align", offsetof(R12, align), 1},
    {"reserved", offsetof(R12, reserved), 3},
    {"type_guid", offsetof(R12, type_guid), 16},
    {"abstraction_guid", offsetof(R12, abstraction_guid), 16},
    {"reserved2", offsetof(R12, reserved2), 88},
    {"checksum", offsetof(R12, checksum), 8},
};

WellKnownGuid make_guid(const char* name, const char* text) {
  WellKnownGuid g{name, text, {}, {}};
  if (auto e = Uuid::parse_guid(text)) g.efi = *e;
  if (auto u = Uuid::parse(text)) g.uuid = *u;
  return g;
}


bool is_kernel_lbasize(std::uint64_t v, bool local) {
  // A pmem label's lbasize is the raw namespace's sector size: the kernel's pmem_sector_size()
  // (drivers/nvdimm/namespace_devs.c) takes 0/512 (default) or 4096 and WARNs on anything else;
  // a BTT's own sector size lives in its info block, not here (ndctl leaves 0 for 520 etc.).
  // BLK (LOCAL) labels carried the blk_lbasize_supported[] sizes of older kernels.
  static constexpr std::uint64_t kPmem[] = {0, 512, 4096};
  static constexpr std::uint64_t kBlk[] = {0, 512, 520, 528, 4096, 4104, 4160, 4224};
  if (local) return std::find(std::begin(kBlk), std::end(kBlk), v) != std::end(kBlk);
  return std::find(std::begin(kPmem), std::end(kPmem), v) != std::end(kPmem);
}

}  // namespace

const char* claim_class_name(ClaimClass c) {
  switch (c) {
    case ClaimClass::None:
      return "none";
    case ClaimClass::Btt:
      return "btt";
    case ClaimClass::Btt2:
      return "btt2";
    case ClaimClass::Pfn:
      return "pfn";
    case ClaimClass::Dax:
      return "dax";
    case ClaimClass::Unknown:
      return "unknown";
  }
  return "unknown";
}

const char* claim_class_mode(ClaimClass c) {
  switch (c) {
    case ClaimClass::None:
      return "raw";
    case ClaimClass::Btt:
      return "sector (BTT 1.1)";
    case ClaimClass::Btt2:
      return "sector (BTT 2.0)";
    case ClaimClass::Pfn:
      return "fsdax";
    case ClaimClass::Dax:
      return "devdax";
    case ClaimClass::Unknown:
      return "unknown";
  }
  return "unknown";
}

const WellKnownGuid& guid_btt() {
  static const WellKnownGuid g = make_guid("btt", "8aed63a2-29a2-4c66-8b12-f05d15d3922a");
  return g;
}
const WellKnownGuid& guid_btt2() {
  static const WellKnownGuid g = make_guid("btt2", "18633bfc-1735-4217-8ac9-17239282d3f8");
  return g;
}
const WellKnownGuid& guid_pfn() {
  static const WellKnownGuid g = make_guid("pfn", "266400ba-fb9f-4677-bcb0-968f11d0d225");
  return g;
}
const WellKnownGuid& guid_dax() {
  static const WellKnownGuid g = make_guid("dax", "97a86d9c-3cdd-4eda-986f-5068b4f80088");
  return g;
}
const WellKnownGuid& guid_pmem_range() {
  static const WellKnownGuid g = make_guid("pmem-range", "66f0d379-b4f3-4074-ac43-0d3318b78cdb");
  return g;
}

ClaimClass claim_class_from_efi_guid(const Uuid& g) {
  if (g.is_zero()) return ClaimClass::None;
  if (g == guid_btt().efi) return ClaimClass::Btt;
  if (g == guid_btt2().efi) return ClaimClass::Btt2;
  if (g == guid_pfn().efi) return ClaimClass::Pfn;
  if (g == guid_dax().efi) return ClaimClass::Dax;
  return ClaimClass::Unknown;
}

ClaimClass claim_class_from_uuid(const Uuid& u) {
  if (u.is_zero()) return ClaimClass::None;
  if (u == guid_btt().uuid) return ClaimClass::Btt;
  if (u == guid_btt2().uuid) return ClaimClass::Btt2;
  if (u == guid_pfn().uuid) return ClaimClass::Pfn;
  if (u == guid_dax().uuid) return ClaimClass::Dax;
  return ClaimClass::Unknown;
}

Uuid efi_guid_for(ClaimClass c) {
  switch (c) {
    case ClaimClass::Btt:
      return guid_btt().efi;
    case ClaimClass::Btt2:
      return guid_btt2().efi;
    case ClaimClass::Pfn:
      return guid_pfn().efi;
    case ClaimClass::Dax:
      return guid_dax().efi;
    default:
      return Uuid{};
  }
}

Uuid uuid_for(ClaimClass c) {
  switch (c) {
    case ClaimClass::Btt:
      return guid_btt().uuid;
    case ClaimClass::Btt2:
      return guid_btt2().uuid;
    case ClaimClass::Pfn:
      return guid_pfn().uuid;
    case ClaimClass::Dax:
      return guid_dax().uuid;
    default:
      return Uuid{};
  }
}

std::string efi_guid_name(const Uuid& g) {
  for (const WellKnownGuid* k :
       {&guid_btt(), &guid_btt2(), &guid_pfn(), &guid_dax(), &guid_pmem_range()})
    if (g == k->efi) return k->name;
  return {};
}

std::string label_flag_names(std::uint32_t flags) {
  static constexpr std::pair<std::uint32_t, const char*> kNames[] = {
      {kLabelFlagRoLabel, "ROLABEL"},
      {kLabelFlagLocal, "LOCAL"},
      {kLabelFlagBtt, "BTT"},
      {kLabelFlagUpdating, "UPDATING"},
  };
  if (flags == 0) return "0";
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if (!(flags & bit)) continue;
    if (!out.empty()) out += '|';
    out += name;
  }
  if (const std::uint32_t rest = flags & ~kLabelFlagsKnown) {
    if (!out.empty()) out += '|';
    out += hex(rest);
  }
  return out;
}

Result<NamespaceLabel> NamespaceLabel::decode(Bytes b, std::size_t label_size) {
  if (label_size != kLabelSizeV11 && label_size != kLabelSizeV12)
    return fail(field_error(Errc::kUnsupported, "namespace label", "", 0, "128 or 256 bytes",
                            fmt::format("label size {}", label_size)));
  if (b.size() < label_size)
    return fail(field_error(Errc::kTruncated, "namespace label", "", 0,
                            fmt::format("{} bytes", label_size),
                            fmt::format("{} bytes", b.size())));
  NamespaceLabel x;
  x.label_size = label_size;
  x.uuid = Uuid::from_bytes(b.subspan(offsetof(R11, uuid), 16));
  std::copy_n(b.begin() + offsetof(R11, name), kLabelNameLen, x.name.begin());
  x.flags = le32(b, offsetof(R11, flags));
  x.nlabel = le16(b, offsetof(R11, nlabel));
  x.position = le16(b, offsetof(R11, position));
  x.isetcookie = le64(b, offsetof(R11, isetcookie));
  x.lbasize = le64(b, offsetof(R11, lbasize));
  x.dpa = le64(b, offsetof(R11, dpa));
  x.rawsize = le64(b, offsetof(R11, rawsize));
  x.slot = le32(b, offsetof(R11, slot));
  if (label_size == kLabelSizeV11) {
    x.unused = le32(b, offsetof(R11, unused));
    return x;
  }
  x.align = b[offsetof(R12, align)];
  std::copy_n(b.begin() + offsetof(R12, reserved), 3, x.reserved.begin());
  x.type_guid = Uuid::from_bytes(b.subspan(offsetof(R12, type_guid), 16));
  x.abstraction_guid = Uuid::from_bytes(b.subspan(offsetof(R12, abstraction_guid), 16));
  std::copy_n(b.begin() + offsetof(R12, reserved2), 88, x.reserved2.begin());
  x.checksum = le64(b, offsetof(R12, checksum));
  return x;
}

Result<NamespaceLabel> NamespaceLabel::parse(Bytes b, std::size_t label_size) {
  NDTK_TRY(x, decode(b, label_size));
  if (!x.checksum_ok())
    return fail(field_error(Errc::kBadChecksum, "namespace label", "checksum",
                            offsetof(R12, checksum), hex(*x.computed_checksum()), hex(x.checksum)));
  return x;
}

ByteVec NamespaceLabel::serialize() const {
  const std::size_t n = label_size == kLabelSizeV11 ? kLabelSizeV11 : kLabelSizeV12;
  ByteVec out(n, 0);
  MutBytes m(out);
  std::copy(uuid.bytes.begin(), uuid.bytes.end(), out.begin() + offsetof(R11, uuid));
  std::copy(name.begin(), name.end(), out.begin() + offsetof(R11, name));
  put_le32(m, offsetof(R11, flags), flags);
  put_le16(m, offsetof(R11, nlabel), nlabel);
  put_le16(m, offsetof(R11, position), position);
  put_le64(m, offsetof(R11, isetcookie), isetcookie);
  put_le64(m, offsetof(R11, lbasize), lbasize);
  put_le64(m, offsetof(R11, dpa), dpa);
  put_le64(m, offsetof(R11, rawsize), rawsize);
  put_le32(m, offsetof(R11, slot), slot);
  if (n == kLabelSizeV11) {
    put_le32(m, offsetof(R11, unused), unused);
    return out;
  }
  out[offsetof(R12, align)] = align;
  std::copy(reserved.begin(), reserved.end(), out.begin() + offsetof(R12, reserved));
  std::copy(type_guid.bytes.begin(), type_guid.bytes.end(), out.begin() + offsetof(R12, type_guid));
  std::copy(abstraction_guid.bytes.begin(), abstraction_guid.bytes.end(),
            out.begin() + offsetof(R12, abstraction_guid));
  std::copy(reserved2.begin(), reserved2.end(), out.begin() + offsetof(R12, reserved2));
  put_le64(m, offsetof(R12, checksum), checksum);
  return out;
}

std::optional<std::uint64_t> NamespaceLabel::computed_checksum() const {
  if (!has_checksum()) return std::nullopt;
  const ByteVec bytes = serialize();
  return fletcher64_skip(bytes, offsetof(R12, checksum));
}

bool NamespaceLabel::checksum_ok() const {
  const auto sum = computed_checksum();
  return !sum || *sum == checksum;
}

NamespaceLabel NamespaceLabel::with_checksum() const {
  NamespaceLabel c = *this;
  if (const auto sum = computed_checksum()) c.checksum = *sum;
  return c;
}

std::string NamespaceLabel::name_string() const { return fixed_string(name); }

ClaimClass NamespaceLabel::claim_class() const {
  if (!has_checksum()) return ClaimClass::None;
  return claim_class_from_efi_guid(abstraction_guid);
}

bool NamespaceLabel::kernel_slot_valid(std::uint32_t slot_number) const {
  return slot == slot_number && checksum_ok();
}

Findings NamespaceLabel::validate(std::uint32_t slot_number,
                                  std::optional<std::uint64_t> at) const {
  Findings f;
  const std::string where = fmt::format("label slot {}", slot_number);
  auto add = [&](Problem p, std::size_t field_off, std::string detail) {
    f.push_back({p, where, std::move(detail), offset_plus(at, field_off)});
  };
  if (slot != slot_number)
    add(Problem::LABEL_SLOT_MISMATCH, offsetof(R11, slot),
        fmt::format("slot field {}, occupies slot {}", slot, slot_number));
  if (const auto sum = computed_checksum(); sum && *sum != checksum)
    add(Problem::LABEL_BAD_CHECKSUM, offsetof(R12, checksum),
        fmt::format("stored {}, computed {}", hex(checksum), hex(*sum)));
  if (uuid.is_zero()) add(Problem::LABEL_ZERO_UUID, offsetof(R11, uuid), "uuid 0");
  if (std::find(name.begin(), name.end(), 0) == name.end())
    add(Problem::LABEL_NAME_UNTERMINATED, offsetof(R11, name), "64 name bytes without a NUL");
  if (label_size == kLabelSizeV11) {
    if (unused != 0)
      add(Problem::LABEL_RESERVED_NONZERO, offsetof(R11, unused),
          fmt::format("unused = {}", hex(unused)));
  } else {
    if (!all_zero(reserved))
      add(Problem::LABEL_RESERVED_NONZERO, offsetof(R12, reserved),
          fmt::format("reserved = {:02x} {:02x} {:02x}", reserved[0], reserved[1], reserved[2]));
    if (!all_zero(reserved2)) {
      const auto it = std::find_if(reserved2.begin(), reserved2.end(), [](auto c) { return c; });
      const auto i = static_cast<std::size_t>(it - reserved2.begin());
      add(Problem::LABEL_RESERVED_NONZERO, offsetof(R12, reserved2) + i,
          fmt::format("reserved2 byte {} = {:#04x}", i, *it));
    }
  }
  if (flags & kLabelFlagUpdating)
    add(Problem::LABEL_UPDATING_FLAG, offsetof(R11, flags),
        fmt::format("flags {}", label_flag_names(flags)));
  if (flags & ~kLabelFlagsKnown)
    add(Problem::LABEL_UNKNOWN_FLAGS, offsetof(R11, flags),
        fmt::format("flags {} ({})", hex(flags), label_flag_names(flags)));
  // BLK (LOCAL) labels use nlabel/position differently (0 / 0xffff), so only pmem is checked.
  if (!(flags & kLabelFlagLocal) && (nlabel == 0 || position >= nlabel))
    add(Problem::LABEL_NLABEL_POSITION, offsetof(R11, nlabel),
        fmt::format("nlabel {}, position {}", nlabel, position));
  if (!is_kernel_lbasize(lbasize, (flags & kLabelFlagLocal) != 0))
    add(Problem::LABEL_BAD_LBASIZE, offsetof(R11, lbasize), fmt::format("lbasize {}", lbasize));
  if (rawsize == 0) add(Problem::LABEL_ZERO_RAWSIZE, offsetof(R11, rawsize), "rawsize 0");
  if (!dpa_end())
    add(Problem::LABEL_EXTENT_OUTSIDE_DIMM, offsetof(R11, dpa),
        fmt::format("dpa {} + rawsize {} overflows", hex(dpa), hex(rawsize)));
  if ((dpa | rawsize) % 4096 != 0)
    add(Problem::LABEL_UNALIGNED_EXTENT, offsetof(R11, dpa),
        fmt::format("dpa {}, rawsize {}", hex(dpa), hex(rawsize)));
  if (has_checksum()) {
    if (claim_class() == ClaimClass::Unknown)
      add(Problem::LABEL_UNKNOWN_ABSTRACTION, offsetof(R12, abstraction_guid),
          fmt::format("abstraction GUID {} (bytes {})", abstraction_guid.to_guid_string(),
                      abstraction_guid.to_string()));
    if (type_guid != guid_pmem_range().efi)
      add(Problem::LABEL_UNEXPECTED_TYPE_GUID, offsetof(R12, type_guid),
          fmt::format("type GUID {} (bytes {})", type_guid.to_guid_string(),
                      type_guid.to_string()));
  }
  return f;
}

FieldTable NamespaceLabel::fields(std::size_t label_size) {
  if (label_size == kLabelSizeV11) return kFieldsV11;
  return kFieldsV12;
}

}  // namespace ndtk
