#include "ui/cli/promote_commands.h"

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "core/base/actor.h"
#include "services/promotion.h"
#include "ui/common/text_table.h"

namespace alambic {

std::string RenderPromotion(const PromoteOptions& o, const PromoteOutcome& outcome) {
  std::string out = fmt::format("promote {} at {} to {}\n", Printable(o.flow),
                                outcome.commit.substr(0, 10), Printable(o.to));
  size_t width = 0;
  for (const auto& g : outcome.gates) width = std::max(width, g.gate.size());
  for (const auto& g : outcome.gates) {
    out += fmt::format("  {:<4}  {:<{}}  {}\n", g.passed ? "pass" : (g.judged ? "FAIL" : "--"),
                       g.gate, width, Printable(g.reason));
    for (const auto& d : g.details)
      out += fmt::format("  {:<4}  {:<{}}    - {}\n", "", "", width, Printable(d));
  }
  if (outcome.release) {
    const ReleaseRecord& r = *outcome.release;
    out += fmt::format("release {} of {}: tag {}, commit {}; active in the {}\n", r.number,
                       Printable(r.flow), Printable(r.tag), r.git_commit.substr(0, 10),
                       Printable(r.environment));
  } else {
    const auto failed = std::count_if(outcome.gates.begin(), outcome.gates.end(),
                                      [](const GateResult& g) { return !g.passed && g.judged; });
    const auto unjudged = std::count_if(outcome.gates.begin(), outcome.gates.end(),
                                        [](const GateResult& g) { return !g.judged; });
    out +=
        fmt::format("refused: {} of {} gates failed{}; nothing was released\n", failed,
                    outcome.gates.size(), unjudged ? fmt::format(", {} not judged", unjudged) : "");
  }
  return out;
}

nlohmann::ordered_json PromotionJson(const PromoteOptions& o, const PromoteOutcome& outcome) {
  nlohmann::ordered_json gates = nlohmann::ordered_json::array();
  for (const auto& g : outcome.gates)
    gates.push_back({{"gate", g.gate},
                     {"passed", g.passed},
                     {"judged", g.judged},
                     {"reason", g.reason},
                     {"details", g.details}});
  nlohmann::ordered_json out = {{"flow", o.flow},
                                {"to", o.to},
                                {"commit", outcome.commit},
                                {"admitted", outcome.Admitted()},
                                {"gates", std::move(gates)},
                                {"release", nullptr}};
  if (outcome.release) {
    const ReleaseRecord& r = *outcome.release;
    out["release"] = {{"number", r.number},
                      {"tag", r.tag},
                      {"commit", r.git_commit},
                      {"environment", r.environment}};
  }
  return out;
}

void PromoteCommand::Add(CLI::App& app) {
  promote_ =
      app.add_subcommand("promote", "Release a flow to the warehouse if it passes every gate");
  promote_->add_option("flow", options_.flow)->required();
  promote_->add_option("--to", options_.to, "Target environment (default: warehouse)");
  promote_->add_option("--commit", options_.commit, "The commit to release (default: HEAD)")
      ->type_name("REV");
  promote_->add_option("--note", options_.note, "Why this release (kept with it)");
  promote_->add_flag("--allow-breaking", options_.allow_breaking,
                     "Release even if output columns are removed or retyped");
  AddFormat(promote_, &format_);
}

bool PromoteCommand::parsed() const { return promote_->parsed(); }

int PromoteCommand::Run(const Globals& g) const {
  auto root = WorkspaceRoot(g);
  if (!root.ok()) return Fail(root.status());
  auto outcome = PromoteFlow(*root, {g.env, options_, Actor::Current()});
  if (!outcome.ok()) return Fail(outcome.status());
  if (format_ == "json")
    PrintJson(PromotionJson(options_, *outcome));
  else
    std::fputs(RenderPromotion(options_, *outcome).c_str(), stdout);
  return outcome->Admitted() ? kExitOk : kExitFailed;
}

}  // namespace alambic
