// Catalog records of the scheduler (core/sched): the slots fired and the
// state of each (flow, environment) schedule. Stored in the tables
// `schedule_slots` and `schedules` (schema 6), and the daemon's lease in
// `scheduler_leases` (schema 7).
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

#include <cstdint>
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
  // Progress (schema 7; "" for slots claimed before): claimed, queued,
  // running, retry_wait, then succeeded, failed, cancelled or skipped.
  std::string status;
  int attempts = 0;             // runs started for the slot
  int64_t lease_token = 0;      // the fencing token of the daemon that last wrote it
  std::string next_attempt_at;  // retry_wait: when (ISO-8601 UTC)
  std::string error;            // the last failure
};

// Slot statuses that still need the daemon (a daemon that takes over the
// lease finishes them: a slot is never left without its run).
inline constexpr const char* kSlotClaimed = "claimed";
inline constexpr const char* kSlotQueued = "queued";
inline constexpr const char* kSlotRunning = "running";
inline constexpr const char* kSlotRetryWait = "retry_wait";
// Final statuses.
inline constexpr const char* kSlotSucceeded = "succeeded";
inline constexpr const char* kSlotFailed = "failed";
inline constexpr const char* kSlotCancelled = "cancelled";
inline constexpr const char* kSlotSkipped = "skipped";

// The scheduler's lease on (workspace, environment): one daemon at a time
// launches runs there. `token` grows by one each time the lease changes
// holder (never for a renewal); a catalog connection fenced with a token
// (Catalog::SetFence) refuses every scheduler and run write once the
// lease's token is another, so a daemon that lost its lease cannot claim a
// slot, record a run's outcome or publish a dataset version.
struct SchedulerLease {
  std::string workspace, environment, holder;
  int64_t token = 0;
  std::string acquired_at, heartbeat_at, expires_at;  // ISO-8601 UTC
};

// The cursor of one data trigger of (flow, environment) (schedule on_change,
// core/flow/flow.h ChangeTrigger): the content hash last seen for `trigger`
// (its key, e.g. "file:data/exams.csv"), when, and the slot it fired ("" for
// the first observation, which fires nothing). Stored in `trigger_cursors`.
struct TriggerCursor {
  std::string flow, environment, trigger;
  std::string hash;         // "sha256:…", "etag:…", "version:…"
  std::string observed_at;  // ISO-8601 UTC
  std::string slot;         // the nominal of the slot it fired, or ""
};

struct ScheduleState {
  std::string flow, environment;
  std::string definition, first_seen;
  bool paused = false;
  std::string paused_at, paused_by, resumed_at;
};

}  // namespace alambic
