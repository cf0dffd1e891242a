// ndtk.check() -> CheckReport (findings, per-namespace/arena reports) -> RepairPlan (apply with
// an undo file, predict the check after it), ndtk.format() and ndtk.rollback(). The check,
// the planners and every write run with the GIL released.
#include <fmt/format.h>

#include <mutex>

#include "common.h"
#include "ndtk/check/check.h"
#include "ndtk/io/undo.h"
#include "ndtk/repair/btt_format_plan.h"
#include "ndtk/repair/repair.h"
#include "ndtk/repair/write_plan.h"
#include "objects.h"

namespace ndtk::pyb {

namespace {

/// The ImageRef for a check/format target: an ndtk.Image as is, or a path opened here.
ImageRef image_ref(py::handle target, bool writable, const DiscoverOptions& where) {
  if (py::isinstance<ImageState>(target)) return target.cast<ImageRef>();
  py::object image_cls = py::module_::import("ndtk._ndtk").attr("Image");
  py::object img = image_cls(target, py::arg("writable") = writable,
                             py::arg("label_offset") = where.label_offset,
                             py::arg("label_size") = where.label_size,
                             py::arg("namespace_offset") = where.ns_offset,
                             py::arg("namespace_size") = where.ns_size);
  return img.cast<ImageRef>();
}

struct PyReport {
  ImageRef image;
  CheckOptions opts;  // without the progress callback
  std::shared_ptr<const CheckReport> report;
};

struct PyWritePlan {
  WritePlan plan;
  ImageRef image;  // the image it was planned for (None for plans built elsewhere)
};

struct PyRepairPlan {
  PyWritePlan writes;
  std::vector<RepairPlan::AffectedLbas> affected;
  CheckOptions opts;
};

struct PyFormatJob {
  BttFormatJob job;
  ImageRef image;
  bool applied = false;
};

/// Calls a Python progress callable from the checking thread (GIL re-acquired per call); the
/// first exception it raises is kept and re-raised once the check returns.
struct ProgressBridge {
  py::object fn;
  std::mutex mu;
  std::optional<py::error_already_set> error;

  std::function<void(const CheckProgress&)> callback() {
    if (fn.is_none()) return {};
    return [this](const CheckProgress& p) {
      py::gil_scoped_acquire gil;
      if (error) return;
      try {
        fn(p.phase, p.done, p.total);
      } catch (py::error_already_set& e) {
        error.emplace(std::move(e));
      }
    };
  }
};

PyReport run_check(ImageRef img, CheckOptions opts, py::object progress) {
  DevicePtr dev = img->device();
  ProgressBridge bridge{std::move(progress), {}, {}};
  CheckOptions run = opts;
  run.progress = bridge.callback();
  Result<CheckReport> r = nogil([&] { return check_image(dev, run); });
  if (bridge.error) throw std::move(*bridge.error);
  return PyReport{std::move(img), std::move(opts),
                  std::make_shared<const CheckReport>(unwrap(std::move(r)))};
}

/// Apply a plan to `target` (None: the plan's own image) with an optional undo file.
void apply_to(const PyWritePlan& p, py::handle target, py::object undo, const char* tool) {
  ImageRef img = target.is_none() ? p.image : image_ref(target, true, {});
  if (!img) raise(Errc::kInvalidArgument, "apply: no image given and the plan has none");
  DevicePtr dev = img->device();
  if (!dev->writable())
    raise(Errc::kReadOnly,
          fmt::format("{}: opened read-only; pass a writable Image (Image(path, writable=True)) "
                      "or a path to apply()",
                      img->path));
  ApplyOptions ao;
  if (!undo.is_none()) ao.undo_path = py::str(py::module_::import("os").attr("fspath")(undo));
  ao.tool = tool;
  Result<void> r = nogil([&] { return apply_plan(*dev, p.plan, ao); });
  unwrap(std::move(r));
  // What the image holds has changed: discover it again.
  Result<Discovery> d = nogil([&] { return discover(dev, img->where); });
  img->disc = unwrap(std::move(d));
}

py::list findings_of(const std::vector<const Finding*>& v) {
  py::list out;
  for (const Finding* f : v) out.append(py::cast(*f));
  return out;
}

py::list by_severity(const CheckReport& r, Severity s) {
  py::list out;
  for (const Finding* f : r.all_findings())
    if (f->severity() == s) out.append(py::cast(*f));
  return out;
}

void bind_reports(py::module_& m) {
  py::class_<ArenaReport>(m, "ArenaReport", "What the check found in one BTT arena.")
      .def_readonly("index", &ArenaReport::index)
      .def_readonly("offset", &ArenaReport::offset, "Image offset of the primary info block.")
      .def_readonly("backup_offset", &ArenaReport::backup_offset)
      .def_readonly("first_lba", &ArenaReport::first_lba)
      .def_readonly("primary_valid", &ArenaReport::primary_valid)
      .def_readonly("backup_valid", &ArenaReport::backup_valid)
      .def_readonly("backup_identical", &ArenaReport::backup_identical)
      .def_property_readonly("source", [](const ArenaReport& a) { return info_source_name(a.source); },
                             "Which info block the arena was read with: primary, backup, "
                             "geometry or none.")
      .def_readonly("info", &ArenaReport::info)
      .def_readonly("layout_usable", &ArenaReport::layout_usable)
      .def_property_readonly("log_indices", [](const ArenaReport& a) -> py::object {
        if (!a.log_indices) return py::none();
        return py::make_tuple(a.log_indices->sub0, a.log_indices->sub1);
      })
      .def_property_readonly("map_stats", [](const ArenaReport& a) {
        py::dict d;
        d["initial"] = a.map.initial;
        d["normal"] = a.map.normal;
        d["zero"] = a.map.zero;
        d["error"] = a.map.error;
        d["out_of_range"] = a.map.out_of_range;
        return d;
      }, "Map entries by state.")
      .def_readonly("duplicate_blocks", &ArenaReport::duplicate_blocks)
      .def_readonly("leaked_blocks", &ArenaReport::leaked_blocks)
      .def_readonly("torn_writes", &ArenaReport::torn_writes)
      .def_readonly("lanes_without_free_block", &ArenaReport::lanes_without_free_block)
      .def_readonly("affected_lbas", &ArenaReport::affected_lbas)
      .def_readonly("fixes_complete", &ArenaReport::fixes_complete)
      .def_property_readonly("findings", [](const ArenaReport& a) { return findings_list(a.findings); })
      .def("__repr__", [](const ArenaReport& a) {
        return fmt::format("<ArenaReport {} @{:#x} primary {} backup {} source {} findings {}>",
                           a.index, a.offset, a.primary_valid ? "valid" : "INVALID",
                           a.backup_valid ? "valid" : "INVALID", info_source_name(a.source),
                           a.findings.size());
      });

  py::class_<BttReport>(m, "BttReport", "What the check found in a namespace's BTT.")
      .def_property_readonly("flavor", [](const BttReport& b) { return py_enum("Flavor", flavor_str(b.flavor)); })
      .def_property_readonly("version", [](const BttReport& b) { return btt_version_name(b.version); })
      .def_readonly("arena0_offset", &BttReport::arena0_offset)
      .def_readonly("external_lbasize", &BttReport::external_lbasize)
      .def_readonly("external_nlba", &BttReport::external_nlba)
      .def_property_readonly("uuid", [](const BttReport& b) { return to_uuid(b.uuid); })
      .def_property_readonly("parent_uuid", [](const BttReport& b) { return to_uuid(b.parent_uuid); })
      .def_readonly("arenas", &BttReport::arenas)
      .def("__repr__", [](const BttReport& b) {
        return fmt::format("<BttReport {} {} lbasize {} nlba {} arenas {}>", flavor_str(b.flavor),
                           btt_version_name(b.version), b.external_lbasize, b.external_nlba,
                           b.arenas.size());
      });

  py::class_<PfnReport>(m, "PfnReport", "What the check found in a pfn/dax info block.")
      .def_readonly("offset", &PfnReport::offset)
      .def_readonly("info", &PfnReport::info)
      .def_readonly("validation", &PfnReport::validation)
      .def_readonly("checksum_corroborated", &PfnReport::checksum_corroborated)
      .def("__repr__", [](const PfnReport& p) {
        return fmt::format("<PfnReport @{:#x} {} {}>", p.offset, pfn_kind_name(p.info.kind()),
                           pfn_verdict_name(p.validation.verdict));
      });

  py::class_<NamespaceReport>(m, "NamespaceReport", "The check of one namespace.")
      .def_property_readonly("namespace_index", [](const NamespaceReport& n) { return n.ns.index; })
      .def_property_readonly("uuid", [](const NamespaceReport& n) { return to_uuid_or_none(n.ns.uuid); })
      .def_property_readonly("name", [](const NamespaceReport& n) { return n.ns.name; })
      .def_property_readonly("offset", [](const NamespaceReport& n) { return n.ns.offset; })
      .def_property_readonly("size", [](const NamespaceReport& n) { return n.ns.size; })
      .def_property_readonly("mode", [](const NamespaceReport& n) { return py_enum("Mode", ns_mode_name(n.ns.mode)); })
      .def_readonly("personality", &NamespaceReport::personality)
      .def_readonly("btt", &NamespaceReport::btt)
      .def_readonly("pfn", &NamespaceReport::pfn)
      .def_property_readonly("findings", [](const NamespaceReport& n) { return findings_list(n.findings); },
                             "Namespace-level findings (the BTT's are in btt.arenas[i].findings).")
      .def("__repr__", [](const NamespaceReport& n) {
        return fmt::format("<NamespaceReport {} {} {} findings {}>", n.ns.index, n.personality,
                           human_size(n.ns.size), n.findings.size());
      });

  py::class_<PyReport>(m, "CheckReport",
                       "The result of ndtk.check(): every finding, per namespace and arena, and "
                       "the repair plan they call for.")
      .def_property_readonly("image", [](const PyReport& r) { return r.image; },
                             "The ndtk.Image that was checked.")
      .def_property_readonly("path", [](const PyReport& r) { return r.report->image; })
      .def_property_readonly("image_size", [](const PyReport& r) { return r.report->image_size; })
      .def_property_readonly("kind", [](const PyReport& r) {
        return py_enum("ImageKind", image_kind_name(r.report->kind));
      })
      .def_property_readonly("label_area", [](const PyReport& r) { return r.report->labels; })
      .def_property_readonly("pool", [](const PyReport& r) { return r.report->pool; })
      .def_property_readonly("namespaces", [](const PyReport& r) { return r.report->namespaces; })
      .def_property_readonly("findings", [](const PyReport& r) { return findings_of(r.report->all_findings()); },
                             "Every finding, image-level first, in pass order.")
      .def_property_readonly("errors", [](const PyReport& r) { return by_severity(*r.report, Severity::Error); })
      .def_property_readonly("warnings", [](const PyReport& r) { return by_severity(*r.report, Severity::Warning); })
      .def_property_readonly("infos", [](const PyReport& r) { return by_severity(*r.report, Severity::Info); })
      .def_property_readonly("counts", [](const PyReport& r) {
        const FindingCounts c = r.report->counts();
        py::dict d;
        d["error"] = c.errors;
        d["warning"] = c.warnings;
        d["info"] = c.infos;
        return d;
      })
      .def_property_readonly("clean", [](const PyReport& r) { return r.report->clean(); },
                             "No errors and no warnings.")
      .def("__bool__", [](const PyReport& r) { return r.report->clean(); })
      .def("repair_plan", [](const PyReport& r) {
        const auto rep = r.report;
        Result<RepairPlan> p = nogil([&] { return plan_repairs(*rep); });
        RepairPlan plan = unwrap(std::move(p));
        return PyRepairPlan{PyWritePlan{std::move(plan.plan), r.image}, std::move(plan.affected), r.opts};
      }, "The writes that repair what can be repaired (nothing is written).")
      .def("__repr__", [](const PyReport& r) {
        const FindingCounts c = r.report->counts();
        return fmt::format("<CheckReport '{}' {} {} namespaces {} errors {} warnings {} infos {}>",
                           r.report->image, image_kind_name(r.report->kind),
                           r.report->clean() ? "clean" : "NOT CLEAN", r.report->namespaces.size(),
                           c.errors, c.warnings, c.infos);
      });
}

void bind_plans(py::module_& m) {
  py::class_<PlannedWrite>(m, "PlannedWrite", "One write of a plan: bytes, or a zero range.")
      .def_readonly("offset", &PlannedWrite::offset)
      .def_property_readonly("length", &PlannedWrite::length)
      .def_property_readonly("zero", [](const PlannedWrite& w) { return w.zero_length > 0; },
                             "True for a range made to read as zeros.")
      .def_property_readonly("data", [](const PlannedWrite& w) -> py::object {
        if (w.zero_length) return py::none();
        return to_bytes(w.bytes);
      }, "The bytes written (None for a zero range).")
      .def_readonly("what", &PlannedWrite::what)
      .def_property_readonly("fixes", [](const PlannedWrite& w) -> py::object {
        if (!w.fixes) return py::none();
        return py::module_::import("ndtk").attr("Problem")(static_cast<int>(*w.fixes));
      }, "The ndtk.Problem this write repairs, if any.")
      .def("__repr__", [](const PlannedWrite& w) {
        return fmt::format("<PlannedWrite @{:#x} +{:#x}{} {}>", w.offset, w.length(),
                           w.zero_length ? " zeros" : "", w.what);
      });

  py::class_<PyWritePlan>(m, "WritePlan", "Ordered byte-range writes (nothing written yet).")
      .def_property_readonly("writes", [](const PyWritePlan& p) { return p.plan.writes; })
      .def("__len__", [](const PyWritePlan& p) { return p.plan.writes.size(); })
      .def("__bool__", [](const PyWritePlan& p) { return !p.plan.empty(); })
      .def("__iter__", [](const PyWritePlan& p) {
        return py::iter(py::cast(p.plan.writes));
      })
      .def_property_readonly("total_bytes", [](const PyWritePlan& p) { return p.plan.total_bytes(); })
      .def("describe", [](const PyWritePlan& p) { return describe_plan(p.plan); },
           "One line per write.")
      .def("apply", [](const PyWritePlan& p, py::object image, py::object undo) {
        apply_to(p, image, undo, "ndtk python");
      }, py::arg("image") = py::none(), py::arg("undo") = py::none(),
         "Write the plan (to its own image when writable, or to `image`), saving the old bytes "
         "to `undo` first when given.")
      .def("__repr__", [](const PyWritePlan& p) {
        return fmt::format("<WritePlan {} writes, {}>", p.plan.writes.size(),
                           human_size(p.plan.total_bytes()));
      });

  py::class_<PyRepairPlan>(m, "RepairPlan",
                           "The repairs a check calls for: writes plus the LBAs they put in the "
                           "error state.")
      .def_property_readonly("writes", [](const PyRepairPlan& p) { return p.writes.plan.writes; })
      .def_property_readonly("plan", [](const PyRepairPlan& p) { return p.writes; })
      .def("__len__", [](const PyRepairPlan& p) { return p.writes.plan.writes.size(); })
      .def("__bool__", [](const PyRepairPlan& p) { return !p.writes.plan.empty(); })
      .def_property_readonly("total_bytes", [](const PyRepairPlan& p) { return p.writes.plan.total_bytes(); })
      .def_property_readonly("affected_lbas", [](const PyRepairPlan& p) {
        py::list out;
        for (const auto& a : p.affected) out.append(py::make_tuple(a.ns_index, a.arena, a.lbas));
        return out;
      }, "[(namespace index, arena, [lba...])]: LBAs that will read as media errors.")
      .def("describe", [](const PyRepairPlan& p) { return describe_plan(p.writes.plan); })
      .def("predict", [](const PyRepairPlan& p) {
        ImageRef img = p.writes.image;
        DevicePtr dev = img->device();
        const CheckOptions opts = p.opts;
        const WritePlan plan = p.writes.plan;
        Result<CheckReport> r = nogil([&] { return predict_after(dev, plan, opts); });
        return PyReport{img, opts, std::make_shared<const CheckReport>(unwrap(std::move(r)))};
      }, "The check report the image would give after the plan (nothing is written).")
      .def("apply", [](const PyRepairPlan& p, py::object image, py::object undo) {
        apply_to(p.writes, image, undo, "ndtk python repair");
      }, py::arg("image") = py::none(), py::arg("undo") = py::none(),
         "Write the repairs (undo file first when `undo` is given).")
      .def("__repr__", [](const PyRepairPlan& p) {
        std::size_t lbas = 0;
        for (const auto& a : p.affected) lbas += a.lbas.size();
        return fmt::format("<RepairPlan {} writes, {}, {} LBAs to error state>",
                           p.writes.plan.writes.size(), human_size(p.writes.plan.total_bytes()),
                           lbas);
      });

  py::class_<ExistingContent>(m, "ExistingContent", "Something a format would overwrite.")
      .def_readonly("what", &ExistingContent::what)
      .def_readonly("offset", &ExistingContent::offset)
      .def("__repr__", [](const ExistingContent& e) {
        return fmt::format("<ExistingContent {} @{:#x}>", e.what, e.offset);
      });

  py::class_<PyFormatJob>(m, "FormatJob", "A planned (and possibly applied) BTT format.")
      .def_property_readonly("namespace_offset", [](const PyFormatJob& j) { return j.job.namespace_offset; })
      .def_property_readonly("namespace_size", [](const PyFormatJob& j) { return j.job.namespace_size; })
      .def_property_readonly("where", [](const PyFormatJob& j) { return j.job.where; })
      .def_property_readonly("arenas", [](const PyFormatJob& j) { return j.job.btt.arenas; })
      .def_property_readonly("infos", [](const PyFormatJob& j) { return j.job.btt.infos; })
      .def_property_readonly("sector_count", [](const PyFormatJob& j) { return j.job.btt.external_lbas; })
      .def_property_readonly("lbasize", [](const PyFormatJob& j) { return j.job.request.external_lbasize; })
      .def_property_readonly("version", [](const PyFormatJob& j) { return btt_version_name(j.job.request.version); })
      .def_property_readonly("uuid", [](const PyFormatJob& j) { return to_uuid(j.job.request.uuid); })
      .def_property_readonly("parent_uuid", [](const PyFormatJob& j) { return to_uuid(j.job.request.parent_uuid); })
      .def_property_readonly("plan", [](const PyFormatJob& j) { return PyWritePlan{j.job.plan, j.image}; })
      .def_property_readonly("notes", [](const PyFormatJob& j) { return j.job.notes; })
      .def_property_readonly("overwritten", [](const PyFormatJob& j) { return j.job.overwritten; })
      .def_property_readonly("created_namespace", [](const PyFormatJob& j) { return j.job.labels.has_value(); })
      .def_property_readonly("applied", [](const PyFormatJob& j) { return j.applied; })
      .def("__repr__", [](const PyFormatJob& j) {
        return fmt::format("<FormatJob {} BTT {} lbasize {} sectors {} arenas {} writes {}{}>",
                           j.job.where, btt_version_name(j.job.request.version),
                           j.job.request.external_lbasize, j.job.btt.external_lbas,
                           j.job.btt.arenas.size(), j.job.plan.writes.size(),
                           j.applied ? " applied" : " planned");
      });
}

void bind_functions(py::module_& m) {
  m.def("check", [](py::object target, py::object ns, std::optional<std::uint64_t> label_offset,
                    std::optional<std::uint64_t> label_size, std::optional<std::uint64_t> offset,
                    std::optional<std::uint64_t> size, py::object progress) {
    CheckOptions o;
    o.location.label_offset = label_offset;
    o.location.label_size = label_size;
    o.location.ns_offset = offset;
    o.location.ns_size = size;
    if (!ns.is_none()) o.namespace_filter = py::str(ns);
    ImageRef img = image_ref(target, false, o.location);
    if (py::isinstance<ImageState>(target)) o.location = img->where;
    return run_check(std::move(img), std::move(o), std::move(progress));
  }, py::arg("image"), py::kw_only(), py::arg("namespace") = py::none(),
     py::arg("label_offset") = py::none(), py::arg("label_size") = py::none(),
     py::arg("offset") = py::none(), py::arg("size") = py::none(), py::arg("progress") = py::none(),
     "Check an image (an ndtk.Image or a path) and return its CheckReport. Never writes. "
     "`progress(phase, done, total)` is called now and then from the checking thread.");

  m.def("format", [](py::object target, std::optional<std::uint64_t> offset,
                     std::optional<std::uint64_t> size, py::object ns, std::uint32_t lbasize,
                     std::optional<std::string> version, std::uint32_t nfree, py::object uuid,
                     py::object parent_uuid, bool force, bool create_namespace,
                     const std::string& name, std::optional<std::string> label_version,
                     bool dry_run, py::object undo) {
    BttFormatJobOptions o;
    o.offset = offset;
    o.size = size;
    if (!ns.is_none()) o.namespace_id = py::str(ns);
    o.sector_size = lbasize;
    if (version) o.version = version_from_py(*version);
    o.nfree = nfree;
    if (!uuid.is_none()) o.uuid = uuid_from_py(uuid);
    if (!parent_uuid.is_none()) o.parent_uuid = uuid_from_py(parent_uuid);
    o.force = force;
    o.create_namespace = create_namespace;
    o.name = name;
    if (label_version) {
      if (*label_version == "1.1") o.label_version = LabelVersion::V1_1;
      else if (*label_version == "1.2") o.label_version = LabelVersion::V1_2;
      else raise(Errc::kInvalidArgument, "label_version must be '1.1' or '1.2'");
    }
    ImageRef img = image_ref(target, !dry_run, {});
    o.label_offset = img->where.label_offset;
    o.label_size = img->where.label_size;
    DevicePtr dev = img->device();
    if (!dry_run && !dev->writable())
      raise(Errc::kReadOnly, fmt::format("{}: opened read-only; format needs Image(path, "
                                         "writable=True), a path, or dry_run=True",
                                         img->path));
    Result<BttFormatJob> j = nogil([&] { return plan_btt_format_job(dev, o); });
    PyFormatJob job{unwrap(std::move(j)), img, false};
    if (!dry_run) {
      apply_to(PyWritePlan{job.job.plan, img}, py::none(), undo, "ndtk python format");
      job.applied = true;
    }
    return job;
  }, py::arg("image"), py::kw_only(), py::arg("offset") = py::none(), py::arg("size") = py::none(),
     py::arg("namespace") = py::none(), py::arg("lbasize") = 4096, py::arg("version") = py::none(),
     py::arg("nfree") = kBttDefaultNfree, py::arg("uuid") = py::none(),
     py::arg("parent_uuid") = py::none(), py::arg("force") = false,
     py::arg("create_namespace") = false, py::arg("name") = "", py::arg("label_version") = py::none(),
     py::arg("dry_run") = false, py::arg("undo") = py::none(),
     "Format a BTT exactly as the kernel would (in a window, a label namespace, or a new "
     "namespace), refusing to overwrite existing content unless force=True.");

  m.def("rollback", [](py::object target, py::object undo) {
    ImageRef img = image_ref(target, true, {});
    DevicePtr dev = img->device();
    const std::string path = py::str(py::module_::import("os").attr("fspath")(undo));
    Result<void> r = nogil([&]() -> Result<void> {
      NDTK_TRY(u, load_undo(path));
      return apply_undo(u, *dev);
    });
    unwrap(std::move(r));
    Result<Discovery> d = nogil([&] { return discover(dev, img->where); });
    img->disc = unwrap(std::move(d));
  }, py::arg("image"), py::arg("undo"),
     "Restore an image from an undo file written by apply() or format().");
}

}  // namespace

void init_check(py::module_& m) {
  bind_reports(m);
  bind_plans(m);
  bind_functions(m);
}

}  // namespace ndtk::pyb
