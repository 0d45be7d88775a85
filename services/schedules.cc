#include "services/schedules.h"

namespace alambic {

namespace {
constexpr const char* kAuditPause = "schedule.pause";
constexpr const char* kAuditResume = "schedule.resume";
}  // namespace

Result<CatchupPlan> PlanCatchup(Catalog& catalog, const std::string& flow, const std::string& env,
                                const sched::Schedule& s, sched::Instant now) {
  CatchupPlan plan;
  ALAMBIC_ASSIGN_OR_RETURN(plan.state, catalog.GetScheduleState(flow, env));
  ALAMBIC_ASSIGN_OR_RETURN(plan.last, catalog.LastClaimedSlot(flow, env, s.spec().timezone));
  plan.known = plan.state.has_value() && plan.state->definition == s.spec().Definition();
  plan.paused = plan.state.has_value() && plan.state->paused;
  if (!plan.known || plan.paused) return plan;
  plan.not_before = sched::ParseUtc(plan.state->first_seen).value_or(now);
  if (auto r = sched::ParseUtc(plan.state->resumed_at); r && *r > plan.not_before)
    plan.not_before = *r;
  std::optional<sched::LocalTime> last_nominal;
  if (plan.last.has_value()) {
    auto l = sched::ParseLocalTime(plan.last->nominal);
    if (l.ok()) last_nominal = *l;
  }
  plan.slots = sched::CatchupSlots(s, last_nominal, plan.not_before, now);
  return plan;
}

Result<bool> PauseSchedule(Catalog& catalog, const std::string& flow, const std::string& env,
                           const std::string& cron, bool pause, const Actor& who,
                           sched::Instant now) {
  ALAMBIC_ASSIGN_OR_RETURN(bool changed,
                           catalog.SetSchedulePaused(flow, env, pause, who, sched::FormatUtc(now)));
  AuditEntry e;
  e.user = who.user;
  e.host = who.host;
  e.action = pause ? kAuditPause : kAuditResume;
  e.environment = env;
  e.flow = flow;
  e.target = cron;
  e.outcome = changed ? kAuditOk : kAuditRefused;
  if (!changed) e.detail["reason"] = pause ? "already paused" : "not paused";
  ALAMBIC_RETURN_IF_ERROR(catalog.AppendAudit(e));
  return changed;
}

}  // namespace alambic
