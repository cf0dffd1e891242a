// label-dump --annotate: one structure byte by byte, each byte tied to its field (from the format
// layer's FieldTables), the field's decoded value, and whether any check fails on it.
#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <nlohmann/json.hpp>
#include <variant>

#include "label_render_internal.h"

namespace ndtk {

using namespace render_detail;

namespace {

struct Ctx {
  std::optional<std::uint64_t> computed_checksum;
  bool efi_guids = false;  // 16-byte *_guid fields are EFI GUIDs (mixed endian)
  std::string used_slots;  // for an index block's free bitmap
};

std::string int_text(std::uint64_t v) {
  return v < 10 ? std::to_string(v) : fmt::format("{} ({:#x})", v, v);
}

std::string value_of(const std::string& name, Bytes fb, const Ctx& c) {
  if (name == "sig" || name == "signature") return "\"" + printable(fb) + "\"";
  if (name == "name") return "\"" + printable(fb) + "\"";
  if (fb.size() == 16 && (name.find("uuid") != std::string::npos ||
                          name.find("guid") != std::string::npos || name == "type")) {
    const Uuid u = Uuid::from_bytes(fb);
    if (c.efi_guids && name.find("guid") != std::string::npos)
      return u.to_string() + " = GUID " + guid_with_name(u);
    if (name == "abstraction_uuid")
      return u.to_string() + " (" + claim_class_name(claim_class_from_uuid(u)) + ")";
    return u.to_string();
  }
  if (name == "free") return "slots in use: " + c.used_slots;
  if (fb.size() == 1 || fb.size() == 2 || fb.size() == 4 || fb.size() == 8) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < fb.size(); ++i) v |= std::uint64_t{fb[i]} << (8 * i);
    if (name == "checksum") {
      if (!c.computed_checksum) return fmt::format("{:#018x}", v);
      return *c.computed_checksum == v
                 ? fmt::format("{:#018x} (matches the computed checksum)", v)
                 : fmt::format("{:#018x} (computed {:#018x})", v, *c.computed_checksum);
    }
    if (name == "flags" && fb.size() == 4 && c.efi_guids)
      return fmt::format("{:#x} ({})", v, label_flag_names(static_cast<std::uint32_t>(v)));
    if (name == "labelsize" && fb.size() == 1)
      return fmt::format("{} ({}-byte labels from v1.2 on)", v, v < 57 ? (128ull << v) : 0);
    if (name == "mode" && fb.size() == 4)
      return fmt::format("{} ({})", v, pfn_mode_name(static_cast<std::uint32_t>(v)));
    return int_text(v);
  }
  const auto nz = std::count_if(fb.begin(), fb.end(), [](std::uint8_t b) { return b != 0; });
  return nz == 0 ? "all zero" : fmt::format("{} non-zero byte(s)", nz);
}

Annotation build(std::string title, std::uint64_t at, ByteVec bytes,
                 std::vector<FieldDesc> table, const Findings& findings, const Ctx& c) {
  Annotation a;
  a.title = std::move(title);
  a.image_offset = at;
  a.bytes = std::move(bytes);
  std::sort(table.begin(), table.end(),
            [](const FieldDesc& x, const FieldDesc& y) { return x.offset < y.offset; });
  // Cover every byte: gaps become "(unnamed)" fields, fields past the end are clipped.
  std::uint64_t pos = 0;
  const std::uint64_t n = a.bytes.size();
  auto add = [&](const std::string& name, std::uint64_t off, std::uint64_t len) {
    AnnotatedField f;
    f.name = name;
    f.offset = off;
    f.size = len;
    const Bytes fb(a.bytes.data() + off, static_cast<std::size_t>(len));
    f.value = value_of(name, fb, c);
    a.fields.push_back(std::move(f));
  };
  for (const auto& d : table) {
    if (d.offset >= n) break;
    if (d.offset > pos) add("(unnamed)", pos, d.offset - pos);
    const std::uint64_t len = std::min<std::uint64_t>(d.size, n - d.offset);
    add(d.name, d.offset, len);
    pos = d.offset + len;
  }
  if (pos < n) add("(unnamed)", pos, n - pos);

  for (const auto& f : findings) {
    // Info findings describe quirks the kernel ignores: noted, but the field stays valid.
    const bool info = f.severity() == Severity::Info;
    const std::string text =
        fmt::format("{}{}: {}", info ? "(info) " : "", problem_info(f.code).name, f.detail);
    bool placed = false;
    if (f.offset && *f.offset >= at && *f.offset - at < n) {
      const std::uint64_t rel = *f.offset - at;
      for (auto& fld : a.fields)
        if (rel >= fld.offset && rel < fld.offset + fld.size) {
          if (!info) fld.ok = false;
          fld.problems.push_back(text);
          placed = true;
          break;
        }
    }
    if (!placed) a.notes.push_back(text);
  }
  // The checksum is judged here too, so a view never calls a wrong checksum valid.
  for (auto& fld : a.fields)
    if (fld.name == "checksum" && c.computed_checksum && fld.size == 8) {
      const std::uint64_t stored = le64(a.bytes, static_cast<std::size_t>(fld.offset));
      if (stored != *c.computed_checksum && fld.ok) {
        fld.ok = false;
        fld.problems.push_back(fmt::format("stored {:#x}, computed {:#x}", stored,
                                           *c.computed_checksum));
      }
      a.notes.insert(a.notes.begin(),
                     stored == *c.computed_checksum
                         ? std::string("checksum valid")
                         : fmt::format("checksum INVALID: stored {:#018x}, computed {:#018x}",
                                       stored, *c.computed_checksum));
    }
  return a;
}

std::vector<FieldDesc> to_vec(FieldTable t) { return {t.begin(), t.end()}; }

Result<Annotation> annotate_index(const LabelImageReport& img, int n) {
  const LabelArea* a = img.area();
  if (!a) return fail(Errc::kNotPresent, img.path + ": no label area");
  const IndexBlockState& s = a->indexes[static_cast<std::size_t>(n)];
  if (!s.index) return fail(Errc::kNotPresent, fmt::format("{}: index {} not decoded", img.path, n));
  const LabelIndex& x = *s.index;
  Findings fs;
  Ctx c;
  if (a->geometry) {
    fs = x.validate(n, a->size, a->label_size(), a->index_size(), s.offset);
    c.computed_checksum = x.computed_checksum(a->index_size());
  } else {
    fs = s.problems;
    c.computed_checksum = x.computed_checksum();
  }
  for (auto& f : x.check_bitmap_tail(fmt::format("index {}", n), s.offset)) fs.push_back(f);
  c.used_slots = ranges_text(x.used_ranges(x.nslot));
  auto table = to_vec(LabelIndex::fields());
  const std::uint64_t tail = x.tail.size();
  const std::uint64_t bitmap = std::min<std::uint64_t>(div_round_up(x.nslot, 8), tail);
  if (bitmap > 0)
    table.push_back({"free", kNsIndexFreeOffset, static_cast<std::size_t>(bitmap)});
  if (tail > bitmap)
    table.push_back({"padding", static_cast<std::size_t>(kNsIndexFreeOffset + bitmap),
                     static_cast<std::size_t>(tail - bitmap)});
  return build(fmt::format("index {} @{:#x}: {} bytes, {}{}", n, s.offset, x.block_size(),
                           s.valid ? "valid" : "INVALID",
                           a->current.index == n ? ", current" : ""),
               s.offset, x.serialize(), std::move(table), fs, c);
}

Result<Annotation> annotate_slot(const LabelImageReport& img, std::uint64_t n) {
  const LabelArea* a = img.area();
  if (!a || !a->geometry) return fail(Errc::kNotPresent, img.path + ": no usable label area");
  if (n >= a->nslot)
    return fail(Errc::kNotPresent,
                fmt::format("{}: slot {} does not exist (nslot {})", img.path, n, a->nslot));
  const auto slot = static_cast<std::uint32_t>(n);
  const LabelSlot* s = a->find_slot(slot);
  ByteVec bytes;
  std::uint64_t at = a->offset + a->geometry->slot_offset(slot);
  std::string state = "empty (all zero, free)";
  if (s) {
    bytes = s->raw;
    at = s->offset;
    state = fmt::format("{}, {} in the current index", slot_state_name(s->state),
                        s->in_use ? "in use" : "free");
  } else {
    NDTK_TRY(b, img.discovery.image->read_vec(at, a->label_size()));
    bytes = std::move(b);
  }
  Ctx c;
  Findings fs;
  std::vector<FieldDesc> table;
  std::string format;
  const bool cxl = a->is_cxl();
  if (s && s->label) {
    std::visit([&](const auto& l) { fs = l.validate(slot, at); }, *s->label);
  }
  if (cxl) {
    const bool region = s && s->cxl_region();
    table = to_vec(region ? CxlRegionLabel::fields() : CxlNamespaceLabel::fields());
    format = region ? "CXL region label" : "CXL namespace label";
    if (region) c.computed_checksum = s->cxl_region()->computed_checksum();
    else if (auto d = CxlNamespaceLabel::decode(bytes)) c.computed_checksum = d->computed_checksum();
  } else {
    table = to_vec(NamespaceLabel::fields(a->label_size()));
    format = a->label_size() == kLabelSizeV11 ? "EFI v1.1 label" : "EFI v1.2 label";
    c.efi_guids = true;
    if (auto d = NamespaceLabel::decode(bytes, a->label_size())) c.computed_checksum = d->computed_checksum();
  }
  Annotation out = build(fmt::format("label slot {} @{:#x}: {} bytes, {}; {}", slot, at,
                                     bytes.size(), format, state),
                         at, std::move(bytes), std::move(table), fs, c);
  if (s && !s->note.empty()) out.notes.push_back(s->note);
  return out;
}

const NamespaceReport* find_namespace(const LabelImageReport& img, const std::string& key) {
  const auto u = Uuid::parse(key);
  for (const auto* list : {&img.namespaces, &img.stale_namespaces})
    for (const auto& r : *list) {
      if (u && (r.ns.uuid == *u || r.ns.display_uuid() == *u)) return &r;
      if (!u && !r.ns.name.empty() && r.ns.name == key) return &r;
    }
  return nullptr;
}

Result<Annotation> annotate_info(const LabelImageReport& img, const std::string& key) {
  const NamespaceReport* r = find_namespace(img, key);
  if (!r) return fail(Errc::kNotPresent, fmt::format("{}: no namespace '{}'", img.path, key));
  if (!r->info)
    return fail(Errc::kNotPresent,
                fmt::format("{}: namespace '{}' has no info block in this image", img.path, key));
  const InfoBlockView& v = *r->info;
  NDTK_TRY(bytes, img.discovery.image->read_vec(v.image_offset, 4096));
  Ctx c;
  Findings fs;
  std::vector<FieldDesc> table;
  if (v.btt) {
    auto info = BttInfo::decode(bytes);
    if (!info) return Unexpected{std::move(info).error()};
    BttInfoContext ctx;
    ctx.offset = v.image_offset;
    if (r->ns.size > v.offset) ctx.remaining = r->ns.size - v.offset;
    if (r->ns.from_labels)
      ctx.expected_version = r->ns.claim == ClaimClass::Btt2 ? BttVersion::V2_0 : BttVersion::V1_1;
    if (!r->ns.any_parent) ctx.namespace_uuid = r->ns.uuid;
    ctx.where = "arena 0 info";
    fs = info->validate(ctx);
    c.computed_checksum = info->computed_checksum();
    table = to_vec(BttInfo::fields());
  } else {
    auto info = PfnInfo::decode(bytes);
    if (!info) return Unexpected{std::move(info).error()};
    fs = v.pfn->validation.findings;
    c.computed_checksum = info->computed_checksum();
    table = to_vec(PfnInfo::fields());
  }
  Annotation out =
      build(fmt::format("{} info block of namespace {} @{:#x} (namespace offset {:#x}): {}",
                        info_kind_name(v.kind), r->ns.uuid.to_string(), v.image_offset, v.offset,
                        v.in_use ? "in use" : "NOT used: " + v.verdict),
            v.image_offset, std::move(bytes), std::move(table), fs, c);
  return out;
}

}  // namespace

Result<Annotation> annotate_structure(const LabelImageReport& img, const std::string& sel) {
  if (sel == "index0" || sel == "index:0") return annotate_index(img, 0);
  if (sel == "index1" || sel == "index:1") return annotate_index(img, 1);
  if (sel.rfind("slot:", 0) == 0) {
    const std::string num = sel.substr(5);
    std::uint64_t n = 0;
    if (num.empty() || num.size() > 10 ||
        !std::all_of(num.begin(), num.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
      return fail(Errc::kInvalidArgument, "--annotate slot:N needs a slot number, got '" + num + "'");
    n = std::stoull(num);
    return annotate_slot(img, n);
  }
  if (sel.rfind("info:", 0) == 0 && sel.size() > 5) return annotate_info(img, sel.substr(5));
  return fail(Errc::kInvalidArgument,
              "--annotate takes index0, index1, slot:N or info:<namespace uuid or name>, got '" +
                  sel + "'");
}

std::string render_annotation_text(const Annotation& a) {
  std::string s;
  auto out = std::back_inserter(s);
  fmt::format_to(out, "{}\n", a.title);
  fmt::format_to(out, "{:<8}{:<49}{:<18}{:<5}{}\n", "offset", "bytes", "field", "", "value");
  for (const auto& f : a.fields) {
    const std::uint64_t end = f.offset + f.size;
    bool first = true;
    std::uint64_t zero_from = 0, zero_count = 0;
    auto flush_zero = [&] {
      if (zero_count == 0) return;
      fmt::format_to(out, "{:<8}{:<49}\n", fmt::format("+{:#05x}", zero_from),
                     fmt::format("({} more zero bytes)", zero_count));
      zero_count = 0;
    };
    for (std::uint64_t o = f.offset; o < end; o += 16) {
      const std::uint64_t len = std::min<std::uint64_t>(16, end - o);
      const bool zero = std::all_of(a.bytes.begin() + static_cast<std::ptrdiff_t>(o),
                                    a.bytes.begin() + static_cast<std::ptrdiff_t>(o + len),
                                    [](std::uint8_t b) { return b == 0; });
      if (!first && zero) {
        if (zero_count == 0) zero_from = o;
        zero_count += len;
        continue;
      }
      flush_zero();
      std::string hexs;
      for (std::uint64_t i = 0; i < len; ++i)
        hexs += fmt::format("{}{:02x}", i ? " " : "", a.bytes[static_cast<std::size_t>(o + i)]);
      if (first)
        fmt::format_to(out, "{:<8}{:<49}{:<18}{:<5}{}\n", fmt::format("+{:#05x}", o), hexs, f.name,
                       f.ok ? "ok" : "BAD", f.value);
      else
        fmt::format_to(out, "{:<8}{}\n", fmt::format("+{:#05x}", o), hexs);
      first = false;
    }
    flush_zero();
    for (const auto& p : f.problems) fmt::format_to(out, "{:<8}! {}\n", "", p);
  }
  for (const auto& n : a.notes) fmt::format_to(out, "note: {}\n", n);
  return s;
}

std::string render_annotation_json(const Annotation& a) {
  using json = nlohmann::ordered_json;
  json j;
  j["structure"] = a.title;
  j["offset"] = a.image_offset;
  j["size"] = a.bytes.size();
  json fields = json::array();
  for (const auto& f : a.fields) {
    std::string hexs;
    for (std::uint64_t i = 0; i < f.size; ++i)
      hexs += fmt::format("{:02x}", a.bytes[static_cast<std::size_t>(f.offset + i)]);
    fields.push_back({{"name", f.name},
                      {"offset", f.offset},
                      {"size", f.size},
                      {"hex", hexs},
                      {"value", f.value},
                      {"valid", f.ok},
                      {"problems", f.problems}});
  }
  j["fields"] = fields;
  j["notes"] = a.notes;
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace ndtk
