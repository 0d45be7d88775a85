#include "core/sched/schedule.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <cctz/civil_time.h>
#include <cctz/time_zone.h>
#include <fmt/format.h>

namespace alambic::sched {

namespace {

// Offsets never exceed a day, and a day's gap or overlap never exceeds a few
// hours: a walk from a local time this far before (after) an instant's own
// local time meets every slot near it.
constexpr int kMarginHours = 26;
constexpr std::chrono::seconds kMaxWindow{3660LL * 24 * 3600};

cctz::civil_minute ScheduleToCivil(const LocalTime& t) {
  return cctz::civil_minute(t.year, t.month, t.day, t.hour, t.minute);
}

LocalTime ScheduleFromCivil(const cctz::civil_second& c) {
  return LocalTime{static_cast<int>(c.year()), c.month(), c.day(), c.hour(), c.minute()};
}

bool ValidZoneName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name[0] == '/') return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '/' && c != '_' && c != '+' &&
        c != '-')
      return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    std::string_view part =
        name.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (part.empty()) return false;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return true;
}

}  // namespace

struct TimeZone::Impl {
  cctz::time_zone tz;
};

Result<DstGap> ParseDstGap(std::string_view s) {
  if (s == "run_at_next") return DstGap::kRunAtNext;
  if (s == "skip") return DstGap::kSkip;
  return Status::Invalid(fmt::format("dst_gap must be run_at_next or skip, not '{}'", s));
}

Result<DstOverlap> ParseDstOverlap(std::string_view s) {
  if (s == "first") return DstOverlap::kFirst;
  if (s == "second") return DstOverlap::kSecond;
  return Status::Invalid(fmt::format("dst_overlap must be first or second, not '{}'", s));
}

Result<CatchupMode> ParseCatchupMode(std::string_view s) {
  if (s == "none") return CatchupMode::kNone;
  if (s == "latest") return CatchupMode::kLatest;
  if (s == "all") return CatchupMode::kAll;
  return Status::Invalid(fmt::format("catchup must be latest, all or none, not '{}'", s));
}

Result<std::chrono::seconds> ParseWindow(std::string_view s) {
  int64_t n = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), n);
  int64_t unit = 0;
  if (r.ec == std::errc() && r.ptr == s.data() + s.size() - 1 && n > 0) {
    switch (s.back()) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
      default:
        break;
    }
  }
  if (unit == 0 || n > kMaxWindow.count() / unit)
    return Status::Invalid(fmt::format(
        "catchup window '{}' must be a positive duration of at most 3660d, e.g. 90m, 12h, 7d, 2w",
        s));
  return std::chrono::seconds(n * unit);
}

std::string ToString(DstGap g) { return g == DstGap::kSkip ? "skip" : "run_at_next"; }
std::string ToString(DstOverlap o) { return o == DstOverlap::kSecond ? "second" : "first"; }
std::string ToString(CatchupMode m) {
  return m == CatchupMode::kNone ? "none" : m == CatchupMode::kAll ? "all" : "latest";
}

std::string WindowToString(std::chrono::seconds s) {
  const int64_t n = s.count();
  if (n % (7 * 86400) == 0) return fmt::format("{}w", n / (7 * 86400));
  if (n % 86400 == 0) return fmt::format("{}d", n / 86400);
  if (n % 3600 == 0) return fmt::format("{}h", n / 3600);
  if (n % 60 == 0) return fmt::format("{}m", n / 60);
  return fmt::format("{}s", n);
}

Result<TimeZone> TimeZone::Load(std::string_view name) {
  if (!ValidZoneName(name))
    return Status::Invalid(fmt::format("'{}' is not a time zone name (e.g. Europe/Paris)", name));
  auto impl = std::make_shared<Impl>();
  if (!cctz::load_time_zone(std::string(name), &impl->tz))
    return Status::NotFound(fmt::format(
        "unknown time zone '{}' (not in the system's tzdata, /usr/share/zoneinfo)", name));
  TimeZone z;
  z.name_ = std::string(name);
  z.impl_ = std::move(impl);
  return z;
}

LocalTime TimeZone::ToLocal(Instant t) const {
  return ScheduleFromCivil(cctz::convert(t, impl_->tz));
}

std::string TimeZone::Offset(Instant t) const { return cctz::format("%Ez", t, impl_->tz); }

std::string TimeZone::Abbreviation(Instant t) const { return impl_->tz.lookup(t).abbr; }

std::string TimeZone::FormatIso(Instant t) const {
  return cctz::format("%Y-%m-%dT%H:%M:%S%Ez", t, impl_->tz);
}

TimeZone::Lookup TimeZone::Resolve(const LocalTime& local) const {
  const auto l = impl_->tz.lookup(cctz::civil_second(ScheduleToCivil(local)));
  Lookup out;
  switch (l.kind) {
    case cctz::time_zone::civil_lookup::UNIQUE:
      out.kind = Kind::kUnique;
      out.at = out.second = l.pre;
      break;
    case cctz::time_zone::civil_lookup::SKIPPED:
      out.kind = Kind::kSkipped;
      out.at = out.second = l.trans;
      break;
    case cctz::time_zone::civil_lookup::REPEATED:
      out.kind = Kind::kRepeated;
      out.at = l.pre;
      out.second = l.post;
      break;
  }
  return out;
}

std::optional<TimeZone::Transition> TimeZone::NextTransition(Instant t) const {
  cctz::time_zone::civil_transition ct;
  // Transitions that change only the abbreviation or the DST flag are skipped.
  for (Instant from = t; impl_->tz.next_transition(from, &ct);) {
    // `to` is the wall clock at the transition: after a fall-back it happens
    // twice and its first occurrence (pre) is an hour before the change, so
    // the instant is the lookup's `trans` (equal to pre for a unique time).
    const Instant at = impl_->tz.lookup(ct.to).trans;
    if (ct.from != ct.to)
      return Transition{at, ScheduleFromCivil(ct.from), ScheduleFromCivil(ct.to)};
    from = at;
  }
  return std::nullopt;
}

std::string ScheduleSpec::Definition() const {
  return fmt::format("cron={}\ntimezone={}\nstart={}\nend={}\ndst_gap={}\ndst_overlap={}", cron,
                     timezone, start ? start->ToString() : "", end ? end->ToString() : "",
                     ToString(dst_gap), ToString(dst_overlap));
}

Result<Schedule> Schedule::Compile(const ScheduleSpec& spec) {
  Schedule s;
  s.spec_ = spec;
  ALAMBIC_ASSIGN_OR_RETURN(s.cron_, CronExpr::Parse(spec.cron));
  ALAMBIC_ASSIGN_OR_RETURN(s.zone_, TimeZone::Load(spec.timezone));
  if (spec.start && spec.end && *spec.end < *spec.start)
    return Status::Invalid(fmt::format("schedule end {} is before its start {}",
                                       spec.end->ToString(), spec.start->ToString()));
  if (spec.catchup.max < 1 || spec.catchup.max > kMaxCatchupMax)
    return Status::Invalid(fmt::format("catchup max must be between 1 and {}, not {}",
                                       kMaxCatchupMax, spec.catchup.max));
  return s;
}

std::optional<Slot> Schedule::SlotAt(const LocalTime& nominal) const {
  if (!cron_.Matches(nominal)) return std::nullopt;
  if (spec_.start && nominal < *spec_.start) return std::nullopt;
  if (spec_.end && nominal > *spec_.end) return std::nullopt;
  const TimeZone::Lookup l = zone_.Resolve(nominal);
  Slot s;
  s.nominal = nominal;
  s.placement = l.kind;
  switch (l.kind) {
    case TimeZone::Kind::kUnique:
      s.at = l.at;
      break;
    case TimeZone::Kind::kSkipped:
      if (spec_.dst_gap == DstGap::kSkip) return std::nullopt;
      s.at = l.at;
      break;
    case TimeZone::Kind::kRepeated:
      s.at = spec_.dst_overlap == DstOverlap::kFirst ? l.at : l.second;
      break;
  }
  return s;
}

std::vector<Slot> Schedule::Next(Instant t, int count) const {
  std::vector<Slot> out;
  if (count <= 0) return out;
  LocalTime from = ScheduleFromCivil(cctz::civil_second(ScheduleToCivil(zone_.ToLocal(t))) -
                                     kMarginHours * 3600 - 60);
  if (spec_.start && from < *spec_.start)
    from = ScheduleFromCivil(cctz::civil_second(ScheduleToCivil(*spec_.start)) - 60);
  for (auto n = cron_.Next(from); n; n = cron_.Next(*n)) {
    if (spec_.end && *n > *spec_.end) break;
    auto slot = SlotAt(*n);
    if (!slot || slot->at <= t) continue;
    out.push_back(*slot);
    if (static_cast<int>(out.size()) >= count) break;
  }
  return out;
}

std::optional<Slot> Schedule::Prev(Instant t) const {
  LocalTime from = ScheduleFromCivil(cctz::civil_second(ScheduleToCivil(zone_.ToLocal(t))) +
                                     kMarginHours * 3600);
  if (spec_.end && from > *spec_.end)
    from = ScheduleFromCivil(cctz::civil_second(ScheduleToCivil(*spec_.end)) + 60);
  for (auto n = cron_.Prev(from); n; n = cron_.Prev(*n)) {
    if (spec_.start && *n < *spec_.start) break;
    auto slot = SlotAt(*n);
    if (slot && slot->at <= t) return slot;
  }
  return std::nullopt;
}

std::vector<Slot> CatchupSlots(const Schedule& schedule, const std::optional<LocalTime>& last_fired,
                               Instant not_before, Instant now) {
  const CatchupPolicy& p = schedule.spec().catchup;
  std::vector<Slot> out;
  if (p.mode == CatchupMode::kNone) return out;
  const size_t want = p.mode == CatchupMode::kLatest ? 1 : static_cast<size_t>(p.max);
  const Instant lower = std::max(not_before, now - p.window);
  // Local times this far before `lower` cannot fire at or after it.
  const LocalTime stop = ScheduleFromCivil(
      cctz::civil_second(ScheduleToCivil(schedule.zone().ToLocal(lower))) - kMarginHours * 3600);
  std::optional<Slot> s = schedule.Prev(now);
  while (s && out.size() < want) {
    if (s->at < lower) break;
    if (last_fired && s->nominal <= *last_fired) break;
    out.push_back(*s);
    s.reset();
    // The previous nominal time that fires (instants never decrease with nominal time).
    LocalTime n = out.back().nominal;
    while (!s) {
      std::optional<LocalTime> pn = schedule.cron().Prev(n);
      if (!pn || *pn < stop) break;
      n = *pn;
      s = schedule.SlotAt(n);
    }
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::string FormatUtc(Instant t) {
  return cctz::format("%Y-%m-%dT%H:%M:%SZ", t, cctz::utc_time_zone());
}

std::optional<Instant> ParseUtc(std::string_view iso) {
  std::chrono::time_point<std::chrono::system_clock, std::chrono::microseconds> tp;
  if (!cctz::parse("%Y-%m-%dT%H:%M:%E*SZ", std::string(iso), cctz::utc_time_zone(), &tp))
    return std::nullopt;
  return std::chrono::floor<std::chrono::seconds>(tp);
}

}  // namespace alambic::sched
