#include "ui/cli/schedule_commands.h"

#include <cstdio>
#include <set>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "catalog/catalog.h"
#include "core/base/actor.h"
#include "core/base/clock.h"
#include "core/flow/loader.h"
#include "core/flow/schedule_spec.h"
#include "core/sched/schedule.h"
#include "services/catalog_path.h"
#include "services/scheduler/scheduled_flows.h"
#include "services/scheduler/triggers.h"
#include "services/schedules.h"
#include "services/workspace.h"
#include "ui/common/text_table.h"

namespace alambic {

namespace {

namespace fs = std::filesystem;
using sched::Instant;

constexpr const char* kScheduleDefaultEnv = "warehouse";

int ScheduleFail(const Status& st) {
  std::fprintf(stderr, "alambic: %s\n", Printable(st.message()).c_str());
  return 1;
}

struct Context {
  fs::path root;
  std::string env;
  Workspace workspace;
  // The flows as `env` runs them: where it runs releases only (the
  // warehouse), each flow's active release (what the daemon runs), else the
  // working tree's; `unreleased` names the flows with a schedule in the
  // working tree and no active release there.
  bool releases_only = false;
  std::vector<Flow> flows;
  std::set<std::string> unreleased;
  std::vector<std::string> notes;
  std::unique_ptr<Catalog> catalog;
  Instant now;
};

Result<Context> Open(const std::string& dir, const std::string& env, const std::string& at) {
  Context c;
  std::error_code ec;
  c.root = FindWorkspaceRoot(fs::absolute(dir, ec));
  if (c.root.empty())
    return Status::NotFound(
        fmt::format("not an Alambic workspace: no alambic.yaml in {} or its parents", dir));
  LoadedWorkspace lw = LoadWorkspace(c.root);
  if (!lw.ok()) {
    std::string msg;
    for (const auto& d : lw.diagnostics) msg += (msg.empty() ? "" : "\n") + d.ToString();
    return Status::Invalid(msg);
  }
  c.workspace = std::move(lw.workspace);
  c.env = env.empty() ? kScheduleDefaultEnv : env;
  if (!c.workspace.config.environments.count(c.env))
    return Status::Invalid(fmt::format("unknown environment '{}'", c.env));
  ALAMBIC_ASSIGN_OR_RETURN(c.catalog, Catalog::Open(RunCatalogPath(c.root)));
  c.releases_only = RunsReleasesOnly(c.workspace.config, c.env);
  ALAMBIC_ASSIGN_OR_RETURN(auto scheduled, LoadScheduledFlows(c.root, *c.catalog, c.workspace.flows,
                                                              c.releases_only, c.env));
  c.flows = std::move(scheduled.flows);
  c.notes = std::move(scheduled.notes);
  for (const auto& f : c.workspace.flows) {
    if (!f.schedule) continue;
    bool released = false;
    for (const auto& r : c.flows) released = released || r.name == f.name;
    if (!released) c.unreleased.insert(f.name);
  }
  if (at.empty()) {
    SystemClock clock;
    c.now = std::chrono::floor<std::chrono::seconds>(clock.Now());
  } else {
    auto t = sched::ParseUtc(at);
    if (!t)
      return Status::Invalid(
          fmt::format("--at '{}' is not an ISO 8601 UTC time like 2026-10-25T00:00:00Z", at));
    c.now = *t;
  }
  return c;
}

Result<sched::Schedule> ScheduleOf(const Flow& f) {
  if (!f.schedule) return Status::Invalid(fmt::format("flow {} has no schedule", f.name));
  if (f.schedule->cron.empty())
    return Status::Invalid(fmt::format("flow {} has no cron schedule, only on_change triggers ({})",
                                       f.name, f.schedule->loc.ToString()));
  ALAMBIC_ASSIGN_OR_RETURN(auto spec, ScheduleSpecOf(*f.schedule));
  auto s = sched::Schedule::Compile(spec);
  if (!s.ok())
    return Status::Invalid(f.schedule->loc.ToString() + ": schedule " + s.status().message());
  return s;
}

// The flow as the environment runs it (its active release in the warehouse).
Result<const Flow*> FindFlow(const Context& c, const std::string& name) {
  const Flow* f = nullptr;
  for (const auto& r : c.flows)
    if (r.name == name) f = &r;
  if (!f && c.unreleased.count(name))
    return Status::NotFound(fmt::format(
        "flow {} has no active release in {}: the daemon runs no schedule of it there (its "
        "working tree's schedule runs once promoted: `alambic promote {} --to {}`)",
        name, c.env, name, c.env));
  if (!f) f = c.workspace.FindFlow(name);
  if (!f) return Status::NotFound(fmt::format("no flow named '{}'", name));
  if (!f->schedule)
    return Status::Invalid(fmt::format("flow {} has no schedule ({})", name, f->file));
  return f;
}

std::string Policy(const sched::ScheduleSpec& s) {
  std::string p = fmt::format("dst_gap {}, dst_overlap {}, catchup {}", ToString(s.dst_gap),
                              ToString(s.dst_overlap), ToString(s.catchup.mode));
  if (s.catchup.mode == sched::CatchupMode::kAll) p += fmt::format(" (max {})", s.catchup.max);
  if (s.catchup.mode != sched::CatchupMode::kNone)
    p += fmt::format(" within {}", sched::WindowToString(s.catchup.window));
  return p;
}

std::string Note(const sched::Schedule& s, const sched::Slot& slot) {
  const std::string hm = slot.nominal.ToString().substr(11);
  switch (slot.placement) {
    case sched::TimeZone::Kind::kSkipped:
      return fmt::format("{} does not exist that day (DST gap): runs at the first valid instant",
                         hm);
    case sched::TimeZone::Kind::kRepeated:
      return fmt::format("{} happens twice that day: runs once, {} occurrence", hm,
                         ToString(s.spec().dst_overlap));
    case sched::TimeZone::Kind::kUnique:
      break;
  }
  return "";
}

int List(Context& c) {
  // Wide cells: the DST and catch-up policy must be read whole, never cut.
  TextTable t({"flow", "schedule", "timezone", "policy", "state", "next run", "next run (UTC)"},
              160);
  int n = 0;
  for (const auto& f : c.flows) {
    if (!f.schedule) continue;
    ++n;
    auto state = c.catalog->GetScheduleState(f.name, c.env);
    if (!state.ok()) return ScheduleFail(state.status());
    const bool paused = state->has_value() && (*state)->paused;
    std::string triggers;
    for (const auto& trig : f.schedule->on_change)
      triggers += fmt::format("{}on change of {} (every {})", triggers.empty() ? "" : ", ",
                              TriggerName(trig), trig.every);
    if (f.schedule->cron.empty()) {
      t.AddRow({f.name, triggers, "", "", paused ? "paused" : "active", "(on change)", ""});
      continue;
    }
    if (!triggers.empty()) triggers = "; " + triggers;
    auto s = ScheduleOf(f);
    if (!s.ok()) return ScheduleFail(s.status());
    auto next = s->Next(c.now, 1);
    t.AddRow({f.name, f.schedule->cron + triggers, s->spec().timezone, Policy(s->spec()),
              paused ? "paused" : "active",
              next.empty() ? "(none: ended)" : s->zone().FormatIso(next[0].at),
              next.empty() ? "" : sched::FormatUtc(next[0].at)});
  }
  for (const auto& name : c.unreleased) {
    ++n;
    t.AddRow({name, "(no active release)", "", "", "not scheduled", "", ""});
  }
  if (n == 0) {
    std::printf("no flow has a schedule (add `schedule: {cron: ...}` to a flow)\n");
    return 0;
  }
  if (c.releases_only)
    std::printf("schedules of the active releases in %s (what the daemon runs):\n", c.env.c_str());
  std::fputs(t.Render().c_str(), stdout);
  for (const auto& note : c.notes) std::printf("note: %s\n", Printable(note).c_str());
  return 0;
}

int Next(Context& c, const std::string& flow, int count) {
  if (count < 1 || count > 10000)
    return ScheduleFail(Status::Invalid("--count must be between 1 and 10000"));
  auto f = FindFlow(c, flow);
  if (!f.ok()) return ScheduleFail(f.status());
  auto s = ScheduleOf(**f);
  if (!s.ok()) return ScheduleFail(s.status());
  std::printf("%s: %s in %s (%s)\n", Printable(flow).c_str(), Printable(s->spec().cron).c_str(),
              s->spec().timezone.c_str(), Policy(s->spec()).c_str());
  if (auto tr = s->zone().NextTransition(c.now))
    std::printf("next DST transition: %s, local clocks go from %s to %s\n",
                sched::FormatUtc(tr->at).c_str(), tr->from.ToString().c_str(),
                tr->to.ToString().c_str());
  TextTable t({"slot (local)", "fires at (local)", "fires at (UTC)", "note"});
  for (const auto& slot : s->Next(c.now, count))
    t.AddRow({slot.nominal.ToString(),
              s->zone().FormatIso(slot.at) + " " + s->zone().Abbreviation(slot.at),
              sched::FormatUtc(slot.at), Note(*s, slot)});
  std::fputs(t.Render().c_str(), stdout);
  return 0;
}

int Catchup(Context& c, const std::string& flow) {
  auto f = FindFlow(c, flow);
  if (!f.ok()) return ScheduleFail(f.status());
  auto s = ScheduleOf(**f);
  if (!s.ok()) return ScheduleFail(s.status());
  auto plan = PlanCatchup(*c.catalog, flow, c.env, *s, c.now);
  if (!plan.ok()) return ScheduleFail(plan.status());
  std::printf("%s: %s in %s (%s)\n", Printable(flow).c_str(), Printable(s->spec().cron).c_str(),
              s->spec().timezone.c_str(), Policy(s->spec()).c_str());
  if (!plan->known) {
    std::printf("this schedule was never seen by the scheduler in %s: it replays no past slot\n",
                c.env.c_str());
    return 0;
  }
  if (plan->paused) {
    std::printf("paused since %s by %s: nothing runs until `alambic schedule resume %s`\n",
                plan->state->paused_at.c_str(), Printable(plan->state->paused_by).c_str(),
                flow.c_str());
    return 0;
  }
  if (plan->last.has_value())
    std::printf("last fired slot: %s (%s)\n", plan->last->nominal.c_str(),
                plan->last->fire_at.c_str());
  else
    std::printf("last fired slot: none\n");
  std::printf("not before: %s (first seen or resumed)\n",
              sched::FormatUtc(plan->not_before).c_str());
  const auto& slots = plan->slots;
  if (slots.empty()) {
    std::printf("nothing to replay at %s\n", sched::FormatUtc(c.now).c_str());
    return 0;
  }
  std::printf("would replay %zu slot%s (dry run, nothing started):\n", slots.size(),
              slots.size() == 1 ? "" : "s");
  for (const auto& slot : slots)
    std::printf("  %s %s  fires at %s\n", slot.nominal.ToString().c_str(),
                s->spec().timezone.c_str(), sched::FormatUtc(slot.at).c_str());
  return 0;
}

int Pause(Context& c, const std::string& flow, bool pause) {
  auto f = FindFlow(c, flow);
  // A flow not yet released may be paused ahead of its first promotion.
  if (!f.ok() && c.unreleased.count(flow)) f = c.workspace.FindFlow(flow);
  if (!f.ok()) return ScheduleFail(f.status());
  auto changed =
      PauseSchedule(*c.catalog, flow, c.env, (*f)->schedule->cron, pause, Actor::Current(), c.now);
  if (!changed.ok()) return ScheduleFail(changed.status());
  if (!*changed) {
    std::printf("%s is already %s in %s\n", Printable(flow).c_str(), pause ? "paused" : "active",
                c.env.c_str());
    return 0;
  }
  std::printf("%s %s in %s%s\n", Printable(flow).c_str(), pause ? "paused" : "resumed",
              c.env.c_str(), pause ? "" : " (slots missed while paused are not replayed)");
  return 0;
}

}  // namespace

ScheduleCommands::ScheduleCommands(CLI::App& app) {
  schedule_ = app.add_subcommand("schedule", "Flow schedules: next runs, catch-up, pause");
  schedule_->require_subcommand(1);
  list_ = schedule_->add_subcommand("list", "Each schedule, its policy and next run");
  list_->add_option("--at", at_, "Compute as if now were this UTC time (ISO 8601)");
  next_ = schedule_->add_subcommand("next", "The next fire times of a flow, local and UTC");
  next_->add_option("flow", flow_, "The flow")->required();
  next_->add_option("--count", count_, "How many (default 5)");
  next_->add_option("--at", at_, "From this UTC time (ISO 8601) instead of now");
  catchup_ = schedule_->add_subcommand("catchup", "The missed slots a catch-up would replay");
  catchup_->add_option("flow", flow_, "The flow")->required();
  catchup_->add_flag("--dry-run", dry_run_, "Only show them (required for now)")->required();
  catchup_->add_option("--at", at_, "As if now were this UTC time (ISO 8601)");
  pause_ = schedule_->add_subcommand("pause", "Stop firing a flow's schedule (audited)");
  pause_->add_option("flow", flow_, "The flow")->required();
  resume_ = schedule_->add_subcommand("resume", "Fire a paused schedule again (audited)");
  resume_->add_option("flow", flow_, "The flow")->required();
}

bool ScheduleCommands::parsed() const { return schedule_->parsed(); }

int ScheduleCommands::Run(const std::string& dir, const std::string& env) const {
  auto c = Open(dir, env, at_);
  if (!c.ok()) return ScheduleFail(c.status());
  if (list_->parsed()) return List(*c);
  if (next_->parsed()) return Next(*c, flow_, count_);
  if (catchup_->parsed()) return Catchup(*c, flow_);
  if (pause_->parsed()) return Pause(*c, flow_, true);
  if (resume_->parsed()) return Pause(*c, flow_, false);
  return 2;
}

}  // namespace alambic
