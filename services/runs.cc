#include "services/runs.h"

#include <fmt/format.h>

#include "core/base/actor.h"
#include "core/flow/loader.h"
#include "core/vcs/promotion.h"
#include "services/catalog_path.h"
#include "services/workspace.h"

namespace fs = std::filesystem;

namespace alambic {
namespace {

RunVerdict VerdictOf(const RunRecord& run) {
  if (run.status == "succeeded") return RunVerdict::kSucceeded;
  if (run.status == "cancelled") return RunVerdict::kCancelled;
  return RunVerdict::kFailed;
}

RunOptions OptionsOf(const RunRequest& request) {
  RunOptions opts;
  opts.plan = request.selection;
  opts.exec.jobs = request.jobs;
  opts.exec.keep_going = request.keep_going;
  opts.executor_kind = request.executor;
  opts.exec.handle_signals = request.handle_signals;
  opts.exec.stop = request.cancel;
  opts.trigger = request.trigger;
  opts.user = request.requested_by;
  opts.run_id = request.run_id;
  opts.wait_for_lock = request.wait_for_lock;
  return opts;
}

// The session's catalog writes fenced by the request's lease, if any.
void Fence(Session& session, const std::string& env, const RunRequest& request) {
  if (request.lease_token != 0)
    session.catalog().SetFence(request.lease_workspace, env, request.lease_token);
}

bool Cancelled(const RunRequest& request) {
  return request.cancel != nullptr && request.cancel->cancelled();
}

// Runs, then posts the run's OpenLineage events.
Result<RunSummary> RunAndReport(Session& session, RunOptions opts, RunListener* listener) {
  RunObserver* observer = listener ? listener->ObserverForRun() : nullptr;
  if (listener) opts.lock_waiting = [listener](const std::string& m) { listener->Warning(m); };
  ALAMBIC_ASSIGN_OR_RETURN(RunSummary summary, RunFlows(session, opts, observer));
  PostRunEvents(session, summary.run, [&](const std::string& m) {
    if (listener) listener->Warning(m);
  });
  return summary;
}

// An environment that runs only releases (the warehouse): each selected flow
// runs from a clone of its active release, never from the working tree.
Result<RunOutcome> RunReleases(const fs::path& root, const std::string& env,
                               const RunRequest& request, RunListener* listener) {
  RunOutcome outcome;
  std::vector<std::string> flows = request.selection.flows;
  ALAMBIC_ASSIGN_OR_RETURN(auto catalog, Catalog::Open(RunCatalogPath(root)));
  // A refused warehouse run is audited too: who tried to run what, and why not.
  auto refuse = [&](const std::string& flow, const std::string& target, const Status& why) {
    AuditEntry audit;
    const Actor who = Actor::Current();
    audit.user = request.requested_by.empty() ? who.user : request.requested_by;
    audit.host = who.host;
    audit.action = "run";
    audit.environment = env;
    audit.flow = flow;
    audit.target = target;
    audit.outcome = "refused";
    audit.detail = {{"error", why.message()}};
    outcome.audit_error = catalog->AppendAudit(audit);
    if (outcome.audit_error.ok()) {
      // As recorded: with its sequence number and hash (the newest "run" entry).
      auto recorded = catalog->ReadAudit({.action = "run", .limit = 1});
      if (recorded.ok() && !recorded->empty())
        outcome.refusal_audit = std::move(recorded->back());
      else
        outcome.refusal_audit = std::move(audit);
    }
    outcome.refusal = why;
    outcome.verdict = RunVerdict::kRefused;
    return std::move(outcome);
  };
  if (flows.empty()) {
    LoadedWorkspace lw = LoadWorkspace(root);
    for (const auto& f : lw.workspace.flows) {
      ALAMBIC_ASSIGN_OR_RETURN(auto active, catalog->ActiveRelease(f.name, env));
      if (active)
        flows.push_back(f.name);
      else if (listener)
        listener->FlowSkipped(f.name, env);
    }
    if (flows.empty())
      return refuse(
          "", "",
          Status::NotFound(fmt::format(
              "no flow has a release in the {}: only released code runs there; promote one with "
              "`alambic promote FLOW --to {}`",
              env, env)));
  }
  for (const auto& flow : flows) {
    if (Cancelled(request)) {
      outcome.verdict = RunVerdict::kCancelled;
      break;
    }
    auto checkout = CheckoutActiveRelease(*catalog, root, flow, env);
    if (!checkout.ok()) return refuse(flow, "", checkout.status());
    const ReleaseRecord& rel = checkout->release;
    if (listener) listener->ReleaseStarting(flow, rel);
    auto kinds = LoadKinds(checkout->code_root);
    if (!kinds.ok()) return kinds.status();
    SessionOptions so;
    so.code_root = checkout->code_root;
    auto session = Session::Open(root, env, *(*kinds)->registry, so);
    if (!session.ok()) return refuse(flow, rel.tag, session.status().WithContext(rel.tag));
    Fence(**session, env, request);
    RunOptions opts = OptionsOf(request);
    if (!outcome.runs.empty()) opts.run_id.clear();  // the request's id names the first run
    opts.plan.flows = {flow};
    opts.release = fmt::format("{}/{}", flow, rel.number);
    auto summary = RunAndReport(**session, opts, listener);
    if (!summary.ok() && Cancelled(request)) {
      outcome.verdict = RunVerdict::kCancelled;
      break;
    }
    if (!summary.ok()) return refuse(flow, rel.tag, summary.status().WithContext(rel.tag));
    const RunVerdict v = VerdictOf(summary->run);
    outcome.runs.push_back(std::move(*summary));
    if (v != RunVerdict::kSucceeded) {
      outcome.verdict = v;
      if (v == RunVerdict::kCancelled) break;
    }
  }
  return outcome;
}

}  // namespace

OpenLineageOptions LineageOptionsFor(const WorkspaceConfig& cfg, const std::string& env) {
  OpenLineageOptions o;
  const std::string name = cfg.name.empty() ? "alambic" : cfg.name;
  o.job_namespace = cfg.openlineage_namespace.empty() ? name : cfg.openlineage_namespace;
  o.dataset_namespace = fmt::format("alambic://{}/{}", name, env);
  return o;
}

void PostRunEvents(Session& s, const RunRecord& run,
                   const std::function<void(const std::string&)>& warn) {
  const WorkspaceConfig& cfg = s.workspace().config;
  if (cfg.openlineage_url.empty()) return;
  auto events = OpenLineageEvents(s.catalog(), run.id, LineageOptionsFor(cfg, s.environment()));
  if (!events.ok()) return warn("openlineage: " + events.status().message());
  OpenLineageEndpoint endpoint;
  endpoint.url = cfg.openlineage_url;
  endpoint.retries = cfg.openlineage_retries;
  endpoint.retry_backoff_seconds = cfg.openlineage_retry_backoff_seconds;
  endpoint.timeout_seconds = cfg.openlineage_timeout_seconds;
  auto sent = PostOpenLineageEvents(endpoint, *events, warn);
  if (!sent.ok()) return warn(sent.status().message());
  if (*sent < static_cast<int>(events->size()))
    warn(fmt::format("openlineage: {} of {} events sent to {}", *sent, events->size(),
                     cfg.openlineage_url));
}

Result<RunOutcome> RunWorkspace(const fs::path& root, const RunRequest& request,
                                RunListener* listener) {
  LoadedWorkspace config = LoadWorkspaceConfig(root);
  const WorkspaceConfig& cfg = config.workspace.config;
  const std::string env = EnvironmentName(cfg, request.env);
  if (RunsReleasesOnly(cfg, env)) return RunReleases(root, env, request, listener);
  RunOutcome outcome;
  if (Cancelled(request)) {
    outcome.verdict = RunVerdict::kCancelled;
    return outcome;
  }
  ALAMBIC_ASSIGN_OR_RETURN(auto session, OpenWorkspaceSession(root, request.env));
  Fence(*session, env, request);
  auto run = RunAndReport(*session, OptionsOf(request), listener);
  if (!run.ok() && Cancelled(request)) {
    // Stopped before the run was created (waiting for the workspace's lock).
    outcome.verdict = RunVerdict::kCancelled;
    return outcome;
  }
  ALAMBIC_ASSIGN_OR_RETURN(RunSummary summary, std::move(run));
  if (request.process_exits_after) Session::CloseAndLeaveToExit(std::move(session));
  outcome.verdict = VerdictOf(summary.run);
  outcome.runs.push_back(std::move(summary));
  return outcome;
}

}  // namespace alambic
