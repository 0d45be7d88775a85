// A flow's schedule in an environment, as a library: what a catch-up would
// replay now (from the schedule state the scheduler recorded), and pausing or
// resuming it with its audit entry. The CLI's `alambic schedule catchup|pause|
// resume`, the scheduling daemon and the server share these decisions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/base/actor.h"
#include "core/base/status.h"
#include "core/sched/schedule.h"

namespace alambic {

struct CatchupPlan {
  // The scheduler's state for the flow in the environment, if it ever saw it.
  std::optional<ScheduleState> state;
  // Whether the scheduler has seen this very definition (cron, zone, policy):
  // a schedule never seen replays no past slot.
  bool known = false;
  bool paused = false;
  std::optional<SlotClaim> last;   // the last slot fired
  sched::Instant not_before{};     // first seen or resumed, whichever is later
  std::vector<sched::Slot> slots;  // to replay at `now` (none when unknown or paused)
};

// The catch-up of `flow` (compiled `schedule`) in `env` at `now`.
Result<CatchupPlan> PlanCatchup(Catalog& catalog, const std::string& flow, const std::string& env,
                                const sched::Schedule& schedule, sched::Instant now);

// Pauses (or resumes) the schedule of `flow` in `env` by `who` at `now`, and
// appends a "schedule.pause" / "schedule.resume" audit entry (target: `cron`;
// outcome ok, or refused when it was already so). Returns whether it changed.
Result<bool> PauseSchedule(Catalog& catalog, const std::string& flow, const std::string& env,
                           const std::string& cron, bool pause, const Actor& who,
                           sched::Instant now);

}  // namespace alambic
