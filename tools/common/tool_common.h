// Glue shared by the tool mains: error printing, size arguments, image-location options.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ndtk/base/error.h"

namespace ndtk::tool {

/// fsck(8)-style exit codes used by btt-check (label-dump uses 0/1/2, see its page).
enum FsckExit : int {
  kFsckClean = 0,
  kFsckCorrected = 1,
  kFsckUncorrected = 4,
  kFsckOperational = 8,
  kFsckUsage = 16,
};

/// Print "TOOL: message" on stderr (one line).
void print_error(std::string_view tool, const Error& e);
void print_error(std::string_view tool, std::string_view message);

/// Parse "4096", "0x1000", "16M", "1G", "2T" (binary units) into bytes.
std::optional<std::uint64_t> parse_size(std::string_view s);

/// Where in an image to look: explicit label area, or an explicit namespace window.
struct ImageLocation {
  std::optional<std::uint64_t> label_offset;
  std::optional<std::uint64_t> label_size;
  std::optional<std::uint64_t> offset;  // namespace window
  std::optional<std::uint64_t> size;
  std::string namespace_uuid;
};

/// Register --label-offset/--label-size (labels=true) and --offset/--size/--namespace
/// (window=true) on `app`, with size-suffix parsing.
void add_location_options(CLI::App& app, ImageLocation& loc, bool labels, bool window);

/// Run CLI11 parsing; on a usage error print it and return the given exit code, else nullopt.
std::optional<int> parse_args(CLI::App& app, int argc, char** argv, int usage_exit);

}  // namespace ndtk::tool
