// label-dump: offline forensic dump of NVDIMM label areas, namespaces and info blocks.
// Exit status: 0 consistent, 1 inconsistencies found, 2 usage error or unreadable image.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "ndtk/render/label_render.h"
#include "tool_common.h"

namespace {

constexpr int kExitConsistent = 0;
constexpr int kExitUsage = 2;
constexpr const char* kTool = "label-dump";

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Offline forensic dump of NVDIMM label areas: both index blocks, every label slot and its\n"
      "state (active / stale / garbage), the namespaces assembled from active labels with what\n"
      "their first blocks hold (BTT, pfn, dax info), and namespaces recoverable from stale\n"
      "labels. IMAGE: a bare label area, a QEMU NVDIMM backing file (label area at the end), a\n"
      "label-less DIMM or PMDK pool, or any image with --label-offset/--label-size; .zst works.\n"
      "Exit status: 0 consistent, 1 inconsistencies found, 2 usage error or unreadable image.",
      kTool};
  std::vector<std::string> images;
  bool as_json = false;
  std::string annotate;
  ndtk::tool::ImageLocation loc;
  app.add_option("IMAGE", images, "DIMM image(s); several are grouped into interleave sets")
      ->required();
  app.add_flag("--json", as_json, "Print JSON (schema: docs/label-dump.md)");
  app.add_option("--annotate", annotate,
                 "Annotated hex view of one structure: index0, index1, slot:N, or\n"
                 "info:<namespace uuid or name> (its BTT/pfn/dax info block)")
      ->type_name("WHAT");
  ndtk::tool::add_location_options(app, loc, /*labels=*/true, /*window=*/false);
  if (auto rc = ndtk::tool::parse_args(app, argc, argv, kExitUsage)) return *rc;
  if (!annotate.empty() && images.size() != 1) {
    ndtk::tool::print_error(kTool, "--annotate takes exactly one IMAGE");
    return kExitUsage;
  }

  ndtk::LabelDumpOptions opts;
  opts.label_offset = loc.label_offset;
  opts.label_size = loc.label_size;
  auto report = ndtk::build_label_dump(images, opts);
  if (!report) {
    ndtk::tool::print_error(kTool, report.error());
    return kExitUsage;
  }

  if (!annotate.empty()) {
    const auto& img = report->images.front();
    auto view = ndtk::annotate_structure(img, annotate);
    if (!view) {
      ndtk::tool::print_error(kTool, view.error());
      return kExitUsage;
    }
    std::cout << (as_json ? ndtk::render_annotation_json(*view)
                          : ndtk::render_annotation_text(*view));
    return img.consistent() ? kExitConsistent : report->exit_code();
  }

  std::cout << (as_json ? ndtk::render_label_json(*report) : ndtk::render_label_text(*report));
  std::cout.flush();
  return report->exit_code();
}
