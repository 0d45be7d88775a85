// A flow's schedule: a cron expression read on the wall clock of a named time
// zone (IANA names, read by CCTZ from the system's tzdata in
// /usr/share/zoneinfo), between optional start and end local times, with a
// daylight-saving policy, and the catch-up policy applied after downtime.
//
// Slots. Each time the cron expression matches a local minute (its nominal
// time, e.g. 2026-10-25T02:30 in Europe/Paris) there is one slot, fired at
// most once. A slot is identified by (flow, environment, nominal local time,
// zone), never by a UTC instant. Its instant:
//   - a local time that exists once: that instant;
//   - a local time skipped by a spring-forward (02:30 on 2026-03-29 in
//     Paris): dst_gap run_at_next fires it at the first valid instant after
//     the gap (03:00 CEST = 01:00Z); dst_gap skip does not fire it;
//   - a local time that happens twice at fall-back (02:30 on 2026-10-25):
//     fired once, at its first (CEST) or second (CET) occurrence per
//     dst_overlap.
// So an hourly schedule fires 23 (skip) or 24 (run_at_next, two at 03:00
// CEST) times on 2026-03-29 and 24 times on 2026-10-25, a 25-hour day.
//
// Everything here is pure: no clock, no catalog.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"
#include "core/sched/cron.h"

namespace alambic::sched {

using Instant = std::chrono::sys_seconds;

inline constexpr const char* kDefaultTimeZone = "Europe/Paris";

enum class DstGap { kRunAtNext, kSkip };
enum class DstOverlap { kFirst, kSecond };
enum class CatchupMode { kNone, kLatest, kAll };

inline constexpr int kDefaultCatchupMax = 10;
inline constexpr int kMaxCatchupMax = 1000;
inline constexpr std::chrono::seconds kDefaultCatchupWindow{7 * 24 * 3600};

struct CatchupPolicy {
  CatchupMode mode = CatchupMode::kLatest;
  int max = kDefaultCatchupMax;                         // slots replayed at most (all)
  std::chrono::seconds window = kDefaultCatchupWindow;  // how far back slots are replayed
  bool operator==(const CatchupPolicy&) const = default;
};

// The parsers of the policy words; errors list what is accepted.
Result<DstGap> ParseDstGap(std::string_view s);            // run_at_next | skip
Result<DstOverlap> ParseDstOverlap(std::string_view s);    // first | second
Result<CatchupMode> ParseCatchupMode(std::string_view s);  // none | latest | all
// "90s", "30m", "12h", "7d", "2w" (a positive count and a unit).
Result<std::chrono::seconds> ParseWindow(std::string_view s);
std::string ToString(DstGap g);
std::string ToString(DstOverlap o);
std::string ToString(CatchupMode m);
std::string WindowToString(std::chrono::seconds s);  // the largest exact unit: "7d"

// A time zone loaded from the system's tzdata. Copyable, cheap to share.
class TimeZone {
 public:
  // "Europe/Paris", "Asia/Tokyo", "UTC"... Fails (NotFound) for a name that
  // is not in the tzdata, (Invalid) for one that is not a zone name at all
  // ("../etc/passwd").
  static Result<TimeZone> Load(std::string_view name);
  const std::string& name() const { return name_; }
  // The local wall-clock minute at `t` (seconds dropped).
  LocalTime ToLocal(Instant t) const;
  // The UTC offset at `t`, e.g. "+02:00", and the abbreviation, e.g. "CEST".
  std::string Offset(Instant t) const;
  std::string Abbreviation(Instant t) const;
  // "2026-03-29T03:00:00+02:00".
  std::string FormatIso(Instant t) const;

  // How `local` maps to instants: once, not at all (in a gap: `at` is the
  // first instant after the gap), or twice (`at` the first, `second` the second).
  enum class Kind { kUnique, kSkipped, kRepeated };
  struct Lookup {
    Kind kind = Kind::kUnique;
    Instant at, second;
  };
  Lookup Resolve(const LocalTime& local) const;

  // The next change of UTC offset strictly after `t`: its instant and the
  // wall clock just before and at it (02:00 -> 03:00 on 2026-03-29 in Paris).
  struct Transition {
    Instant at;
    LocalTime from, to;
  };
  std::optional<Transition> NextTransition(Instant t) const;

 private:
  struct Impl;
  std::string name_;
  std::shared_ptr<const Impl> impl_;
};

struct ScheduleSpec {
  std::string cron;
  std::string timezone = kDefaultTimeZone;
  std::optional<LocalTime> start, end;  // nominal local times, inclusive
  DstGap dst_gap = DstGap::kRunAtNext;
  DstOverlap dst_overlap = DstOverlap::kFirst;
  CatchupPolicy catchup;
  // What defines the slots and their instants (not the catch-up policy): a
  // change of it is a new schedule, whose first-seen time starts again.
  std::string Definition() const;
};

struct Slot {
  LocalTime nominal;
  Instant at;
  // How the nominal time was placed: kUnique normally, kSkipped when it fell
  // in a gap and runs at the first valid instant, kRepeated when it happens
  // twice (at is the occurrence the policy chose).
  TimeZone::Kind placement = TimeZone::Kind::kUnique;
  bool operator==(const Slot& o) const { return nominal == o.nominal && at == o.at; }
};

class Schedule {
 public:
  // Parses the cron expression and loads the zone; errors name what is wrong.
  static Result<Schedule> Compile(const ScheduleSpec& spec);
  const ScheduleSpec& spec() const { return spec_; }
  const TimeZone& zone() const { return zone_; }
  const CronExpr& cron() const { return cron_; }

  // The slot of a nominal local time, when the cron matches it, it lies in
  // [start, end] and the DST policy fires it.
  std::optional<Slot> SlotAt(const LocalTime& nominal) const;
  // The first `count` slots firing strictly after `t` (in nominal order,
  // which is also the order of their instants); fewer when the schedule ends.
  std::vector<Slot> Next(Instant t, int count) const;
  // The latest slot firing at or before `t`.
  std::optional<Slot> Prev(Instant t) const;

 private:
  ScheduleSpec spec_;
  CronExpr cron_;
  TimeZone zone_;
};

// Catch-up after downtime: the slots to replay at `now`, oldest first.
// Candidates are the slots that fired at or before `now`, later (in nominal
// time) than `last_fired` (when there is one), not before `not_before` (the
// schedule's first-seen time, or when it was resumed: a schedule never
// replays slots from before it existed or while it was paused) and within
// policy.window of `now`. Then: none -> nothing; latest -> the most recent
// candidate; all -> the policy.max most recent candidates.
std::vector<Slot> CatchupSlots(const Schedule& schedule, const std::optional<LocalTime>& last_fired,
                               Instant not_before, Instant now);

// ISO 8601 UTC "2026-03-29T01:00:00Z" and back.
std::string FormatUtc(Instant t);
std::optional<Instant> ParseUtc(std::string_view iso);

}  // namespace alambic::sched
