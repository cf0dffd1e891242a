// btt-check's flow: open, check, plan, predict, confirm, apply (undo first), re-check, render.
#include "session.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "ndtk/check/check.h"
#include "ndtk/io/undo.h"
#include "ndtk/render/check_render.h"
#include "ndtk/repair/repair.h"

namespace ndtk::tool {

namespace {

constexpr const char* kTool = "btt-check";

bool file_exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

int error_exit(const Error& e) {
  print_error(kTool, e);
  const bool usage = e.code == Errc::kReadOnly || e.code == Errc::kInvalidArgument ||
                     e.code == Errc::kOutOfRange;
  return usage ? kFsckUsage : kFsckOperational;
}

CheckOptions check_options(const BttCheckArgs& a, bool progress) {
  CheckOptions o;
  o.location.label_offset = a.loc.label_offset;
  o.location.label_size = a.loc.label_size;
  o.location.ns_offset = a.loc.offset;
  o.location.ns_size = a.loc.size;
  o.namespace_filter = a.loc.namespace_uuid;
  // At most ~10 lines a second: the first update at once (so even a quick check shows where
  // it is), then only when 100 ms have passed; run_btt_check clears the line at the end.
  if (progress)
    // Shared: copies of the options (per pass) keep one clock.
    o.progress = [last = std::make_shared<std::optional<std::chrono::steady_clock::time_point>>()](
                     const CheckProgress& p) {
      const auto now = std::chrono::steady_clock::now();
      if (*last && now - **last < std::chrono::milliseconds(100)) return;
      *last = now;
      if (p.total)
        std::fprintf(stderr, "\rbtt-check: %s %llu/%llu\033[K", p.phase.c_str(),
                     static_cast<unsigned long long>(p.done), static_cast<unsigned long long>(p.total));
      else
        std::fprintf(stderr, "\rbtt-check: %s\033[K", p.phase.c_str());
    };
  return o;
}

// Nothing recognisable at all: not an image btt-check can say anything about.
bool nothing_found(const CheckReport& r) {
  if (r.pool || (r.labels && (r.labels->has_valid_index() || !r.labels->findings.empty())))
    return false;
  for (const auto& n : r.namespaces)
    if (n.btt || n.pfn || n.ns.claim != ClaimClass::None) return false;
  return r.all_findings().empty();
}

bool confirm(std::size_t writes, const std::string& image) {
  if (!::isatty(0) || !::isatty(2)) return false;
  std::fprintf(stderr, "Apply %zu write(s) to %s? [y/N] ", writes, image.c_str());
  std::string line;
  if (!std::getline(std::cin, line)) return false;
  return line == "y" || line == "Y" || line == "yes";
}

}  // namespace

int run_rollback(const BttCheckArgs& a) {
  auto undo = load_undo(a.rollback);
  if (!undo) return error_exit(undo.error());
  auto dev = open_image(a.image, OpenMode::ReadWrite);
  if (!dev) return error_exit(dev.error());
  if (auto r = apply_undo(*undo, **dev); !r) return error_exit(r.error());
  std::cout << fmt::format("restored {} range(s) of {} from {}\n", undo->records.size(), a.image,
                           a.rollback);
  return kFsckClean;
}

int run_btt_check(const BttCheckArgs& a) {
  const bool write = a.repair && !a.dry_run;
  const bool tty = ::isatty(2) && !a.json;
  auto dev = open_image(a.image, write ? OpenMode::ReadWrite : OpenMode::ReadOnly);
  if (!dev) return error_exit(dev.error());
  if ((*dev)->size() == 0) return error_exit(make_error(Errc::kTruncated, a.image + ": empty file"));
  const CheckOptions opts = check_options(a, tty);
  auto rep = check_image(*dev, opts);
  if (tty) std::fprintf(stderr, "\r\033[K");
  if (!rep) return error_exit(rep.error());
  if (nothing_found(*rep))
    return error_exit(make_error(
        Errc::kNotPresent,
        a.image + ": nothing to check: no label area, BTT, pfn/dax info block or PMDK pool found"));
  RenderOptions ro;
  ro.verbose = a.verbose;
  nlohmann::json out = check_to_json(*rep);
  if (!a.json) std::cout << render_check_text(*rep, ro);
  int status = rep->clean() ? kFsckClean : kFsckUncorrected;
  if ((a.repair || a.dry_run) && !rep->clean()) {
    auto plan = plan_repairs(*rep);
    if (!plan) return error_exit(plan.error());
    auto after = predict_after(*dev, plan->plan, opts);
    if (!after) return error_exit(after.error());
    nlohmann::json rj{{"plan", plan_to_json(*plan)}, {"applied", false}};
    nlohmann::json remaining = nlohmann::json::array();
    for (const Finding* f : after->all_findings())
      if (f->severity() != Severity::Info) remaining.push_back(finding_to_json(*f));
    rj["remaining_after_plan"] = remaining;
    if (!a.json) {
      std::cout << render_plan_text(*plan);
      for (const Finding* f : after->all_findings())
        if (f->severity() != Severity::Info)
          std::cout << "  not repairable: " << f->to_string() << "\n";
    }
    bool go = write && !plan->plan.empty() && (a.yes || confirm(plan->plan.writes.size(), a.image));
    if (write && !plan->plan.empty() && !go && !a.json)
      std::cout << "repair not applied (use --yes to apply without asking)\n";
    if (go) {
      const std::string undo = a.undo.empty() ? a.image + ".ndtk-undo" : a.undo;
      if (file_exists(undo) && !a.force)
        return error_exit(make_error(Errc::kIo, undo + ": undo file exists (use --force to "
                                                       "overwrite it, or --undo FILE); nothing written"));
      if (file_exists(undo)) ::unlink(undo.c_str());
      ApplyOptions ao{undo, "btt-check --repair"};
      if (auto r = apply_plan(**dev, plan->plan, ao); !r) return error_exit(r.error());
      auto again = check_image(*dev, check_options(a, false));
      if (!again) return error_exit(again.error());
      status = again->clean() ? kFsckCorrected : kFsckUncorrected;
      rj["applied"] = true;
      rj["undo_file"] = undo;
      rj["after"] = check_to_json(*again);
      if (!a.json)
        std::cout << fmt::format("applied {} write(s); old contents saved to {} (restore with "
                                 "btt-check --rollback {} {})\nafter repair: ",
                                 plan->plan.writes.size(), undo, undo, a.image)
                  << render_check_text(*again, ro);
    }
    out["repair"] = rj;
  }
  out["exit_status"] = status;
  if (a.json) std::cout << out.dump(1) << "\n";
  return status;
}

}  // namespace ndtk::tool
