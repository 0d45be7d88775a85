#include "catalog/catalog.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <random>
#include <set>
#include <string_view>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <sqlite3.h>

#include "catalog/sql_error.h"
#include "core/base/crash_point.h"
#include "core/base/hash.h"

namespace alambic {

namespace {

// Migration i brings the schema from version i to i+1. Never edit a shipped one.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  flows TEXT NOT NULL,
  environment TEXT NOT NULL,
  trigger TEXT NOT NULL,
  user TEXT NOT NULL DEFAULT '',
  git_commit TEXT NOT NULL DEFAULT '',
  git_dirty INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX runs_by_start ON runs(started_at);
CREATE TABLE recipe_runs (
  run_id TEXT NOT NULL REFERENCES runs(id),
  flow TEXT NOT NULL,
  recipe TEXT NOT NULL,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  started_at TEXT NOT NULL DEFAULT '',
  finished_at TEXT NOT NULL DEFAULT '',
  duration_ms REAL NOT NULL DEFAULT 0,
  rows_in INTEGER NOT NULL DEFAULT 0,
  rows_out INTEGER NOT NULL DEFAULT 0,
  bytes_out INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  log TEXT NOT NULL DEFAULT '',
  metrics TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (run_id, flow, recipe)
);
CREATE TABLE dataset_versions (
  environment TEXT NOT NULL,
  dataset TEXT NOT NULL,
  id TEXT NOT NULL,
  file TEXT NOT NULL,
  schema TEXT NOT NULL,
  row_count INTEGER NOT NULL,
  size_bytes INTEGER NOT NULL,
  run_id TEXT NOT NULL,
  flow TEXT NOT NULL,
  recipe TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (environment, dataset, id)
);
CREATE INDEX dataset_versions_by_run ON dataset_versions(run_id);
CREATE TABLE version_inputs (
  environment TEXT NOT NULL,
  dataset TEXT NOT NULL,
  version_id TEXT NOT NULL,
  input_dataset TEXT NOT NULL,
  input_version_id TEXT NOT NULL,
  PRIMARY KEY (environment, dataset, version_id, input_dataset)
);
CREATE TABLE current_versions (
  environment TEXT NOT NULL,
  dataset TEXT NOT NULL,
  version_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (environment, dataset)
);
CREATE TABLE recipe_state (
  environment TEXT NOT NULL,
  flow TEXT NOT NULL,
  recipe TEXT NOT NULL,
  params_hash TEXT NOT NULL,
  code_hash TEXT NOT NULL,
  source_fingerprint TEXT NOT NULL,
  inputs TEXT NOT NULL,
  outputs TEXT NOT NULL,
  run_id TEXT NOT NULL,
  PRIMARY KEY (environment, flow, recipe)
);
CREATE TABLE file_fingerprints (
  path TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  inode INTEGER NOT NULL,
  sha256 TEXT NOT NULL
);
)sql",
    // 2: version salts (e.g. the fingerprint of a pseudonymisation key) of the last build.
    R"sql(
ALTER TABLE recipe_state ADD COLUMN salt TEXT NOT NULL DEFAULT '';
)sql",
    // 3: version- and column-level lineage, recipe run ids, the run's environment.
    R"sql(
ALTER TABLE runs ADD COLUMN alambic_version TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE recipe_runs ADD COLUMN uuid TEXT NOT NULL DEFAULT '';
ALTER TABLE recipe_runs ADD COLUMN inputs TEXT NOT NULL DEFAULT '{}';
UPDATE recipe_runs SET uuid = lower(
  hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' ||
  substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' ||
  hex(randomblob(6)));
CREATE TABLE column_lineage (
  environment TEXT NOT NULL,
  dataset TEXT NOT NULL,
  version_id TEXT NOT NULL,
  column_name TEXT NOT NULL,
  input_dataset TEXT NOT NULL,
  input_column TEXT NOT NULL,
  transform TEXT NOT NULL,
  PRIMARY KEY (environment, dataset, version_id, column_name, input_dataset, input_column)
);
CREATE INDEX column_lineage_by_input ON column_lineage(environment, input_dataset, input_column);
CREATE INDEX version_inputs_by_input ON version_inputs(environment, input_dataset, input_version_id);
)sql",
    // 4: models are found through the kind of the recipe runs that built them.
    R"sql(
CREATE INDEX recipe_runs_by_kind ON recipe_runs(kind, status);
)sql",
    // 5: releases (immutable), their activations and the audit log (append-only,
    // hash-chained); the release a run ran and the versions each recipe run
    // published or found up to date.
    R"sql(
ALTER TABLE runs ADD COLUMN release TEXT NOT NULL DEFAULT '';
ALTER TABLE recipe_runs ADD COLUMN outputs TEXT NOT NULL DEFAULT '{}';
CREATE INDEX runs_by_commit ON runs(git_commit, environment);
CREATE TABLE releases (
  flow TEXT NOT NULL,
  environment TEXT NOT NULL,
  number INTEGER NOT NULL,
  git_commit TEXT NOT NULL,
  tag TEXT NOT NULL DEFAULT '',
  gates TEXT NOT NULL DEFAULT '[]',
  schemas TEXT NOT NULL DEFAULT '{}',
  user TEXT NOT NULL DEFAULT '',
  host TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  note TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (flow, environment, number)
);
CREATE TRIGGER releases_no_update BEFORE UPDATE ON releases
BEGIN SELECT RAISE(ABORT, 'releases are immutable'); END;
CREATE TRIGGER releases_no_delete BEFORE DELETE ON releases
BEGIN SELECT RAISE(ABORT, 'releases are immutable'); END;
CREATE TABLE release_activations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  flow TEXT NOT NULL,
  environment TEXT NOT NULL,
  number INTEGER NOT NULL,
  action TEXT NOT NULL CHECK (action IN ('promote', 'rollback')),
  user TEXT NOT NULL DEFAULT '',
  host TEXT NOT NULL DEFAULT '',
  at TEXT NOT NULL,
  note TEXT NOT NULL DEFAULT '',
  FOREIGN KEY (flow, environment, number) REFERENCES releases(flow, environment, number)
);
CREATE INDEX release_activations_by_flow ON release_activations(flow, environment, seq);
CREATE TRIGGER release_activations_no_update BEFORE UPDATE ON release_activations
BEGIN SELECT RAISE(ABORT, 'release activations are append-only'); END;
CREATE TRIGGER release_activations_no_delete BEFORE DELETE ON release_activations
BEGIN SELECT RAISE(ABORT, 'release activations are append-only'); END;
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  user TEXT NOT NULL DEFAULT '',
  host TEXT NOT NULL DEFAULT '',
  action TEXT NOT NULL,
  environment TEXT NOT NULL DEFAULT '',
  flow TEXT NOT NULL DEFAULT '',
  target TEXT NOT NULL DEFAULT '',
  outcome TEXT NOT NULL DEFAULT '',
  detail TEXT NOT NULL DEFAULT '{}',
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
)sql",
    // 6: schedules (schedule_state.h): fired slots, one row per (flow, environment,
    // nominal local time, zone); each schedule's first-seen time and pause state.
    R"sql(
CREATE TABLE schedule_slots (
  flow TEXT NOT NULL,
  environment TEXT NOT NULL,
  nominal TEXT NOT NULL,
  timezone TEXT NOT NULL,
  fire_at TEXT NOT NULL,
  kind TEXT NOT NULL DEFAULT 'scheduled',
  claimed_at TEXT NOT NULL,
  claimed_by TEXT NOT NULL DEFAULT '',
  run_id TEXT NOT NULL DEFAULT '',
  UNIQUE (flow, environment, nominal, timezone)
);
CREATE INDEX schedule_slots_by_fire ON schedule_slots(flow, environment, fire_at);
CREATE TABLE schedules (
  flow TEXT NOT NULL,
  environment TEXT NOT NULL,
  definition TEXT NOT NULL DEFAULT '',
  first_seen TEXT NOT NULL DEFAULT '',
  paused INTEGER NOT NULL DEFAULT 0,
  paused_at TEXT NOT NULL DEFAULT '',
  paused_by TEXT NOT NULL DEFAULT '',
  resumed_at TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (flow, environment)
);
)sql",
    // 7: the scheduler daemon (schedule_state.h): one lease per (workspace,
    // environment) with a fencing token; each slot's progress (status, attempts,
    // the lease token that last wrote it, when its next attempt is due).
    R"sql(
CREATE TABLE scheduler_leases (
  workspace TEXT NOT NULL,
  environment TEXT NOT NULL,
  holder TEXT NOT NULL,
  token INTEGER NOT NULL,
  acquired_at TEXT NOT NULL,
  heartbeat_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  PRIMARY KEY (workspace, environment)
);
ALTER TABLE schedule_slots ADD COLUMN status TEXT NOT NULL DEFAULT '';
ALTER TABLE schedule_slots ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE schedule_slots ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;
ALTER TABLE schedule_slots ADD COLUMN next_attempt_at TEXT NOT NULL DEFAULT '';
ALTER TABLE schedule_slots ADD COLUMN error TEXT NOT NULL DEFAULT '';
)sql",
    // 8: the web server (ui/web): users and their roles, sessions and API
    // tokens (only keyed hashes of session ids and token secrets are stored),
    // and runs indexed by flow (run_flows, kept by a trigger) so that a flow's
    // runs page by keyset whatever their number.
    R"sql(
CREATE TABLE web_users (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL CHECK (role IN ('viewer', 'engineer', 'admin')),
  password_hash TEXT NOT NULL,
  created_at TEXT NOT NULL,
  password_changed_at TEXT NOT NULL
);
CREATE TABLE web_sessions (
  id_hash TEXT PRIMARY KEY,
  user TEXT NOT NULL,
  csrf TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  address TEXT NOT NULL DEFAULT ''
);
CREATE INDEX web_sessions_by_user ON web_sessions(user);
CREATE TABLE web_tokens (
  id TEXT PRIMARY KEY,
  secret_hash TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  user TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('viewer', 'engineer', 'admin')),
  usecases TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  last_used_at TEXT NOT NULL DEFAULT '',
  revoked_at TEXT NOT NULL DEFAULT ''
);
CREATE TABLE run_flows (
  flow TEXT NOT NULL,
  started_at TEXT NOT NULL,
  run_id TEXT NOT NULL,
  PRIMARY KEY (flow, started_at, run_id)
) WITHOUT ROWID;
INSERT OR IGNORE INTO run_flows SELECT j.value, r.started_at, r.id
  FROM runs r, json_each('[' || replace(json_quote(r.flows), ',', '","') || ']') j;
CREATE TRIGGER runs_index_flows AFTER INSERT ON runs
BEGIN
  INSERT OR IGNORE INTO run_flows SELECT value, NEW.started_at, NEW.id
    FROM json_each('[' || replace(json_quote(NEW.flows), ',', '","') || ']');
END;
)sql",
    // 9: the data triggers' cursors (schedule_state.h TriggerCursor): the content
    // hash each trigger of a flow last saw, moved with the slot it fires.
    R"sql(
CREATE TABLE trigger_cursors (
  flow TEXT NOT NULL,
  environment TEXT NOT NULL,
  trigger_key TEXT NOT NULL,
  hash TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  slot TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (flow, environment, trigger_key)
);
)sql",
    // 10: a run's up-to-date recipes in one row (catalog.h UpToDateRecipe), where
    // each had its own recipe_runs row with copied metrics (older runs keep
    // theirs). `recipes` is JSON: {"r": [[flow, recipe, kind, reason, [output,
    // version, ...], [input, ...]], ...]}, reason 0 for "up to date", 1 for "up to
    // date (this version was built before)", or the text; an input is [dataset,
    // version], or the dataset's name alone when its version is the one an
    // entry of the same row lists as output. The view recipe_run_rows reads
    // both as recipe_runs rows, for readers in SQL.
    R"sql(
CREATE TABLE run_up_to_date (
  run_id TEXT PRIMARY KEY REFERENCES runs(id),
  recipes TEXT NOT NULL
);
CREATE VIEW recipe_run_rows AS
SELECT run_id, flow, recipe, kind, status, reason, attempts, started_at, finished_at, duration_ms,
  rows_in, rows_out, bytes_out, error, log, metrics FROM recipe_runs
UNION ALL
SELECT t.run_id, json_extract(e.value, '$[0]'), json_extract(e.value, '$[1]'),
  json_extract(e.value, '$[2]'), 'up_to_date',
  CASE json_type(e.value, '$[3]') WHEN 'text' THEN json_extract(e.value, '$[3]')
    WHEN 'integer' THEN CASE json_extract(e.value, '$[3]')
      WHEN 1 THEN 'up to date (this version was built before)' ELSE 'up to date' END
    ELSE '' END,
  0, '', '', 0, 0, 0, 0, '', '',
  coalesce((SELECT r.metrics FROM runs u JOIN dataset_versions v ON v.environment = u.environment
      AND v.dataset = json_extract(e.value, '$[4][0]') AND v.id = json_extract(e.value, '$[4][1]')
    JOIN recipe_runs r ON r.run_id = v.run_id AND r.flow = json_extract(e.value, '$[0]')
      AND r.recipe = json_extract(e.value, '$[1]')
    WHERE u.id = t.run_id), '{}')
FROM run_up_to_date t, json_each(t.recipes, '$.r') e
WHERE NOT EXISTS (SELECT 1 FROM recipe_runs x WHERE x.run_id = t.run_id
  AND x.flow = json_extract(e.value, '$[0]') AND x.recipe = json_extract(e.value, '$[1]'));
)sql",
    // 11: a run's up-to-date row is stored once per content (up_to_date_sets,
    // keyed by the SHA-256 of the row) and run_up_to_date refers to it by
    // set_hash, its own `recipes` then empty: runs that find the same versions
    // up to date (a flow scheduled every minute where nothing changed) share one
    // row instead of each writing its own. Rows written before keep `recipes`
    // inline (set_hash NULL). The view run_up_to_date_recipes gives each run's
    // row either way; recipe_run_rows reads it.
    R"sql(
CREATE TABLE up_to_date_sets (
  hash TEXT PRIMARY KEY,
  recipes TEXT NOT NULL
);
ALTER TABLE run_up_to_date ADD COLUMN set_hash TEXT REFERENCES up_to_date_sets(hash);
CREATE VIEW run_up_to_date_recipes AS
SELECT t.run_id, CASE WHEN t.set_hash IS NULL THEN t.recipes ELSE s.recipes END AS recipes
FROM run_up_to_date t LEFT JOIN up_to_date_sets s ON s.hash = t.set_hash;
DROP VIEW recipe_run_rows;
CREATE VIEW recipe_run_rows AS
SELECT run_id, flow, recipe, kind, status, reason, attempts, started_at, finished_at, duration_ms,
  rows_in, rows_out, bytes_out, error, log, metrics FROM recipe_runs
UNION ALL
SELECT t.run_id, json_extract(e.value, '$[0]'), json_extract(e.value, '$[1]'),
  json_extract(e.value, '$[2]'), 'up_to_date',
  CASE json_type(e.value, '$[3]') WHEN 'text' THEN json_extract(e.value, '$[3]')
    WHEN 'integer' THEN CASE json_extract(e.value, '$[3]')
      WHEN 1 THEN 'up to date (this version was built before)' ELSE 'up to date' END
    ELSE '' END,
  0, '', '', 0, 0, 0, 0, '', '',
  coalesce((SELECT r.metrics FROM runs u JOIN dataset_versions v ON v.environment = u.environment
      AND v.dataset = json_extract(e.value, '$[4][0]') AND v.id = json_extract(e.value, '$[4][1]')
    JOIN recipe_runs r ON r.run_id = v.run_id AND r.flow = json_extract(e.value, '$[0]')
      AND r.recipe = json_extract(e.value, '$[1]')
    WHERE u.id = t.run_id), '{}')
FROM run_up_to_date_recipes t, json_each(t.recipes, '$.r') e
WHERE NOT EXISTS (SELECT 1 FROM recipe_runs x WHERE x.run_id = t.run_id
  AND x.flow = json_extract(e.value, '$[0]') AND x.recipe = json_extract(e.value, '$[1]'));
)sql",
};
static_assert(std::size(kMigrations) == kCatalogSchemaVersion);

// Whether the filesystem holding `path` has (almost) no space left for us.
bool DiskFull(const std::filesystem::path& path) {
  struct statvfs fs;
  if (::statvfs(path.parent_path().empty() ? "." : path.parent_path().c_str(), &fs) != 0)
    return false;
  return static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize < (uint64_t{1} << 16);
}

// The message for a catalog that could not be opened: says when the disk is full
// (SQLite then often says only "disk I/O error").
Status OpenError(const std::filesystem::path& path, const std::exception& e) {
  const auto* sql = dynamic_cast<const SQLite::Exception*>(&e);
  if ((sql && (sql->getErrorCode() & 0xff) == SQLITE_FULL) || DiskFull(path))
    return Status::IoError(fmt::format(
        "catalog {}: the disk is full ({}); free some space (alambic gc deletes old versions)",
        path.string(), e.what()));
  return Status::IoError(fmt::format("catalog {}: {}", path.string(), e.what()));
}

RunRecord ReadRun(SQLite::Statement& q) {
  RunRecord r;
  r.id = q.getColumn(0).getString();
  r.flows = q.getColumn(1).getString();
  r.environment = q.getColumn(2).getString();
  r.trigger = q.getColumn(3).getString();
  r.user = q.getColumn(4).getString();
  r.git_commit = q.getColumn(5).getString();
  r.git_dirty = q.getColumn(6).getInt() != 0;
  r.status = q.getColumn(7).getString();
  r.started_at = q.getColumn(8).getString();
  r.finished_at = q.getColumn(9).getString();
  r.error = q.getColumn(10).getString();
  r.alambic_version = q.getColumn(11).getString();
  r.host = q.getColumn(12).getString();
  r.release = q.getColumn(13).getString();
  return r;
}

constexpr const char* kRunColumns =
    "id, flows, environment, trigger, user, git_commit, git_dirty, status, started_at, "
    "finished_at, error, alambic_version, host, release";
constexpr const char* kVersionColumns =
    "id, dataset, environment, file, schema, row_count, size_bytes, run_id, flow, recipe, "
    "created_at";

constexpr const char* kRecipeRunColumns =
    "run_id, flow, recipe, kind, status, reason, attempts, started_at, finished_at, duration_ms, "
    "rows_in, rows_out, bytes_out, error, log, metrics, uuid, inputs, outputs";
constexpr const char* kRecipeRunColumnsOfR =
    "r.run_id, r.flow, r.recipe, r.kind, r.status, r.reason, r.attempts, r.started_at, "
    "r.finished_at, r.duration_ms, r.rows_in, r.rows_out, r.bytes_out, r.error, r.log, r.metrics, "
    "r.uuid, r.inputs, r.outputs";

DatasetVersionRecord ReadVersion(SQLite::Statement& q) {
  DatasetVersionRecord v;
  v.id = q.getColumn(0).getString();
  v.dataset = q.getColumn(1).getString();
  v.environment = q.getColumn(2).getString();
  v.file = q.getColumn(3).getString();
  v.schema = q.getColumn(4).getString();
  v.rows = q.getColumn(5).getInt64();
  v.bytes = q.getColumn(6).getInt64();
  v.run_id = q.getColumn(7).getString();
  v.flow = q.getColumn(8).getString();
  v.recipe = q.getColumn(9).getString();
  v.created_at = q.getColumn(10).getString();
  return v;
}

nlohmann::json MapToJson(const std::map<std::string, std::string>& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}

// Reads {"k":"v",...} as MapToJson writes it for plain ASCII names and ids:
// no whitespace, no escapes. False for anything else (left to nlohmann).
bool FlatJsonToMap(std::string_view s, std::map<std::string, std::string>* m) {
  for (unsigned char c : s)
    if (c < 0x20 || c >= 0x80 || c == '\\') return false;
  if (s.size() < 2 || s.front() != '{' || s.back() != '}') return false;
  size_t p = 1;
  auto quoted = [&](std::string_view* out) {
    if (p >= s.size() || s[p] != '"') return false;
    size_t end = s.find('"', p + 1);
    if (end == std::string_view::npos) return false;
    *out = s.substr(p + 1, end - p - 1);
    p = end + 1;
    return true;
  };
  if (s[p] == '}') return p + 1 == s.size();
  while (true) {
    std::string_view k, v;
    if (!quoted(&k) || p >= s.size() || s[p++] != ':' || !quoted(&v) || p >= s.size()) return false;
    (*m)[std::string(k)] = std::string(v);  // the last of duplicate keys wins, as in nlohmann
    if (s[p] == '}') return p + 1 == s.size();
    if (s[p++] != ',') return false;
  }
}

std::map<std::string, std::string> JsonToMap(std::string_view s) {
  std::map<std::string, std::string> m;
  if (FlatJsonToMap(s, &m)) return m;
  m.clear();
  auto j = nlohmann::json::parse(s, nullptr, false);
  if (j.is_object())
    for (const auto& [k, v] : j.items())
      if (v.is_string()) m[k] = v.get<std::string>();
  return m;
}

// Maps up to this size are compared in place by RecipeStateView::MapEquals.
constexpr size_t kShortMap = 16;

std::string_view TextOf(const SQLite::Column& c) {
  return std::string_view(c.getText(), static_cast<size_t>(c.getBytes()));
}

// A row of kRecipeRunColumns (or kRecipeRunColumnsOfR).
RecipeRunRecord ReadRecipeRun(SQLite::Statement& q) {
  RecipeRunRecord r;
  r.run_id = q.getColumn(0).getString();
  r.flow = q.getColumn(1).getString();
  r.recipe = q.getColumn(2).getString();
  r.kind = q.getColumn(3).getString();
  r.status = q.getColumn(4).getString();
  r.reason = q.getColumn(5).getString();
  r.attempts = q.getColumn(6).getInt();
  r.started_at = q.getColumn(7).getString();
  r.finished_at = q.getColumn(8).getString();
  r.duration_ms = q.getColumn(9).getDouble();
  r.rows_in = q.getColumn(10).getInt64();
  r.rows_out = q.getColumn(11).getInt64();
  r.bytes_out = q.getColumn(12).getInt64();
  r.error = q.getColumn(13).getString();
  r.log = q.getColumn(14).getString();
  r.metrics = nlohmann::json::parse(q.getColumn(15).getString(), nullptr, false);
  if (!r.metrics.is_object()) r.metrics = nlohmann::json::object();
  r.uuid = q.getColumn(16).getString();
  r.inputs = JsonToMap(TextOf(q.getColumn(17)));
  r.outputs = JsonToMap(TextOf(q.getColumn(18)));
  return r;
}

// The two explanations the planner gives an up-to-date recipe, stored as 0 and 1.
constexpr std::string_view kUpToDateReasons[] = {"up to date",
                                                 "up to date (this version was built before)"};

// Appends `text` as a JSON string.
void AppendJsonString(std::string* out, std::string_view text) {
  for (unsigned char c : text)
    if (c >= 0x80) {  // nlohmann checks (and replaces) what is not UTF-8
      *out += nlohmann::json(std::string(text))
                  .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      return;
    }
  *out += '"';
  // Runs of characters that need no escape are appended whole.
  size_t plain = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20) continue;
    out->append(text.substr(plain, i - plain));
    plain = i + 1;
    if (c == '"' || c == '\\') {
      *out += '\\';
      *out += c;
    } else {
      *out += fmt::format("\\u{:04x}", static_cast<int>(c));
    }
  }
  out->append(text.substr(plain));
  *out += '"';
}

// An up-to-date recipe's inputs and outputs, as UpToDateRecipe or UpToDateRecipeRef.
size_t InputCount(const UpToDateRecipe& r) { return r.inputs.size(); }
std::string_view InputAt(const UpToDateRecipe& r, size_t k) { return r.inputs[k].first; }
std::string_view InputVersionAt(const UpToDateRecipe& r, size_t k) { return r.inputs[k].second; }
size_t OutputCount(const UpToDateRecipe& r) { return r.outputs.size(); }
std::string_view OutputAt(const UpToDateRecipe& r, size_t k) { return r.outputs[k].first; }
std::string_view OutputVersionAt(const UpToDateRecipe& r, size_t k) { return r.outputs[k].second; }
size_t InputCount(const UpToDateRecipeRef& r) {
  return std::min(r.inputs.size(), r.input_versions.size());
}
std::string_view InputAt(const UpToDateRecipeRef& r, size_t k) { return r.inputs[k]; }
std::string_view InputVersionAt(const UpToDateRecipeRef& r, size_t k) {
  return r.input_versions[k];
}
size_t OutputCount(const UpToDateRecipeRef& r) {
  return std::min(r.outputs.size(), r.output_versions.size());
}
std::string_view OutputAt(const UpToDateRecipeRef& r, size_t k) { return r.outputs[k]; }
std::string_view OutputVersionAt(const UpToDateRecipeRef& r, size_t k) {
  return r.output_versions[k];
}

// The `recipes` column of run_up_to_date (migration 10) for `recipes`
// (UpToDateRecipe or UpToDateRecipeRef).
template <typename Recipe>
std::string EncodeUpToDate(std::span<const Recipe> recipes) {
  // dataset -> its version (as the last entry listing it as output) and how
  // many entries list it: an input is written by name alone when its version
  // is that of the only entry producing it.
  struct Output {
    std::string_view version;
    int listed = 0;
  };
  std::unordered_map<std::string_view, Output> output;
  output.reserve(recipes.size());
  for (const auto& r : recipes)
    for (size_t k = 0; k < OutputCount(r); ++k) {
      Output& o = output[OutputAt(r, k)];
      o.version = OutputVersionAt(r, k);
      ++o.listed;
    }
  std::string out;
  out.reserve(recipes.size() * 96);
  out += "{\"r\":[";
  for (size_t i = 0; i < recipes.size(); ++i) {
    const Recipe& r = recipes[i];
    out += i ? ",[" : "[";
    AppendJsonString(&out, r.flow);
    out += ',';
    AppendJsonString(&out, r.recipe);
    out += ',';
    AppendJsonString(&out, r.kind);
    out += ',';
    if (r.reason == kUpToDateReasons[0])
      out += '0';
    else if (r.reason == kUpToDateReasons[1])
      out += '1';
    else
      AppendJsonString(&out, r.reason);
    out += ",[";
    for (size_t k = 0; k < OutputCount(r); ++k) {
      if (k) out += ',';
      AppendJsonString(&out, OutputAt(r, k));
      out += ',';
      AppendJsonString(&out, OutputVersionAt(r, k));
    }
    out += "],[";
    for (size_t k = 0; k < InputCount(r); ++k) {
      const std::string_view d = InputAt(r, k), v = InputVersionAt(r, k);
      if (k) out += ',';
      auto it = output.find(d);
      if (it != output.end() && it->second.version == v && it->second.listed == 1) {
        AppendJsonString(&out, d);
      } else {
        out += '[';
        AppendJsonString(&out, d);
        out += ',';
        AppendJsonString(&out, v);
        out += ']';
      }
    }
    out += "]]";
  }
  out += "]}";
  return out;
}

// The up-to-date recipes of run `run_id` as EncodeUpToDate wrote them in `text`,
// as recipe runs (without metrics), those of `flow` only unless it is empty;
// `first_output` gets the first output of each ("" for none). Entries that are
// not of that form are left out.
std::vector<RecipeRunRecord> DecodeUpToDate(const std::string& run_id, std::string_view text,
                                            const std::string& flow,
                                            std::vector<std::string>* first_output) {
  std::vector<RecipeRunRecord> out;
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("r") || !j["r"].is_array()) return out;
  const auto& entries = j["r"];
  auto str = [](const nlohmann::json& v) {
    return v.is_string() ? v.get_ref<const std::string&>() : std::string();
  };
  std::unordered_map<std::string, std::string> output;
  for (const auto& e : entries)
    if (e.is_array() && e.size() == 6 && e[4].is_array())
      for (size_t k = 0; k + 1 < e[4].size(); k += 2) output[str(e[4][k])] = str(e[4][k + 1]);
  for (const auto& e : entries) {
    if (!e.is_array() || e.size() != 6 || !e[0].is_string() || !e[1].is_string() ||
        !e[4].is_array() || !e[5].is_array())
      continue;
    if (!flow.empty() && e[0].get_ref<const std::string&>() != flow) continue;
    RecipeRunRecord& r = out.emplace_back();
    r.run_id = run_id;
    r.flow = str(e[0]);
    r.recipe = str(e[1]);
    r.kind = str(e[2]);
    r.status = "up_to_date";
    if (e[3].is_string())
      r.reason = str(e[3]);
    else if (e[3].is_number_integer() && e[3].get<int>() == 1)
      r.reason = kUpToDateReasons[1];
    else
      r.reason = kUpToDateReasons[0];
    r.uuid = UpToDateRecipeUuid(run_id, r.flow, r.recipe);
    for (size_t k = 0; k + 1 < e[4].size(); k += 2) r.outputs[str(e[4][k])] = str(e[4][k + 1]);
    for (const auto& in : e[5]) {
      if (in.is_array() && in.size() == 2) {
        r.inputs[str(in[0])] = str(in[1]);
      } else if (in.is_string()) {
        auto it = output.find(in.get_ref<const std::string&>());
        if (it != output.end()) r.inputs[it->first] = it->second;
      }
    }
    // The first output (for the metrics of its build): the map sorts by name.
    first_output->push_back(e[4].size() >= 2 ? str(e[4][0]) : std::string());
  }
  return out;
}

// Fills the metrics of up-to-date records (DecodeUpToDate) of a run in `env`:
// those of the recipe run that built the version of their first output
// (`first_output`, as DecodeUpToDate gave it).
void FillBuiltMetrics(SQLite::Database& db, const std::string& env,
                      const std::vector<std::string>& first_output,
                      std::vector<RecipeRunRecord>* records) {
  SQLite::Statement q(db,
                      "SELECT r.metrics FROM dataset_versions v JOIN recipe_runs r ON r.run_id = "
                      "v.run_id AND r.flow = ?4 AND r.recipe = ?5 WHERE v.environment = ?1 AND "
                      "v.dataset = ?2 AND v.id = ?3");
  for (size_t i = 0; i < records->size() && i < first_output.size(); ++i) {
    RecipeRunRecord& r = (*records)[i];
    const std::string& dataset = first_output[i];
    auto it = r.outputs.find(dataset);
    if (it == r.outputs.end()) continue;
    q.reset();
    q.bind(1, env);
    q.bind(2, dataset);
    q.bind(3, it->second);
    q.bind(4, r.flow);
    q.bind(5, r.recipe);
    if (!q.executeStep()) continue;
    auto m = nlohmann::json::parse(TextOf(q.getColumn(0)), nullptr, /*allow_exceptions=*/false);
    if (m.is_object()) r.metrics = std::move(m);
  }
}

// The up-to-date recipes recorded for run `run_id` (DecodeUpToDate) and the
// run's environment; none for a run without (or before schema 10).
struct UpToDateOfRun {
  std::string env;
  std::vector<RecipeRunRecord> records;  // without their metrics
  std::vector<std::string> first_output;
  // Fills the metrics of the records for which `keep` is true, and keeps only those.
  std::vector<RecipeRunRecord> WithMetrics(
      SQLite::Database& db, const std::function<bool(const RecipeRunRecord&)>& keep) && {
    std::vector<RecipeRunRecord> kept;
    std::vector<std::string> outputs;
    for (size_t i = 0; i < records.size(); ++i)
      if (keep(records[i])) {
        kept.push_back(std::move(records[i]));
        outputs.push_back(std::move(first_output[i]));
      }
    FillBuiltMetrics(db, env, outputs, &kept);
    return kept;
  }
};

UpToDateOfRun ReadUpToDate(SQLite::Database& db, const std::string& run_id,
                           const std::string& flow) {
  SQLite::Statement q(
      db,
      "SELECT t.recipes, u.environment FROM run_up_to_date_recipes t JOIN runs u ON u.id "
      "= t.run_id WHERE t.run_id = ?");
  q.bind(1, run_id);
  UpToDateOfRun out;
  if (!q.executeStep()) return out;
  out.records = DecodeUpToDate(run_id, TextOf(q.getColumn(0)), flow, &out.first_output);
  out.env = q.getColumn(1).getString();
  return out;
}

}  // namespace

std::string EncodeUpToDateRecipes(std::span<const UpToDateRecipeRef> recipes) {
  return EncodeUpToDate(recipes);
}

std::string UpToDateRecipeUuid(const std::string& run_id, const std::string& flow,
                               const std::string& recipe) {
  std::string h = Hasher().Field(run_id).Field(flow).Field(recipe).HexDigest().substr(0, 32);
  h[12] = '8';                                                  // version 8
  h[16] = "89ab"[std::stoi(h.substr(16, 1), nullptr, 16) & 3];  // variant 10
  return fmt::format("{}-{}-{}-{}-{}", h.substr(0, 8), h.substr(8, 4), h.substr(12, 4),
                     h.substr(16, 4), h.substr(20, 12));
}

std::string NowIso() { return IsoTime(std::chrono::system_clock::now()); }

std::string IsoTime(std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     static_cast<int>(ms % 1000));
}

std::string NewUuid() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xffff,
                     b >> 48, b & 0xffffffffffffULL);
}

Catalog::Catalog(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}
Catalog::~Catalog() = default;

Result<std::unique_ptr<Catalog>> Catalog::Open(const std::filesystem::path& path) {
  try {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    auto db = std::make_unique<SQLite::Database>(path.string(),
                                                 SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db->setBusyTimeout(10000);
    db->exec("PRAGMA journal_mode=WAL");
    db->exec("PRAGMA synchronous=FULL");
    db->exec("PRAGMA foreign_keys=ON");
    std::unique_ptr<Catalog> cat(new Catalog(std::move(db)));
    ALAMBIC_RETURN_IF_ERROR(cat->Migrate());
    return cat;
  } catch (const std::exception& e) {
    return OpenError(path, e);
  }
}

Result<std::unique_ptr<Catalog>> Catalog::OpenInMemory() {
  try {
    auto db = std::make_unique<SQLite::Database>(":memory:",
                                                 SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db->exec("PRAGMA foreign_keys=ON");
    std::unique_ptr<Catalog> cat(new Catalog(std::move(db)));
    cat->in_memory_ = true;
    ALAMBIC_RETURN_IF_ERROR(cat->Migrate());
    return cat;
  } catch (const std::exception& e) {
    return OpenError(":memory:", e);
  }
}

Result<std::unique_ptr<Catalog>> Catalog::OpenReader() {
  if (in_memory_) return Status::Invalid("an in-memory catalog has no other connection");
  std::string path;
  {
    std::lock_guard lock(mu_);
    path = db_->getFilename();
  }
  return OpenReader(path);
}

Result<std::unique_ptr<Catalog>> Catalog::OpenReader(const std::filesystem::path& file) {
  const std::string path = file.string();
  std::unique_ptr<SQLite::Database> db;
  try {
    // Read-only: writes nothing, so that commands that only read work on a full disk.
    db = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READONLY);
    db->setBusyTimeout(10000);
    (void)db->execAndGet("PRAGMA user_version").getInt();
  } catch (const std::exception& e) {
    // A WAL database needs its shared-memory file, which a full disk may not let
    // SQLite make. With no write-ahead log pending (the last writer checkpointed
    // it), the file alone is the whole catalog: read it as it is.
    std::error_code ec;
    const std::filesystem::path wal = path + "-wal";
    const bool wal_empty =
        !std::filesystem::exists(wal, ec) || std::filesystem::file_size(wal, ec) == 0;
    if (!wal_empty || !std::filesystem::exists(file, ec)) return OpenError(file, e);
    try {
      db = std::make_unique<SQLite::Database>("file:" + path + "?immutable=1",
                                              SQLite::OPEN_READONLY | SQLite::OPEN_URI);
    } catch (const std::exception& e2) {
      return OpenError(file, e2);
    }
  }
  try {
    const int version = db->execAndGet("PRAGMA user_version").getInt();
    if (version != kCatalogSchemaVersion)
      return Status::Invalid(fmt::format("catalog {}: schema version {}, expected {}", path,
                                         version, kCatalogSchemaVersion));
    return std::unique_ptr<Catalog>(new Catalog(std::move(db)));
  } catch (const std::exception& e) {
    return OpenError(file, e);
  }
}

Status Catalog::Migrate() {
  std::lock_guard lock(mu_);
  try {
    // Each step reads the version inside its write transaction: two processes opening
    // a new or older catalog at once must not both apply the same migration.
    for (;;) {
      SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
      const int version = db_->execAndGet("PRAGMA user_version").getInt();
      if (version > kCatalogSchemaVersion)
        return Status::Invalid(
            fmt::format("catalog schema version {} is newer than this alambic ({})", version,
                        kCatalogSchemaVersion));
      if (version == kCatalogSchemaVersion) return Status::Ok();
      db_->exec(kMigrations[version]);
      db_->exec(fmt::format("PRAGMA user_version = {}", version + 1));
      tx.commit();
    }
  } catch (const std::exception& e) {
    return SqlError(e, "migration");
  }
}

const char* CatalogMigrationSql(int version) {
  if (version < 1 || version > kCatalogSchemaVersion) return "";
  return kMigrations[version - 1];
}

int Catalog::schema_version() {
  std::lock_guard lock(mu_);
  try {
    return db_->execAndGet("PRAGMA user_version").getInt();
  } catch (const std::exception&) {
    return -1;  // unreadable: no schema this build knows
  }
}

namespace {

// Inserts run `r` (in the caller's transaction).
void InsertRun(SQLite::Database& db, const RunRecord& r) {
  SQLite::Statement q(
      db, fmt::format("INSERT INTO runs ({}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", kRunColumns));
  q.bind(1, r.id);
  q.bind(2, r.flows);
  q.bind(3, r.environment);
  q.bind(4, r.trigger);
  q.bind(5, r.user);
  q.bind(6, r.git_commit);
  q.bind(7, r.git_dirty ? 1 : 0);
  q.bind(8, r.status);
  q.bind(9, r.started_at);
  q.bind(10, r.finished_at);
  q.bind(11, r.error);
  q.bind(12, r.alambic_version);
  q.bind(13, r.host);
  q.bind(14, r.release);
  q.exec();
}

}  // namespace

Status Catalog::BeginRun(const RunRecord& r) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    ALAMBIC_RETURN_IF_ERROR(CheckFenceLocked());
    InsertRun(*db_, r);
    tx.commit();
    return Status::Ok();
  } catch (const std::exception& e) {
    return SqlError(e, "begin run");
  }
}

Status Catalog::FinishRun(const std::string& id, const std::string& status,
                          const std::string& finished_at, const std::string& error) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_, "UPDATE runs SET status=?, finished_at=?, error=? WHERE id=?");
    q.bind(1, status);
    q.bind(2, finished_at);
    q.bind(3, error);
    q.bind(4, id);
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    ALAMBIC_RETURN_IF_ERROR(CheckFenceLocked());
    q.exec();
    tx.commit();
    return Status::Ok();
  } catch (const std::exception& e) {
    return SqlError(e, "finish run");
  }
}

Status Catalog::Commit(const CatalogBatch& b) {
  std::lock_guard lock(mu_);
  try {
    // Immediate: the writer's lock first (waiting for another writer), then the
    // fence read. A deferred transaction that read the fence could not become a
    // writer once another connection had committed since ("database is locked").
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    ALAMBIC_RETURN_IF_ERROR(CheckFenceLocked());
    if (b.begin_run) InsertRun(*db_, *b.begin_run);
    if (!b.up_to_date_row.empty() || !b.up_to_date.empty()) {
      // Once per content (migration 11): a run finding the same versions up to
      // date as an earlier one refers to that run's row.
      std::string encoded;
      if (b.up_to_date_row.empty())
        encoded = EncodeUpToDate(std::span<const UpToDateRecipe>(b.up_to_date));
      const std::string& row = b.up_to_date_row.empty() ? encoded : b.up_to_date_row;
      const std::string hash = Sha256Hex(row);
      SQLite::Statement set(*db_, "INSERT OR IGNORE INTO up_to_date_sets VALUES (?, ?)");
      set.bind(1, hash);
      set.bindNoCopy(2, row);
      set.exec();
      SQLite::Statement ud(*db_,
                           "INSERT OR REPLACE INTO run_up_to_date (run_id, recipes, set_hash) "
                           "VALUES (?, '', ?)");
      ud.bind(1, b.up_to_date_run);
      ud.bind(2, hash);
      ud.exec();
    }
    SQLite::Statement rr(
        *db_,
        "INSERT OR REPLACE INTO recipe_runs (run_id, flow, recipe, kind, status, reason, attempts, "
        "started_at, finished_at, duration_ms, rows_in, rows_out, bytes_out, error, log, metrics, "
        "uuid, inputs, outputs) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    for (const auto& r : b.recipe_runs) {
      rr.reset();
      rr.bind(1, r.run_id);
      rr.bind(2, r.flow);
      rr.bind(3, r.recipe);
      rr.bind(4, r.kind);
      rr.bind(5, r.status);
      rr.bind(6, r.reason);
      rr.bind(7, r.attempts);
      rr.bind(8, r.started_at);
      rr.bind(9, r.finished_at);
      rr.bind(10, r.duration_ms);
      rr.bind(11, r.rows_in);
      rr.bind(12, r.rows_out);
      rr.bind(13, r.bytes_out);
      rr.bind(14, r.error);
      rr.bind(15, r.log);
      rr.bind(16, r.metrics.dump());
      rr.bind(17, r.uuid.empty() ? NewUuid() : r.uuid);
      rr.bind(18, MapToJson(r.inputs).dump());
      rr.bind(19, MapToJson(r.outputs).dump());
      rr.exec();
    }
    SQLite::Statement dv(
        *db_,
        fmt::format("INSERT OR IGNORE INTO dataset_versions ({}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    kVersionColumns));
    SQLite::Statement vi(*db_, "INSERT OR IGNORE INTO version_inputs VALUES (?,?,?,?,?)");
    SQLite::Statement cv(*db_, "INSERT OR REPLACE INTO current_versions VALUES (?,?,?,?,?)");
    SQLite::Statement cl(*db_, "INSERT OR REPLACE INTO column_lineage VALUES (?,?,?,?,?,?,?)");
    for (const auto& v : b.versions) {
      dv.reset();
      dv.bind(1, v.id);
      dv.bind(2, v.dataset);
      dv.bind(3, v.environment);
      dv.bind(4, v.file);
      dv.bind(5, v.schema);
      dv.bind(6, v.rows);
      dv.bind(7, v.bytes);
      dv.bind(8, v.run_id);
      dv.bind(9, v.flow);
      dv.bind(10, v.recipe);
      dv.bind(11, v.created_at);
      dv.exec();
      for (const auto& [ds, id] : v.inputs) {
        vi.reset();
        vi.bind(1, v.environment);
        vi.bind(2, v.dataset);
        vi.bind(3, v.id);
        vi.bind(4, ds);
        vi.bind(5, id);
        vi.exec();
      }
      for (const auto& e : v.column_lineage) {
        cl.reset();
        cl.bind(1, v.environment);
        cl.bind(2, v.dataset);
        cl.bind(3, v.id);
        cl.bind(4, e.column);
        cl.bind(5, e.input_dataset);
        cl.bind(6, e.input_column);
        cl.bind(7, e.transform);
        cl.exec();
      }
      cv.reset();
      cv.bind(1, v.environment);
      cv.bind(2, v.dataset);
      cv.bind(3, v.id);
      cv.bind(4, v.run_id);
      cv.bind(5, v.created_at);
      cv.exec();
    }
    SQLite::Statement st(*db_, "INSERT OR REPLACE INTO recipe_state VALUES (?,?,?,?,?,?,?,?,?,?)");
    for (const auto& [flow, recipe, s] : b.states) {
      st.reset();
      st.bind(1, b.environment);
      st.bind(2, flow);
      st.bind(3, recipe);
      st.bind(4, s.params_hash);
      st.bind(5, s.code_hash);
      st.bind(6, s.source_fingerprint);
      st.bind(7, MapToJson(s.inputs).dump());
      st.bind(8, MapToJson(s.outputs).dump());
      st.bind(9, s.run_id);
      st.bind(10, s.salt);
      st.exec();
    }
    CrashPoint("catalog_commit");
    tx.commit();
    return Status::Ok();
  } catch (const std::exception& e) {
    return SqlError(e, "commit");
  }
}

Result<std::vector<RunRecord>> Catalog::ListRuns(int limit) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(
        *db_, fmt::format("SELECT {} FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?",
                          kRunColumns));
    q.bind(1, limit);
    std::vector<RunRecord> out;
    while (q.executeStep()) out.push_back(ReadRun(q));
    return out;
  } catch (const std::exception& e) {
    return SqlError(e, "list runs");
  }
}

Result<RunRecord> Catalog::FindRun(const std::string& prefix) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(
        *db_, fmt::format("SELECT {} FROM runs WHERE substr(id, 1, ?) = ? LIMIT 2", kRunColumns));
    q.bind(1, static_cast<int>(prefix.size()));
    q.bind(2, prefix);
    std::vector<RunRecord> found;
    while (q.executeStep()) found.push_back(ReadRun(q));
    if (found.empty()) return Status::NotFound(fmt::format("no run with id '{}'", prefix));
    if (found.size() > 1) return Status::Invalid(fmt::format("run id '{}' is ambiguous", prefix));
    return found[0];
  } catch (const std::exception& e) {
    return SqlError(e, "find run");
  }
}

Result<std::vector<RecipeRunRecord>> Catalog::RecipeRuns(const std::string& run_id) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(
        *db_, fmt::format("SELECT {} FROM recipe_runs WHERE run_id = ? ORDER BY CASE started_at "
                          "WHEN '' THEN 1 ELSE 0 END, started_at, rowid",
                          kRecipeRunColumns));
    q.bind(1, run_id);
    // One snapshot for the recipe runs and the up-to-date record.
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::DEFERRED);
    std::vector<RecipeRunRecord> out;
    while (q.executeStep()) out.push_back(ReadRecipeRun(q));
    q.reset();
    // Those of the up-to-date record that have no recipe run (one written
    // later would have replaced its row before schema 10).
    std::set<std::pair<std::string, std::string>> recorded;
    for (const auto& r : out) recorded.emplace(r.flow, r.recipe);
    auto up_to_date = ReadUpToDate(*db_, run_id, "").WithMetrics(*db_, [&](const auto& r) {
      return !recorded.count({r.flow, r.recipe});
    });
    tx.commit();
    if (up_to_date.empty()) return out;
    // Between those that started and the others, as their rows were before
    // schema 10 (written when the run began, with no start time).
    const auto started = std::find_if(
        out.begin(), out.end(), [](const RecipeRunRecord& r) { return r.started_at.empty(); });
    std::vector<RecipeRunRecord> all(std::make_move_iterator(out.begin()),
                                     std::make_move_iterator(started));
    all.reserve(out.size() + up_to_date.size());
    for (auto& r : up_to_date) all.push_back(std::move(r));
    all.insert(all.end(), std::make_move_iterator(started), std::make_move_iterator(out.end()));
    return all;
  } catch (const std::exception& e) {
    return SqlError(e, "recipe runs");
  }
}

Result<std::optional<RecipeRunRecord>> Catalog::FindRecipeRun(const std::string& run_id,
                                                              const std::string& flow,
                                                              const std::string& recipe) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(
        *db_, fmt::format("SELECT {} FROM recipe_runs WHERE run_id = ? AND flow = ? AND recipe = ?",
                          kRecipeRunColumns));
    q.bind(1, run_id);
    q.bind(2, flow);
    q.bind(3, recipe);
    if (q.executeStep()) return std::optional<RecipeRunRecord>(ReadRecipeRun(q));
    q.reset();
    auto found = ReadUpToDate(*db_, run_id, flow).WithMetrics(*db_, [&](const auto& r) {
      return r.recipe == recipe;
    });
    if (found.empty()) return std::optional<RecipeRunRecord>();
    return std::optional<RecipeRunRecord>(std::move(found[0]));
  } catch (const std::exception& e) {
    return SqlError(e, "recipe run");
  }
}

Result<std::vector<std::optional<std::string>>> Catalog::BuiltMetrics(
    const std::string& env, const std::vector<BuiltBy>& wanted) {
  std::lock_guard lock(mu_);
  try {
    std::vector<std::optional<std::string>> out;
    out.reserve(wanted.size());
    if (wanted.empty()) return out;
    SQLite::Statement q(*db_,
                        "SELECT r.metrics FROM dataset_versions v JOIN recipe_runs r ON r.run_id = "
                        "v.run_id AND r.flow = ?4 AND r.recipe = ?5 WHERE v.environment = ?1 AND "
                        "v.dataset = ?2 AND v.id = ?3");
    // One snapshot for all the lookups (and one lock instead of one per statement).
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::DEFERRED);
    for (const auto& w : wanted) {
      q.reset();
      q.bind(1, env);
      q.bind(2, w.dataset);
      q.bind(3, w.version);
      q.bind(4, w.flow);
      q.bind(5, w.recipe);
      if (q.executeStep())
        out.emplace_back(q.getColumn(0).getString());
      else
        out.emplace_back(std::nullopt);
    }
    q.reset();
    tx.commit();
    return out;
  } catch (const std::exception& e) {
    return SqlError(e, "metrics of built versions");
  }
}

Result<std::vector<RecipeRunRecord>> Catalog::LatestRecipeRunsAtCommit(const std::string& env,
                                                                       const std::string& flow,
                                                                       const std::string& commit) {
  std::lock_guard lock(mu_);
  try {
    // Per recipe, the newest first: the first row of each recipe is kept.
    SQLite::Statement q(
        *db_, fmt::format("SELECT {} FROM recipe_runs r JOIN runs u ON u.id = r.run_id WHERE "
                          "u.environment = ? AND r.flow = ? AND u.git_commit = ? AND "
                          "u.git_dirty = 0 ORDER BY r.recipe, u.started_at DESC, u.rowid DESC",
                          kRecipeRunColumnsOfR));
    q.bind(1, env);
    q.bind(2, flow);
    q.bind(3, commit);
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::DEFERRED);
    std::vector<RecipeRunRecord> out;
    while (q.executeStep()) {
      if (!out.empty() && TextOf(q.getColumn(2)) == out.back().recipe) continue;
      out.push_back(ReadRecipeRun(q));
    }
    q.reset();
    // The runs at that commit that recorded up-to-date recipes (schema 10),
    // newest first, and the rank of each run at that commit.
    SQLite::Statement runs(
        *db_,
        "SELECT u.id, t.recipes IS NOT NULL FROM runs u LEFT JOIN run_up_to_date "
        "t ON t.run_id = u.id WHERE u.environment = ? AND u.git_commit = ? AND "
        "u.git_dirty = 0 ORDER BY u.started_at DESC, u.rowid DESC");
    runs.bind(1, env);
    runs.bind(2, commit);
    std::unordered_map<std::string, size_t> rank;
    std::vector<std::string> with_up_to_date;
    while (runs.executeStep()) {
      rank.emplace(runs.getColumn(0).getString(), rank.size());
      if (runs.getColumn(1).getInt()) with_up_to_date.push_back(runs.getColumn(0).getString());
    }
    runs.reset();
    if (with_up_to_date.empty()) return out;
    // Recipe -> the rank of the run of its latest record, and that record
    // (with its metrics filled last, for up-to-date ones).
    std::map<std::string, std::pair<size_t, RecipeRunRecord>> latest;
    for (auto& r : out) {
      const size_t r_rank = rank[r.run_id];
      std::string name = r.recipe;
      latest.emplace(std::move(name), std::make_pair(r_rank, std::move(r)));
    }
    std::map<std::string, std::vector<std::string>> newer;  // run -> its recipes kept
    for (const auto& run_id : with_up_to_date) {
      const size_t this_rank = rank[run_id];
      for (auto& r : ReadUpToDate(*db_, run_id, flow).records) {
        auto it = latest.find(r.recipe);
        if (it != latest.end() && it->second.first <= this_rank) continue;
        std::string name = r.recipe;
        latest.insert_or_assign(std::move(name), std::make_pair(this_rank, std::move(r)));
      }
    }
    for (auto& [recipe, ranked] : latest)
      if (ranked.second.status == "up_to_date" &&
          ranked.second.uuid ==
              UpToDateRecipeUuid(ranked.second.run_id, ranked.second.flow, recipe))
        newer[ranked.second.run_id].push_back(recipe);
    for (const auto& [run_id, recipes] : newer) {
      const std::set<std::string> wanted(recipes.begin(), recipes.end());
      for (auto& r : ReadUpToDate(*db_, run_id, flow).WithMetrics(*db_, [&](const auto& x) {
             return wanted.count(x.recipe) > 0;
           }))
        latest[r.recipe].second = std::move(r);
    }
    tx.commit();
    out.clear();
    for (auto& [recipe, ranked] : latest) out.push_back(std::move(ranked.second));
    return out;
  } catch (const std::exception& e) {
    return SqlError(e, "recipe runs at commit");
  }
}

Result<std::vector<CurrentVersion>> Catalog::CurrentVersions(const std::string& env) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(
        *db_,
        "SELECT c.dataset, c.version_id, c.run_id, c.updated_at, v.row_count, v.size_bytes, "
        "v.flow, v.recipe, coalesce(u.release, '') FROM current_versions c JOIN dataset_versions v "
        "ON v.environment = c.environment AND v.dataset = c.dataset AND v.id = c.version_id "
        "LEFT JOIN runs u ON u.id = c.run_id WHERE c.environment = ? ORDER BY c.dataset");
    q.bind(1, env);
    std::vector<CurrentVersion> out;
    while (q.executeStep()) {
      CurrentVersion c;
      c.dataset = q.getColumn(0).getString();
      c.version_id = q.getColumn(1).getString();
      c.run_id = q.getColumn(2).getString();
      c.updated_at = q.getColumn(3).getString();
      c.rows = q.getColumn(4).getInt64();
      c.bytes = q.getColumn(5).getInt64();
      c.flow = q.getColumn(6).getString();
      c.recipe = q.getColumn(7).getString();
      c.release = q.getColumn(8).getString();
      out.push_back(std::move(c));
    }
    return out;
  } catch (const std::exception& e) {
    return SqlError(e, "current versions");
  }
}

Status Catalog::ForEachCurrentVersionId(
    const std::string& env, const std::function<void(std::string_view, std::string_view)>& fn) {
  std::lock_guard lock(mu_);
  try {
    // The same rows as CurrentVersions(): a current version whose record is gone does not count.
    SQLite::Statement q(*db_,
                        "SELECT c.dataset, c.version_id FROM current_versions c JOIN "
                        "dataset_versions v ON v.environment = c.environment AND v.dataset = "
                        "c.dataset AND v.id = c.version_id WHERE c.environment = ?");
    q.bind(1, env);
    while (q.executeStep()) fn(TextOf(q.getColumn(0)), TextOf(q.getColumn(1)));
    return Status::Ok();
  } catch (const std::exception& e) {
    return SqlError(e, "current versions");
  }
}

Result<std::unordered_map<std::string, std::string>> Catalog::CurrentVersionIds(
    const std::string& env) {
  std::unordered_map<std::string, std::string> out;
  ALAMBIC_RETURN_IF_ERROR(
      ForEachCurrentVersionId(env, [&](std::string_view d, std::string_view id) {
        out.emplace(std::string(d), std::string(id));
      }));
  return out;
}

Result<std::optional<DatasetVersionRecord>> Catalog::FindVersion(const std::string& env,
                                                                 const std::string& dataset,
                                                                 const std::string& prefix) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(
        *db_, fmt::format("SELECT {} FROM dataset_versions WHERE environment=? AND dataset=? AND "
                          "substr(id, 1, ?) = ? LIMIT 2",
                          kVersionColumns));
    q.bind(1, env);
    q.bind(2, dataset);
    q.bind(3, static_cast<int>(prefix.size()));
    q.bind(4, prefix);
    std::vector<DatasetVersionRecord> found;
    while (q.executeStep()) found.push_back(ReadVersion(q));
    if (found.size() > 1)
      return Status::Invalid(
          fmt::format("version '{}' of dataset {} is ambiguous", prefix, dataset));
    if (found.empty()) return std::optional<DatasetVersionRecord>();
    return std::optional<DatasetVersionRecord>(found[0]);
  } catch (const std::exception& e) {
    return SqlError(e, "find version");
  }
}

Result<std::vector<DatasetVersionRecord>> Catalog::Versions(const std::string& env,
                                                            const std::string& dataset) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(
        *db_, fmt::format("SELECT {} FROM dataset_versions WHERE environment=? AND dataset=? "
                          "ORDER BY created_at DESC",
                          kVersionColumns));
    q.bind(1, env);
    q.bind(2, dataset);
    std::vector<DatasetVersionRecord> out;
    while (q.executeStep()) out.push_back(ReadVersion(q));
    return out;
  } catch (const std::exception& e) {
    return SqlError(e, "versions");
  }
}

Result<bool> Catalog::HasVersion(const std::string& env, const std::string& dataset,
                                 const std::string& id) {
  std::lock_guard lock(mu_);
  try {
    if (!has_version_)
      has_version_ = std::make_unique<SQLite::Statement>(
          *db_, "SELECT 1 FROM dataset_versions WHERE environment=? AND dataset=? AND id=?");
    SQLite::Statement& q = *has_version_;
    // Reset after each use, also on error: a stepped statement holds a read snapshot.
    struct Reset {
      SQLite::Statement& q;
      ~Reset() { q.tryReset(); }
    } reset{q};
    q.bind(1, env);
    q.bind(2, dataset);
    q.bind(3, id);
    return q.executeStep();
  } catch (const std::exception& e) {
    return SqlError(e, "version " + dataset + "@" + id);
  }
}

std::map<std::string, std::string> RecipeStateView::DecodeMap(std::string_view json) {
  return JsonToMap(json);
}

bool RecipeStateView::MapEquals(std::string_view json, const std::vector<std::string>& keys,
                                const std::vector<std::string>& values) {
  // As MapToJson writes it: {"k":"v",...}, keys in increasing order, plain
  // ASCII. Then (with distinct keys wanted) it suffices that each entry is
  // wanted and that there are as many entries as wanted.
  auto slow = [&] {
    const auto m = JsonToMap(json);
    if (m.size() != keys.size()) return false;
    for (size_t i = 0; i < keys.size(); ++i) {
      auto it = m.find(keys[i]);
      if (it == m.end() || it->second != values[i]) return false;
    }
    return true;
  };
  if (keys.size() > kShortMap) return slow();
  for (size_t i = 0; i < keys.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (keys[i] == keys[j]) return slow();
  for (unsigned char c : json)
    if (c < 0x20 || c >= 0x80 || c == '\\') return slow();
  if (json.size() < 2 || json.front() != '{' || json.back() != '}') return slow();
  size_t p = 1, entries = 0;
  bool match = true;  // decided only once the whole text is known to be well formed
  std::string_view previous;
  auto quoted = [&](std::string_view* out) {
    if (p >= json.size() || json[p] != '"') return false;
    size_t end = json.find('"', p + 1);
    if (end == std::string_view::npos) return false;
    *out = json.substr(p + 1, end - p - 1);
    p = end + 1;
    return true;
  };
  if (json[p] != '}') {
    while (true) {
      std::string_view k, v;
      if (!quoted(&k) || p >= json.size() || json[p++] != ':' || !quoted(&v) || p >= json.size() ||
          (entries > 0 && !(previous < k)))
        return slow();
      previous = k;
      ++entries;
      size_t i = 0;
      while (i < keys.size() && keys[i] != k) ++i;
      if (i == keys.size() || values[i] != v) match = false;
      if (json[p] == '}') break;
      if (json[p++] != ',') return slow();
    }
  }
  if (p + 1 != json.size()) return slow();
  return match && entries == keys.size();
}

RecipeState RecipeStateView::Decode() const {
  RecipeState s;
  s.params_hash = params_hash;
  s.code_hash = code_hash;
  s.source_fingerprint = source_fingerprint;
  s.inputs = JsonToMap(inputs);
  s.outputs = JsonToMap(outputs);
  s.run_id = run_id;
  s.salt = salt;
  return s;
}

Status Catalog::ForEachRecipeState(const std::string& env,
                                   const std::function<void(const RecipeStateView&)>& fn) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(
        *db_,
        "SELECT flow, recipe, params_hash, code_hash, source_fingerprint, inputs, outputs, run_id, "
        "salt FROM recipe_state WHERE environment = ?");
    q.bind(1, env);
    RecipeStateView v;
    while (q.executeStep()) {
      v.flow = TextOf(q.getColumn(0));
      v.recipe = TextOf(q.getColumn(1));
      v.params_hash = TextOf(q.getColumn(2));
      v.code_hash = TextOf(q.getColumn(3));
      v.source_fingerprint = TextOf(q.getColumn(4));
      v.inputs = TextOf(q.getColumn(5));
      v.outputs = TextOf(q.getColumn(6));
      v.run_id = TextOf(q.getColumn(7));
      v.salt = TextOf(q.getColumn(8));
      fn(v);
    }
    return Status::Ok();
  } catch (const std::exception& e) {
    return SqlError(e, "recipe states");
  }
}

Result<std::map<std::string, RecipeState>> Catalog::RecipeStates(const std::string& env) {
  std::map<std::string, RecipeState> out;
  std::string key;
  ALAMBIC_RETURN_IF_ERROR(ForEachRecipeState(env, [&](const RecipeStateView& v) {
    key.assign(v.flow);
    key += '/';
    key += v.recipe;
    out.insert_or_assign(key, v.Decode());
  }));
  return out;
}

Result<std::vector<DatasetVersionRecord>> Catalog::VersionsNotReferenced(const std::string& env,
                                                                         int keep_runs) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(
        *db_,
        fmt::format(
            "WITH recent AS (SELECT id FROM runs WHERE environment = ?1 ORDER BY started_at DESC "
            "LIMIT ?2), "
            "kept AS ("
            "  SELECT dataset, version_id AS id FROM current_versions WHERE environment = ?1"
            "  UNION SELECT dataset, id FROM dataset_versions WHERE environment = ?1 AND run_id IN "
            "recent"
            "  UNION SELECT i.input_dataset, i.input_version_id FROM version_inputs i JOIN "
            "dataset_versions v"
            "    ON v.environment = i.environment AND v.dataset = i.dataset AND v.id = i.version_id"
            "    WHERE i.environment = ?1 AND v.run_id IN recent) "
            "SELECT {} FROM dataset_versions d WHERE d.environment = ?1 AND NOT EXISTS "
            "(SELECT 1 FROM kept k WHERE k.dataset = d.dataset AND k.id = d.id)",
            kVersionColumns));
    q.bind(1, env);
    q.bind(2, keep_runs);
    std::vector<DatasetVersionRecord> out;
    while (q.executeStep()) out.push_back(ReadVersion(q));
    return out;
  } catch (const std::exception& e) {
    return SqlError(e, "gc query");
  }
}

Status Catalog::DeleteVersions(const std::string& env,
                               const std::vector<DatasetVersionRecord>& versions) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_);
    SQLite::Statement d(*db_,
                        "DELETE FROM dataset_versions WHERE environment=? AND dataset=? AND id=?");
    SQLite::Statement di(
        *db_, "DELETE FROM version_inputs WHERE environment=? AND dataset=? AND version_id=?");
    SQLite::Statement dl(
        *db_, "DELETE FROM column_lineage WHERE environment=? AND dataset=? AND version_id=?");
    for (const auto& v : versions) {
      for (auto* q : {&d, &di, &dl}) {
        q->reset();
        q->bind(1, env);
        q->bind(2, v.dataset);
        q->bind(3, v.id);
        q->exec();
      }
    }
    tx.commit();
    return Status::Ok();
  } catch (const std::exception& e) {
    return SqlError(e, "gc delete");
  }
}

Status Catalog::LoadLineage(DatasetVersionRecord* v) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement in(*db_,
                         "SELECT input_dataset, input_version_id FROM version_inputs WHERE "
                         "environment=? AND dataset=? AND version_id=? ORDER BY rowid");
    in.bind(1, v->environment);
    in.bind(2, v->dataset);
    in.bind(3, v->id);
    v->inputs.clear();
    while (in.executeStep())
      v->inputs.emplace_back(in.getColumn(0).getString(), in.getColumn(1).getString());
    SQLite::Statement cl(*db_,
                         "SELECT column_name, input_dataset, input_column, transform FROM "
                         "column_lineage WHERE environment=? AND dataset=? AND version_id=? "
                         "ORDER BY rowid");
    cl.bind(1, v->environment);
    cl.bind(2, v->dataset);
    cl.bind(3, v->id);
    v->column_lineage.clear();
    while (cl.executeStep())
      v->column_lineage.push_back({cl.getColumn(0).getString(), cl.getColumn(1).getString(),
                                   cl.getColumn(2).getString(), cl.getColumn(3).getString()});
    return Status::Ok();
  } catch (const std::exception& e) {
    return SqlError(e, "lineage");
  }
}

Result<std::vector<VersionRef>> Catalog::VersionsReading(const std::string& env,
                                                         const std::string& input_dataset,
                                                         const std::string& input_version) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT DISTINCT dataset, version_id FROM version_inputs WHERE "
                        "environment=? AND input_dataset=? AND (?='' OR input_version_id=?) "
                        "ORDER BY dataset, version_id");
    q.bind(1, env);
    q.bind(2, input_dataset);
    q.bind(3, input_version);
    q.bind(4, input_version);
    std::vector<VersionRef> out;
    while (q.executeStep()) out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString()});
    return out;
  } catch (const std::exception& e) {
    return SqlError(e, "versions reading");
  }
}

Result<std::vector<DatasetVersionRecord>> Catalog::VersionsOfRun(const std::string& run_id) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        fmt::format("SELECT {} FROM dataset_versions WHERE run_id=? ORDER BY rowid",
                                    kVersionColumns));
    q.bind(1, run_id);
    std::vector<DatasetVersionRecord> out;
    while (q.executeStep()) out.push_back(ReadVersion(q));
    return out;
  } catch (const std::exception& e) {
    return SqlError(e, "versions of run");
  }
}

Result<std::vector<ModelVersionRecord>> Catalog::ModelVersions(const std::string& env,
                                                               const std::string& model) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(
        *db_,
        "SELECT v.dataset, v.id, v.run_id, v.flow, v.recipe, v.created_at, r.metrics, "
        "c.version_id IS NOT NULL FROM recipe_runs r JOIN dataset_versions v ON v.run_id = "
        "r.run_id AND v.flow = r.flow AND v.recipe = r.recipe LEFT JOIN current_versions c ON "
        "c.environment = v.environment AND c.dataset = v.dataset AND c.version_id = v.id WHERE "
        "r.kind = 'train' AND r.status = 'succeeded' AND v.environment = ?1 AND (?2 = '' OR "
        "v.dataset = ?2) ORDER BY v.created_at DESC, v.rowid DESC");
    q.bind(1, env);
    q.bind(2, model);
    std::vector<ModelVersionRecord> out;
    while (q.executeStep()) {
      ModelVersionRecord m;
      m.model = q.getColumn(0).getString();
      m.version_id = q.getColumn(1).getString();
      m.environment = env;
      m.run_id = q.getColumn(2).getString();
      m.flow = q.getColumn(3).getString();
      m.recipe = q.getColumn(4).getString();
      m.created_at = q.getColumn(5).getString();
      m.metrics = nlohmann::json::parse(q.getColumn(6).getString(), nullptr, false);
      m.current = q.getColumn(7).getInt() != 0;
      out.push_back(std::move(m));
    }
    return out;
  } catch (const std::exception& e) {
    return SqlError(e, "model versions");
  }
}

Result<std::vector<ModelEvaluationRecord>> Catalog::ModelEvaluations(const std::string& env,
                                                                     const std::string& model_id) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(
        *db_,
        "SELECT r.run_id, r.flow, r.recipe, r.finished_at, r.metrics FROM recipe_runs r JOIN runs "
        "u ON u.id = r.run_id WHERE r.kind = 'evaluate' AND r.status = 'succeeded' AND "
        "u.environment = ? ORDER BY r.finished_at, r.rowid");
    q.bind(1, env);
    std::vector<ModelEvaluationRecord> out;
    while (q.executeStep()) {
      ModelEvaluationRecord e;
      e.metrics = nlohmann::json::parse(q.getColumn(4).getString(), nullptr, false);
      if (!e.metrics.is_object() || e.metrics.value("model_id", std::string()) != model_id)
        continue;
      e.run_id = q.getColumn(0).getString();
      e.flow = q.getColumn(1).getString();
      e.recipe = q.getColumn(2).getString();
      e.finished_at = q.getColumn(3).getString();
      out.push_back(std::move(e));
    }
    return out;
  } catch (const std::exception& e) {
    return SqlError(e, "model evaluations");
  }
}

std::optional<FileFingerprint> Catalog::GetFingerprint(const std::string& path) {
  std::lock_guard lock(mu_);
  // A fingerprint only saves hashing the file again: when it cannot be read,
  // the caller hashes the file.
  try {
    SQLite::Statement q(
        *db_, "SELECT size, mtime_ns, inode, sha256 FROM file_fingerprints WHERE path = ?");
    q.bind(1, path);
    if (!q.executeStep()) return std::nullopt;
    return FileFingerprint{q.getColumn(0).getInt64(), q.getColumn(1).getInt64(),
                           q.getColumn(2).getInt64(), q.getColumn(3).getString()};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

Status Catalog::PutFingerprint(const std::string& path, const FileFingerprint& fp) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_, "INSERT OR REPLACE INTO file_fingerprints VALUES (?,?,?,?,?)");
    q.bind(1, path);
    q.bind(2, fp.size);
    q.bind(3, fp.mtime_ns);
    q.bind(4, fp.inode);
    q.bind(5, fp.sha256);
    q.exec();
    return Status::Ok();
  } catch (const std::exception& e) {
    return SqlError(e, "fingerprint");
  }
}

int64_t Catalog::DataVersion() {
  std::lock_guard lock(mu_);
  try {
    return db_->execAndGet("PRAGMA data_version").getInt64();
  } catch (const std::exception&) {
    return -1;
  }
}

int64_t Catalog::TotalChanges() {
  std::lock_guard lock(mu_);
  return sqlite3_total_changes64(db_->getHandle());
}

Result<std::string> Catalog::IntegrityCheck() {
  std::lock_guard lock(mu_);
  try {
    return db_->execAndGet("PRAGMA integrity_check").getString();
  } catch (const std::exception& e) {
    return SqlError(e, "integrity check");
  }
}

}  // namespace alambic
