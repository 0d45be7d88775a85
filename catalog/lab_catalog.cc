#include "catalog/lab_catalog.h"

#include <map>
#include <set>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "catalog/sql_error.h"

namespace alambic {
namespace {

constexpr std::string_view kLabCatalog = "lab catalog";  // names it in errors

using json = nlohmann::json;

constexpr const char* kLabSchema = R"sql(
CREATE TABLE IF NOT EXISTS lab_schema (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS lab_workspaces (
  name TEXT PRIMARY KEY, root TEXT NOT NULL, git_commit TEXT NOT NULL, synced_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lab_usecases (
  id TEXT PRIMARY KEY, workspace TEXT NOT NULL, status TEXT NOT NULL, card TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lab_usecase_tags (
  usecase TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (usecase, tag));
CREATE TABLE IF NOT EXISTS lab_status_history (
  usecase TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL, changed_at TEXT NOT NULL,
  git_commit TEXT NOT NULL, workspace TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lab_flows (
  workspace TEXT NOT NULL, flow TEXT NOT NULL, usecase TEXT NOT NULL, data TEXT NOT NULL,
  PRIMARY KEY (workspace, flow));
CREATE TABLE IF NOT EXISTS lab_datasets (
  workspace TEXT NOT NULL, dataset TEXT NOT NULL, flow TEXT NOT NULL, data TEXT NOT NULL,
  PRIMARY KEY (workspace, dataset));
CREATE TABLE IF NOT EXISTS lab_files (
  workspace TEXT NOT NULL, dataset TEXT NOT NULL, file TEXT NOT NULL, direction TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS lab_files_by_file ON lab_files(file, direction);
CREATE INDEX IF NOT EXISTS lab_status_history_by_usecase ON lab_status_history(usecase);
CREATE INDEX IF NOT EXISTS lab_flows_by_usecase ON lab_flows(usecase);
CREATE INDEX IF NOT EXISTS lab_datasets_by_flow ON lab_datasets(workspace, flow);
CREATE VIRTUAL TABLE IF NOT EXISTS lab_search USING fts5(
  kind UNINDEXED, ref UNINDEXED, workspace UNINDEXED, usecase UNINDEXED, title, body,
  tokenize = 'unicode61 remove_diacritics 2');
)sql";

std::string Join(const std::vector<std::string>& v, const char* sep = " ") {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

json RunJson(const LabRun& r) {
  return {{"id", r.id},
          {"status", r.status},
          {"started_at", r.started_at},
          {"finished_at", r.finished_at},
          {"error", r.error}};
}

json FlowJson(const LabFlow& f) {
  json runs = json::array();
  for (const auto& r : f.last_runs) runs.push_back(RunJson(r));
  return {{"name", f.name}, {"usecase", f.usecase},   {"description", f.description},
          {"file", f.file}, {"schedule", f.schedule}, {"last_runs", runs}};
}

std::string Str(const json& j, const char* k) {
  return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
}

LabFlow FlowFromJson(const json& j) {
  LabFlow f{Str(j, "name"), Str(j, "usecase"),  Str(j, "description"),
            Str(j, "file"), Str(j, "schedule"), {}};
  if (j.contains("last_runs"))
    for (const auto& r : j["last_runs"])
      f.last_runs.push_back({Str(r, "id"), Str(r, "status"), Str(r, "started_at"),
                             Str(r, "finished_at"), Str(r, "error")});
  return f;
}

json DatasetJson(const LabDataset& d) {
  json cols = json::array();
  for (const auto& c : d.columns)
    cols.push_back(
        {{"name", c.name}, {"type", c.type}, {"description", c.description}, {"tags", c.tags}});
  return {{"name", d.name},
          {"flow", d.flow},
          {"recipe", d.recipe},
          {"description", d.description},
          {"environment", d.environment},
          {"version", d.version_id},
          {"updated_at", d.updated_at},
          {"rows", d.rows},
          {"state", d.state},
          {"columns", cols},
          {"reads_files", d.reads_files},
          {"writes_files", d.writes_files}};
}

LabDataset DatasetFromJson(const json& j) {
  LabDataset d;
  d.name = Str(j, "name");
  d.flow = Str(j, "flow");
  d.recipe = Str(j, "recipe");
  d.description = Str(j, "description");
  d.environment = Str(j, "environment");
  d.version_id = Str(j, "version");
  d.updated_at = Str(j, "updated_at");
  d.rows = j.value("rows", int64_t{0});
  d.state = Str(j, "state");
  if (j.contains("columns"))
    for (const auto& c : j["columns"]) {
      LabColumn col{Str(c, "name"), Str(c, "type"), Str(c, "description"), {}};
      if (c.contains("tags"))
        for (const auto& t : c["tags"]) col.tags.push_back(t.get<std::string>());
      d.columns.push_back(std::move(col));
    }
  for (const char* k : {"reads_files", "writes_files"})
    if (j.contains(k))
      for (const auto& f : j[k])
        (std::string(k) == "reads_files" ? d.reads_files : d.writes_files).push_back(f);
  return d;
}

}  // namespace

std::string FtsQuery(const std::string& text) {
  std::string out, word;
  auto flush = [&] {
    if (word.empty()) return;
    out += (out.empty() ? "" : " ") + ("\"" + word + "\"*");
    word.clear();
  };
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        c == '_')
      word += c;
    else
      flush();
  }
  flush();
  return out;
}

LabCatalog::LabCatalog(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}
LabCatalog::~LabCatalog() = default;

Result<std::unique_ptr<LabCatalog>> LabCatalog::Open(const std::filesystem::path& path) {
  try {
    std::error_code ec;
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
    auto db = std::make_unique<SQLite::Database>(
        path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_FULLMUTEX);
    db->setBusyTimeout(10000);
    db->exec(kLabSchema);
    SQLite::Statement v(*db, "SELECT max(version) FROM lab_schema");
    v.executeStep();
    const int version = v.getColumn(0).isNull() ? 0 : v.getColumn(0).getInt();
    if (version > kLabCatalogSchemaVersion)
      return Status::Invalid(fmt::format(
          "lab catalog {}: schema version {} is newer than this alambic's ({}): upgrade alambic",
          path.string(), version, kLabCatalogSchemaVersion));
    if (version == 0)
      db->exec(fmt::format("INSERT INTO lab_schema VALUES ({})", kLabCatalogSchemaVersion));
    return std::unique_ptr<LabCatalog>(new LabCatalog(std::move(db)));
  } catch (const std::exception& e) {
    return SqlError(e, path.string(), kLabCatalog);
  }
}

Status LabCatalog::Sync(const WorkspaceSnapshot& ws, const std::string& now) {
  try {
    // IMMEDIATE: the sync reads (who owns each use case) before it writes; a
    // deferred transaction, begun as a reader, could not become a writer
    // while another workspace's sync held the write lock ("database is
    // locked", without waiting for the busy timeout).
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement owner(*db_, "SELECT workspace FROM lab_usecases WHERE id=?");
    for (const auto& c : ws.cards) {
      owner.reset();
      owner.bind(1, c.id);
      if (owner.executeStep() && owner.getColumn(0).getString() != ws.name)
        return Status::Invalid(fmt::format(
            "{}: use case '{}' is already registered by workspace '{}': use-case ids are "
            "lab-wide (rename one, or keep the card in one workspace and name it from the "
            "other's flows)",
            c.loc.ToString(), c.id, owner.getColumn(0).getString()));
    }
    for (const char* sql :
         {"DELETE FROM lab_usecase_tags WHERE usecase IN (SELECT id FROM lab_usecases WHERE "
          "workspace=?1)",
          "DELETE FROM lab_usecases WHERE workspace=?1", "DELETE FROM lab_flows WHERE workspace=?1",
          "DELETE FROM lab_datasets WHERE workspace=?1", "DELETE FROM lab_files WHERE workspace=?1",
          "DELETE FROM lab_search WHERE workspace=?1"}) {
      SQLite::Statement d(*db_, sql);
      d.bind(1, ws.name);
      d.exec();
    }
    SQLite::Statement uc(*db_, "INSERT INTO lab_usecases VALUES (?,?,?,?)");
    SQLite::Statement tag(*db_, "INSERT OR IGNORE INTO lab_usecase_tags VALUES (?,?)");
    SQLite::Statement last(*db_,
                           "SELECT status, reason FROM lab_status_history WHERE usecase=? ORDER "
                           "BY rowid DESC LIMIT 1");
    SQLite::Statement hist(*db_, "INSERT INTO lab_status_history VALUES (?,?,?,?,?,?)");
    SQLite::Statement fts(*db_, "INSERT INTO lab_search VALUES (?,?,?,?,?,?)");
    auto search_row = [&](const std::string& kind, const std::string& ref,
                          const std::string& usecase, const std::string& title,
                          const std::string& body) {
      fts.reset();
      fts.bind(1, kind);
      fts.bind(2, ref);
      fts.bind(3, ws.name);
      fts.bind(4, usecase);
      fts.bind(5, title);
      fts.bind(6, body);
      fts.exec();
    };
    for (const auto& c : ws.cards) {
      uc.reset();
      uc.bind(1, c.id);
      uc.bind(2, ws.name);
      uc.bind(3, c.status);
      uc.bind(4, UseCaseJson(c).dump());
      uc.exec();
      for (const auto& t : c.tags) {
        tag.reset();
        tag.bind(1, c.id);
        tag.bind(2, t);
        tag.exec();
      }
      last.reset();
      last.bind(1, c.id);
      const bool changed = !last.executeStep() || last.getColumn(0).getString() != c.status ||
                           last.getColumn(1).getString() != c.reason;
      if (changed) {
        hist.reset();
        hist.bind(1, c.id);
        hist.bind(2, c.status);
        hist.bind(3, c.reason);
        hist.bind(4, now);
        hist.bind(5, ws.git_commit);
        hist.bind(6, ws.name);
        hist.exec();
      }
      std::string body = c.description + "\n" + Join(c.tags) + "\n" + c.owner + " " + c.team + " " +
                         c.direction + " " + c.ministry + "\n" + c.expected_benefits + "\n" +
                         c.measured_benefits + "\n" + c.reason;
      for (const auto& k : c.kpis) body += "\n" + k.name + " " + k.unit;
      for (const auto& s : c.sources) body += "\n" + s.name + " " + s.description;
      search_row("usecase", c.id, c.id, c.id + " " + c.title, body);
    }
    std::map<std::string, std::string> usecase_of_flow;
    SQLite::Statement fl(*db_, "INSERT INTO lab_flows VALUES (?,?,?,?)");
    for (const auto& f : ws.flows) {
      usecase_of_flow[f.name] = f.usecase;
      fl.reset();
      fl.bind(1, ws.name);
      fl.bind(2, f.name);
      fl.bind(3, f.usecase);
      fl.bind(4, FlowJson(f).dump());
      fl.exec();
    }
    SQLite::Statement ds(*db_, "INSERT OR REPLACE INTO lab_datasets VALUES (?,?,?,?)");
    SQLite::Statement file(*db_, "INSERT INTO lab_files VALUES (?,?,?,?)");
    for (const auto& d : ws.datasets) {
      ds.reset();
      ds.bind(1, ws.name);
      ds.bind(2, d.name);
      ds.bind(3, d.flow);
      ds.bind(4, DatasetJson(d).dump());
      ds.exec();
      for (const auto& [files, direction] :
           {std::pair{&d.reads_files, "reads"}, std::pair{&d.writes_files, "writes"}})
        for (const auto& f : *files) {
          file.reset();
          file.bind(1, ws.name);
          file.bind(2, d.name);
          file.bind(3, f);
          file.bind(4, direction);
          file.exec();
        }
      const std::string usecase = usecase_of_flow.count(d.flow) ? usecase_of_flow[d.flow] : "";
      search_row("dataset", d.name, usecase, d.name, d.description + "\n" + d.flow);
      for (const auto& c : d.columns)
        search_row("column", d.name + "." + c.name, usecase, c.name,
                   c.description + "\n" + Join(c.tags) + "\n" + d.name);
    }
    SQLite::Statement w(*db_, "INSERT OR REPLACE INTO lab_workspaces VALUES (?,?,?,?)");
    w.bind(1, ws.name);
    w.bind(2, ws.root);
    w.bind(3, ws.git_commit);
    w.bind(4, now);
    w.exec();
    tx.commit();
    return Status::Ok();
  } catch (const std::exception& e) {
    return SqlError(e, "sync " + ws.name, kLabCatalog);
  }
}

std::vector<std::string> LabCatalog::Workspaces() {
  std::vector<std::string> out;
  try {
    SQLite::Statement q(*db_, "SELECT name FROM lab_workspaces ORDER BY name");
    while (q.executeStep()) out.push_back(q.getColumn(0).getString());
  } catch (const std::exception&) {
  }
  return out;
}

Result<UseCaseEntry> LabCatalog::Load(const std::string& id, const std::string& card_json,
                                      const std::string& workspace) {
  UseCaseEntry e;
  e.card = UseCaseFromJson(json::parse(card_json, nullptr, false));
  e.workspace = workspace;
  SQLite::Statement h(*db_,
                      "SELECT status, reason, changed_at, git_commit, workspace FROM "
                      "lab_status_history WHERE usecase=? ORDER BY rowid");
  h.bind(1, id);
  while (h.executeStep())
    e.history.push_back({h.getColumn(0).getString(), h.getColumn(1).getString(),
                         h.getColumn(2).getString(), h.getColumn(3).getString(),
                         h.getColumn(4).getString()});
  SQLite::Statement f(*db_,
                      "SELECT workspace, data FROM lab_flows WHERE usecase=? ORDER BY workspace, "
                      "flow");
  f.bind(1, id);
  while (f.executeStep())
    e.flows.emplace_back(f.getColumn(0).getString(),
                         FlowFromJson(json::parse(f.getColumn(1).getString(), nullptr, false)));
  SQLite::Statement d(*db_,
                      "SELECT d.workspace, d.data FROM lab_datasets d JOIN lab_flows f ON "
                      "f.workspace = d.workspace AND f.flow = d.flow WHERE f.usecase=? ORDER BY "
                      "d.workspace, d.rowid");
  d.bind(1, id);
  while (d.executeStep())
    e.datasets.emplace_back(
        d.getColumn(0).getString(),
        DatasetFromJson(json::parse(d.getColumn(1).getString(), nullptr, false)));
  bool failing = false, ran = false;
  for (const auto& [w, flow] : e.flows) {
    if (flow.last_runs.empty()) continue;
    ran = true;
    failing = failing || flow.last_runs.front().status != "succeeded";
  }
  e.health = e.flows.empty() ? "no flows" : failing ? "failing" : ran ? "ok" : "never run";
  return e;
}

Result<std::vector<UseCaseEntry>> LabCatalog::ListUseCases(const UseCaseFilter& filter) {
  try {
    std::string sql = "SELECT id, card, workspace FROM lab_usecases WHERE 1";
    if (!filter.status.empty()) sql += " AND status = :status";
    if (!filter.tag.empty())
      sql += " AND id IN (SELECT usecase FROM lab_usecase_tags WHERE tag = :tag)";
    const std::string match = FtsQuery(filter.search);
    // Text with no word in it matches nothing.
    if (!filter.search.empty() && match.empty()) return std::vector<UseCaseEntry>();
    if (!filter.search.empty())
      sql += " AND id IN (SELECT usecase FROM lab_search WHERE lab_search MATCH :match)";
    sql += " ORDER BY id";
    SQLite::Statement q(*db_, sql);
    if (!filter.status.empty()) q.bind(":status", filter.status);
    if (!filter.tag.empty()) q.bind(":tag", filter.tag);
    if (!filter.search.empty()) q.bind(":match", match);
    std::vector<std::pair<std::string, std::pair<std::string, std::string>>> rows;
    while (q.executeStep())
      rows.push_back(
          {q.getColumn(0).getString(), {q.getColumn(1).getString(), q.getColumn(2).getString()}});
    std::vector<UseCaseEntry> out;
    for (const auto& [id, rest] : rows) {
      ALAMBIC_ASSIGN_OR_RETURN(UseCaseEntry e, Load(id, rest.first, rest.second));
      out.push_back(std::move(e));
    }
    return out;
  } catch (const std::exception& e) {
    return SqlError(e, "use cases", kLabCatalog);
  }
}

Result<std::optional<UseCaseEntry>> LabCatalog::FindUseCase(const std::string& id) {
  try {
    SQLite::Statement q(*db_, "SELECT card, workspace FROM lab_usecases WHERE id=?");
    q.bind(1, id);
    if (!q.executeStep()) return std::optional<UseCaseEntry>();
    const std::string card = q.getColumn(0).getString(), ws = q.getColumn(1).getString();
    ALAMBIC_ASSIGN_OR_RETURN(UseCaseEntry e, Load(id, card, ws));
    return std::optional<UseCaseEntry>(std::move(e));
  } catch (const std::exception& e) {
    return SqlError(e, "use case " + id, kLabCatalog);
  }
}

Result<std::vector<SearchHit>> LabCatalog::Search(const std::string& text, int limit) {
  const std::string match = FtsQuery(text);
  std::vector<SearchHit> out;
  if (match.empty()) return out;
  try {
    SQLite::Statement q(*db_,
                        "SELECT kind, ref, workspace, title, snippet(lab_search, 5, '[', ']', "
                        "'...', 10) FROM lab_search WHERE lab_search MATCH ? ORDER BY rank "
                        "LIMIT ?");
    q.bind(1, match);
    q.bind(2, limit);
    while (q.executeStep())
      out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(),
                     q.getColumn(2).getString(), q.getColumn(3).getString(),
                     q.getColumn(4).getString()});
    return out;
  } catch (const std::exception& e) {
    return SqlError(e, "search", kLabCatalog);
  }
}

Result<std::vector<SharedFileEdge>> LabCatalog::SharedFiles() {
  try {
    SQLite::Statement q(*db_,
                        "SELECT w.file, w.workspace, w.dataset, r.workspace, r.dataset FROM "
                        "lab_files w JOIN lab_files r ON r.file = w.file AND r.direction = "
                        "'reads' WHERE w.direction = 'writes' AND r.workspace != w.workspace "
                        "ORDER BY w.file, r.workspace, r.dataset");
    std::vector<SharedFileEdge> out;
    while (q.executeStep())
      out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(),
                     q.getColumn(2).getString(), q.getColumn(3).getString(),
                     q.getColumn(4).getString()});
    return out;
  } catch (const std::exception& e) {
    return SqlError(e, "shared files", kLabCatalog);
  }
}

}  // namespace alambic
