// Catalog: the hash-chained audit log (audit.h).
#include "catalog/audit.h"

#include <algorithm>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>

#include "catalog/catalog.h"
#include "catalog/sql_error.h"
#include "core/base/hash.h"

namespace alambic {

namespace {

constexpr const char* kAuditColumns =
    "seq, at, user, host, action, environment, flow, target, outcome, detail, prev_hash, hash";

void AppendNetstring(std::string* out, std::string_view field) {
  *out += std::to_string(field.size());
  *out += ':';
  *out += field;
  *out += ',';
}

// An entry as stored, with its detail text.
struct StoredEntry {
  AuditEntry entry;
  std::string detail_text;
};

StoredEntry ReadEntry(SQLite::Statement& q) {
  StoredEntry s;
  AuditEntry& e = s.entry;
  e.seq = q.getColumn(0).getInt64();
  e.at = q.getColumn(1).getString();
  e.user = q.getColumn(2).getString();
  e.host = q.getColumn(3).getString();
  e.action = q.getColumn(4).getString();
  e.environment = q.getColumn(5).getString();
  e.flow = q.getColumn(6).getString();
  e.target = q.getColumn(7).getString();
  e.outcome = q.getColumn(8).getString();
  s.detail_text = q.getColumn(9).getString();
  e.detail = nlohmann::json::parse(s.detail_text, nullptr, false);
  if (e.detail.is_discarded()) e.detail = nlohmann::json::object();
  e.prev_hash = q.getColumn(10).getString();
  e.hash = q.getColumn(11).getString();
  return s;
}

std::string Altered(int64_t seq) {
  return fmt::format("audit entry {} was altered or removed", seq);
}

}  // namespace

std::string AuditHash(const AuditEntry& e, const std::string& detail_text) {
  const std::string seq = std::to_string(e.seq);
  std::string text = e.prev_hash;
  for (std::string_view f :
       {std::string_view(seq), std::string_view(e.at), std::string_view(e.user),
        std::string_view(e.host), std::string_view(e.action), std::string_view(e.environment),
        std::string_view(e.flow), std::string_view(e.target), std::string_view(e.outcome),
        std::string_view(detail_text)})
    AppendNetstring(&text, f);
  return Sha256Hex(text);
}

void Catalog::InsertAuditLocked(AuditEntry e) {
  if (e.at.empty()) e.at = NowIso();
  const std::string detail_text =
      e.detail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  e.prev_hash.clear();
  e.seq = 1;
  {
    SQLite::Statement last(*db_, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
    if (last.executeStep()) {
      e.seq = last.getColumn(0).getInt64() + 1;
      e.prev_hash = last.getColumn(1).getString();
    }
    // Never reuse the number of a removed last entry: the gap stays visible.
    SQLite::Statement top(*db_, "SELECT seq FROM sqlite_sequence WHERE name = 'audit'");
    if (top.executeStep()) e.seq = std::max(e.seq, top.getColumn(0).getInt64() + 1);
  }
  e.hash = AuditHash(e, detail_text);
  SQLite::Statement q(
      *db_, fmt::format("INSERT INTO audit ({}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", kAuditColumns));
  q.bind(1, e.seq);
  q.bind(2, e.at);
  q.bind(3, e.user);
  q.bind(4, e.host);
  q.bind(5, e.action);
  q.bind(6, e.environment);
  q.bind(7, e.flow);
  q.bind(8, e.target);
  q.bind(9, e.outcome);
  q.bind(10, detail_text);
  q.bind(11, e.prev_hash);
  q.bind(12, e.hash);
  q.exec();
}

Status Catalog::AppendAudit(AuditEntry e) {
  std::lock_guard lock(mu_);
  try {
    // IMMEDIATE: no other connection appends between reading the last hash and writing.
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    InsertAuditLocked(std::move(e));
    tx.commit();
    return Status::Ok();
  } catch (const std::exception& ex) {
    return SqlError(ex, "audit");
  }
}

Result<std::vector<AuditEntry>> Catalog::ReadAudit(const AuditFilter& f) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(
        *db_, fmt::format("SELECT {} FROM audit WHERE (?1 = '' OR action = ?1) AND (?2 = '' OR "
                          "flow = ?2) AND (?3 = '' OR environment = ?3) AND at >= ?4 ORDER BY seq "
                          "DESC LIMIT ?5",
                          kAuditColumns));
    q.bind(1, f.action);
    q.bind(2, f.flow);
    q.bind(3, f.environment);
    q.bind(4, f.since);
    q.bind(5, f.limit > 0 ? f.limit : -1);
    std::vector<AuditEntry> out;
    while (q.executeStep()) out.push_back(std::move(ReadEntry(q).entry));
    std::reverse(out.begin(), out.end());
    return out;
  } catch (const std::exception& e) {
    return SqlError(e, "read audit");
  }
}

Status Catalog::VerifyAudit() {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_);  // one snapshot
    SQLite::Statement q(*db_, fmt::format("SELECT {} FROM audit ORDER BY seq", kAuditColumns));
    std::string prev;
    int64_t expected = 1;
    while (q.executeStep()) {
      const StoredEntry s = ReadEntry(q);
      // A gap: the entry expected there was removed.
      if (s.entry.seq != expected) return Status::Failed(Altered(expected));
      if (s.entry.prev_hash != prev || AuditHash(s.entry, s.detail_text) != s.entry.hash)
        return Status::Failed(Altered(s.entry.seq));
      prev = s.entry.hash;
      ++expected;
    }
    // The last entries removed: AUTOINCREMENT remembers the highest seq handed out.
    SQLite::Statement top(*db_, "SELECT seq FROM sqlite_sequence WHERE name = 'audit'");
    if (top.executeStep() && top.getColumn(0).getInt64() >= expected)
      return Status::Failed(Altered(expected));
    return Status::Ok();
  } catch (const std::exception& e) {
    return SqlError(e, "verify audit");
  }
}

}  // namespace alambic
