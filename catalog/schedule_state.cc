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

constexpr const char* kSlotColumns =
    "flow, environment, nominal, timezone, fire_at, kind, claimed_at, claimed_by, run_id, "
    "status, attempts, lease_token, next_attempt_at, error";

SlotClaim ReadSlot(SQLite::Statement& q) {
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
  s.status = q.getColumn(9).getString();
  s.attempts = q.getColumn(10).getInt();
  s.lease_token = q.getColumn(11).getInt64();
  s.next_attempt_at = q.getColumn(12).getString();
  s.error = q.getColumn(13).getString();
  return s;
}

std::optional<SchedulerLease> FindLease(SQLite::Database& db, const std::string& ws,
                                        const std::string& env) {
  SQLite::Statement q(db,
                      "SELECT workspace, environment, holder, token, acquired_at, heartbeat_at, "
                      "expires_at FROM scheduler_leases WHERE workspace=? AND environment=?");
  q.bind(1, ws);
  q.bind(2, env);
  if (!q.executeStep()) return std::nullopt;
  SchedulerLease l;
  l.workspace = q.getColumn(0).getString();
  l.environment = q.getColumn(1).getString();
  l.holder = q.getColumn(2).getString();
  l.token = q.getColumn(3).getInt64();
  l.acquired_at = q.getColumn(4).getString();
  l.heartbeat_at = q.getColumn(5).getString();
  l.expires_at = q.getColumn(6).getString();
  return l;
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

// Inserts slot `s` unless (flow, environment, nominal, timezone) exists:
// whether it did. Inside the caller's transaction.
bool InsertSlot(SQLite::Database& db, const SlotClaim& s, int64_t lease_token) {
  SQLite::Statement q(db,
                      "INSERT INTO schedule_slots (flow, environment, nominal, timezone, fire_at, "
                      "kind, claimed_at, claimed_by, run_id, status, attempts, lease_token, "
                      "next_attempt_at, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
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
  q.bind(10, s.status.empty() ? std::string(kSlotClaimed) : s.status);
  q.bind(11, s.attempts);
  q.bind(12, lease_token);
  q.bind(13, s.next_attempt_at);
  q.bind(14, s.error);
  return q.exec() == 1;
}

}  // namespace

Result<bool> Catalog::TryClaimSlot(const SlotClaim& s) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    ALAMBIC_RETURN_IF_ERROR(CheckFenceLocked());
    const bool claimed = InsertSlot(*db_, s, fence_token_ ? fence_token_ : s.lease_token);
    tx.commit();
    return claimed;
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
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    ALAMBIC_RETURN_IF_ERROR(CheckFenceLocked());
    const int changed = q.exec();
    tx.commit();
    if (changed != 1)
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
                        fmt::format("SELECT {} FROM schedule_slots WHERE flow=? AND "
                                    "environment=? AND timezone=? ORDER BY nominal DESC LIMIT 1",
                                    kSlotColumns));
    q.bind(1, flow);
    q.bind(2, env);
    q.bind(3, timezone);
    if (!q.executeStep()) return std::optional<SlotClaim>();
    return std::optional<SlotClaim>(ReadSlot(q));
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

Status Catalog::CheckFenceLocked() {
  if (fence_token_ == 0) return Status::Ok();
  std::optional<SchedulerLease> l = FindLease(*db_, fence_workspace_, fence_env_);
  if (l && l->token == fence_token_) return Status::Ok();
  return Status::Failed(fmt::format(
      "lease lost: the scheduler lease of {} is now held by {} (token {}, ours {}); nothing "
      "recorded",
      fence_env_, l ? l->holder : std::string("nobody"), l ? l->token : 0, fence_token_));
}

void Catalog::SetFence(const std::string& workspace, const std::string& env, int64_t token) {
  std::lock_guard lock(mu_);
  fence_workspace_ = workspace;
  fence_env_ = env;
  fence_token_ = token;
}

Result<SchedulerLease> Catalog::AcquireLease(const std::string& workspace, const std::string& env,
                                             const std::string& holder, const std::string& now,
                                             const std::string& expires_at) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    std::optional<SchedulerLease> l = FindLease(*db_, workspace, env);
    if (l && l->holder != holder && l->expires_at > now) return *l;  // held by another
    // Ours, even expired: nobody took it over (that rewrites the holder), so
    // the token still fences everything we wrote.
    if (l && l->holder == holder) {
      SQLite::Statement q(*db_,
                          "UPDATE scheduler_leases SET heartbeat_at=?, expires_at=? WHERE "
                          "workspace=? AND environment=? AND token=?");
      q.bind(1, now);
      q.bind(2, expires_at);
      q.bind(3, workspace);
      q.bind(4, env);
      q.bind(5, static_cast<int64_t>(l->token));
      q.exec();
    } else {
      // Free or expired: a new holding, with a new token.
      SQLite::Statement q(*db_,
                          "INSERT INTO scheduler_leases (workspace, environment, holder, token, "
                          "acquired_at, heartbeat_at, expires_at) VALUES (?,?,?,?,?,?,?) "
                          "ON CONFLICT (workspace, environment) DO UPDATE SET "
                          "holder=excluded.holder, token=excluded.token, "
                          "acquired_at=excluded.acquired_at, heartbeat_at=excluded.heartbeat_at, "
                          "expires_at=excluded.expires_at");
      q.bind(1, workspace);
      q.bind(2, env);
      q.bind(3, holder);
      q.bind(4, static_cast<int64_t>(l ? l->token + 1 : 1));
      q.bind(5, now);
      q.bind(6, now);
      q.bind(7, expires_at);
      q.exec();
    }
    l = FindLease(*db_, workspace, env);
    tx.commit();
    return *l;
  } catch (const std::exception& e) {
    return SqlError(e, "acquire scheduler lease");
  }
}

Result<std::optional<SchedulerLease>> Catalog::GetLease(const std::string& workspace,
                                                        const std::string& env) {
  std::lock_guard lock(mu_);
  try {
    return FindLease(*db_, workspace, env);
  } catch (const std::exception& e) {
    return SqlError(e, "scheduler lease");
  }
}

Status Catalog::ReleaseLease(const std::string& workspace, const std::string& env, int64_t token,
                             const std::string& now) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "UPDATE scheduler_leases SET expires_at=?, heartbeat_at=? WHERE "
                        "workspace=? AND environment=? AND token=?");
    q.bind(1, now);
    q.bind(2, now);
    q.bind(3, workspace);
    q.bind(4, env);
    q.bind(5, static_cast<int64_t>(token));
    q.exec();
    return Status::Ok();
  } catch (const std::exception& e) {
    return SqlError(e, "release scheduler lease");
  }
}

Status Catalog::UpdateSlot(const SlotClaim& s) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    ALAMBIC_RETURN_IF_ERROR(CheckFenceLocked());
    SQLite::Statement q(*db_,
                        "UPDATE schedule_slots SET status=?, attempts=?, next_attempt_at=?, "
                        "error=?, run_id=?, lease_token=? WHERE flow=? AND environment=? AND "
                        "nominal=? AND timezone=?");
    q.bind(1, s.status);
    q.bind(2, s.attempts);
    q.bind(3, s.next_attempt_at);
    q.bind(4, s.error);
    q.bind(5, s.run_id);
    q.bind(6, static_cast<int64_t>(fence_token_ ? fence_token_ : s.lease_token));
    q.bind(7, s.flow);
    q.bind(8, s.environment);
    q.bind(9, s.nominal);
    q.bind(10, s.timezone);
    if (q.exec() != 1)
      return Status::NotFound(
          fmt::format("schedule slot {} {} of {} was not claimed", s.nominal, s.timezone, s.flow));
    tx.commit();
    return Status::Ok();
  } catch (const std::exception& e) {
    return SqlError(e, "update schedule slot");
  }
}

Result<std::vector<SlotClaim>> Catalog::OpenSlots(const std::string& env) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(
        *db_, fmt::format("SELECT {} FROM schedule_slots WHERE environment=? AND status IN "
                          "('claimed','queued','running','retry_wait') ORDER BY nominal, flow",
                          kSlotColumns));
    q.bind(1, env);
    std::vector<SlotClaim> out;
    while (q.executeStep()) out.push_back(ReadSlot(q));
    return out;
  } catch (const std::exception& e) {
    return SqlError(e, "open schedule slots");
  }
}

Result<std::vector<SlotClaim>> Catalog::ListSlots(const std::string& flow, const std::string& env) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_, fmt::format("SELECT {} FROM schedule_slots WHERE flow=? AND "
                                          "environment=? ORDER BY nominal",
                                          kSlotColumns));
    q.bind(1, flow);
    q.bind(2, env);
    std::vector<SlotClaim> out;
    while (q.executeStep()) out.push_back(ReadSlot(q));
    return out;
  } catch (const std::exception& e) {
    return SqlError(e, "schedule slots");
  }
}

Result<std::optional<TriggerCursor>> Catalog::GetTriggerCursor(const std::string& flow,
                                                               const std::string& env,
                                                               const std::string& trigger) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT hash, observed_at, slot FROM trigger_cursors WHERE flow=? AND "
                        "environment=? AND trigger_key=?");
    q.bind(1, flow);
    q.bind(2, env);
    q.bind(3, trigger);
    if (!q.executeStep()) return std::optional<TriggerCursor>();
    TriggerCursor c{flow,
                    env,
                    trigger,
                    q.getColumn(0).getString(),
                    q.getColumn(1).getString(),
                    q.getColumn(2).getString()};
    return std::optional<TriggerCursor>(std::move(c));
  } catch (const std::exception& e) {
    return SqlError(e, "read trigger cursor");
  }
}

Result<bool> Catalog::AdvanceTriggerCursor(const TriggerCursor& c, const std::string& previous_hash,
                                           const SlotClaim* slot) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    ALAMBIC_RETURN_IF_ERROR(CheckFenceLocked());
    SQLite::Statement cur(*db_,
                          "SELECT hash FROM trigger_cursors WHERE flow=? AND environment=? AND "
                          "trigger_key=?");
    cur.bind(1, c.flow);
    cur.bind(2, c.environment);
    cur.bind(3, c.trigger);
    const std::string now_hash = cur.executeStep() ? cur.getColumn(0).getString() : "";
    if (now_hash != previous_hash) return false;  // moved meanwhile (another daemon)
    if (slot != nullptr &&
        !InsertSlot(*db_, *slot, fence_token_ ? fence_token_ : slot->lease_token))
      return false;  // claimed already
    SQLite::Statement up(*db_,
                         "INSERT INTO trigger_cursors (flow, environment, trigger_key, hash, "
                         "observed_at, slot) VALUES (?,?,?,?,?,?) ON CONFLICT (flow, environment, "
                         "trigger_key) DO UPDATE SET hash=excluded.hash, "
                         "observed_at=excluded.observed_at, slot=excluded.slot");
    up.bind(1, c.flow);
    up.bind(2, c.environment);
    up.bind(3, c.trigger);
    up.bind(4, c.hash);
    up.bind(5, c.observed_at);
    up.bind(6, slot ? slot->nominal : std::string());
    up.exec();
    tx.commit();
    return true;
  } catch (const std::exception& e) {
    return SqlError(e, "advance trigger cursor");
  }
}

}  // namespace alambic
