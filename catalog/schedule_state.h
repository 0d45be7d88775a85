// Catalog records of the scheduler (core/sched): the slots fired and the
// state of each (flow, environment) schedule. Stored in the tables
// `schedule_slots` and `schedules` (schema 6).
//
// A slot is claimed (one row, under a UNIQUE (flow, environment, nominal,
// timezone) constraint) before the run it starts is created: two daemons, or
// one restarted after a crash, can claim a slot only once, so it fires at most
// once. `nominal` is the slot's local wall-clock time "2026-10-25T02:30" in
// `timezone`, never a UTC minute (02:30 happens twice that night in Paris).
//
// A schedule's first_seen is when its current definition (cron, zone, start,
// end, DST policies) was first seen: catch-up never replays a slot from before
// it, nor from before resumed_at, so that changing or resuming a schedule never
// fires past slots retroactively.
#pragma once

#include <string>

namespace alambic {

struct SlotClaim {
  std::string flow, environment;
  std::string nominal;                 // "2026-10-25T02:30"
  std::string timezone;                // "Europe/Paris"
  std::string fire_at;                 // the instant it fires for, ISO-8601 UTC
  std::string kind = "scheduled";      // scheduled | catchup
  std::string claimed_at, claimed_by;  // when (ISO-8601 UTC; now when empty) and by what
  std::string run_id;                  // "" until SetSlotRun
};

struct ScheduleState {
  std::string flow, environment;
  std::string definition, first_seen;
  bool paused = false;
  std::string paused_at, paused_by, resumed_at;
};

}  // namespace alambic
