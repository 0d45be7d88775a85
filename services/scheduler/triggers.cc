#include "services/scheduler/triggers.h"

#include <algorithm>
#include <sstream>

#include <fmt/format.h>

#include "core/base/hash.h"
#include "core/net/http_client.h"
#include "core/table/csv.h"
#include "core/table/sqlite_read.h"

namespace alambic {

namespace {

namespace fs = std::filesystem;

bool IsWithin(const fs::path& p, const fs::path& dir) {
  auto [d, _] = std::mismatch(dir.begin(), dir.end(), p.begin(), p.end());
  return d == dir.end();
}

// `p` resolved (symlinks followed), inside the workspace or a data root.
Result<fs::path> Confined(const std::string& p, const TriggerSources& s) {
  std::error_code ec;
  fs::path resolved =
      fs::weakly_canonical(fs::path(p).is_absolute() ? fs::path(p) : s.root / p, ec);
  if (ec) return Status::IoError(fmt::format("cannot resolve '{}': {}", p, ec.message()));
  if (IsWithin(resolved, fs::weakly_canonical(s.root, ec))) return resolved;
  for (const auto& r : s.data_roots)
    if (IsWithin(resolved, fs::weakly_canonical(r, ec))) return resolved;
  return Status::Invalid(
      fmt::format("'{}' is outside the workspace and the configured data roots", p));
}

Result<std::string> PollFile(const ChangeTrigger& t, const TriggerSources& s) {
  ALAMBIC_ASSIGN_OR_RETURN(fs::path path, Confined(t.target, s));
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    return Status::NotFound(fmt::format("{}: no such file", t.target));
  ALAMBIC_ASSIGN_OR_RETURN(std::string h, Sha256File(path));
  return "sha256:" + h;
}

Result<std::string> PollHttp(const ChangeTrigger& t, const TriggerSources& s) {
  ALAMBIC_RETURN_IF_ERROR(CheckHttpUrl(t.target));
  HttpOptions o;
  o.timeout_seconds = s.http_timeout_seconds;
  auto head = HttpHead(t.target, o);
  if (head.ok() && head->status >= 200 && head->status < 300) {
    if (!head->etag.empty()) return "etag:" + head->etag;
    if (!head->last_modified.empty()) return "last-modified:" + head->last_modified;
  }
  ALAMBIC_ASSIGN_OR_RETURN(HttpResponse got, HttpGet(t.target, o));
  if (!got.etag.empty()) return "etag:" + got.etag;
  if (!got.last_modified.empty()) return "last-modified:" + got.last_modified;
  return "sha256:" + Sha256Hex(got.body);
}

Result<std::string> PollDataset(const ChangeTrigger& t, const TriggerSources& s) {
  if (s.catalog == nullptr) return Status::Internal("no catalog to read datasets from");
  const size_t slash = t.target.find('/');
  const std::string flow = t.target.substr(0, slash), dataset = t.target.substr(slash + 1);
  ALAMBIC_ASSIGN_OR_RETURN(auto current, s.catalog->CurrentVersions(s.environment));
  for (const auto& v : current) {
    if (v.dataset != dataset) continue;
    if (v.flow != flow)
      return Status::Invalid(
          fmt::format("dataset {} is built by flow {}, not {}", dataset, v.flow, flow));
    return "version:" + v.version_id;
  }
  return std::string("none");
}

Result<std::string> PollSql(const ChangeTrigger& t, const TriggerSources& s) {
  if (s.connections == nullptr) return Status::Internal("no connections");
  ALAMBIC_ASSIGN_OR_RETURN(ConnectionSpec spec,
                           ResolveConnection(*s.connections, t.connection, s.environment));
  if (spec.type != kConnectionSqlite)
    return Status::Invalid(
        fmt::format("connection {} is a {}, not a sqlite database", t.connection, spec.type));
  ALAMBIC_ASSIGN_OR_RETURN(fs::path db, Confined(spec.path, s));
  ALAMBIC_ASSIGN_OR_RETURN(Table rows,
                           ReadSqliteQuery(db, t.target, "connection " + t.connection, nullptr));
  std::ostringstream csv;
  ALAMBIC_RETURN_IF_ERROR(WriteCsv(rows, csv));
  return "sha256:" + Sha256Hex(csv.str());
}

Result<std::string> Poll(const ChangeTrigger& t, const TriggerSources& s) {
  if (t.kind == "file") return PollFile(t, s);
  if (t.kind == "http") return PollHttp(t, s);
  if (t.kind == "dataset") return PollDataset(t, s);
  if (t.kind == "sql") return PollSql(t, s);
  return Status::Invalid(fmt::format("unknown trigger kind '{}'", t.kind));
}

}  // namespace

std::string TriggerName(const ChangeTrigger& t) {
  if (t.kind == "http") return "http:" + RedactedUrl(t.target);
  if (t.kind == "sql") return "sql:" + t.connection;
  return t.Key();
}

Result<std::string> PollTrigger(const ChangeTrigger& t, const TriggerSources& s) {
  Result<std::string> r = Poll(t, s);
  if (!r.ok())
    return r.status().WithContext(
        fmt::format("{}: on_change {}", t.loc.ToString(), TriggerName(t)));
  return r;
}

}  // namespace alambic
