// The cron parser (core/sched/cron.h) and ParseLocalTime: an expression that parses steps
// forward and backward to matching minutes.
#include "core/sched/cron.h"
#include "fuzz/fuzz_target.h"

ALAMBIC_FUZZ_TARGET(cron) {
  using namespace alambic::sched;
  alambic::fuzz::Input in(data, size);
  const std::string expr = in.Until('\n');
  const std::string when = in.Rest();
  auto lt = ParseLocalTime(when, (size & 1) != 0);
  LocalTime t{2026, 3, 29, 1, 59};
  if (lt.ok()) {
    FUZZ_CHECK(lt->month >= 1 && lt->month <= 12 && lt->day >= 1 && lt->day <= 31 &&
                   lt->hour >= 0 && lt->hour < 24 && lt->minute >= 0 && lt->minute < 60,
               lt->ToString());
    if (lt->year > 1 && lt->year < 9000) t = *lt;
  }
  auto c = CronExpr::Parse(expr);
  if (!c.ok()) return 0;
  auto next = c->Next(t);
  if (next) {
    FUZZ_CHECK(*next > t, next->ToString());
    FUZZ_CHECK(c->Matches(*next), next->ToString());
  }
  auto prev = c->Prev(t);
  if (prev) {
    FUZZ_CHECK(*prev < t, prev->ToString());
    FUZZ_CHECK(c->Matches(*prev), prev->ToString());
  }
  return 0;
}
