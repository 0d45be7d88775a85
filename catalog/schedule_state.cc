// Catalog: the scheduler's slots and schedule states (schedule_state.h).
#include "catalog/schedule_state.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>

#include "catalog/catalog.h"
#include "catalog/sql_error.h"

namespace alambic {

namespace {

constexpr const char* kStateColumns =
    "flow, environment, definition, first_seen, paused, paused_at, paused_by, resumed_at";

ScheduleState ReadState(SQLite::Statement& q) {
  ScheduleState s;
  s.flow = q.getColumn(0).getString();
  s.environment = q.getColumn(1).getString();
  s.definition = q.getColumn(2).getString();
  s.first_seen = q.getColumn(3).getString();
  s.paused = q.getColumn(4).getInt() != 0;
  s.paused_at = q.getColumn(5).getString();
  s.paused_by = q.getColumn(6).getString();
  s.resumed_at = q.getColumn(7).getString();
  return s;
}

std::optional<ScheduleState> FindState(SQLite::Database& db, const std::string& flow,
                                       const std::string& env) {
  SQLite::Statement q(
      db, fmt::format("SELECT {} FROM schedules WHERE flow=? AND environment=?", kStateColumns));
  q.bind(1, flow);
  q.bind(2, env);
  if (!q.executeStep()) return std::nullopt;
  return ReadState(q);
}

}  // namespace

Result<bool> Catalog::TryClaimSlot(const SlotClaim& s) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(
        *db_,
        "INSERT INTO schedule_slots (flow, environment, nominal, timezone, fire_at, "
        "kind, claimed_at, claimed_by, run_id) VALUES (?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT DO NOTHING");
    q.bind(1, s.flow);
    q.bind(2, s.environment);
    q.bind(3, s.nominal);
    q.bind(4, s.timezone);
    q.bind(5, s.fire_at);
    q.bind(6, s.kind);
    q.bind(7, s.claimed_at.empty() ? NowIso() : s.claimed_at);
    q.bind(8, s.claimed_by);
    q.bind(9, s.run_id);
    return q.exec() == 1;
  } catch (const std::exception& e) {
    return SqlError(e, "claim schedule slot");
  }
}

Status Catalog::SetSlotRun(const SlotClaim& s, const std::string& run_id) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "UPDATE schedule_slots SET run_id=? WHERE flow=? AND environment=? AND "
                        "nominal=? AND timezone=?");
    q.bind(1, run_id);
    q.bind(2, s.flow);
    q.bind(3, s.environment);
    q.bind(4, s.nominal);
    q.bind(5, s.timezone);
    if (q.exec() != 1)
      return Status::NotFound(
          fmt::format("schedule slot {} {} of {} was not claimed", s.nominal, s.timezone, s.flow));
    return Status::Ok();
  } catch (const std::exception& e) {
    return SqlError(e, "set slot run");
  }
}

Result<std::optional<SlotClaim>> Catalog::LastClaimedSlot(const std::string& flow,
                                                          const std::string& env,
                                                          const std::string& timezone) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT flow, environment, nominal, timezone, fire_at, kind, claimed_at, "
                        "claimed_by, run_id FROM schedule_slots WHERE flow=? AND environment=? "
                        "AND timezone=? ORDER BY nominal DESC LIMIT 1");
    q.bind(1, flow);
    q.bind(2, env);
    q.bind(3, timezone);
    if (!q.executeStep()) return std::optional<SlotClaim>();
    SlotClaim s;
    s.flow = q.getColumn(0).getString();
    s.environment = q.getColumn(1).getString();
    s.nominal = q.getColumn(2).getString();
    s.timezone = q.getColumn(3).getString();
    s.fire_at = q.getColumn(4).getString();
    s.kind = q.getColumn(5).getString();
    s.claimed_at = q.getColumn(6).getString();
    s.claimed_by = q.getColumn(7).getString();
    s.run_id = q.getColumn(8).getString();
    return std::optional<SlotClaim>(std::move(s));
  } catch (const std::exception& e) {
    return SqlError(e, "last claimed slot");
  }
}

Result<ScheduleState> Catalog::ObserveSchedule(const std::string& flow, const std::string& env,
                                               const std::string& definition,
                                               const std::string& now) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    std::optional<ScheduleState> s = FindState(*db_, flow, env);
    if (!s || s->definition != definition) {
      SQLite::Statement q(*db_,
                          "INSERT INTO schedules (flow, environment, definition, first_seen) "
                          "VALUES (?,?,?,?) ON CONFLICT (flow, environment) DO UPDATE SET "
                          "definition=excluded.definition, first_seen=excluded.first_seen");
      q.bind(1, flow);
      q.bind(2, env);
      q.bind(3, definition);
      q.bind(4, now);
      q.exec();
      s = FindState(*db_, flow, env);
    }
    tx.commit();
    return *s;
  } catch (const std::exception& e) {
    return SqlError(e, "observe schedule");
  }
}

Result<std::optional<ScheduleState>> Catalog::GetScheduleState(const std::string& flow,
                                                               const std::string& env) {
  std::lock_guard lock(mu_);
  try {
    return FindState(*db_, flow, env);
  } catch (const std::exception& e) {
    return SqlError(e, "schedule state");
  }
}

Result<bool> Catalog::SetSchedulePaused(const std::string& flow, const std::string& env,
                                        bool paused, const Actor& who, const std::string& now) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    std::optional<ScheduleState> s = FindState(*db_, flow, env);
    if ((s ? s->paused : false) == paused) return false;
    const std::string by = who.host.empty() ? who.user : who.user + "@" + who.host;
    if (paused) {
      SQLite::Statement q(*db_,
                          "INSERT INTO schedules (flow, environment, paused, paused_at, paused_by) "
                          "VALUES (?,?,1,?,?) ON CONFLICT (flow, environment) DO UPDATE SET "
                          "paused=1, paused_at=excluded.paused_at, paused_by=excluded.paused_by");
      q.bind(1, flow);
      q.bind(2, env);
      q.bind(3, now);
      q.bind(4, by);
      q.exec();
    } else {
      SQLite::Statement q(
          *db_, "UPDATE schedules SET paused=0, resumed_at=? WHERE flow=? AND environment=?");
      q.bind(1, now);
      q.bind(2, flow);
      q.bind(3, env);
      q.exec();
    }
    tx.commit();
    return true;
  } catch (const std::exception& e) {
    return SqlError(e, "pause schedule");
  }
}

}  // namespace alambic
