// ndtk.Btt: the BTT data path (read/write/set_zero/set_error/flush on any buffer, zero-copy,
// GIL released), its arenas, and the map and log as lazy sequences and bulk arrays.
#include <fmt/format.h>

#include "common.h"
#include "ndtk/btt/btt_device.h"
#include "ndtk/btt/btt_image.h"
#include "ndtk/format/btt_log.h"
#include "ndtk/format/btt_map.h"
#include "objects.h"

namespace ndtk::pyb {

std::shared_ptr<BttImage> PyBtt::get() const {
  if (!handle) raise(Errc::kInvalidArgument, fmt::format("{}: BTT is closed", name));
  return handle;
}

const char* flavor_str(BttFlavor f) { return f == BttFlavor::Kernel ? "kernel" : "pmdk"; }

PyBtt open_btt_path(const std::string& path, const BttPyOptions& po) {
  BttImageOptions o;
  o.writable = po.writable;
  o.offset = po.offset;
  o.size = po.size;
  o.arena0_offset = po.arena0_offset;
  o.flavor = po.flavor;
  o.parent_uuid = po.parent_uuid;
  o.durability = po.durability;
  o.lanes = po.lanes;
  Result<BttImage> r = nogil([&] { return open_btt_image(path, o); });
  PyBtt out;
  out.name = path;
  out.handle = std::make_shared<BttImage>(unwrap(std::move(r)));
  return out;
}

namespace {

/// One arena of an open BTT; reads its metadata live from the region.
struct PyArena {
  std::shared_ptr<BttImage> btt;
  BttArenaInfo a;

  /// Region offset of an arena-relative offset.
  std::uint64_t at(std::uint64_t rel) const {
    return PyBtt::region_base(*btt) + a.offset + rel;
  }
  std::uint32_t nlba() const { return a.info.external_nlba; }
  std::uint32_t nfree() const { return a.info.nfree; }

  BttMapEntry map_entry(std::uint32_t premap) const {
    return BttMapEntry{btt->device.region().load32(at(a.info.mapoff) + 4ull * premap)};
  }
  BttLogGroup log_group(std::uint32_t lane) const {
    const PersistRegion& r = btt->device.region();
    const std::uint64_t base = at(a.info.logoff) + std::uint64_t{kBttLogGroupSize} * lane;
    BttLogGroup g;
    for (unsigned s = 0; s < kBttLogSlots; ++s) {
      const std::uint64_t o = base + s * kBttLogEntrySize;
      g.slots[s] = BttLogEntry{r.load32(o), r.load32(o + 4), r.load32(o + 8), r.load32(o + 12)};
    }
    return g;
  }
  /// Check the metadata the accessors read lies inside the region (BttDevice validated the
  /// geometry at open; this guards the bindings independently).
  void check_extent(std::uint64_t rel, std::uint64_t len, const char* what) const {
    if (!range_fits(at(rel), len, btt->device.region().size()))
      raise(Errc::kOutOfRange, fmt::format("arena {} {} lies outside the mapped namespace",
                                           a.index, what));
  }
};

std::uint32_t check_index(long long i, std::uint32_t n, const char* what) {
  if (i < 0) i += n;
  if (i < 0 || i >= static_cast<long long>(n))
    throw py::index_error(fmt::format("{} index out of range (0..{})", what, n == 0 ? 0 : n - 1));
  return static_cast<std::uint32_t>(i);
}

struct MapView {
  PyArena arena;
};
struct LogView {
  PyArena arena;
};
struct MapIter {
  PyArena arena;
  std::uint32_t pos = 0;
};
struct LogIter {
  PyArena arena;
  std::uint32_t pos = 0;
};

py::object make_array(const char* typecode, const ByteVec& bytes) {
  return py::module_::import("array").attr("array")(typecode, to_bytes(bytes));
}

void bind_arena(py::module_& m) {
  py::class_<BttSectorInfo>(m, "SectorInfo", "Where a sector lives right now.")
      .def_readonly("arena", &BttSectorInfo::arena)
      .def_readonly("premap", &BttSectorInfo::premap)
      .def_readonly("entry", &BttSectorInfo::entry)
      .def_property_readonly("state", [](const BttSectorInfo& s) {
        return py_enum("MapState", btt_map_state_name(s.state));
      })
      .def_readonly("postmap", &BttSectorInfo::postmap)
      .def_readonly("data_offset", &BttSectorInfo::data_offset,
                    "Offset of the data block in the BTT's region (the file, or the namespace "
                    "copy of a compressed image).")
      .def("__repr__", [](const BttSectorInfo& s) {
        return fmt::format("<SectorInfo arena {} premap {} {} block {} @{:#x}>", s.arena, s.premap,
                           btt_map_state_name(s.state), s.postmap, s.data_offset);
      });

  py::class_<MapView>(m, "MapView",
                      "An arena's map as a lazy sequence of MapEntry (indexed by premap LBA). "
                      "array() returns every raw entry at once.")
      .def("__len__", [](const MapView& v) { return v.arena.nlba(); })
      .def("__getitem__", [](const MapView& v, long long i) {
        return v.arena.map_entry(check_index(i, v.arena.nlba(), "map"));
      })
      .def("__iter__", [](const MapView& v) { return MapIter{v.arena, 0}; })
      .def("array", [](const MapView& v) {
        const PyArena& a = v.arena;
        ByteVec out(std::size_t{a.nlba()} * 4);
        nogil([&] {
          for (std::uint32_t i = 0; i < a.nlba(); ++i) {
            const std::uint32_t raw = a.map_entry(i).raw;
            std::memcpy(out.data() + 4ull * i, &raw, 4);
          }
        });
        return make_array("I", out);
      }, "array.array('I') of every raw map entry (host order; numpy.frombuffer works on it).")
      .def("__repr__", [](const MapView& v) {
        return fmt::format("<MapView arena {} entries {}>", v.arena.a.index, v.arena.nlba());
      });
  py::class_<MapIter>(m, "_MapIter")
      .def("__iter__", [](MapIter& it) -> MapIter& { return it; })
      .def("__next__", [](MapIter& it) {
        if (it.pos >= it.arena.nlba()) throw py::stop_iteration();
        return it.arena.map_entry(it.pos++);
      });

  py::class_<LogView>(m, "LogView",
                      "An arena's log (flog) as a lazy sequence of LogGroup, one per lane.")
      .def("__len__", [](const LogView& v) { return v.arena.nfree(); })
      .def("__getitem__", [](const LogView& v, long long i) {
        return v.arena.log_group(check_index(i, v.arena.nfree(), "log"));
      })
      .def("__iter__", [](const LogView& v) { return LogIter{v.arena, 0}; })
      .def("array", [](const LogView& v) {
        const PyArena& a = v.arena;
        ByteVec out(std::size_t{a.nfree()} * kBttLogGroupSize);
        nogil([&] {
          for (std::uint32_t lane = 0; lane < a.nfree(); ++lane) {
            const ByteVec g = a.log_group(lane).serialize();
            std::memcpy(out.data() + std::size_t{lane} * kBttLogGroupSize, g.data(), g.size());
          }
        });
        return make_array("I", out);
      }, "array.array('I'): per lane 16 words (4 slots of lba, old_map, new_map, seq).")
      .def("__repr__", [](const LogView& v) {
        return fmt::format("<LogView arena {} lanes {} indices {}>", v.arena.a.index,
                           v.arena.nfree(), v.arena.a.log_indices.to_string());
      });
  py::class_<LogIter>(m, "_LogIter")
      .def("__iter__", [](LogIter& it) -> LogIter& { return it; })
      .def("__next__", [](LogIter& it) {
        if (it.pos >= it.arena.nfree()) throw py::stop_iteration();
        return it.arena.log_group(it.pos++);
      });

  py::class_<PyArena>(m, "Arena", "One BTT arena: info blocks, map, log, free blocks.")
      .def_property_readonly("index", [](const PyArena& a) { return a.a.index; })
      .def_property_readonly("offset", [](const PyArena& a) { return a.a.offset; },
                             "Namespace offset of the arena's info block.")
      .def_property_readonly("size", [](const PyArena& a) { return a.a.size; })
      .def_property_readonly("first_lba", [](const PyArena& a) { return a.a.first_lba; })
      .def_property_readonly("external_nlba", [](const PyArena& a) { return a.nlba(); })
      .def_property_readonly("internal_nlba", [](const PyArena& a) { return a.a.info.internal_nlba; })
      .def_property_readonly("nfree", [](const PyArena& a) { return a.nfree(); })
      .def_property_readonly("info", [](const PyArena& a) { return a.a.info; },
                             "The primary info block as decoded at open.")
      .def_property_readonly("info2", [](const PyArena& a) {
        a.check_extent(a.a.info.info2off, kBttInfoSize, "backup info block");
        const Bytes all = a.btt->device.region().bytes();
        return unwrap(BttInfo::decode(all.subspan(a.at(a.a.info.info2off), kBttInfoSize)));
      }, "The backup info block (at info2off), decoded now.")
      .def_property_readonly("log_indices", [](const PyArena& a) {
        return py::make_tuple(a.a.log_indices.sub0, a.a.log_indices.sub1);
      }, "(0, 1) (Linux >= 4.15, PMDK) or (0, 2) (older kernels).")
      .def_property_readonly("recovered_map_entries", [](const PyArena& a) {
        return a.a.recovered_map_entries;
      })
      .def_property_readonly("lanes_with_error", [](const PyArena& a) { return a.a.lanes_with_error; })
      .def_property_readonly("write_refused", [](const PyArena& a) { return a.a.write_refused; },
                             "Why writes to this arena are refused ('' when they are not).")
      .def_property_readonly("map", [](const PyArena& a) {
        a.check_extent(a.a.info.mapoff, 4ull * a.nlba(), "map");
        return MapView{a};
      })
      .def_property_readonly("log", [](const PyArena& a) {
        a.check_extent(a.a.info.logoff, std::uint64_t{kBttLogGroupSize} * a.nfree(), "log");
        return LogView{a};
      })
      .def("free_blocks", [](const PyArena& a) { return a.btt->device.free_blocks(a.a.index); },
           "Each lane's free block, as the recovery derived them and writes since updated them.")
      .def("__repr__", [](const PyArena& a) {
        return fmt::format("<Arena {} @{:#x} size {} lbas {}..{} nfree {}{}>", a.a.index,
                           a.a.offset, human_size(a.a.size), a.a.first_lba,
                           a.a.first_lba + a.nlba(), a.nfree(),
                           a.a.write_refused.empty() ? "" : " WRITES REFUSED");
      });
}

void check_sectors(const BttDevice& d, std::size_t bytes, const char* what) {
  const std::uint32_t ss = d.external_lbasize();
  if (bytes == 0 || bytes % ss != 0)
    raise(Errc::kInvalidArgument,
          fmt::format("{}: buffer of {} bytes is not a non-zero multiple of the sector size {}",
                      what, bytes, ss));
}

/// [lba, lba+count) inside the device, or BadArgumentError.
void check_range(const BttDevice& d, std::uint64_t lba, std::uint64_t count) {
  if (!range_fits(lba, count, d.sector_count()))
    raise(Errc::kOutOfRange, fmt::format("sectors [{}, +{}) lie outside the BTT ({} sectors)", lba,
                                         count, d.sector_count()));
}

PyBtt& enter(PyBtt& b) {
  b.get();
  return b;
}

void bind_btt_class(py::module_& m) {
  py::class_<PyBtt>(m, "Btt",
                    "An open BTT: read and write sectors exactly as the kernel (or libpmemblk) "
                    "would. Thread-safe; every I/O releases the GIL. A context manager.")
      .def(py::init([](py::object path, bool writable, std::optional<std::uint64_t> offset,
                       std::optional<std::uint64_t> size, std::optional<std::uint64_t> arena0_offset,
                       std::optional<std::string> flavor, py::object parent_uuid, unsigned lanes,
                       const std::string& durability) {
             BttPyOptions o;
             o.writable = writable;
             o.offset = offset;
             o.size = size;
             o.arena0_offset = arena0_offset;
             if (flavor) o.flavor = flavor_from_py(*flavor);
             if (!parent_uuid.is_none()) o.parent_uuid = uuid_from_py(parent_uuid);
             o.lanes = lanes;
             if (durability == "deferred") o.durability = Durability::kDeferred;
             else if (durability != "strict")
               raise(Errc::kInvalidArgument, "durability must be 'strict' or 'deferred'");
             const std::string p = py::str(py::module_::import("os").attr("fspath")(path));
             return open_btt_path(p, o);
           }),
           py::arg("path"), py::arg("writable") = false, py::kw_only(), py::arg("offset") = py::none(),
           py::arg("size") = py::none(), py::arg("arena0_offset") = py::none(),
           py::arg("flavor") = py::none(), py::arg("parent_uuid") = py::none(),
           py::arg("lanes") = 0, py::arg("durability") = "strict")
      .def("__enter__", &enter, py::return_value_policy::reference)
      .def("__exit__", [](PyBtt& b, py::args) {
        b.handle.reset();
        return false;
      })
      .def("close", [](PyBtt& b) { b.handle.reset(); },
           "Release the BTT (calls in flight in other threads complete first).")
      .def_property_readonly("closed", [](const PyBtt& b) { return !b.handle; })
      .def_property_readonly("name", [](const PyBtt& b) { return b.name; })
      .def_property_readonly("lbasize", [](const PyBtt& b) { return b.get()->device.external_lbasize(); },
                             "Bytes per sector as read and written (data + integrity metadata).")
      .def_property_readonly("sector_size", [](const PyBtt& b) { return b.get()->device.sector_size(); })
      .def_property_readonly("integrity_size", [](const PyBtt& b) {
        return b.get()->device.integrity_size();
      })
      .def_property_readonly("sector_count", [](const PyBtt& b) { return b.get()->device.sector_count(); })
      .def("__len__", [](const PyBtt& b) { return b.get()->device.sector_count(); })
      .def_property_readonly("size", [](const PyBtt& b) {
        const auto h = b.get();
        return h->device.sector_count() * h->device.sector_size();
      }, "Capacity in data bytes (sector_count x sector_size).")
      .def_property_readonly("flavor", [](const PyBtt& b) {
        return py_enum("Flavor", flavor_str(b.get()->device.flavor()));
      })
      .def_property_readonly("version", [](const PyBtt& b) {
        return btt_version_name(b.get()->device.version());
      })
      .def_property_readonly("writable", [](const PyBtt& b) { return b.get()->device.writable(); })
      .def_property_readonly("formatted", [](const PyBtt& b) { return b.get()->device.formatted(); },
                             "False for a pmemblk pool whose layout is not written yet.")
      .def_property_readonly("lanes", [](const PyBtt& b) { return b.get()->device.lanes(); })
      .def_property_readonly("arena0_offset", [](const PyBtt& b) { return b.get()->device.arena0_offset(); })
      .def_property_readonly("container", [](const PyBtt& b) {
        return py_enum("Container", btt_container_name(b.get()->container));
      })
      .def_property_readonly("namespace_offset", [](const PyBtt& b) { return b.get()->namespace_offset; })
      .def_property_readonly("namespace_size", [](const PyBtt& b) { return b.get()->namespace_size; })
      .def_property_readonly("in_memory_copy", [](const PyBtt& b) { return b.get()->in_memory_copy; },
                             "True when a compressed image was decompressed into memory.")
      .def_property_readonly("arenas", [](const PyBtt& b) {
        const auto h = b.get();
        py::list out;
        for (auto& a : h->device.arenas()) out.append(PyArena{h, std::move(a)});
        return out;
      })
      .def("read", [](const PyBtt& b, std::uint64_t lba, std::uint64_t count) {
        const auto h = b.get();
        check_range(h->device, lba, count);
        if (count == 0) raise(Errc::kInvalidArgument, "read: count must be at least 1");
        const std::uint64_t n = count * h->device.external_lbasize();
        py::bytes out(nullptr, static_cast<std::size_t>(n));
        auto* p = reinterpret_cast<std::uint8_t*>(PyBytes_AsString(out.ptr()));
        Result<void> r = nogil([&] { return h->device.read(lba, MutBytes(p, n)); });
        unwrap(std::move(r));
        return out;
      }, py::arg("lba"), py::arg("count") = 1, "Read `count` sectors into a new bytes object.")
      .def("readinto", [](const PyBtt& b, std::uint64_t lba, py::handle buf) {
        const auto h = b.get();
        HeldBuffer hb(buf, true, "readinto");
        check_sectors(h->device, hb.size(), "readinto");
        check_range(h->device, lba, hb.size() / h->device.external_lbasize());
        Result<void> r = nogil([&] { return h->device.read(lba, MutBytes(hb.data(), hb.size())); });
        unwrap(std::move(r));
        return hb.size() / h->device.external_lbasize();
      }, py::arg("lba"), py::arg("buffer"),
         "Read sectors straight into a writable buffer (zero-copy); returns the sector count.")
      .def("write", [](const PyBtt& b, std::uint64_t lba, py::handle buf) {
        const auto h = b.get();
        HeldBuffer hb(buf, false, "write");
        check_sectors(h->device, hb.size(), "write");
        check_range(h->device, lba, hb.size() / h->device.external_lbasize());
        Result<void> r = nogil([&] { return h->device.write(lba, Bytes(hb.data(), hb.size())); });
        unwrap(std::move(r));
        return hb.size() / h->device.external_lbasize();
      }, py::arg("lba"), py::arg("data"),
         "Write whole sectors from any buffer, each atomically; returns the sector count.")
      .def("set_zero", [](const PyBtt& b, std::uint64_t lba, std::uint64_t count) {
        const auto h = b.get();
        check_range(h->device, lba, count);
        Result<void> r = nogil([&]() -> Result<void> {
          for (std::uint64_t i = 0; i < count; ++i) NDTK_CHECK(h->device.set_zero(lba + i));
          return ok();
        });
        unwrap(std::move(r));
      }, py::arg("lba"), py::arg("count") = 1, "Make sectors read as zeros (map Z flag).")
      .def("set_error", [](const PyBtt& b, std::uint64_t lba, std::uint64_t count) {
        const auto h = b.get();
        check_range(h->device, lba, count);
        Result<void> r = nogil([&]() -> Result<void> {
          for (std::uint64_t i = 0; i < count; ++i) NDTK_CHECK(h->device.set_error(lba + i));
          return ok();
        });
        unwrap(std::move(r));
      }, py::arg("lba"), py::arg("count") = 1,
         "Make reads of sectors fail with MediaError (map E flag) until written.")
      .def("flush", [](const PyBtt& b) {
        const auto h = b.get();
        Result<void> r = nogil([&] { return h->device.flush(); });
        unwrap(std::move(r));
      }, "Make every completed write durable.")
      .def("sector_info", [](const PyBtt& b, std::uint64_t lba) {
        const auto h = b.get();
        return unwrap(h->device.sector_info(lba));
      }, py::arg("lba"))
      .def("verify", [](const PyBtt& b) {
        const auto h = b.get();
        Result<void> r = nogil([&] { return h->device.verify_block_references(); });
        unwrap(std::move(r));
      }, "Check the block-ownership invariant (every internal block named exactly once); "
         "BadImageError naming the first duplicate or missing block.")
      .def("__repr__", [](const PyBtt& b) {
        if (!b.handle) return fmt::format("<Btt '{}' closed>", b.name);
        const BttImage& h = *b.handle;
        const BttDevice& d = h.device;
        return fmt::format("<Btt '{}' {} {} {} sectors of {} ({}) @{:#x} {} arenas {}{}>", b.name,
                           flavor_str(d.flavor()), btt_version_name(d.version()), d.sector_count(),
                           d.external_lbasize(), human_size(d.sector_count() * d.sector_size()),
                           h.namespace_offset, d.writable() ? "rw" : "ro", d.arenas().size(),
                           d.formatted() ? "" : " unformatted");
      });
}

}  // namespace

void init_btt(py::module_& m) {
  bind_arena(m);
  bind_btt_class(m);
}

}  // namespace ndtk::pyb
