// Tool glue implementation.
#include "tool_common.h"

#include <cstdio>
#include <iostream>

namespace ndtk::tool {

void print_error(std::string_view tool, const Error& e) { print_error(tool, e.message()); }

void print_error(std::string_view tool, std::string_view message) {
  std::cerr << tool << ": " << message << '\n';
}

std::optional<std::uint64_t> parse_size(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int base = 10;
  std::size_t i = 0;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    i = 2;
  }
  std::uint64_t v = 0;
  bool any = false;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    int d = -1;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (base == 16 && c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (base == 16 && c >= 'A' && c <= 'F') d = c - 'A' + 10;
    if (d < 0) break;
    if (v > (UINT64_MAX - static_cast<std::uint64_t>(d)) / base) return std::nullopt;
    v = v * base + static_cast<std::uint64_t>(d);
    any = true;
  }
  if (!any) return std::nullopt;
  std::string_view suffix = s.substr(i);
  int shift = 0;
  if (suffix.empty()) shift = 0;
  else if (suffix == "K" || suffix == "k" || suffix == "KiB") shift = 10;
  else if (suffix == "M" || suffix == "m" || suffix == "MiB") shift = 20;
  else if (suffix == "G" || suffix == "g" || suffix == "GiB") shift = 30;
  else if (suffix == "T" || suffix == "t" || suffix == "TiB") shift = 40;
  else return std::nullopt;
  if (shift && v > (UINT64_MAX >> shift)) return std::nullopt;
  return v << shift;
}

namespace {
void add_size_option(CLI::App& app, const std::string& name, std::optional<std::uint64_t>& out,
                     const std::string& help) {
  app.add_option_function<std::string>(
         name,
         [&out, name](const std::string& s) {
           auto v = parse_size(s);
           if (!v) throw CLI::ValidationError(name, "not a size: '" + s + "' (e.g. 4096, 0x1000, 16M)");
           out = *v;
         },
         help)
      ->type_name("SIZE");
}
}  // namespace

void add_location_options(CLI::App& app, ImageLocation& loc, bool labels, bool window) {
  if (labels) {
    add_size_option(app, "--label-offset", loc.label_offset,
                    "Byte offset of the label area in the image (default: found automatically)");
    add_size_option(app, "--label-size", loc.label_size,
                    "Size of the label area (default: 128K at the end of a DIMM image)");
  }
  if (window) {
    add_size_option(app, "--offset", loc.offset, "Byte offset of a bare namespace in the image");
    add_size_option(app, "--size", loc.size, "Size of the bare namespace (default: to the end)");
    app.add_option("--namespace", loc.namespace_uuid, "Select a namespace by uuid (or name)");
  }
}

std::optional<int> parse_args(CLI::App& app, int argc, char** argv, int usage_exit) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << app.get_name() << ": " << e.what() << '\n';
    return usage_exit;
  }
  return std::nullopt;
}

}  // namespace ndtk::tool
