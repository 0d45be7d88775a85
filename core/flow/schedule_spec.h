// A flow's `schedule:` (flow.h, as written) compiled into the scheduler's
// ScheduleSpec (core/sched/schedule.h).
#pragma once

#include "core/base/status.h"
#include "core/flow/flow.h"
#include "core/sched/schedule.h"

namespace alambic {

// Fails (Invalid) naming the flow file and line of the schedule when a field
// is wrong (the loader already reports these as diagnostics).
Result<sched::ScheduleSpec> ScheduleSpecOf(const Schedule& s);

}  // namespace alambic
