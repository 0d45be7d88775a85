// `alambic promote`: the report of a promotion, gate by gate (see docs/promotion.md).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/vcs/promotion.h"
#include "ui/cli/cli.h"

namespace alambic {

// One line per gate (pass / FAIL, name, reason), its findings indented below,
// then the verdict: the release made, or how many gates refused it. Text from
// the flow and the catalog is escaped for the terminal.
std::string RenderPromotion(const PromoteOptions& options, const PromoteOutcome& outcome);

// The same as JSON: {flow, to, commit, admitted, gates: [{gate, passed, judged,
// reason, details}], release: {number, tag, commit, environment} or null}.
nlohmann::ordered_json PromotionJson(const PromoteOptions& options, const PromoteOutcome& outcome);

// The command: `alambic promote FLOW [--to ENV] [--commit REV] [--note TEXT]
// [--allow-breaking]`, promoting from --env (services/promotion.h decides).
class PromoteCommand {
 public:
  void Add(CLI::App& app);
  bool parsed() const;
  // 0 when released, 1 when refused by a gate or on an error.
  int Run(const Globals& g) const;

 private:
  CLI::App* promote_ = nullptr;
  PromoteOptions options_;
  std::string format_ = "text";
};

}  // namespace alambic
