// Catalog: releases and their activations (release.h).
#include "catalog/release.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>

#include "catalog/catalog.h"
#include "catalog/sql_error.h"
#include "core/base/crash_point.h"

namespace alambic {

namespace {

constexpr const char* kReleaseColumns =
    "flow, environment, number, git_commit, tag, gates, schemas, user, host, created_at, note";

ReleaseRecord ReadRelease(SQLite::Statement& q) {
  ReleaseRecord r;
  r.flow = q.getColumn(0).getString();
  r.environment = q.getColumn(1).getString();
  r.number = q.getColumn(2).getInt();
  r.git_commit = q.getColumn(3).getString();
  r.tag = q.getColumn(4).getString();
  r.gates = nlohmann::json::parse(q.getColumn(5).getString(), nullptr, false);
  if (!r.gates.is_array()) r.gates = nlohmann::json::array();
  r.schemas = nlohmann::json::parse(q.getColumn(6).getString(), nullptr, false);
  if (!r.schemas.is_object()) r.schemas = nlohmann::json::object();
  r.user = q.getColumn(7).getString();
  r.host = q.getColumn(8).getString();
  r.created_at = q.getColumn(9).getString();
  r.note = q.getColumn(10).getString();
  return r;
}

std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

struct Activation {
  int number = 0;
  std::string action, at;
};

// The activations of (flow, env), oldest first.
std::vector<Activation> ReadActivations(SQLite::Database& db, const std::string& flow,
                                        const std::string& env) {
  SQLite::Statement q(db,
                      "SELECT number, action, at FROM release_activations WHERE flow = ? AND "
                      "environment = ? ORDER BY seq");
  q.bind(1, flow);
  q.bind(2, env);
  std::vector<Activation> out;
  while (q.executeStep())
    out.push_back(
        {q.getColumn(0).getInt(), q.getColumn(1).getString(), q.getColumn(2).getString()});
  return out;
}

// Fills status and activated_at of `r` from the activations of its flow.
void FillStatus(ReleaseRecord* r, const std::vector<Activation>& activations) {
  r->status = kReleaseInactive;
  r->activated_at.clear();
  for (size_t i = 0; i < activations.size(); ++i) {
    if (activations[i].number != r->number) continue;
    r->activated_at = activations[i].at;
    if (i + 1 == activations.size())
      r->status = kReleaseActive;
    else if (activations[i + 1].action == kActivationRollback)
      r->status = kReleaseRolledBack;
    else
      r->status = kReleaseSuperseded;
  }
}

void InsertActivation(SQLite::Database& db, const std::string& flow, const std::string& env,
                      int number, const std::string& action, const Actor& who,
                      const std::string& note) {
  SQLite::Statement q(db,
                      "INSERT INTO release_activations (flow, environment, number, action, user, "
                      "host, at, note) VALUES (?,?,?,?,?,?,?,?)");
  q.bind(1, flow);
  q.bind(2, env);
  q.bind(3, number);
  q.bind(4, action);
  q.bind(5, who.user);
  q.bind(6, who.host);
  q.bind(7, NowIso());
  q.bind(8, note);
  q.exec();
}

}  // namespace

std::string GatesSummary(const nlohmann::json& gates) {
  if (!gates.is_array() || gates.empty()) return "no gates";
  size_t passed = 0;
  for (const auto& g : gates)
    if (g.is_object() && g.value("passed", false)) ++passed;
  return fmt::format("{}/{} gate{}", passed, gates.size(), gates.size() == 1 ? "" : "s");
}

Result<int> Catalog::NextReleaseNumber(const std::string& flow, const std::string& env) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(
        *db_, "SELECT coalesce(max(number), 0) FROM releases WHERE flow = ? AND environment = ?");
    q.bind(1, flow);
    q.bind(2, env);
    q.executeStep();
    return q.getColumn(0).getInt() + 1;
  } catch (const std::exception& e) {
    return SqlError(e, "next release number");
  }
}

Status Catalog::AddRelease(const ReleaseRecord& r, const Actor& who, const AuditEntry* audit) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    {
      SQLite::Statement exists(
          *db_, "SELECT 1 FROM releases WHERE flow = ? AND environment = ? AND number = ?");
      exists.bind(1, r.flow);
      exists.bind(2, r.environment);
      exists.bind(3, r.number);
      if (exists.executeStep())
        return Status::Invalid(
            fmt::format("release {} already exists in {}", r.Name(), r.environment));
    }
    SQLite::Statement q(
        *db_,
        fmt::format("INSERT INTO releases ({}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", kReleaseColumns));
    q.bind(1, r.flow);
    q.bind(2, r.environment);
    q.bind(3, r.number);
    q.bind(4, r.git_commit);
    q.bind(5, r.tag);
    q.bind(6, Dump(r.gates.is_array() ? r.gates : nlohmann::json::array()));
    q.bind(7, Dump(r.schemas.is_object() ? r.schemas : nlohmann::json::object()));
    q.bind(8, r.user.empty() ? who.user : r.user);
    q.bind(9, r.host.empty() ? who.host : r.host);
    q.bind(10, r.created_at.empty() ? NowIso() : r.created_at);
    q.bind(11, r.note);
    q.exec();
    CrashPoint("release_activation");
    InsertActivation(*db_, r.flow, r.environment, r.number, kActivationPromote, who, r.note);
    if (audit) InsertAuditLocked(*audit);
    tx.commit();
    return Status::Ok();
  } catch (const std::exception& e) {
    return SqlError(e, "add release");
  }
}

Result<std::vector<ReleaseRecord>> Catalog::ListReleases(const std::string& flow,
                                                         const std::string& env) {
  std::lock_guard lock(mu_);
  try {
    // One read transaction: the releases and the activations agree.
    SQLite::Transaction tx(*db_);
    SQLite::Statement q(*db_, fmt::format("SELECT {} FROM releases WHERE flow = ? AND "
                                          "environment = ? ORDER BY number DESC",
                                          kReleaseColumns));
    q.bind(1, flow);
    q.bind(2, env);
    std::vector<ReleaseRecord> out;
    while (q.executeStep()) out.push_back(ReadRelease(q));
    const auto activations = ReadActivations(*db_, flow, env);
    for (auto& r : out) FillStatus(&r, activations);
    return out;
  } catch (const std::exception& e) {
    return SqlError(e, "list releases");
  }
}

Result<std::optional<ReleaseRecord>> Catalog::ActiveRelease(const std::string& flow,
                                                            const std::string& env) {
  ALAMBIC_ASSIGN_OR_RETURN(auto releases, ListReleases(flow, env));
  for (auto& r : releases)
    if (r.status == kReleaseActive) return std::optional<ReleaseRecord>(std::move(r));
  return std::optional<ReleaseRecord>();
}

Status Catalog::ActivateRelease(const std::string& flow, const std::string& env, int number,
                                const std::string& action, const Actor& who,
                                const std::string& note, const AuditEntry* audit) {
  if (action != kActivationPromote && action != kActivationRollback)
    return Status::Invalid(
        fmt::format("unknown release activation '{}' (expected promote or rollback)", action));
  const std::string name = fmt::format("{}/{}", flow, number);
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    {
      SQLite::Statement exists(
          *db_, "SELECT 1 FROM releases WHERE flow = ? AND environment = ? AND number = ?");
      exists.bind(1, flow);
      exists.bind(2, env);
      exists.bind(3, number);
      if (!exists.executeStep())
        return Status::NotFound(fmt::format("flow {} has no release {} in {}", flow, number, env));
    }
    const auto activations = ReadActivations(*db_, flow, env);
    if (!activations.empty() && activations.back().number == number)
      return Status::Invalid(fmt::format("release {} is already active in {}", name, env));
    InsertActivation(*db_, flow, env, number, action, who, note);
    if (audit) InsertAuditLocked(*audit);
    tx.commit();
    return Status::Ok();
  } catch (const std::exception& e) {
    return SqlError(e, "activate release");
  }
}

}  // namespace alambic
