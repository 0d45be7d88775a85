#include "core/flow/schedule_spec.h"

namespace alambic {

Result<sched::ScheduleSpec> ScheduleSpecOf(const Schedule& s) {
  auto at = [&](const Status& st) {
    return Status::Invalid(s.loc.ToString() + ": schedule " + st.message());
  };
  sched::ScheduleSpec spec;
  spec.cron = s.cron;
  spec.timezone = s.timezone;
  if (!s.start.empty()) {
    auto t = sched::ParseLocalTime(s.start);
    if (!t.ok()) return at(Status::Invalid("start " + t.status().message()));
    spec.start = *t;
  }
  if (!s.end.empty()) {
    auto t = sched::ParseLocalTime(s.end, true);
    if (!t.ok()) return at(Status::Invalid("end " + t.status().message()));
    spec.end = *t;
  }
  auto gap = sched::ParseDstGap(s.dst_gap);
  if (!gap.ok()) return at(gap.status());
  spec.dst_gap = *gap;
  auto overlap = sched::ParseDstOverlap(s.dst_overlap);
  if (!overlap.ok()) return at(overlap.status());
  spec.dst_overlap = *overlap;
  auto mode = sched::ParseCatchupMode(s.catchup);
  if (!mode.ok()) return at(mode.status());
  spec.catchup.mode = *mode;
  spec.catchup.max = s.catchup_max;
  auto window = sched::ParseWindow(s.catchup_window);
  if (!window.ok()) return at(window.status());
  spec.catchup.window = *window;
  return spec;
}

}  // namespace alambic
