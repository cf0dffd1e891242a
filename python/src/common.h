// Shared glue of the ndtk Python bindings: Result -> Python exceptions, GIL-free calls, and the
// conversions every binding file uses (uuid.UUID, bytes, Python enums, findings).
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <utility>

#include "ndtk/base/bytes.h"
#include "ndtk/base/error.h"
#include "ndtk/base/finding.h"
#include "ndtk/base/result.h"
#include "ndtk/base/uuid.h"
#include "ndtk/format/btt_info.h"

namespace py = pybind11;

namespace ndtk::pyb {

/// A library Error on its way to Python; the registered translator raises the matching
/// ndtk.Error subclass (see errors.cpp). Thrown only while the GIL is held.
class LibraryError : public std::exception {
 public:
  explicit LibraryError(Error e) : err_(std::move(e)), msg_(err_.message()) {}
  const char* what() const noexcept override { return msg_.c_str(); }
  const Error& error() const { return err_; }

 private:
  Error err_;
  std::string msg_;
};

/// Raise `e` as an ndtk.Error subclass.
[[noreturn]] inline void raise(Error e) { throw LibraryError(std::move(e)); }
/// Raise ndtk.BadArgumentError (or another class picked by `code`) with a message.
[[noreturn]] inline void raise(Errc code, std::string what) { raise(make_error(code, std::move(what))); }

/// The value of a Result, or the Error raised in Python.
template <class T>
T unwrap(Result<T>&& r) {
  if (!r) raise(std::move(r).error());
  return std::move(r).value();
}
inline void unwrap(Result<void>&& r) {
  if (!r) raise(std::move(r).error());
}

/// Run `f` with the GIL released (every I/O, check, format and data-path call goes through
/// this). `f` must not touch Python objects.
template <class F>
auto nogil(F&& f) -> decltype(f()) {
  py::gil_scoped_release release;
  return f();
}

/// ndtk._enums.<cls>(value): the pure-Python enum member for a library value.
py::object py_enum(const char* cls, py::object value);
inline py::object py_enum(const char* cls, const char* value) { return py_enum(cls, py::str(value)); }

/// uuid.UUID from bytes stored in textual byte order (namespace uuids, BTT/pfn uuids).
py::object to_uuid(const Uuid& u);
/// uuid.UUID from bytes stored as an EFI GUID (mixed endian: label type/abstraction GUIDs).
py::object to_guid(const Uuid& u);
/// None for an all-zero uuid, else to_uuid().
py::object to_uuid_or_none(const Uuid& u);
/// Accept uuid.UUID, a string, or 16 bytes (byte order).
Uuid uuid_from_py(py::handle h);

inline py::bytes to_bytes(Bytes b) {
  return py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
}
template <std::size_t N>
py::bytes to_bytes(const std::array<std::uint8_t, N>& a) {
  return to_bytes(Bytes(a.data(), a.size()));
}

/// A Python list of ndtk.Finding.
py::list findings_list(const Findings& f);

/// "256 MiB", "4 KiB", "1.5 GiB", "123 B": sizes in reprs.
std::string human_size(std::uint64_t bytes);

/// A C-contiguous buffer of any Python object exporting the buffer protocol, held (the
/// exporter cannot resize or free it) for the lifetime of this object, so the GIL may be
/// released while the bytes are read or written. `writable` asks for a writable buffer;
/// BadArgumentError otherwise. Construct and destroy with the GIL held; not copyable/movable.
class HeldBuffer {
 public:
  HeldBuffer(py::handle obj, bool writable, const char* what);
  ~HeldBuffer() { PyBuffer_Release(&view_); }
  HeldBuffer(const HeldBuffer&) = delete;
  HeldBuffer& operator=(const HeldBuffer&) = delete;

  std::uint8_t* data() const { return static_cast<std::uint8_t*>(view_.buf); }
  std::size_t size() const { return static_cast<std::size_t>(view_.len); }

 private:
  Py_buffer view_{};
};

/// "kernel"/"pmdk" and "1.1"/"2.0" from Python strings (BadArgumentError otherwise).
BttFlavor flavor_from_py(const std::string& s);
BttVersion version_from_py(const std::string& s);
/// "kernel" / "pmdk" (the values of ndtk.Flavor).
const char* flavor_str(BttFlavor f);

// Binding entry points, one per file.
void init_errors(py::module_& m);
void init_format(py::module_& m);
void init_geometry(py::module_& m);
void init_image(py::module_& m);
void init_btt(py::module_& m);
void init_check(py::module_& m);

}  // namespace ndtk::pyb
