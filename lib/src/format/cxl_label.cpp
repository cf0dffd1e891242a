// CXL namespace and region labels: decode/serialize/checksum/validate.
#include "ndtk/format/cxl_label.h"

#include <fmt/format.h>

#include <algorithm>

#include "ndtk/base/fletcher.h"

namespace ndtk {

namespace {

using NR = CxlNamespaceLabelRaw;
using RR = CxlRegionLabelRaw;

constexpr FieldDesc kNsFields[] = {
    {"type", offsetof(NR, type), 16},
    {"uuid", offsetof(NR, uuid), 16},
    {"name", offsetof(NR, name), 64},
    {"flags", offsetof(NR, flags), 4},
    {"nrange", offsetof(NR, nrange), 2},
    {"position", offsetof(NR, position), 2},
    {"dpa", offsetof(NR, dpa), 8},
    {"rawsize", offsetof(NR, rawsize), 8},
    {"slot", offsetof(NR, slot), 4},
    {"align", offsetof(NR, align), 4},
    {"region_uuid", offsetof(NR, region_uuid), 16},
    {"abstraction_uuid", offsetof(NR, abstraction_uuid), 16},
    {"lbasize", offsetof(NR, lbasize), 2},
    {"reserved", offsetof(NR, reserved), 0x56},
    {"checksum", offsetof(NR, checksum), 8},
};
constexpr FieldDesc kRegionFields[] = {
    {"type", offsetof(RR, type), 16},        {"uuid", offsetof(RR, uuid), 16},
    {"flags", offsetof(RR, flags), 4},       {"nlabel", offsetof(RR, nlabel), 2},
    {"position", offsetof(RR, position), 2}, {"dpa", offsetof(RR, dpa), 8},
    {"rawsize", offsetof(RR, rawsize), 8},   {"hpa", offsetof(RR, hpa), 8},
    {"slot", offsetof(RR, slot), 4},         {"ig", offsetof(RR, ig), 4},
    {"align", offsetof(RR, align), 4},       {"reserved", offsetof(RR, reserved), 0xac},
    {"checksum", offsetof(RR, checksum), 8},
};

WellKnownGuid make_uuid(const char* name, const char* text) {
  WellKnownGuid g{name, text, {}, {}};
  if (auto e = Uuid::parse_guid(text)) g.efi = *e;
  if (auto u = Uuid::parse(text)) g.uuid = *u;
  return g;
}


Result<void> need_size(Bytes b, const char* what) {
  if (b.size() < kCxlLabelSize)
    return fail(
        field_error(Errc::kTruncated, what, "", 0, "256 bytes", fmt::format("{} bytes", b.size())));
  return ok();
}

void put_uuid(ByteVec& out, std::size_t off, const Uuid& u) {
  std::copy(u.bytes.begin(), u.bytes.end(), out.begin() + static_cast<std::ptrdiff_t>(off));
}

// The fields both label kinds share, with their offsets, for the common checks.
struct CommonView {
  const Uuid& type;
  const WellKnownGuid& expected_type;
  std::uint32_t slot;
  std::size_t slot_off;
  std::uint64_t stored_sum;
  std::uint64_t computed_sum;
  const Uuid& uuid;
  std::size_t uuid_off;
  std::uint32_t flags;
  std::size_t flags_off;
  std::uint64_t dpa;
  std::uint64_t rawsize;
  std::size_t dpa_off;
  std::size_t rawsize_off;
  Bytes reserved;
  std::size_t reserved_off;
};

void common_checks(Findings& f, const std::string& where, std::optional<std::uint64_t> at,
                   std::uint32_t slot_number, const CommonView& v) {
  auto add = [&](Problem p, std::size_t off, std::string detail) {
    f.push_back({p, where, std::move(detail), offset_plus(at, off)});
  };
  if (v.type != v.expected_type.uuid)
    add(Problem::LABEL_CXL_BAD_TYPE, 0,
        fmt::format("type {} (expected {})", v.type.to_string(), v.expected_type.text));
  if (v.slot != slot_number)
    add(Problem::LABEL_SLOT_MISMATCH, v.slot_off,
        fmt::format("slot field {}, occupies slot {}", v.slot, slot_number));
  if (v.stored_sum != v.computed_sum)
    add(Problem::LABEL_BAD_CHECKSUM, 248,
        fmt::format("stored {}, computed {}", hex(v.stored_sum), hex(v.computed_sum)));
  if (v.uuid.is_zero()) add(Problem::LABEL_ZERO_UUID, v.uuid_off, "uuid 0");
  // CXL defines only UPDATING; every other bit is reserved.
  if (v.flags & kLabelFlagUpdating)
    add(Problem::LABEL_UPDATING_FLAG, v.flags_off, fmt::format("flags {}", hex(v.flags)));
  if (v.flags & ~kLabelFlagUpdating)
    add(Problem::LABEL_UNKNOWN_FLAGS, v.flags_off,
        fmt::format("flags {} (CXL defines only UPDATING = 0x8)", hex(v.flags)));
  if (v.rawsize == 0) add(Problem::LABEL_ZERO_RAWSIZE, v.rawsize_off, "rawsize 0");
  if (!checked_add(v.dpa, v.rawsize))
    add(Problem::LABEL_EXTENT_OUTSIDE_DIMM, v.dpa_off,
        fmt::format("dpa {} + rawsize {} overflows", hex(v.dpa), hex(v.rawsize)));
  if (!all_zero(v.reserved)) {
    const auto it = std::find_if(v.reserved.begin(), v.reserved.end(), [](auto c) { return c; });
    const auto i = static_cast<std::size_t>(it - v.reserved.begin());
    add(Problem::LABEL_RESERVED_NONZERO, v.reserved_off + i,
        fmt::format("reserved byte {} = {:#04x}", i, *it));
  }
}

}  // namespace

const WellKnownGuid& guid_cxl_namespace() {
  static const WellKnownGuid g = make_uuid("cxl-namespace", "68bb2c0a-5a77-4937-9f85-3caf41a0f93c");
  return g;
}
const WellKnownGuid& guid_cxl_region() {
  static const WellKnownGuid g = make_uuid("cxl-region", "529d7c61-da07-47c4-a93f-ecdf2c06f444");
  return g;
}

CxlLabelKind cxl_label_kind(Bytes b) {
  if (b.size() < 16) return CxlLabelKind::Unknown;
  const Uuid t = Uuid::from_bytes(b);
  if (t == guid_cxl_namespace().uuid) return CxlLabelKind::Namespace;
  if (t == guid_cxl_region().uuid) return CxlLabelKind::Region;
  return CxlLabelKind::Unknown;
}

// ---- namespace label -------------------------------------------------------------------

Result<CxlNamespaceLabel> CxlNamespaceLabel::decode(Bytes b) {
  NDTK_CHECK(need_size(b, "cxl namespace label"));
  CxlNamespaceLabel x;
  x.type = Uuid::from_bytes(b.subspan(offsetof(NR, type), 16));
  x.uuid = Uuid::from_bytes(b.subspan(offsetof(NR, uuid), 16));
  std::copy_n(b.begin() + offsetof(NR, name), kLabelNameLen, x.name.begin());
  x.flags = le32(b, offsetof(NR, flags));
  x.nrange = le16(b, offsetof(NR, nrange));
  x.position = le16(b, offsetof(NR, position));
  x.dpa = le64(b, offsetof(NR, dpa));
  x.rawsize = le64(b, offsetof(NR, rawsize));
  x.slot = le32(b, offsetof(NR, slot));
  x.align = le32(b, offsetof(NR, align));
  x.region_uuid = Uuid::from_bytes(b.subspan(offsetof(NR, region_uuid), 16));
  x.abstraction_uuid = Uuid::from_bytes(b.subspan(offsetof(NR, abstraction_uuid), 16));
  x.lbasize = le16(b, offsetof(NR, lbasize));
  std::copy_n(b.begin() + offsetof(NR, reserved), x.reserved.size(), x.reserved.begin());
  x.checksum = le64(b, offsetof(NR, checksum));
  return x;
}

Result<CxlNamespaceLabel> CxlNamespaceLabel::parse(Bytes b) {
  NDTK_TRY(x, decode(b));
  if (x.type != guid_cxl_namespace().uuid)
    return fail(field_error(Errc::kBadSignature, "cxl namespace label", "type", 0,
                            guid_cxl_namespace().text, x.type.to_string()));
  if (!x.checksum_ok())
    return fail(field_error(Errc::kBadChecksum, "cxl namespace label", "checksum",
                            offsetof(NR, checksum), hex(x.computed_checksum()), hex(x.checksum)));
  return x;
}

ByteVec CxlNamespaceLabel::serialize() const {
  ByteVec out(kCxlLabelSize, 0);
  MutBytes m(out);
  put_uuid(out, offsetof(NR, type), type);
  put_uuid(out, offsetof(NR, uuid), uuid);
  std::copy(name.begin(), name.end(), out.begin() + offsetof(NR, name));
  put_le32(m, offsetof(NR, flags), flags);
  put_le16(m, offsetof(NR, nrange), nrange);
  put_le16(m, offsetof(NR, position), position);
  put_le64(m, offsetof(NR, dpa), dpa);
  put_le64(m, offsetof(NR, rawsize), rawsize);
  put_le32(m, offsetof(NR, slot), slot);
  put_le32(m, offsetof(NR, align), align);
  put_uuid(out, offsetof(NR, region_uuid), region_uuid);
  put_uuid(out, offsetof(NR, abstraction_uuid), abstraction_uuid);
  put_le16(m, offsetof(NR, lbasize), lbasize);
  std::copy(reserved.begin(), reserved.end(), out.begin() + offsetof(NR, reserved));
  put_le64(m, offsetof(NR, checksum), checksum);
  return out;
}

std::uint64_t CxlNamespaceLabel::computed_checksum() const {
  const ByteVec bytes = serialize();
  return fletcher64_skip(bytes, offsetof(NR, checksum));
}

CxlNamespaceLabel CxlNamespaceLabel::with_checksum() const {
  CxlNamespaceLabel c = *this;
  c.checksum = computed_checksum();
  return c;
}

std::string CxlNamespaceLabel::name_string() const { return fixed_string(name); }

bool CxlNamespaceLabel::kernel_slot_valid(std::uint32_t slot_number) const {
  return slot == slot_number && checksum_ok();
}

Findings CxlNamespaceLabel::validate(std::uint32_t slot_number,
                                     std::optional<std::uint64_t> at) const {
  Findings f;
  const std::string where = fmt::format("label slot {}", slot_number);
  common_checks(
      f, where, at, slot_number,
      {type, guid_cxl_namespace(), slot, offsetof(NR, slot), checksum, computed_checksum(), uuid,
       offsetof(NR, uuid), flags, offsetof(NR, flags), dpa, rawsize, offsetof(NR, dpa),
       offsetof(NR, rawsize), reserved, offsetof(NR, reserved)});
  if (std::find(name.begin(), name.end(), 0) == name.end())
    f.push_back({Problem::LABEL_NAME_UNTERMINATED, where, "64 name bytes without a NUL",
                 offset_plus(at, offsetof(NR, name))});
  if (nrange != 1)
    f.push_back({Problem::LABEL_CXL_NRANGE, where, fmt::format("nrange {}", nrange),
                 offset_plus(at, offsetof(NR, nrange))});
  if (claim_class() == ClaimClass::Unknown)
    f.push_back({Problem::LABEL_UNKNOWN_ABSTRACTION, where,
                 fmt::format("abstraction uuid {}", abstraction_uuid.to_string()),
                 offset_plus(at, offsetof(NR, abstraction_uuid))});
  if (lbasize != 0 && lbasize != 512 && lbasize != 4096)
    f.push_back({Problem::LABEL_BAD_LBASIZE, where, fmt::format("lbasize {}", lbasize),
                 offset_plus(at, offsetof(NR, lbasize))});
  return f;
}

FieldTable CxlNamespaceLabel::fields() { return kNsFields; }

// ---- region label ----------------------------------------------------------------------

Result<CxlRegionLabel> CxlRegionLabel::decode(Bytes b) {
  NDTK_CHECK(need_size(b, "cxl region label"));
  CxlRegionLabel x;
  x.type = Uuid::from_bytes(b.subspan(offsetof(RR, type), 16));
  x.uuid = Uuid::from_bytes(b.subspan(offsetof(RR, uuid), 16));
  x.flags = le32(b, offsetof(RR, flags));
  x.nlabel = le16(b, offsetof(RR, nlabel));
  x.position = le16(b, offsetof(RR, position));
  x.dpa = le64(b, offsetof(RR, dpa));
  x.rawsize = le64(b, offsetof(RR, rawsize));
  x.hpa = le64(b, offsetof(RR, hpa));
  x.slot = le32(b, offsetof(RR, slot));
  x.ig = le32(b, offsetof(RR, ig));
  x.align = le32(b, offsetof(RR, align));
  std::copy_n(b.begin() + offsetof(RR, reserved), x.reserved.size(), x.reserved.begin());
  x.checksum = le64(b, offsetof(RR, checksum));
  return x;
}

Result<CxlRegionLabel> CxlRegionLabel::parse(Bytes b) {
  NDTK_TRY(x, decode(b));
  if (x.type != guid_cxl_region().uuid)
    return fail(field_error(Errc::kBadSignature, "cxl region label", "type", 0,
                            guid_cxl_region().text, x.type.to_string()));
  if (!x.checksum_ok())
    return fail(field_error(Errc::kBadChecksum, "cxl region label", "checksum",
                            offsetof(RR, checksum), hex(x.computed_checksum()), hex(x.checksum)));
  return x;
}

ByteVec CxlRegionLabel::serialize() const {
  ByteVec out(kCxlLabelSize, 0);
  MutBytes m(out);
  put_uuid(out, offsetof(RR, type), type);
  put_uuid(out, offsetof(RR, uuid), uuid);
  put_le32(m, offsetof(RR, flags), flags);
  put_le16(m, offsetof(RR, nlabel), nlabel);
  put_le16(m, offsetof(RR, position), position);
  put_le64(m, offsetof(RR, dpa), dpa);
  put_le64(m, offsetof(RR, rawsize), rawsize);
  put_le64(m, offsetof(RR, hpa), hpa);
  put_le32(m, offsetof(RR, slot), slot);
  put_le32(m, offsetof(RR, ig), ig);
  put_le32(m, offsetof(RR, align), align);
  std::copy(reserved.begin(), reserved.end(), out.begin() + offsetof(RR, reserved));
  put_le64(m, offsetof(RR, checksum), checksum);
  return out;
}

std::uint64_t CxlRegionLabel::computed_checksum() const {
  const ByteVec bytes = serialize();
  return fletcher64_skip(bytes, offsetof(RR, checksum));
}

CxlRegionLabel CxlRegionLabel::with_checksum() const {
  CxlRegionLabel c = *this;
  c.checksum = computed_checksum();
  return c;
}

std::optional<std::uint64_t> CxlRegionLabel::granularity() const {
  if (ig > 55) return std::nullopt;
  return std::uint64_t{256} << ig;
}

bool CxlRegionLabel::kernel_slot_valid(std::uint32_t slot_number) const {
  return slot == slot_number && checksum_ok();
}

Findings CxlRegionLabel::validate(std::uint32_t slot_number,
                                  std::optional<std::uint64_t> at) const {
  Findings f;
  const std::string where = fmt::format("label slot {}", slot_number);
  common_checks(f, where, at, slot_number,
                {type, guid_cxl_region(), slot, offsetof(RR, slot), checksum, computed_checksum(),
                 uuid, offsetof(RR, uuid), flags, offsetof(RR, flags), dpa, rawsize,
                 offsetof(RR, dpa), offsetof(RR, rawsize), reserved, offsetof(RR, reserved)});
  if (nlabel == 0 || position >= nlabel)
    f.push_back({Problem::LABEL_NLABEL_POSITION, where,
                 fmt::format("nlabel {}, position {}", nlabel, position),
                 offset_plus(at, offsetof(RR, nlabel))});
  return f;
}

FieldTable CxlRegionLabel::fields() { return kRegionFields; }

}  // namespace ndtk
