// Python classes for the on-media structures (format layer) and for findings: each decodes
// from bytes, serializes bit-exactly, validates to findings, and prints usefully.
#include <fmt/format.h>

#include <string>

#include <pybind11/operators.h>

#include "common.h"
#include "ndtk/base/fletcher.h"
#include "ndtk/base/finding.h"
#include "ndtk/format/btt_info.h"
#include "ndtk/format/btt_log.h"
#include "ndtk/format/btt_map.h"
#include "ndtk/format/cxl_label.h"
#include "ndtk/format/label_index.h"
#include "ndtk/format/namespace_label.h"
#include "ndtk/format/pfn_info.h"
#include "ndtk/format/pmdk_pool.h"

namespace ndtk::pyb {
namespace {

Bytes as_bytes(const py::bytes& b, std::string& keep) {
  keep = b;  // std::string copy: the structures are at most a few KiB
  return Bytes(reinterpret_cast<const std::uint8_t*>(keep.data()), keep.size());
}

/// [(name, offset, size), ...] of a field table.
py::list field_table(FieldTable t) {
  py::list out;
  for (const auto& f : t) out.append(py::make_tuple(f.name, f.offset, f.size));
  return out;
}

/// {field: value}: little-endian integers for 1/2/4/8-byte fields, bytes for the rest.
py::dict fields_dict(const ByteVec& raw, FieldTable t) {
  py::dict d;
  for (const auto& f : t) {
    if (f.offset + f.size > raw.size()) continue;
    const Bytes b(raw.data() + f.offset, f.size);
    switch (f.size) {
      case 1: d[f.name] = b[0]; break;
      case 2: d[f.name] = le16(b, 0); break;
      case 4: d[f.name] = le32(b, 0); break;
      case 8: d[f.name] = le64(b, 0); break;
      default: d[f.name] = to_bytes(b); break;
    }
  }
  return d;
}

py::object severity_obj(Severity s) { return py_enum("Severity", py::int_(static_cast<int>(s))); }

py::object problem_obj(Problem p) {
  return py::module_::import("ndtk").attr("Problem")(static_cast<int>(p));
}

template <class T>
T decode_or_raise(Result<T> r) {
  return unwrap(std::move(r));
}

void bind_findings(py::module_& m) {
  py::class_<Finding>(m, "Finding",
                      "One reported problem: a code from the problem table, where it is, and "
                      "the specifics.")
      .def_property_readonly("code", [](const Finding& f) { return problem_obj(f.code); },
                             "The problem (an ndtk.Problem member; its name is the code).")
      .def_property_readonly("number", [](const Finding& f) { return static_cast<int>(f.code); },
                             "The problem's stable number (0xPPNN).")
      .def_property_readonly("name", [](const Finding& f) { return problem_info(f.code).name; },
                             "The problem's name, e.g. 'BTT_INFO_BAD_CHECKSUM'.")
      .def_property_readonly("severity", [](const Finding& f) { return severity_obj(f.severity()); },
                             "ndtk.Severity: INFO, WARNING or ERROR.")
      .def_property_readonly("title", [](const Finding& f) { return problem_info(f.code).title; },
                             "The generic description of the problem.")
      .def_readonly("detail", &Finding::detail, "The specifics (values found and expected).")
      .def_readonly("location", &Finding::where, "Where: 'arena 0 lane 7', 'label slot 3'...")
      .def_readonly("offset", &Finding::offset, "Absolute byte offset in the image, if known.")
      .def_property_readonly(
          "message",
          [](const Finding& f) {
            const std::string t = problem_info(f.code).title;
            return f.detail.empty() ? t : t + ": " + f.detail;
          },
          "Title and detail in one line.")
      .def_property_readonly("repair",
                             [](const Finding& f) {
                               return repair_action_name(problem_info(f.code).repair);
                             },
                             "The repair action that fixes it ('none' when report-only).")
      .def("__str__", &Finding::to_string)
      .def("__repr__",
           [](const Finding& f) {
             return fmt::format("<Finding {} {} at {}{}>", problem_info(f.code).name,
                                severity_name(f.severity()), f.where.empty() ? "-" : f.where,
                                f.offset ? fmt::format(" @{:#x}", *f.offset) : "");
           })
      .def("to_dict", [](const Finding& f) {
        py::dict d;
        d["code"] = problem_info(f.code).name;
        d["number"] = static_cast<int>(f.code);
        d["severity"] = severity_name(f.severity());
        d["title"] = problem_info(f.code).title;
        d["detail"] = f.detail;
        d["location"] = f.where;
        d["offset"] = f.offset ? py::object(py::int_(*f.offset)) : py::object(py::none());
        return d;
      }, "A JSON-ready dict.");

  m.def("problem_table", [] {
    py::list out;
    for (const auto& p : all_problems())
      out.append(py::make_tuple(p.name, p.number, static_cast<int>(p.severity), p.title,
                                repair_action_name(p.repair)));
    return out;
  }, "Every row of the problem table: (name, number, severity, title, repair).");
}

void bind_btt_info(py::module_& m) {
  py::class_<BttInfo>(m, "BttInfo", "A BTT arena info block (4096 bytes, 'BTT_ARENA_INFO').")
      .def_static("decode", [](py::bytes b) {
        std::string keep;
        return decode_or_raise(BttInfo::decode(as_bytes(b, keep)));
      }, py::arg("data"), "Decode 4096 bytes without validation (BadImageError if shorter).")
      .def_static("parse", [](py::bytes b) {
        std::string keep;
        return decode_or_raise(BttInfo::parse(as_bytes(b, keep)));
      }, py::arg("data"), "Decode and check signature and checksum (BadImageError).")
      .def("to_bytes", [](const BttInfo& i) { return to_bytes(i.serialize()); },
           "The 4096 on-media bytes, bit-exact.")
      .def("with_checksum", &BttInfo::with_checksum, "A copy with the checksum recomputed.")
      .def("validate", [](const BttInfo& i) { return findings_list(i.validate()); },
           "Structure-level checks of this block alone, as findings.")
      .def_static("fields", [] { return field_table(BttInfo::fields()); },
                  "[(name, offset, size)] of every field.")
      .def("to_dict", [](const BttInfo& i) { return fields_dict(i.serialize(), BttInfo::fields()); })
      .def_property_readonly("signature", [](const BttInfo& i) { return to_bytes(i.signature); })
      .def_property_readonly("uuid", [](const BttInfo& i) { return to_uuid(i.uuid); })
      .def_property_readonly("parent_uuid", [](const BttInfo& i) { return to_uuid(i.parent_uuid); })
      .def_readonly("flags", &BttInfo::flags)
      .def_readonly("version_major", &BttInfo::version_major)
      .def_readonly("version_minor", &BttInfo::version_minor)
      .def_property_readonly("version", [](const BttInfo& i) {
        return fmt::format("{}.{}", i.version_major, i.version_minor);
      }, "'1.1' or '2.0' (whatever major.minor is stored).")
      .def_readonly("external_lbasize", &BttInfo::external_lbasize)
      .def_readonly("external_nlba", &BttInfo::external_nlba)
      .def_readonly("internal_lbasize", &BttInfo::internal_lbasize)
      .def_readonly("internal_nlba", &BttInfo::internal_nlba)
      .def_readonly("nfree", &BttInfo::nfree)
      .def_readonly("infosize", &BttInfo::infosize)
      .def_readonly("nextoff", &BttInfo::nextoff)
      .def_readonly("dataoff", &BttInfo::dataoff)
      .def_readonly("mapoff", &BttInfo::mapoff)
      .def_readonly("logoff", &BttInfo::logoff)
      .def_readonly("info2off", &BttInfo::info2off)
      .def_readonly("checksum", &BttInfo::checksum)
      .def_property_readonly("checksum_ok", &BttInfo::checksum_ok)
      .def_property_readonly("signature_ok", &BttInfo::signature_ok)
      .def_property_readonly("computed_checksum", &BttInfo::computed_checksum)
      .def_property_readonly("error_flag", &BttInfo::error_flag)
      .def_property_readonly("padding_zero", &BttInfo::padding_zero)
      .def(py::self == py::self)
      .def("__repr__", [](const BttInfo& i) {
        return fmt::format(
            "<BttInfo {}.{} lbasize {} nlba {}/{} nfree {} dataoff {:#x} mapoff {:#x} logoff "
            "{:#x} info2off {:#x} nextoff {:#x} checksum {}>",
            i.version_major, i.version_minor, i.external_lbasize, i.external_nlba,
            i.internal_nlba, i.nfree, i.dataoff, i.mapoff, i.logoff, i.info2off, i.nextoff,
            i.checksum_ok() ? "ok" : "BAD");
      });
}

void bind_pfn(py::module_& m) {
  py::class_<PfnInfo>(m, "PfnInfo",
                      "A pfn (fsdax) or dax (devdax) info block (4096 bytes, 'NVDIMM_PFN_INFO' "
                      "/ 'NVDIMM_DAX_INFO').")
      .def_static("decode", [](py::bytes b) {
        std::string keep;
        return decode_or_raise(PfnInfo::decode(as_bytes(b, keep)));
      }, py::arg("data"))
      .def_static("parse", [](py::bytes b) {
        std::string keep;
        return decode_or_raise(PfnInfo::parse(as_bytes(b, keep)));
      }, py::arg("data"))
      .def("to_bytes", [](const PfnInfo& i) { return to_bytes(i.serialize()); })
      .def("with_checksum", &PfnInfo::with_checksum)
      .def("validate", [](const PfnInfo& i) { return findings_list(i.validate()); })
      .def_static("fields", [] { return field_table(PfnInfo::fields()); })
      .def("to_dict", [](const PfnInfo& i) { return fields_dict(i.serialize(), PfnInfo::fields()); })
      .def_property_readonly("kind", [](const PfnInfo& i) { return pfn_kind_name(i.kind()); },
                             "'pfn' (fsdax), 'dax' (devdax) or 'unknown'.")
      .def_property_readonly("signature", [](const PfnInfo& i) { return to_bytes(i.signature); })
      .def_property_readonly("uuid", [](const PfnInfo& i) { return to_uuid(i.uuid); })
      .def_property_readonly("parent_uuid", [](const PfnInfo& i) { return to_uuid(i.parent_uuid); })
      .def_readonly("flags", &PfnInfo::flags)
      .def_property_readonly("version", &PfnInfo::version_string)
      .def_readonly("version_major", &PfnInfo::version_major)
      .def_readonly("version_minor", &PfnInfo::version_minor)
      .def_readonly("dataoff", &PfnInfo::dataoff)
      .def_readonly("npfns", &PfnInfo::npfns)
      .def_readonly("mode", &PfnInfo::mode)
      .def_property_readonly("mode_name", [](const PfnInfo& i) { return pfn_mode_name(i.mode); },
                             "'pmem' (struct pages on the media), 'ram', 'none' or 'unknown'.")
      .def_readonly("start_pad", &PfnInfo::start_pad)
      .def_readonly("end_trunc", &PfnInfo::end_trunc)
      .def_readonly("align", &PfnInfo::align)
      .def_readonly("page_size", &PfnInfo::page_size)
      .def_readonly("page_struct_size", &PfnInfo::page_struct_size)
      .def_readonly("checksum", &PfnInfo::checksum)
      .def_property_readonly("checksum_ok", &PfnInfo::checksum_ok)
      .def_property_readonly("computed_checksum", &PfnInfo::computed_checksum)
      .def(py::self == py::self)
      .def("__repr__", [](const PfnInfo& i) {
        return fmt::format("<PfnInfo {} {} mode {} dataoff {:#x} npfns {} align {:#x} checksum {}>",
                           pfn_kind_name(i.kind()), i.version_string(), pfn_mode_name(i.mode),
                           i.dataoff, i.npfns, i.align, i.checksum_ok() ? "ok" : "BAD");
      });

  py::class_<PfnValidation>(m, "PfnValidation", "How the kernel judges a pfn/dax info block.")
      .def_property_readonly("verdict", [](const PfnValidation& v) {
        return py_enum("PfnVerdict", pfn_verdict_name(v.verdict));
      })
      .def_readonly("kernel_error", &PfnValidation::kernel_error)
      .def_property_readonly("kernel_accepts", &PfnValidation::kernel_accepts)
      .def_readonly("data_start", &PfnValidation::data_start)
      .def_readonly("data_end", &PfnValidation::data_end)
      .def_readonly("usable_bytes", &PfnValidation::usable_bytes)
      .def_readonly("npfns", &PfnValidation::npfns)
      .def_property_readonly("findings", [](const PfnValidation& v) { return findings_list(v.findings); })
      .def("__repr__", [](const PfnValidation& v) {
        return fmt::format("<PfnValidation {} usable {} findings {}{}>",
                           pfn_verdict_name(v.verdict), human_size(v.usable_bytes),
                           v.findings.size(),
                           v.kernel_error.empty() ? "" : " kernel_error=" + v.kernel_error);
      });
}

void bind_labels(py::module_& m) {
  py::class_<LabelIndex>(m, "LabelIndex", "A namespace index block ('NAMESPACE_INDEX').")
      .def_static("decode", [](py::bytes b) {
        std::string keep;
        return decode_or_raise(LabelIndex::decode(as_bytes(b, keep)));
      }, py::arg("data"))
      .def_static("parse", [](py::bytes b) {
        std::string keep;
        return decode_or_raise(LabelIndex::parse(as_bytes(b, keep)));
      }, py::arg("data"))
      .def("to_bytes", [](const LabelIndex& i) { return to_bytes(i.serialize()); })
      .def("with_checksum", &LabelIndex::with_checksum)
      .def_static("fields", [] { return field_table(LabelIndex::fields()); })
      .def("to_dict", [](const LabelIndex& i) { return fields_dict(i.serialize(), LabelIndex::fields()); })
      .def_readonly("seq", &LabelIndex::seq)
      .def_readonly("myoff", &LabelIndex::myoff)
      .def_readonly("mysize", &LabelIndex::mysize)
      .def_readonly("otheroff", &LabelIndex::otheroff)
      .def_readonly("labeloff", &LabelIndex::labeloff)
      .def_readonly("nslot", &LabelIndex::nslot)
      .def_readonly("major", &LabelIndex::major)
      .def_readonly("minor", &LabelIndex::minor)
      .def_readonly("labelsize", &LabelIndex::labelsize, "The raw byte: log2(label size) - 7.")
      .def_property_readonly("label_size", &LabelIndex::label_size, "Label size in bytes.")
      .def_readonly("checksum", &LabelIndex::checksum)
      .def_property_readonly("checksum_ok", &LabelIndex::checksum_ok)
      .def_property_readonly("has_signature", &LabelIndex::has_signature)
      .def_property_readonly("block_size", &LabelIndex::block_size)
      .def("is_free", &LabelIndex::is_free, py::arg("slot"), "True iff the slot's bit is set.")
      .def("used_slots", [](const LabelIndex& i) { return i.used_slots(); },
           "Slots in use (bit clear), ascending.")
      .def_property_readonly("used_count", &LabelIndex::used_count)
      .def(py::self == py::self)
      .def("__repr__", [](const LabelIndex& i) {
        return fmt::format("<LabelIndex v{}.{} seq {} nslot {} used {} label_size {} checksum {}>",
                           i.major, i.minor, i.seq, i.nslot, i.used_count(), i.label_size(),
                           i.checksum_ok() ? "ok" : "BAD");
      });

  py::class_<NamespaceLabel>(m, "NamespaceLabel", "An EFI namespace label (v1.1 128 B, v1.2 256 B).")
      .def_static("decode", [](py::bytes b, std::size_t size) {
        std::string keep;
        return decode_or_raise(NamespaceLabel::decode(as_bytes(b, keep), size));
      }, py::arg("data"), py::arg("label_size") = kLabelSizeV12)
      .def_static("parse", [](py::bytes b, std::size_t size) {
        std::string keep;
        return decode_or_raise(NamespaceLabel::parse(as_bytes(b, keep), size));
      }, py::arg("data"), py::arg("label_size") = kLabelSizeV12)
      .def("to_bytes", [](const NamespaceLabel& l) { return to_bytes(l.serialize()); })
      .def("validate", [](const NamespaceLabel& l, std::uint32_t slot) {
        return findings_list(l.validate(slot));
      }, py::arg("slot"))
      .def("to_dict", [](const NamespaceLabel& l) {
        return fields_dict(l.serialize(), NamespaceLabel::fields(l.label_size));
      })
      .def_readonly("label_size", &NamespaceLabel::label_size)
      .def_property_readonly("version", [](const NamespaceLabel& l) {
        return l.label_size >= kLabelSizeV12 ? "1.2" : "1.1";
      })
      .def_property_readonly("uuid", [](const NamespaceLabel& l) { return to_uuid(l.uuid); })
      .def_property_readonly("name", &NamespaceLabel::name_string)
      .def_readonly("flags", &NamespaceLabel::flags)
      .def_property_readonly("flag_names", [](const NamespaceLabel& l) { return label_flag_names(l.flags); })
      .def_readonly("nlabel", &NamespaceLabel::nlabel)
      .def_readonly("position", &NamespaceLabel::position)
      .def_readonly("isetcookie", &NamespaceLabel::isetcookie)
      .def_readonly("lbasize", &NamespaceLabel::lbasize)
      .def_readonly("dpa", &NamespaceLabel::dpa)
      .def_readonly("rawsize", &NamespaceLabel::rawsize)
      .def_readonly("slot", &NamespaceLabel::slot)
      .def_readonly("align", &NamespaceLabel::align)
      .def_property_readonly("type_guid", [](const NamespaceLabel& l) { return to_guid(l.type_guid); })
      .def_property_readonly("abstraction_guid", [](const NamespaceLabel& l) {
        return to_guid(l.abstraction_guid);
      })
      .def_property_readonly("claim_class", [](const NamespaceLabel& l) {
        return claim_class_name(l.claim_class());
      }, "'none', 'btt', 'btt2', 'pfn', 'dax' or 'unknown'.")
      .def_readonly("checksum", &NamespaceLabel::checksum)
      .def_property_readonly("checksum_ok", &NamespaceLabel::checksum_ok)
      .def(py::self == py::self)
      .def("__repr__", [](const NamespaceLabel& l) {
        return fmt::format("<NamespaceLabel v{} slot {} uuid {} name '{}' dpa {:#x} size {} pos "
                           "{}/{} flags {} claim {}>",
                           l.label_size >= kLabelSizeV12 ? "1.2" : "1.1", l.slot,
                           l.uuid.to_string(), l.name_string(), l.dpa, human_size(l.rawsize),
                           l.position, l.nlabel, label_flag_names(l.flags),
                           claim_class_name(l.claim_class()));
      });

  py::class_<CxlNamespaceLabel>(m, "CxlNamespaceLabel", "A CXL namespace label (256 B).")
      .def_static("decode", [](py::bytes b) {
        std::string keep;
        return decode_or_raise(CxlNamespaceLabel::decode(as_bytes(b, keep)));
      }, py::arg("data"))
      .def("to_bytes", [](const CxlNamespaceLabel& l) { return to_bytes(l.serialize()); })
      .def("to_dict", [](const CxlNamespaceLabel& l) {
        return fields_dict(l.serialize(), CxlNamespaceLabel::fields());
      })
      .def_property_readonly("uuid", [](const CxlNamespaceLabel& l) { return to_uuid(l.uuid); })
      .def_property_readonly("name", &CxlNamespaceLabel::name_string)
      .def_property_readonly("region_uuid", [](const CxlNamespaceLabel& l) { return to_uuid(l.region_uuid); })
      .def_readonly("flags", &CxlNamespaceLabel::flags)
      .def_readonly("nrange", &CxlNamespaceLabel::nrange)
      .def_readonly("position", &CxlNamespaceLabel::position)
      .def_readonly("dpa", &CxlNamespaceLabel::dpa)
      .def_readonly("rawsize", &CxlNamespaceLabel::rawsize)
      .def_readonly("slot", &CxlNamespaceLabel::slot)
      .def_readonly("lbasize", &CxlNamespaceLabel::lbasize)
      .def_property_readonly("claim_class", [](const CxlNamespaceLabel& l) {
        return claim_class_name(l.claim_class());
      })
      .def_property_readonly("checksum_ok", &CxlNamespaceLabel::checksum_ok)
      .def(py::self == py::self)
      .def("__repr__", [](const CxlNamespaceLabel& l) {
        return fmt::format("<CxlNamespaceLabel slot {} uuid {} name '{}' dpa {:#x} size {}>", l.slot,
                           l.uuid.to_string(), l.name_string(), l.dpa, human_size(l.rawsize));
      });

  py::class_<CxlRegionLabel>(m, "CxlRegionLabel", "A CXL region label (256 B).")
      .def_static("decode", [](py::bytes b) {
        std::string keep;
        return decode_or_raise(CxlRegionLabel::decode(as_bytes(b, keep)));
      }, py::arg("data"))
      .def("to_bytes", [](const CxlRegionLabel& l) { return to_bytes(l.serialize()); })
      .def_property_readonly("uuid", [](const CxlRegionLabel& l) { return to_uuid(l.uuid); })
      .def_readonly("flags", &CxlRegionLabel::flags)
      .def_readonly("nlabel", &CxlRegionLabel::nlabel)
      .def_readonly("position", &CxlRegionLabel::position)
      .def_readonly("dpa", &CxlRegionLabel::dpa)
      .def_readonly("rawsize", &CxlRegionLabel::rawsize)
      .def_readonly("hpa", &CxlRegionLabel::hpa)
      .def_readonly("slot", &CxlRegionLabel::slot)
      .def_readonly("ig", &CxlRegionLabel::ig)
      .def_property_readonly("checksum_ok", &CxlRegionLabel::checksum_ok)
      .def(py::self == py::self)
      .def("__repr__", [](const CxlRegionLabel& l) {
        return fmt::format("<CxlRegionLabel slot {} uuid {} dpa {:#x} size {}>", l.slot,
                           l.uuid.to_string(), l.dpa, human_size(l.rawsize));
      });
}

void bind_btt_metadata(py::module_& m) {
  py::class_<BttMapEntry>(m, "MapEntry", "One BTT map entry: Z/E flags and a post-map block.")
      .def(py::init([](std::uint32_t raw) { return BttMapEntry{raw}; }), py::arg("raw"))
      .def_readonly("raw", &BttMapEntry::raw)
      .def_property_readonly("z", &BttMapEntry::z, "Bit 31 (zero/trim).")
      .def_property_readonly("e", &BttMapEntry::e, "Bit 30 (error).")
      .def_property_readonly("postmap", &BttMapEntry::postmap, "Bits 0..29 as stored.")
      .def_property_readonly("state", [](const BttMapEntry& e) {
        return py_enum("MapState", btt_map_state_name(e.state()));
      }, "ndtk.MapState: INITIAL, ERROR, ZERO or NORMAL.")
      .def("effective_postmap", &BttMapEntry::effective_postmap, py::arg("premap"),
           "The internal block a read of `premap` uses (identity for initial entries).")
      .def("__int__", [](const BttMapEntry& e) { return e.raw; })
      .def("__index__", [](const BttMapEntry& e) { return e.raw; })
      .def(py::self == py::self)
      .def("__hash__", [](const BttMapEntry& e) { return std::hash<std::uint32_t>{}(e.raw); })
      .def("__repr__", [](const BttMapEntry& e) {
        return fmt::format("<MapEntry {:#010x} {} block {}>", e.raw, btt_map_state_name(e.state()),
                           e.postmap());
      });

  py::class_<BttLogEntry>(m, "LogEntry", "One 16-byte BTT log (flog) slot.")
      .def(py::init([](std::uint32_t lba, std::uint32_t old_map, std::uint32_t new_map,
                       std::uint32_t seq) { return BttLogEntry{lba, old_map, new_map, seq}; }),
           py::arg("lba"), py::arg("old_map"), py::arg("new_map"), py::arg("seq"))
      .def_readonly("lba", &BttLogEntry::lba)
      .def_readonly("old_map", &BttLogEntry::old_map)
      .def_readonly("new_map", &BttLogEntry::new_map)
      .def_readonly("seq", &BttLogEntry::seq)
      .def_property_readonly("old_block", &BttLogEntry::old_block)
      .def_property_readonly("new_block", &BttLogEntry::new_block)
      .def_property_readonly("is_padding", &BttLogEntry::is_padding)
      .def("to_bytes", [](const BttLogEntry& e) { return to_bytes(e.serialize()); })
      .def(py::self == py::self)
      .def("__repr__", [](const BttLogEntry& e) {
        return fmt::format("<LogEntry lba {} old {:#x} new {:#x} seq {}>", e.lba, e.old_map,
                           e.new_map, e.seq);
      });

  py::class_<BttLogGroup>(m, "LogGroup",
                          "One lane's 64-byte log group: four slots, two live (see indices).")
      .def_static("decode", [](py::bytes b) {
        std::string keep;
        return decode_or_raise(BttLogGroup::decode(as_bytes(b, keep)));
      }, py::arg("data"))
      .def_property_readonly("slots", [](const BttLogGroup& g) {
        py::list l;
        for (const auto& s : g.slots) l.append(py::cast(s));
        return l;
      })
      .def("to_bytes", [](const BttLogGroup& g) { return to_bytes(g.serialize()); })
      .def("live", [](const BttLogGroup& g, std::pair<unsigned, unsigned> idx) {
        if (idx.first >= kBttLogSlots || idx.second >= kBttLogSlots)
          raise(Errc::kInvalidArgument, "log indices must be slot numbers 0..3");
        const BttLane lane = lane_of(g, BttLogIndices{static_cast<std::uint8_t>(idx.first),
                                                      static_cast<std::uint8_t>(idx.second)});
        return py::make_tuple(lane.sub[0], lane.sub[1]);
      }, py::arg("indices") = std::pair<unsigned, unsigned>{0, 1},
         "The two live entries under a padding scheme ((0, 1) or (0, 2)).")
      .def("current", [](const BttLogGroup& g, std::pair<unsigned, unsigned> idx) -> py::object {
        if (idx.first >= kBttLogSlots || idx.second >= kBttLogSlots)
          raise(Errc::kInvalidArgument, "log indices must be slot numbers 0..3");
        const BttLane lane = lane_of(g, BttLogIndices{static_cast<std::uint8_t>(idx.first),
                                                      static_cast<std::uint8_t>(idx.second)});
        const auto sel = select_current(lane);
        if (!sel.current()) return py::none();
        return py::cast(lane.sub[*sel.current()]);
      }, py::arg("indices") = std::pair<unsigned, unsigned>{0, 1},
         "The lane's current entry as the kernel (else PMDK) picks it; None if neither can.")
      .def(py::self == py::self)
      .def("__repr__", [](const BttLogGroup& g) {
        std::string s = "<LogGroup";
        for (const auto& e : g.slots)
          s += fmt::format(" [{} {:#x} {:#x} {}]", e.lba, e.old_map, e.new_map, e.seq);
        return s + ">";
      });
}

void bind_pool(py::module_& m) {
  py::class_<PoolHeader>(m, "PoolHeader", "A PMDK pool header (4096 bytes).")
      .def_static("decode", [](py::bytes b) {
        std::string keep;
        return decode_or_raise(PoolHeader::decode(as_bytes(b, keep)));
      }, py::arg("data"))
      .def("to_bytes", [](const PoolHeader& h) { return to_bytes(h.serialize()); })
      .def("validate", [](const PoolHeader& h) { return findings_list(h.validate()); })
      .def_static("fields", [] { return field_table(PoolHeader::fields()); })
      .def("to_dict", [](const PoolHeader& h) { return fields_dict(h.serialize(), PoolHeader::fields()); })
      .def_property_readonly("type", [](const PoolHeader& h) { return pmdk_pool_type_name(h.type()); })
      .def_readonly("major", &PoolHeader::major)
      .def_property_readonly("poolset_uuid", [](const PoolHeader& h) { return to_guid(h.poolset_uuid); },
                             "As pmempool prints it (PMDK stores uuids mixed-endian).")
      .def_property_readonly("uuid", [](const PoolHeader& h) { return to_guid(h.uuid); })
      .def_readonly("crtime", &PoolHeader::crtime)
      .def_readonly("checksum", &PoolHeader::checksum)
      .def_property_readonly("checksum_ok", &PoolHeader::checksum_ok)
      .def(py::self == py::self)
      .def("__repr__", [](const PoolHeader& h) {
        return fmt::format("<PoolHeader {} major {} checksum {}>", pmdk_pool_type_name(h.type()),
                           h.major, h.checksum_ok() ? "ok" : "BAD");
      });

  py::class_<PmemBlkPool>(m, "PmemBlkPool", "A pmemblk pool's frame: header, bsize, BTT area.")
      .def_readonly("header", &PmemBlkPool::header)
      .def_property_readonly("bsize", &PmemBlkPool::bsize)
      .def_property_readonly("is_zeroed", &PmemBlkPool::is_zeroed)
      .def_readonly("btt_offset", &PmemBlkPool::btt_offset)
      .def_readonly("btt_size", &PmemBlkPool::btt_size)
      .def_readonly("layout_written", &PmemBlkPool::layout_written)
      .def_property_readonly("findings", [](const PmemBlkPool& p) { return findings_list(p.findings); })
      .def("__repr__", [](const PmemBlkPool& p) {
        return fmt::format("<PmemBlkPool bsize {} btt @{:#x} {} layout {}>", p.bsize(),
                           p.btt_offset, human_size(p.btt_size),
                           p.layout_written ? "written" : "not written");
      });
}

}  // namespace

void init_format(py::module_& m) {
  bind_findings(m);
  bind_btt_info(m);
  bind_pfn(m);
  bind_labels(m);
  bind_btt_metadata(m);
  bind_pool(m);
  m.def("fletcher64", [](py::buffer b) {
    HeldBuffer h(b, false, "fletcher64");
    return nogil([&] { return fletcher64(Bytes(h.data(), h.size())); });
  }, py::arg("data"), "Fletcher64 over 32-bit little-endian words, as NVDIMM metadata uses.");
}

}  // namespace ndtk::pyb
