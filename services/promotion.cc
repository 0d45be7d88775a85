#include "services/promotion.h"

#include <fmt/format.h>

#include "catalog/catalog.h"
#include "core/flow/loader.h"
#include "services/workspace.h"

namespace alambic {

Result<PromoteOutcome> PromoteFlow(const std::filesystem::path& root,
                                   const PromotionRequest& request) {
  LoadedWorkspace config = LoadWorkspaceConfig(root);
  const WorkspaceConfig& cfg = config.workspace.config;
  const std::string from = EnvironmentName(cfg, request.from);
  const PromoteOptions& o = request.options;
  if (!cfg.environments.count(o.to))
    return Status::Invalid(fmt::format("unknown environment '{}'", o.to));
  if (o.to == from)
    return Status::Invalid(
        fmt::format("cannot promote from {} to itself: name the target with --to", from));
  ALAMBIC_ASSIGN_OR_RETURN(auto catalog, Catalog::Open(root / ".alambic" / "catalog.db"));
  return Promote(*catalog, root, from, o, request.who);
}

Result<RollbackOutcome> RollbackFlow(Catalog& catalog, const std::string& env,
                                     const std::string& flow, int to, const std::string& note,
                                     const Actor& who) {
  AuditEntry entry;
  entry.user = who.user;
  entry.host = who.host;
  entry.action = kAuditRollback;
  entry.environment = env;
  entry.flow = flow;
  if (!note.empty()) entry.detail["note"] = note;
  // Every attempt is audited, a refusal too; the first error wins over the audit's.
  auto finish = [&](const Status& st) -> Status {
    entry.outcome = st.ok() ? kAuditOk
                    : (st.code() == StatusCode::kInvalid || st.code() == StatusCode::kNotFound)
                        ? kAuditRefused
                        : kAuditFailed;
    if (!st.ok()) entry.detail["reason"] = st.message();
    Status audited = catalog.AppendAudit(entry);
    return st.ok() ? audited : st;
  };

  auto releases = catalog.ListReleases(flow, env);
  if (!releases.ok()) return finish(releases.status());
  if (releases->empty())
    return finish(Status::NotFound(fmt::format("flow {} has no release in {}", flow, env)));
  const ReleaseRecord* active = nullptr;
  for (const auto& r : *releases)
    if (r.status == kReleaseActive) active = &r;
  if (active) entry.detail["from"] = active->Name();
  const ReleaseRecord* target = nullptr;
  if (to > 0) {
    for (const auto& r : *releases)
      if (r.number == to) target = &r;
    entry.target = fmt::format("{}/{}", flow, to);
    if (!target)
      return finish(
          Status::NotFound(fmt::format("flow {} has no release {} in {}", flow, to, env)));
    if (target == active)
      return finish(
          Status::Invalid(fmt::format("release {} is already active in {}", target->Name(), env)));
  } else {
    // Releases are newest first: the first below the active one is the highest.
    for (const auto& r : *releases)
      if (!target && (!active || r.number < active->number)) target = &r;
    if (!target)
      return finish(Status::Invalid(fmt::format(
          "release {} is the oldest release of {} in {}: there is no earlier release to roll "
          "back to",
          active ? active->Name() : flow, flow, env)));
    entry.target = target->Name();
  }
  entry.detail["to"] = target->Name();
  // The activation and its audit entry in one transaction; a failure is audited after.
  AuditEntry done = entry;
  done.outcome = kAuditOk;
  const Status activated =
      catalog.ActivateRelease(flow, env, target->number, kActivationRollback, who, note, &done);
  if (!activated.ok()) return finish(activated);
  RollbackOutcome out;
  out.active = *target;
  if (active) out.previous = *active;
  return out;
}

}  // namespace alambic
