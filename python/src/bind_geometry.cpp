// Python access to the geometry layer: BTT arena layouts, label-area geometry and the
// pfn/dax layout, each exactly as the kernel (or PMDK) computes it.
#include <pybind11/operators.h>

#include <fmt/format.h>

#include "common.h"
#include "ndtk/geometry/btt_geometry.h"
#include "ndtk/geometry/label_geometry.h"
#include "ndtk/geometry/pfn_geometry.h"

namespace ndtk::pyb {

BttFlavor flavor_from_py(const std::string& s) {
  if (s == "kernel") return BttFlavor::Kernel;
  if (s == "pmdk") return BttFlavor::Pmdk;
  raise(Errc::kInvalidArgument, fmt::format("flavor must be 'kernel' or 'pmdk', not '{}'", s));
}

BttVersion version_from_py(const std::string& s) {
  if (s == "1.1") return BttVersion::V1_1;
  if (s == "2.0") return BttVersion::V2_0;
  raise(Errc::kInvalidArgument, fmt::format("BTT version must be '1.1' or '2.0', not '{}'", s));
}

void init_geometry(py::module_& m) {
  py::class_<ArenaLayout>(m, "ArenaLayout", "One BTT arena as the writer lays it out.")
      .def_readonly("index", &ArenaLayout::index)
      .def_readonly("offset", &ArenaLayout::offset, "Namespace offset of the arena's info block.")
      .def_readonly("size", &ArenaLayout::size)
      .def_property_readonly("version", [](const ArenaLayout& a) { return btt_version_name(a.version); })
      .def_property_readonly("flavor", [](const ArenaLayout& a) {
        return py_enum("Flavor", flavor_str(a.flavor));
      })
      .def_readonly("external_lbasize", &ArenaLayout::external_lbasize)
      .def_readonly("internal_lbasize", &ArenaLayout::internal_lbasize)
      .def_readonly("external_nlba", &ArenaLayout::external_nlba)
      .def_readonly("internal_nlba", &ArenaLayout::internal_nlba)
      .def_readonly("nfree", &ArenaLayout::nfree)
      .def_readonly("dataoff", &ArenaLayout::dataoff)
      .def_readonly("mapoff", &ArenaLayout::mapoff)
      .def_readonly("logoff", &ArenaLayout::logoff)
      .def_readonly("info2off", &ArenaLayout::info2off)
      .def_readonly("nextoff", &ArenaLayout::nextoff)
      .def_readonly("mapsize", &ArenaLayout::mapsize)
      .def_readonly("logsize", &ArenaLayout::logsize)
      .def_readonly("datasize", &ArenaLayout::datasize)
      .def_readonly("first_external_lba", &ArenaLayout::first_external_lba)
      .def("info_block", [](const ArenaLayout& a, py::object uuid, py::object parent) {
        return make_arena_info(a, uuid.is_none() ? Uuid{} : uuid_from_py(uuid),
                               parent.is_none() ? Uuid{} : uuid_from_py(parent), a.version);
      }, py::arg("uuid") = py::none(), py::arg("parent_uuid") = py::none(),
         "The BttInfo the writer would put at this arena's start (and end).")
      .def("compare", [](const ArenaLayout& a, const BttInfo& info) {
        py::list out;
        for (const auto& d : compare_info_to_layout(info, a))
          out.append(py::make_tuple(d.field, d.on_media, d.expected));
        return out;
      }, py::arg("info"), "[(field, on_media, expected)] where `info` differs from this layout.")
      .def(py::self == py::self)
      .def("__repr__", [](const ArenaLayout& a) {
        return fmt::format("<ArenaLayout {} @{:#x} size {} lbasize {}/{} nlba {}/{} nfree {}>",
                           a.index, a.offset, human_size(a.size), a.external_lbasize,
                           a.internal_lbasize, a.external_nlba, a.internal_nlba, a.nfree);
      });

  m.def("btt_layout", [](std::uint64_t size, std::uint32_t lbasize, const std::string& version,
                         const std::string& flavor, std::uint32_t nfree) {
    BttGeometryParams p;
    p.namespace_size = size;
    p.external_lbasize = lbasize;
    p.version = version_from_py(version);
    p.flavor = flavor_from_py(flavor);
    p.nfree = nfree;
    return unwrap(compute_btt_layout(p));
  }, py::arg("namespace_size"), py::arg("lbasize") = 4096, py::arg("version") = "1.1",
     py::arg("flavor") = "kernel", py::arg("nfree") = kBttDefaultNfree,
     "Every arena the kernel (or PMDK) would lay out for a namespace of this size.");

  py::class_<LabelGeometry>(m, "LabelGeometry", "Index size and slot count of a label area.")
      .def_readonly("config_size", &LabelGeometry::config_size)
      .def_readonly("label_size", &LabelGeometry::label_size)
      .def_readonly("index_size", &LabelGeometry::index_size)
      .def_readonly("nslot", &LabelGeometry::nslot)
      .def_property_readonly("formula", [](const LabelGeometry& g) { return label_formula_name(g.formula); })
      .def_property_readonly("label_offset", &LabelGeometry::label_offset)
      .def("slot_offset", &LabelGeometry::slot_offset, py::arg("slot"))
      .def(py::self == py::self)
      .def("__repr__", [](const LabelGeometry& g) {
        return fmt::format("<LabelGeometry config {} label {} index {} nslot {} ({})>",
                           human_size(g.config_size), g.label_size, g.index_size, g.nslot,
                           label_formula_name(g.formula));
      });
  m.def("label_geometry", [](std::uint64_t config_size, std::uint32_t label_size) {
    return unwrap(label_geometry(config_size, label_size));
  }, py::arg("config_size"), py::arg("label_size") = 256,
     "The current kernel's label-area geometry for a config size and label size.");

  py::class_<PfnGeometry>(m, "PfnGeometry", "The fsdax/devdax layout nd_pfn_init computes.")
      .def_readonly("dataoff", &PfnGeometry::dataoff)
      .def_readonly("npfns", &PfnGeometry::npfns)
      .def_readonly("end_trunc", &PfnGeometry::end_trunc)
      .def_readonly("layout_align", &PfnGeometry::layout_align)
      .def_readonly("memmap_bytes", &PfnGeometry::memmap_bytes)
      .def_readonly("usable_bytes", &PfnGeometry::usable_bytes)
      .def("__repr__", [](const PfnGeometry& g) {
        return fmt::format("<PfnGeometry dataoff {:#x} npfns {} usable {}>", g.dataoff, g.npfns,
                           human_size(g.usable_bytes));
      });
  m.def("pfn_geometry", [](std::uint64_t size, const std::string& mode, std::uint64_t align,
                           std::uint64_t start) {
    PfnGeometryParams p;
    p.size = size;
    p.start = start;
    p.align = align;
    if (mode == "pmem") p.mode = PfnMode::Pmem;
    else if (mode == "ram") p.mode = PfnMode::Ram;
    else raise(Errc::kInvalidArgument, fmt::format("mode must be 'pmem' or 'ram', not '{}'", mode));
    return unwrap(compute_pfn_geometry(p));
  }, py::arg("namespace_size"), py::arg("mode") = "pmem", py::arg("align") = 2ull << 20,
     py::arg("start") = 0, "nd_pfn_init's dataoff/npfns for a namespace.");
}

}  // namespace ndtk::pyb
