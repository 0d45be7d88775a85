// The audit log: who did what, where, with which outcome (promotions,
// rollbacks, runs, use of secrets). Stored in the catalog table `audit`
// (schema 5), append-only: triggers refuse UPDATE and DELETE, and each entry
// carries a hash chained to the previous one, so that an edit made around the
// triggers (sqlite3 shell, dropped triggers) is found by Catalog::VerifyAudit.
//
// Chain format (for tools that verify it independently): entries are numbered
// seq = 1, 2, ... without gaps; entry 1 has prev_hash ""; entry n has
// prev_hash = hash of entry n-1, and
//   hash = lower-case hex SHA-256 of prev_hash followed by the netstrings
//          ("<decimal byte length>:<bytes>,") of seq (decimal), at, user, host,
//          action, environment, flow, target, outcome and detail (the JSON text
//          as stored).
// The chain has no key: it proves that the log was not edited by someone who
// did not also recompute every later hash; keep a copy of the last hash
// elsewhere to anchor it.
//
// Entries never hold secrets: callers pass names and key ids only.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace alambic {

// Actions.
inline constexpr const char* kAuditPromote = "promote";
inline constexpr const char* kAuditRollback = "rollback";
inline constexpr const char* kAuditRun = "run";
inline constexpr const char* kAuditSecretUse = "secret.use";
inline constexpr const char* kAuditPermission = "permission";  // reserved

// Outcomes (a run's entry has the run's status: succeeded, failed, cancelled).
inline constexpr const char* kAuditOk = "ok";
inline constexpr const char* kAuditRefused = "refused";
inline constexpr const char* kAuditFailed = "failed";

struct AuditEntry {
  int64_t seq = 0;
  std::string at;  // ISO-8601 UTC
  std::string user, host, action, environment, flow, target, outcome;
  nlohmann::json detail = nlohmann::json::object();
  std::string prev_hash, hash;
};

// What Catalog::ReadAudit returns: entries matching every non-empty field, at
// or after `since` (an ISO-8601 prefix compares as text), the newest `limit`
// of them when limit > 0.
struct AuditFilter {
  std::string action, flow, environment, since;
  int limit = 0;
};

// The hash of an entry as the chain format above defines it, from its seq,
// prev_hash, fields and `detail_text` (the stored JSON text of its detail).
std::string AuditHash(const AuditEntry& e, const std::string& detail_text);

}  // namespace alambic
