// The _ndtk extension module: shared conversions, exception translation, and the entry point
// that registers every binding file.
#include <fmt/format.h>

#include <cstring>

#include "common.h"

namespace ndtk::pyb {

py::object py_enum(const char* cls, py::object value) {
  return py::module_::import("ndtk._enums").attr(cls)(std::move(value));
}

py::object to_uuid(const Uuid& u) {
  return py::module_::import("uuid").attr("UUID")(
      py::arg("bytes") = to_bytes(Bytes(u.bytes.data(), u.bytes.size())));
}

py::object to_guid(const Uuid& u) {
  return py::module_::import("uuid").attr("UUID")(
      py::arg("bytes_le") = to_bytes(Bytes(u.bytes.data(), u.bytes.size())));
}

py::object to_uuid_or_none(const Uuid& u) {
  if (u.is_zero()) return py::none();
  return to_uuid(u);
}

Uuid uuid_from_py(py::handle h) {
  py::object uuid_cls = py::module_::import("uuid").attr("UUID");
  if (py::isinstance(h, uuid_cls)) {
    const std::string b = h.attr("bytes").cast<std::string>();
    return Uuid::from_bytes(Bytes(reinterpret_cast<const std::uint8_t*>(b.data()), b.size()));
  }
  if (py::isinstance<py::str>(h)) {
    const std::string s = h.cast<std::string>();
    auto u = Uuid::parse(s);
    if (!u) raise(Errc::kInvalidArgument, fmt::format("not a uuid: '{}'", s));
    return *u;
  }
  if (py::isinstance<py::bytes>(h)) {
    const std::string b = h.cast<std::string>();
    if (b.size() != 16)
      raise(Errc::kInvalidArgument, fmt::format("a uuid is 16 bytes, got {}", b.size()));
    return Uuid::from_bytes(Bytes(reinterpret_cast<const std::uint8_t*>(b.data()), b.size()));
  }
  raise(Errc::kInvalidArgument, "expected a uuid.UUID, a uuid string or 16 bytes");
}

py::list findings_list(const Findings& f) {
  py::list out;
  for (const auto& x : f) out.append(py::cast(x));
  return out;
}

std::string human_size(std::uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  unsigned u = 0;
  double v = static_cast<double>(bytes);
  while (v >= 1024.0 && u + 1 < std::size(kUnits)) {
    v /= 1024.0;
    ++u;
  }
  if (u == 0) return fmt::format("{} B", bytes);
  if (v == static_cast<double>(static_cast<std::uint64_t>(v)))
    return fmt::format("{} {}", static_cast<std::uint64_t>(v), kUnits[u]);
  return fmt::format("{:.1f} {}", v, kUnits[u]);
}

HeldBuffer::HeldBuffer(py::handle obj, bool writable, const char* what) {
  if (!PyObject_CheckBuffer(obj.ptr()))
    raise(Errc::kInvalidArgument,
          fmt::format("{}: expected bytes, bytearray, memoryview or another buffer, got {}", what,
                      std::string(py::str(py::type::of(obj).attr("__name__")))));
  // Any C-contiguous buffer is bytes to us, whatever its item format (array.array("I") too).
  const int flags = PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
  if (PyObject_GetBuffer(obj.ptr(), &view_, flags) != 0) {
    PyErr_Clear();
    if (writable)
      raise(Errc::kInvalidArgument,
            fmt::format("{}: the buffer must be writable and C-contiguous (bytearray, "
                        "memoryview of a bytearray, array.array, mmap...)",
                        what));
    raise(Errc::kInvalidArgument, fmt::format("{}: the buffer must be C-contiguous", what));
  }
}

namespace {

void set_python_error(const Error& e) {
  py::module_ ex = py::module_::import("ndtk.exceptions");
  py::object cls = ex.attr("class_for_code")(errc_name(e.code));
  py::object inst = cls(e.message());
  inst.attr("code") = py::str(errc_name(e.code));
  if (!e.structure.empty()) inst.attr("structure") = e.structure;
  if (!e.field.empty()) inst.attr("field") = e.field;
  if (e.offset) inst.attr("offset") = *e.offset;
  if (!e.expected.empty()) inst.attr("expected") = e.expected;
  if (!e.found.empty()) inst.attr("found") = e.found;
  PyErr_SetObject(cls.ptr(), inst.ptr());
}

}  // namespace

void init_errors(py::module_&) {
  py::register_exception_translator([](std::exception_ptr p) {
    if (!p) return;
    try {
      std::rethrow_exception(p);
    } catch (const LibraryError& e) {
      try {
        set_python_error(e.error());
      } catch (py::error_already_set& inner) {
        inner.restore();  // the exceptions module itself failed: surface that instead
      }
    }
  });
}

}  // namespace ndtk::pyb

PYBIND11_MODULE(_ndtk, m) {
  m.doc() = "ndtk C++ core (import the `ndtk` package, not this module)";
  m.attr("__version__") = NDTK_VERSION_STRING;
  ndtk::pyb::init_errors(m);
  ndtk::pyb::init_format(m);
  ndtk::pyb::init_geometry(m);
  ndtk::pyb::init_image(m);
  ndtk::pyb::init_btt(m);
  ndtk::pyb::init_check(m);
}
