#include "ui/cli/run_commands.h"

#include <unistd.h>

#include <cstdio>
#include <optional>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "core/exec/fan_out.h"
#include "core/exec/pushdown_run.h"
#include "core/exec/run.h"
#include "core/exec/slurm_executor.h"
#include "services/runs.h"
#include "ui/common/progress.h"
#include "ui/common/text_table.h"

namespace fs = std::filesystem;

namespace alambic {
namespace {

PlanOptions ToPlanOptions(const Selection& sel) {
  PlanOptions o;
  o.flows = sel.flows;
  o.only = sel.only;
  o.from = sel.from;
  o.to = sel.to;
  o.force = sel.force;
  return o;
}

void AddSelection(CLI::App* cmd, Selection* sel) {
  cmd->add_option("flows", sel->flows, "Flows (all when none)");
  cmd->add_option("--only", sel->only, "Just these recipes (their inputs must be built)")
      ->type_name("RECIPE");
  cmd->add_option("--from", sel->from, "These recipes and everything downstream")
      ->type_name("RECIPE");
  cmd->add_option("--to", sel->to, "These recipes and everything upstream")->type_name("RECIPE");
  cmd->add_flag("--force", sel->force, "Rebuild the selection even when up to date");
}

struct PlanOutput {
  std::string format = "text";
  bool explain = false;
  bool exit_code = false;  // 2 when something is to run
  size_t to_run = 0;
  OJson recipes = OJson::array();  // --format json: every recipe, all releases
};

Status PrintPlan(Session& session, const PlanOptions& options, const std::string& release,
                 PlanOutput* po);

int CmdPlan(const Globals& g, const Selection& sel, PlanOutput po) {
  auto releases = OpenReleaseSessions(g, sel.flows);
  if (!releases.ok()) return Fail(releases.status());
  const bool json = po.format == "json";
  if (*releases) {
    for (auto& rs : **releases) {
      if (!json) std::fputs(ReleaseHeading(rs).c_str(), stdout);
      PlanOptions o = ToPlanOptions(sel);
      o.flows = {rs.flow};
      if (Status st = PrintPlan(*rs.session, o, rs.release.tag, &po); !st.ok()) return Fail(st);
    }
  } else {
    auto session = OpenSession(g);
    if (!session.ok()) return Fail(session.status());
    if (Status st = PrintPlan(**session, ToPlanOptions(sel), "", &po); !st.ok()) return Fail(st);
  }
  if (json) PrintJson({{"to_run", po.to_run}, {"recipes", std::move(po.recipes)}});
  return po.exit_code && po.to_run > 0 ? kExitUsage : kExitOk;
}

Status PrintPlan(Session& session, const PlanOptions& options, const std::string& release,
                 PlanOutput* po) {
  ALAMBIC_ASSIGN_OR_RETURN(Plan plan_value, session.MakePlan(options));
  const Plan* plan = &plan_value;
  const FlowGraph& graph = session.graph();
  po->to_run += static_cast<size_t>(plan->to_run);
  if (po->format == "json") {
    for (const auto& rp : plan->recipes) {
      const RecipeNode& node = graph.node(rp.node);
      OJson j = {{"flow", node.flow->name},
                 {"recipe", node.recipe->name},
                 {"decision", DecisionName(rp.decision)},
                 {"reason", rp.explanation}};
      if (!release.empty()) j["release"] = release;
      if (session.store().backend()) {
        const EngineChoice e = ChooseEngine(session.store(), session.kinds(), *node.recipe);
        j["engine"] = EngineName(e.engine);
        j["engine_reason"] = e.why;
      }
      po->recipes.push_back(std::move(j));
    }
    return Status::Ok();
  }
  const bool explain = po->explain;
  std::string out;
  if (explain) {
    // With a PostgreSQL store, which engine runs each recipe and why.
    const bool engines = session.store().backend() != nullptr;
    TextTable table(engines ? std::vector<std::string>{"recipe", "decision", "reason", "engine"}
                            : std::vector<std::string>{"recipe", "decision", "reason"},
                    200);
    const EnvironmentSpec& env = session.environment_spec();
    for (const auto& rp : plan->recipes) {
      std::string reason = rp.explanation;
      std::optional<EngineChoice> e;
      if (engines) e = ChooseEngine(session.store(), session.kinds(), *graph.node(rp.node).recipe);
      // A pushed-down recipe runs inside PostgreSQL, never as a job.
      if (rp.decision == Decision::kRun && env.executor == "slurm" &&
          !(e && e->engine == Engine::kPushdown)) {
        const RecipeNode& node = graph.node(rp.node);
        reason += "; runs " + SlurmJobDescription(env.slurm, node.recipe->resources);
        // In a partitioned flow: one job per partition, or why not.
        if (node.flow->partitioning) {
          const std::string& by = node.flow->partitioning->by;
          const std::string why = FanOutRefusal(*node.recipe);
          reason += why.empty() ? fmt::format(
                                      ", one per value of {} in its input (at most {} at once), "
                                      "then combined",
                                      by, env.slurm.max_jobs)
                                : fmt::format(", one for all partitions ({})", why);
        }
      }
      std::vector<std::string> row = {graph.node(rp.node).Label(), DecisionName(rp.decision),
                                      reason};
      if (e) row.push_back(fmt::format("{}: {}", EngineName(e->engine), e->why));
      table.AddRow(row);
    }
    out = table.Render();
  } else {
    for (const auto& rp : plan->recipes)
      if (rp.decision == Decision::kRun)
        out += fmt::format("{}  {}\n", Printable(graph.node(rp.node).Label()),
                           Printable(rp.explanation));
  }
  out += fmt::format("{} of {} recipes to run\n", plan->to_run, plan->recipes.size());
  std::fwrite(out.data(), 1, out.size(), stdout);
  return Status::Ok();
}

// Prints what the run service reports: the release each flow runs from, the
// flows skipped, warnings, and the progress of each run on the terminal.
class CliRunListener final : public RunListener {
 public:
  explicit CliRunListener(bool verbose) : verbose_(verbose) {}
  void ReleaseStarting(const std::string& flow, const ReleaseRecord& rel) override {
    std::printf("%s: release %d (commit %s, promoted %s by %s)\n", flow.c_str(), rel.number,
                rel.git_commit.substr(0, 10).c_str(), rel.created_at.c_str(),
                Printable(rel.user).c_str());
    std::fflush(stdout);
  }
  void FlowSkipped(const std::string& flow, const std::string& env) override {
    std::printf("skipping flow %s: no release in the %s\n", flow.c_str(), env.c_str());
  }
  void Warning(const std::string& message) override {
    std::fprintf(stderr, "alambic: warning: %s\n", Printable(message).c_str());
  }
  RunObserver* ObserverForRun() override {
    bool tty = ::isatty(STDOUT_FILENO) != 0;
    progress_ = std::make_unique<TerminalProgress>(stdout, tty, verbose_);
    return progress_.get();
  }

 private:
  bool verbose_;
  std::unique_ptr<TerminalProgress> progress_;
};

int CmdRun(const Globals& g, const Selection& sel, int jobs, bool keep_going, bool verbose,
           const std::string& executor) {
  auto root = WorkspaceRoot(g);
  if (!root.ok()) return Fail(root.status());
  RunRequest request;
  request.env = g.env;
  request.selection = ToPlanOptions(sel);
  request.jobs = jobs;
  request.keep_going = keep_going;
  request.executor = executor;
  request.handle_signals = true;
  request.process_exits_after = true;
  CliRunListener listener(verbose);
  auto outcome = RunWorkspace(*root, request, &listener);
  if (!outcome.ok()) return Fail(outcome.status());
  switch (outcome->verdict) {
    case RunVerdict::kSucceeded:
      return kExitOk;
    case RunVerdict::kCancelled:
      return kExitStopped;
    case RunVerdict::kFailed:
      return kExitFailed;
    case RunVerdict::kRefused:
      if (!outcome->audit_error.ok()) (void)Fail(outcome->audit_error);
      return Fail(outcome->refusal);
  }
  return kExitFailed;
}

}  // namespace

void RunCommands::AddPlan(CLI::App& app) {
  plan_ = app.add_subcommand("plan", "What a run would build");
  AddSelection(plan_, &plan_sel_);
  plan_->add_flag("--explain", explain_, "Every recipe with its decision and reason");
  AddFormat(plan_, &plan_format_);
  plan_->add_flag("--exit-code", exit_code_,
                  "Exit 2 when something is to run, 0 when nothing is stale (1: error)");
}

void RunCommands::AddRun(CLI::App& app) {
  run_ = app.add_subcommand("run", "Build what is stale");
  AddSelection(run_, &run_sel_);
  run_->add_option("-j,--jobs", jobs_, "Recipes at once (default: the number of cores)")
      ->check(CLI::NonNegativeNumber);
  run_->add_flag("-k,--keep-going", keep_going_, "Go on with recipes not downstream of a failure");
  run_->add_flag("-v,--verbose", verbose_, "Print recipe log lines");
  run_->add_option("--executor", executor_,
                   "Run the recipes with this executor instead of the environment's")
      ->check(CLI::IsMember({"local", "slurm"}));
}

bool RunCommands::parsed() const { return *plan_ || *run_; }

int RunCommands::Run(const Globals& g) const {
  if (*plan_) {
    PlanOutput po;
    po.format = plan_format_;
    po.explain = explain_;
    po.exit_code = exit_code_;
    return CmdPlan(g, plan_sel_, std::move(po));
  }
  if (*run_) return CmdRun(g, run_sel_, jobs_, keep_going_, verbose_, executor_);
  return kExitUsage;
}

}  // namespace alambic
