// ndtk.Image (an opened image and what discovery found in it), ndtk.Namespace and
// ndtk.LabelArea. Every device access and discovery runs with the GIL released.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>

#include "common.h"
#include "ndtk/discover/label_area.h"
#include "ndtk/io/file_util.h"
#include "objects.h"

namespace ndtk::pyb {

DevicePtr ImageState::device() const {
  if (!dev) raise(Errc::kInvalidArgument, fmt::format("{}: image is closed", path));
  return dev;
}

const Discovery& ImageState::discovery() const {
  if (!dev || !disc) raise(Errc::kInvalidArgument, fmt::format("{}: image is closed", path));
  return *disc;
}

namespace {

/// Run discovery on the image's device (GIL released) and store it.
void rediscover(ImageState& st) {
  DevicePtr dev = st.device();
  const DiscoverOptions where = st.where;
  Result<Discovery> d = nogil([&] { return discover(dev, where); });
  st.disc = unwrap(std::move(d));
}

ImageRef open_image_state(const std::string& path, bool writable, DiscoverOptions where) {
  auto st = std::make_shared<ImageState>();
  st->path = path;
  st->where = where;
  Result<DevicePtr> dev = nogil([&] {
    return open_image(path, writable ? OpenMode::ReadWrite : OpenMode::ReadOnly);
  });
  st->dev = unwrap(std::move(dev));
  st->compressed = nogil([&] { return is_zstd_file(path); });
  rediscover(*st);
  return st;
}

/// Sparse copy of a device into a new file: ranges known or found to be zero become holes.
Result<void> export_device(const BlockDevice& dev, const std::string& dst) {
  UniqueFd fd(::open(dst.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return Unexpected{os_error(dst, "open", errno)};
  if (::ftruncate(fd.get(), static_cast<off_t>(dev.size())) != 0)
    return Unexpected{os_error(dst, "truncate", errno)};
  constexpr std::uint64_t kChunk = 1u << 20;
  ByteVec buf(kChunk);
  for (std::uint64_t off = 0; off < dev.size(); off += kChunk) {
    const std::uint64_t len = std::min(kChunk, dev.size() - off);
    if (dev.known_zero(off, len)) continue;
    MutBytes out(buf.data(), static_cast<std::size_t>(len));
    NDTK_CHECK(dev.read_at(off, out));
    if (all_zero(out)) continue;
    std::size_t done = 0;
    while (done < len) {
      const ssize_t n = ::pwrite(fd.get(), buf.data() + done, len - done,
                                 static_cast<off_t>(off + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Unexpected{os_error(dst, "write", n < 0 ? errno : EIO)};
      done += static_cast<std::size_t>(n);
    }
  }
  if (::fsync(fd.get()) != 0) return Unexpected{os_error(dst, "fsync", errno)};
  return ok();
}

py::object ns_mode_obj(NsMode m) { return py_enum("Mode", ns_mode_name(m)); }

std::string ns_repr(const Namespace& ns) {
  std::string s = fmt::format("<Namespace {} {} {} @{:#x}", ns.index, ns_mode_name(ns.mode),
                              human_size(ns.size), ns.offset);
  if (!ns.uuid.is_zero()) s += " uuid " + ns.uuid.to_string();
  if (!ns.name.empty()) s += " name '" + ns.name + "'";
  if (ns.btt) s += fmt::format(" btt {} lbasize {}", btt_version_name(ns.btt->version),
                               ns.btt->info.external_lbasize);
  if (ns.pfn) s += fmt::format(" {} {}", pfn_kind_name(ns.pfn->info.kind()),
                               pfn_verdict_name(ns.pfn->validation.verdict));
  if (ns.stale) s += " STALE";
  if (ns.personality_missing) s += " PERSONALITY-MISSING";
  return s + ">";
}

py::list namespace_list(const ImageRef& img, const std::vector<Namespace>& v) {
  py::list out;
  for (const auto& ns : v) out.append(py::cast(PyNamespace{img, ns}));
  return out;
}

py::bytes read_bytes(const DevicePtr& dev, std::uint64_t off, std::size_t len) {
  // Read straight into the new bytes object (no intermediate copy); it is not shared yet.
  py::bytes out(nullptr, len);
  auto* p = reinterpret_cast<std::uint8_t*>(PyBytes_AsString(out.ptr()));
  Result<void> r = nogil([&] { return dev->read_at(off, MutBytes(p, len)); });
  unwrap(std::move(r));
  return out;
}

std::size_t readinto(const DevicePtr& dev, std::uint64_t off, py::handle buf) {
  HeldBuffer h(buf, true, "readinto");
  Result<void> r = nogil([&] { return dev->read_at(off, MutBytes(h.data(), h.size())); });
  unwrap(std::move(r));
  return h.size();
}

void write_buffer(const DevicePtr& dev, std::uint64_t off, py::handle buf) {
  HeldBuffer h(buf, false, "write");
  Result<void> r = nogil([&] { return dev->write_at(off, Bytes(h.data(), h.size())); });
  unwrap(std::move(r));
}

const Namespace& find_namespace(const Discovery& d, py::handle which) {
  if (py::isinstance<py::int_>(which)) {
    const auto i = which.cast<long long>();
    if (i < 0 || static_cast<std::size_t>(i) >= d.namespaces.size())
      raise(Errc::kInvalidArgument, fmt::format("no namespace {} (the image holds {})", i,
                                                d.namespaces.size()));
    return d.namespaces[static_cast<std::size_t>(i)];
  }
  std::string key;
  if (py::isinstance(which, py::module_::import("uuid").attr("UUID")))
    key = py::str(which);
  else
    key = which.cast<std::string>();
  const Namespace* ns = d.find(key);
  if (!ns) raise(Errc::kInvalidArgument, fmt::format("no namespace with uuid or name '{}'", key));
  return *ns;
}

void bind_label_area(py::module_& m) {
  py::class_<LabelExtent>(m, "LabelExtent", "One DIMM's extent of a namespace.")
      .def_readonly("slot", &LabelExtent::slot)
      .def_readonly("dpa", &LabelExtent::dpa)
      .def_readonly("rawsize", &LabelExtent::rawsize)
      .def_readonly("position", &LabelExtent::position)
      .def_readonly("flags", &LabelExtent::flags)
      .def("__repr__", [](const LabelExtent& e) {
        return fmt::format("<LabelExtent slot {} dpa {:#x} size {} pos {}>", e.slot, e.dpa,
                           human_size(e.rawsize), e.position);
      });

  py::class_<LabelNamespace>(m, "LabelNamespace", "A namespace as one DIMM's labels describe it.")
      .def_property_readonly("uuid", [](const LabelNamespace& n) { return to_uuid(n.uuid); })
      .def_readonly("name", &LabelNamespace::name)
      .def_property_readonly("claim_class", [](const LabelNamespace& n) {
        return claim_class_name(n.claim_class);
      })
      .def_property_readonly("mode", [](const LabelNamespace& n) {
        return claim_class_mode(n.claim_class);
      }, "What the claim class means: 'raw', 'sector (BTT 1.1)', 'fsdax', ...")
      .def_readonly("lbasize", &LabelNamespace::lbasize)
      .def_readonly("isetcookie", &LabelNamespace::isetcookie)
      .def_readonly("nlabel", &LabelNamespace::nlabel)
      .def_readonly("flags", &LabelNamespace::flags)
      .def_readonly("cxl", &LabelNamespace::cxl)
      .def_readonly("extents", &LabelNamespace::extents)
      .def_readonly("size", &LabelNamespace::size)
      .def("__repr__", [](const LabelNamespace& n) {
        return fmt::format("<LabelNamespace {} '{}' {} {} extents {}>", n.uuid.to_string(), n.name,
                           claim_class_mode(n.claim_class), human_size(n.size), n.extents.size());
      });

  py::class_<IndexBlockState>(m, "IndexBlock", "One of the two index blocks and its validity.")
      .def_readonly("number", &IndexBlockState::number)
      .def_readonly("offset", &IndexBlockState::offset, "Absolute device offset.")
      .def_readonly("index", &IndexBlockState::index, "The decoded LabelIndex (or None).")
      .def_readonly("valid", &IndexBlockState::valid, "Accepted by the kernel's rules.")
      .def_property_readonly("problems", [](const IndexBlockState& s) { return findings_list(s.problems); })
      .def("__repr__", [](const IndexBlockState& s) {
        return fmt::format("<IndexBlock {} @{:#x} {} seq {}>", s.number, s.offset,
                           s.valid ? "valid" : "invalid",
                           s.index ? std::to_string(s.index->seq) : std::string("-"));
      });

  py::class_<LabelSlot>(m, "LabelSlot", "A label slot that holds bytes or is marked in use.")
      .def_readonly("slot", &LabelSlot::slot)
      .def_readonly("offset", &LabelSlot::offset, "Absolute device offset.")
      .def_property_readonly("state", [](const LabelSlot& s) {
        return py_enum("SlotState", slot_state_name(s.state));
      }, "ndtk.SlotState: ACTIVE, STALE or GARBAGE.")
      .def_readonly("in_use", &LabelSlot::in_use)
      .def_readonly("kernel_valid", &LabelSlot::kernel_valid)
      .def_property_readonly("label", [](const LabelSlot& s) -> py::object {
        if (!s.label) return py::none();
        return std::visit([](const auto& l) { return py::cast(l); }, *s.label);
      }, "NamespaceLabel, CxlNamespaceLabel, CxlRegionLabel or None.")
      .def_readonly("note", &LabelSlot::note)
      .def_property_readonly("raw", [](const LabelSlot& s) { return to_bytes(s.raw); })
      .def("__repr__", [](const LabelSlot& s) {
        std::string who;
        if (const auto* l = s.efi()) who = " uuid " + l->uuid.to_string();
        else if (const auto* c = s.cxl_namespace()) who = " uuid " + c->uuid.to_string();
        return fmt::format("<LabelSlot {} {}{}{}>", s.slot, slot_state_name(s.state), who,
                           s.note.empty() ? "" : " (" + s.note + ")");
      });

  py::class_<LabelArea>(m, "LabelArea",
                        "A DIMM's label storage area read as the kernel reads it.")
      .def_static("from_bytes", [](py::bytes data, std::uint64_t base_offset, std::optional<std::uint64_t> dimm_size) {
        std::string keep = data;
        LabelAreaOptions o;
        o.dimm_size = dimm_size;
        Result<LabelArea> r = nogil([&] {
          return decode_label_area(Bytes(reinterpret_cast<const std::uint8_t*>(keep.data()), keep.size()),
                                   base_offset, o, "<bytes>");
        });
        return unwrap(std::move(r));
      }, py::arg("data"), py::arg("base_offset") = 0, py::arg("dimm_size") = py::none(),
         "Interpret label-area bytes already in memory.")
      .def_readonly("device", &LabelArea::device)
      .def_readonly("offset", &LabelArea::offset)
      .def_readonly("size", &LabelArea::size)
      .def_property_readonly("indexes", [](const LabelArea& a) {
        return py::make_tuple(a.indexes[0], a.indexes[1]);
      }, "Both index blocks (IndexBlock, IndexBlock).")
      .def_property_readonly("current_index", [](const LabelArea& a) -> py::object {
        if (a.current.index < 0) return py::none();
        return py::int_(a.current.index);
      }, "0 or 1, or None when no index is valid.")
      .def_property_readonly("index_choice", [](const LabelArea& a) {
        switch (a.current.why) {
          case IndexChoice::None: return py_enum("IndexChoice", "none");
          case IndexChoice::OnlyValid: return py_enum("IndexChoice", "only-valid");
          case IndexChoice::BestSeq: return py_enum("IndexChoice", "best-seq");
          case IndexChoice::SeqTie: return py_enum("IndexChoice", "seq-tie");
        }
        return py_enum("IndexChoice", "none");
      })
      .def_property_readonly("index_explanation", [](const LabelArea& a) { return a.current.explanation; })
      .def_readonly("geometry", &LabelArea::geometry)
      .def_readonly("nslot", &LabelArea::nslot)
      .def_property_readonly("label_size", &LabelArea::label_size)
      .def_property_readonly("index_size", &LabelArea::index_size)
      .def_property_readonly("version", [](const LabelArea& a) -> py::object {
        const LabelIndex* i = a.current_index();
        if (!i) return py::none();
        return py::str(fmt::format("{}.{}", i->major, i->minor));
      }, "'1.1', '1.2', '2.1'... of the current index; None without one.")
      .def_readonly("dimm_size", &LabelArea::dimm_size)
      .def_property_readonly("has_valid_index", &LabelArea::has_valid_index)
      .def_property_readonly("is_cxl", &LabelArea::is_cxl)
      .def_readonly("slots", &LabelArea::slots)
      .def_property_readonly("labels", [](const LabelArea& a) {
        py::list out;
        for (const auto& s : a.slots)
          if (s.state == SlotState::Active && s.label)
            out.append(std::visit([](const auto& l) { return py::cast(l); }, *s.label));
        return out;
      }, "The active labels, by slot.")
      .def_property_readonly("stale_labels", [](const LabelArea& a) {
        py::list out;
        for (const auto& s : a.slots)
          if (s.state == SlotState::Stale) out.append(py::cast(s));
        return out;
      }, "Slots holding valid labels the current index marks free (older copies, deleted).")
      .def_readonly("namespaces", &LabelArea::namespaces)
      .def_readonly("stale_namespaces", &LabelArea::stale_namespaces)
      .def_property_readonly("findings", [](const LabelArea& a) { return findings_list(a.findings); })
      .def("slot", [](const LabelArea& a, std::uint32_t n) -> py::object {
        const LabelSlot* s = a.find_slot(n);
        if (!s) return py::none();
        return py::cast(*s);
      }, py::arg("slot"))
      .def("__repr__", [](const LabelArea& a) {
        const LabelIndex* i = a.current_index();
        return fmt::format("<LabelArea {} @{:#x} {} {} current index {} nslot {} active {} stale "
                           "{} namespaces {} findings {}>",
                           a.device, a.offset, human_size(a.size),
                           i ? fmt::format("v{}.{}", i->major, i->minor) : std::string("no index"),
                           a.current.index, a.nslot, a.count(SlotState::Active),
                           a.count(SlotState::Stale), a.namespaces.size(), a.findings.size());
      });
}

void bind_namespace(py::module_& m) {
  py::class_<BttSummary>(m, "BttSummary", "A BTT found where the kernel looks for it.")
      .def_property_readonly("version", [](const BttSummary& b) { return btt_version_name(b.version); })
      .def_readonly("info_offset", &BttSummary::info_offset, "Namespace offset of arena 0's info.")
      .def_readonly("info", &BttSummary::info)
      .def_readonly("arenas", &BttSummary::arenas)
      .def_readonly("external_nlba", &BttSummary::external_nlba)
      .def_readonly("complete", &BttSummary::complete)
      .def_readonly("problem", &BttSummary::problem)
      .def_property_readonly("sector_size", &BttSummary::sector_size)
      .def("__repr__", [](const BttSummary& b) {
        return fmt::format("<BttSummary {} @{:#x} arenas {} nlba {} lbasize {}{}>",
                           btt_version_name(b.version), b.info_offset, b.arenas, b.external_nlba,
                           b.info.external_lbasize, b.complete ? "" : " INCOMPLETE");
      });

  py::class_<PyNamespace>(m, "Namespace", "A namespace of an image, as discovery found it.")
      .def_property_readonly("index", [](const PyNamespace& n) { return n.ns.index; })
      .def_property_readonly("uuid", [](const PyNamespace& n) { return to_uuid_or_none(n.ns.uuid); },
                             "The label uuid; None for label-less namespaces, pools, windows.")
      .def_property_readonly("display_uuid", [](const PyNamespace& n) {
        return to_uuid_or_none(n.ns.display_uuid());
      }, "ndctl's uuid: the BTT/pfn instance uuid when present, else the label uuid.")
      .def_property_readonly("name", [](const PyNamespace& n) { return n.ns.name; })
      .def_property_readonly("offset", [](const PyNamespace& n) { return n.ns.offset; },
                             "Byte offset of the namespace in the image.")
      .def_property_readonly("size", [](const PyNamespace& n) { return n.ns.size; }, "Raw size.")
      .def_property_readonly("capacity", [](const PyNamespace& n) { return n.ns.capacity(); },
                             "ndctl's size: sectors x sector size, usable dax bytes, or raw.")
      .def_property_readonly("mode", [](const PyNamespace& n) { return ns_mode_obj(n.ns.mode); },
                             "ndtk.Mode: RAW, SECTOR, FSDAX or DEVDAX.")
      .def_property_readonly("personality", [](const PyNamespace& n) {
        return claim_class_mode(n.ns.claim);
      }, "What the label's claim class asks for: 'raw', 'sector (BTT 1.1)', 'fsdax'...")
      .def_property_readonly("claim_class", [](const PyNamespace& n) { return claim_class_name(n.ns.claim); })
      .def_property_readonly("lbasize", [](const PyNamespace& n) { return n.ns.lbasize; })
      .def_property_readonly("sector_size", [](const PyNamespace& n) { return n.ns.sector_size(); })
      .def_property_readonly("align", [](const PyNamespace& n) { return n.ns.align(); })
      .def_property_readonly("from_labels", [](const PyNamespace& n) { return n.ns.from_labels; })
      .def_property_readonly("stale", [](const PyNamespace& n) { return n.ns.stale; })
      .def_property_readonly("personality_missing", [](const PyNamespace& n) {
        return n.ns.personality_missing;
      })
      .def_property_readonly("personality_note", [](const PyNamespace& n) { return n.ns.personality_note; })
      .def_property_readonly("btt", [](const PyNamespace& n) { return n.ns.btt; },
                             "BttSummary when the namespace holds a BTT, else None.")
      .def_property_readonly("pfn", [](const PyNamespace& n) -> py::object {
        if (!n.ns.pfn) return py::none();
        return py::cast(n.ns.pfn->info);
      }, "The PfnInfo block of an fsdax/devdax namespace, else None.")
      .def_property_readonly("pfn_validation", [](const PyNamespace& n) -> py::object {
        if (!n.ns.pfn) return py::none();
        return py::cast(n.ns.pfn->validation);
      })
      .def("read", [](const PyNamespace& n, std::uint64_t off, std::size_t len) {
        if (!range_fits(off, len, n.ns.size))
          raise(Errc::kOutOfRange, fmt::format("[{:#x}, +{:#x}) lies outside the namespace ({:#x} "
                                               "bytes)", off, len, n.ns.size));
        return read_bytes(n.image->device(), n.ns.offset + off, len);
      }, py::arg("offset"), py::arg("length"), "Raw bytes at a namespace offset.")
      .def("open_btt", [](const PyNamespace& n, bool writable, unsigned lanes,
                          const std::string& durability) {
        BttPyOptions o;
        o.writable = writable;
        o.lanes = lanes;
        o.durability = durability == "deferred" ? Durability::kDeferred : Durability::kStrict;
        return open_btt_namespace(n.image, n.ns, o);
      }, py::arg("writable") = false, py::arg("lanes") = 0, py::arg("durability") = "strict",
         "Open the namespace's BTT data path (a compressed image opens read-only).")
      .def("__repr__", [](const PyNamespace& n) { return ns_repr(n.ns); });
}

void bind_image_class(py::module_& m) {
  py::class_<ImageState, ImageRef>(m, "Image",
                                   "An image file (raw or .zst) and what it holds. Read-only "
                                   "unless opened with writable=True; a context manager.")
      .def(py::init([](py::object path, bool writable, std::optional<std::uint64_t> label_offset,
                       std::optional<std::uint64_t> label_size,
                       std::optional<std::uint64_t> namespace_offset,
                       std::optional<std::uint64_t> namespace_size) {
             DiscoverOptions w;
             w.label_offset = label_offset;
             w.label_size = label_size;
             w.ns_offset = namespace_offset;
             w.ns_size = namespace_size;
             const std::string p = py::str(py::module_::import("os").attr("fspath")(path));
             return open_image_state(p, writable, w);
           }),
           py::arg("path"), py::arg("writable") = false, py::kw_only(),
           py::arg("label_offset") = py::none(), py::arg("label_size") = py::none(),
           py::arg("namespace_offset") = py::none(), py::arg("namespace_size") = py::none())
      .def_static("from_bytes", [](py::buffer data, const std::string& name, bool writable) {
        HeldBuffer h(data, false, "Image.from_bytes");
        auto st = std::make_shared<ImageState>();
        st->path = name;
        st->memory = true;
        st->dev = make_memory_device(ByteVec(h.data(), h.data() + h.size()), name, writable);
        rediscover(*st);
        return st;
      }, py::arg("data"), py::arg("name") = "<memory>", py::arg("writable") = true,
         "An image held in memory (a copy of `data`).")
      .def("__enter__", [](ImageRef self) { return self; })
      .def("__exit__", [](ImageState& st, py::args) {
        st.dev.reset();
        st.disc.reset();
        return false;
      })
      .def("close", [](ImageState& st) {
        st.dev.reset();
        st.disc.reset();
      }, "Release the device (in-flight calls in other threads finish first).")
      .def_property_readonly("closed", [](const ImageState& st) { return !st.dev; })
      .def_property_readonly("path", [](const ImageState& st) { return st.path; })
      .def_property_readonly("size", [](const ImageState& st) { return st.device()->size(); })
      .def_property_readonly("writable", [](const ImageState& st) { return st.device()->writable(); })
      .def_property_readonly("compressed", [](const ImageState& st) { return st.compressed; })
      .def_property_readonly("kind", [](const ImageState& st) {
        return py_enum("ImageKind", image_kind_name(st.discovery().kind));
      }, "ndtk.ImageKind: DIMM, LABEL_AREA, DIMM_LABELLESS, PMEMBLK_POOL, NAMESPACE.")
      .def_property_readonly("pmem_size", [](const ImageState& st) { return st.discovery().pmem_size; })
      .def_property_readonly("label_area", [](const ImageState& st) { return st.discovery().labels; },
                             "The LabelArea, or None when the image has none.")
      .def_property_readonly("pool", [](const ImageState& st) { return st.discovery().pool; },
                             "The PmemBlkPool frame of a pmemblk pool image, else None.")
      .def_property_readonly("namespaces", [](ImageRef st) {
        return namespace_list(st, st->discovery().namespaces);
      })
      .def_property_readonly("stale_namespaces", [](ImageRef st) {
        return namespace_list(st, st->discovery().stale_namespaces);
      }, "Namespaces assembled from stale (deleted) labels.")
      .def_property_readonly("findings", [](const ImageState& st) {
        Findings all = st.discovery().findings;
        if (st.disc->labels)
          all.insert(all.begin(), st.disc->labels->findings.begin(), st.disc->labels->findings.end());
        return findings_list(all);
      }, "Discovery findings, label-area findings first.")
      .def("namespace", [](ImageRef st, py::handle which) {
        return PyNamespace{st, find_namespace(st->discovery(), which)};
      }, py::arg("which"), "A namespace by index, uuid or name.")
      .def("refresh", [](ImageState& st) { rediscover(st); },
           "Run discovery again (after writes).")
      .def("read", [](const ImageState& st, std::uint64_t off, std::size_t len) {
        return read_bytes(st.device(), off, len);
      }, py::arg("offset"), py::arg("length"))
      .def("readinto", [](const ImageState& st, std::uint64_t off, py::handle buf) {
        return readinto(st.device(), off, buf);
      }, py::arg("offset"), py::arg("buffer"),
         "Fill a writable buffer from `offset` (zero-copy); returns the bytes read.")
      .def("write", [](const ImageState& st, std::uint64_t off, py::handle buf) {
        write_buffer(st.device(), off, buf);
      }, py::arg("offset"), py::arg("data"), "Store raw bytes (ReadOnlyError unless writable).")
      .def("write_zeros", [](const ImageState& st, std::uint64_t off, std::uint64_t len) {
        DevicePtr d = st.device();
        Result<void> r = nogil([&] { return d->write_zeros(off, len); });
        unwrap(std::move(r));
      }, py::arg("offset"), py::arg("length"))
      .def("flush", [](const ImageState& st) {
        DevicePtr d = st.device();
        Result<void> r = nogil([&] { return d->flush(); });
        unwrap(std::move(r));
      })
      .def("known_zero", [](const ImageState& st, std::uint64_t off, std::uint64_t len) {
        DevicePtr d = st.device();
        return nogil([&] { return d->known_zero(off, len); });
      }, py::arg("offset"), py::arg("length"),
         "True iff the range is known to read as zeros without reading it (holes).")
      .def("export", [](const ImageState& st, py::object dst) {
        DevicePtr d = st.device();
        const std::string p = py::str(py::module_::import("os").attr("fspath")(dst));
        Result<void> r = nogil([&] { return export_device(*d, p); });
        unwrap(std::move(r));
      }, py::arg("path"),
         "Write the image's bytes to a new sparse raw file (decompresses a .zst image).")
      .def("open_btt", [](ImageRef st, py::object which, bool writable, unsigned lanes,
                          const std::string& durability) {
        BttPyOptions o;
        o.writable = writable;
        o.lanes = lanes;
        o.durability = durability == "deferred" ? Durability::kDeferred : Durability::kStrict;
        const Discovery& d = st->discovery();
        if (which.is_none()) {
          for (const auto& ns : d.namespaces)
            if (ns.btt) return open_btt_namespace(st, ns, o);
          raise(Errc::kNotPresent, fmt::format("{}: no namespace holds a BTT", st->path));
        }
        return open_btt_namespace(st, find_namespace(d, which), o);
      }, py::arg("namespace") = py::none(), py::arg("writable") = false, py::arg("lanes") = 0,
         py::arg("durability") = "strict",
         "Open the BTT of a namespace (default: the first that holds one).")
      .def("__repr__", [](const ImageState& st) {
        if (!st.dev) return fmt::format("<Image '{}' closed>", st.path);
        const Discovery& d = *st.disc;
        return fmt::format("<Image '{}' {} {}{}{} namespaces {} findings {}>", st.path,
                           image_kind_name(d.kind), human_size(st.dev->size()),
                           st.compressed ? " zst" : "", st.dev->writable() ? " rw" : " ro",
                           d.namespaces.size(),
                           d.findings.size() + (d.labels ? d.labels->findings.size() : 0));
      });

  m.def("read_label_area", [](ImageRef st, std::optional<std::uint64_t> offset,
                              std::optional<std::uint64_t> size) {
    DevicePtr d = st->device();
    Result<LabelArea> r = nogil([&]() -> Result<LabelArea> {
      if (!offset && !size) return read_qemu_label_area(*d);
      const std::uint64_t sz = size.value_or(kQemuDefaultLabelSize);
      const std::uint64_t off = offset.value_or(d->size() >= sz ? d->size() - sz : 0);
      return read_label_area(*d, off, sz);
    });
    return unwrap(std::move(r));
  }, py::arg("image"), py::arg("offset") = py::none(), py::arg("size") = py::none(),
     "Read a label area at an explicit place (default: the QEMU tail, last 128 KiB).");
}

}  // namespace

void init_image(py::module_& m) {
  bind_label_area(m);
  bind_namespace(m);
  bind_image_class(m);
}

PyBtt open_btt_namespace(const ImageRef& img, const Namespace& ns, const BttPyOptions& po) {
  const Discovery& d = img->discovery();
  if (!ns.btt && d.kind != ImageKind::PmemBlkPool)
    raise(Errc::kNotPresent,
          fmt::format("{}: namespace {} ({}) holds no BTT", img->path, ns.index,
                      ns_mode_name(ns.mode)));
  BttImageOptions o;
  o.writable = po.writable;
  o.lanes = po.lanes;
  o.durability = po.durability;
  if (d.kind != ImageKind::PmemBlkPool) {
    o.offset = ns.offset;
    o.size = ns.size;
    if (ns.btt) o.arena0_offset = ns.btt->info_offset;
    o.flavor = BttFlavor::Kernel;
    if (!ns.uuid.is_zero() && !ns.any_parent) o.parent_uuid = ns.uuid;
  }
  DevicePtr dev = img->device();
  if (po.writable && !dev->writable())
    raise(Errc::kReadOnly, fmt::format("{}: the image was opened read-only (Image(path, "
                                       "writable=True) to write through its BTT)",
                                       img->path));
  PyBtt out;
  out.image = img;
  out.name = img->path;
  if (img->compressed || img->memory) {
    if (po.writable)
      raise(Errc::kReadOnly,
            fmt::format("{}: {} image: the BTT opens read-only (export() a raw copy to write)",
                        img->path, img->compressed ? "compressed" : "in-memory"));
    Result<BttImage> r = nogil([&] { return open_btt_device_copy(*dev, o); });
    out.handle = std::make_shared<BttImage>(unwrap(std::move(r)));
  } else {
    const std::string path = img->path;
    Result<BttImage> r = nogil([&] { return open_btt_image(path, o); });
    out.handle = std::make_shared<BttImage>(unwrap(std::move(r)));
  }
  return out;
}

}  // namespace ndtk::pyb
