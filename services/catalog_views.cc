#include "services/catalog_views.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>

#include "catalog/catalog.h"
#include "catalog/lab_catalog.h"
#include "catalog/usecase.h"
#include "core/exec/store_open.h"
#include "core/flow/loader.h"
#include "core/sched/schedule.h"
#include "core/store/store.h"
#include "core/table/table.h"
#include "core/vcs/git.h"
#include "services/catalog_sync.h"
#include "services/scheduler/scheduler.h"
#include "services/schedules.h"
#include "services/workspace.h"
#include "services/workspace_snapshot.h"

namespace alambic {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int kBusyTimeoutMs = 5000;
constexpr int kLastRuns = 10;
constexpr int kRecipeHistory = 20;
constexpr size_t kMaxCodeBytes = 256 * 1024;
constexpr int kTopValues = 10;
constexpr int kMaxLineageDepth = 10;
constexpr size_t kMaxColumnLineageNodes = 500;
constexpr size_t kMaxNeighbourhoodCentres = 50;
constexpr int kKpiCommits = 200;

// ---- per-thread read connections ----

SQLite::Database& Reader(const fs::path& path) {
  thread_local std::map<std::string, std::unique_ptr<SQLite::Database>> dbs;
  auto& db = dbs[path.string()];
  if (!db) {
    db = std::make_unique<SQLite::Database>(path.string(), SQLite::OPEN_READONLY);
    db->setBusyTimeout(kBusyTimeoutMs);
  }
  return *db;
}

// The run catalog's API over a per-thread read connection (nullptr when it
// cannot be opened; tried again on the next call).
Catalog* CatalogReader(const fs::path& path) {
  thread_local std::map<std::string, std::unique_ptr<Catalog>> catalogs;
  auto& cat = catalogs[path.string()];
  if (!cat) {
    auto opened = Catalog::OpenReader(path);
    if (!opened.ok()) return nullptr;
    cat = std::move(*opened);
  }
  return cat.get();
}

LabCatalog* Lab(const fs::path& path) {
  thread_local std::map<std::string, std::unique_ptr<LabCatalog>> labs;
  auto& lab = labs[path.string()];
  if (!lab) {
    auto opened = LabCatalog::Open(path);
    if (!opened.ok()) return nullptr;
    lab = std::move(*opened);
  }
  return lab.get();
}

Status ReadError(const std::exception& e, const std::string& what) {
  // The message is for the server's log; the server never sends it out.
  return Status::Failed(fmt::format("cannot read {}: {}", what, e.what()));
}

// ---- cursors: base64url of {"l": list, "k": [keys]} ----

const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string B64(const std::string& in) {
  std::string out;
  int val = 0, bits = -6;
  for (unsigned char c : in) {
    val = (val << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out.push_back(kB64[(val >> bits) & 0x3F]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(kB64[((val << 8) >> (bits + 8)) & 0x3F]);
  return out;
}

std::optional<std::string> UnB64(const std::string& in) {
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    const char* p = std::strchr(kB64, c);
    if (!p || c == '\0') return std::nullopt;
    val = (val << 6) + static_cast<int>(p - kB64);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

std::string MakeCursor(const std::string& list, const json& keys) {
  return B64(json{{"l", list}, {"k", keys}}.dump());
}

// The keys of `cursor` for `list`, `n` strings or integers; nullopt for the first page.
Result<std::optional<json>> ReadCursor(const std::string& cursor, const std::string& list,
                                       size_t n) {
  if (cursor.empty()) return std::optional<json>();
  auto raw = UnB64(cursor);
  if (!raw) return Status::Invalid("bad cursor: not a cursor of this list");
  json j = json::parse(*raw, nullptr, false);
  if (!j.is_object() || !j.contains("l") || j["l"] != list || !j.contains("k") ||
      !j["k"].is_array() || j["k"].size() != n)
    return Status::Invalid("bad cursor: not a cursor of this list");
  for (const auto& k : j["k"])
    if (!k.is_string() && !k.is_number_integer())
      return Status::Invalid("bad cursor: not a cursor of this list");
  return std::optional<json>(j["k"]);
}

// A keyset page from `q`, which asks for page.limit + 1 rows: `row` makes the
// current row an item, `keys` the cursor keys of that row (read while it is
// current); the extra row only tells that there is a next page.
// The runs of `flow` in `env` (run_flows), newest first.
std::vector<std::string> RunsOfFlow(SQLite::Database& db, const std::string& flow,
                                    const std::string& env) {
  SQLite::Statement q(db,
                      "SELECT f.run_id FROM run_flows f JOIN runs r ON r.id = f.run_id WHERE "
                      "f.flow = ? AND r.environment = ? ORDER BY f.started_at DESC, f.run_id DESC");
  q.bind(1, flow);
  q.bind(2, env);
  std::vector<std::string> out;
  while (q.executeStep()) out.push_back(q.getColumn(0).getString());
  return out;
}

// The recipes each run recorded up to date in one row (catalog schema 10,
// catalog.h UpToDateRecipe), read once per run: whether `flow`/`recipe` is one.
class UpToDateRecipesOfRuns {
 public:
  explicit UpToDateRecipesOfRuns(SQLite::Database& db)
      : q_(db, "SELECT recipes FROM run_up_to_date_recipes WHERE run_id = ?") {}
  bool Has(const std::string& run_id, const std::string& flow, const std::string& recipe) {
    auto [it, fresh] = runs_.try_emplace(run_id);
    if (fresh) {
      q_.reset();
      q_.bind(1, run_id);
      if (q_.executeStep()) {
        const json j = json::parse(q_.getColumn(0).getString(), nullptr, false);
        if (j.is_object() && j.contains("r") && j["r"].is_array())
          for (const auto& e : j["r"])
            if (e.is_array() && e.size() >= 2 && e[0].is_string() && e[1].is_string())
              it->second.insert(e[0].get<std::string>() + '\0' + e[1].get<std::string>());
      }
      q_.reset();
    }
    return it->second.count(flow + '\0' + recipe) > 0;
  }

 private:
  SQLite::Statement q_;
  std::map<std::string, std::set<std::string>> runs_;
};

json KeysetPage(SQLite::Statement& q, const Page& page, const std::string& list,
                const std::function<json(SQLite::Statement&)>& row,
                const std::function<json(SQLite::Statement&, const json& item)>& keys) {
  json items = json::array(), last_keys;
  while (q.executeStep()) {
    if (static_cast<int>(items.size()) == page.limit)
      return json{{"items", items}, {"next_cursor", MakeCursor(list, last_keys)}};
    items.push_back(row(q));
    last_keys = keys(q, items.back());
  }
  return json{{"items", items}, {"next_cursor", nullptr}};
}

Status CheckPage(const Page& p) {
  if (p.limit < 1 || p.limit > kMaxPageLimit)
    return Status::Invalid(fmt::format("limit must be between 1 and {}", kMaxPageLimit));
  return Status::Ok();
}

// ---- shared shapes ----

json Freshness(const std::string& state, const std::string& updated_at) {
  json f{{"state", "fresh"}, {"reason", ""}, {"updated_at", updated_at}};
  if (state.rfind("stale", 0) == 0) {
    f["state"] = "stale";
    f["reason"] = state.size() > 7 ? state.substr(7) : "";
  } else if (state == "never built") {
    f["state"] = "never_built";
  } else if (state.rfind("unplannable", 0) == 0) {
    f["state"] = "unplannable";
    f["reason"] = state.size() > 13 ? state.substr(13) : "";
  }
  return f;
}

std::vector<std::string> SplitFlows(const std::string& flows) {
  std::vector<std::string> out;
  std::stringstream ss(flows);
  std::string f;
  while (std::getline(ss, f, ','))
    if (!f.empty()) out.push_back(f);
  return out;
}

constexpr const char* kRunColumns =
    "r.id, r.flows, r.environment, r.trigger, r.user, r.status, r.started_at, r.finished_at, "
    "r.release, r.git_commit, r.error, r.git_dirty, r.host";

json RunJson(SQLite::Statement& q) {
  return json{{"id", q.getColumn(0).getString()},
              {"flows", SplitFlows(q.getColumn(1).getString())},
              {"environment", q.getColumn(2).getString()},
              {"trigger", q.getColumn(3).getString()},
              {"user", q.getColumn(4).getString()},
              {"status", q.getColumn(5).getString()},
              {"started_at", q.getColumn(6).getString()},
              {"finished_at", q.getColumn(7).getString()},
              {"release", q.getColumn(8).getString()},
              {"git_commit", q.getColumn(9).getString()},
              {"error", q.getColumn(10).getString()}};
}

// The last run of `flow` in `env` ("" : any), or null.
json LastRun(SQLite::Database& db, const std::string& flow, const std::string& env) {
  SQLite::Statement q(db, fmt::format("SELECT {} FROM run_flows f JOIN runs r ON r.id = f.run_id "
                                      "WHERE f.flow = ?1 AND (?2 = '' OR r.environment = ?2) "
                                      "ORDER BY f.started_at DESC, f.run_id DESC LIMIT 1",
                                      kRunColumns));
  q.bind(1, flow);
  q.bind(2, env);
  if (!q.executeStep()) return nullptr;
  return RunJson(q);
}

std::optional<sched::Schedule> CompiledSchedule(const Flow& f) {
  if (!f.schedule) return std::nullopt;
  auto fs = CompileFlowSchedule(f);
  if (!fs.ok()) return std::nullopt;
  return fs->schedule;
}

sched::Instant NowInstant() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

// The next slot of `f` in `env` ({flow, environment, at, paused}), or null.
json NextRun(Catalog* catalog, const Flow& f, const std::string& env) {
  auto s = CompiledSchedule(f);
  if (!s) return nullptr;
  bool paused = false;
  if (catalog)
    if (auto st = catalog->GetScheduleState(f.name, env); st.ok() && *st) paused = (*st)->paused;
  auto next = s->Next(NowInstant(), 1);
  return json{{"flow", f.name},
              {"environment", env},
              {"at", next.empty() ? json(nullptr) : json(sched::FormatUtc(next.front().at))},
              {"paused", paused}};
}

// A flow's schedule as every view shows it: {cron, timezone, paused} (paused
// in `env`), or null when the flow has none.
json ScheduleJson(const Flow& f, Catalog* catalog, const std::string& env) {
  if (!f.schedule) return nullptr;
  bool paused = false;
  if (catalog)
    if (auto st = catalog->GetScheduleState(f.name, env); st.ok() && *st) paused = (*st)->paused;
  return json{{"cron", f.schedule->cron}, {"timezone", f.schedule->timezone}, {"paused", paused}};
}

// The KPIs of `card` with their points over time: each committed version of
// the card file (the last kKpiCommits commits that changed it) and the card as
// it is now give a point per KPI measure, by date (the KPI's `date`, or the
// commit's day); a later commit's value wins for the same date. Oldest first.
json KpiSeries(const fs::path& root, const UseCaseCard& now, bool in_this_workspace) {
  // kpi name -> date -> {measured, git_commit}
  std::map<std::string, std::map<std::string, json>> points;
  auto add = [&](const UseCaseCard& c, const std::string& day, const std::string& commit) {
    for (const auto& k : c.kpis) {
      if (!k.measured || !std::isfinite(*k.measured)) continue;
      const std::string date = k.date.empty() ? day : k.date;
      if (date.empty()) continue;
      points[k.name].emplace(
          date, json{{"date", date}, {"measured", *k.measured}, {"git_commit", commit}});
    }
  };
  add(now, "", "");  // the card as loaded wins over its history
  if (in_this_workspace && !now.file.empty()) {
    auto log = GitLog(root, {now.file}, kKpiCommits);
    if (log.ok())
      for (const auto& commit : *log) {  // newest first: emplace keeps the newest
        auto text = GitReadFileAt(root, commit.id, now.file);
        if (!text.ok()) continue;  // deleted in that commit
        std::vector<Diagnostic> diags;
        UseCaseCard old = ParseUseCase(*text, now.file, &diags);
        if (old.id != now.id) continue;
        char day[16] = "";
        const std::time_t t = static_cast<std::time_t>(commit.time);
        std::tm tm{};
        if (gmtime_r(&t, &tm)) std::strftime(day, sizeof day, "%Y-%m-%d", &tm);
        add(old, day, commit.id);
      }
  }
  json kpis = json::array();
  for (const auto& k : now.kpis) {
    json series = json::array();
    for (const auto& [date, p] : points[k.name]) series.push_back(p);
    kpis.push_back(json{{"name", k.name},
                        {"unit", k.unit},
                        {"expected", k.expected ? json(*k.expected) : json(nullptr)},
                        {"points", series}});
  }
  return kpis;
}

std::string Summary(const std::string& description) {
  const size_t cut = description.find("\n\n");
  std::string s = description.substr(0, cut);
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

json Cell(const Column& col, int64_t row) {
  if (col.IsNull(row)) return nullptr;
  switch (col.type) {
    case TypeId::kInt64:
      return col.Int64(row);
    case TypeId::kFloat64: {
      const double d = col.Double(row);
      if (!std::isfinite(d)) return FormatCell(col, row);
      return d;
    }
    case TypeId::kBool:
      return col.Bool(row);
    default:
      return FormatCell(col, row);
  }
}

// The column specs of `dataset` in the flow that declares it.
const DatasetSpec* FindDatasetSpec(const Workspace& ws, const std::string& dataset,
                                   const Flow** flow_out, const RecipeSpec** producer) {
  const DatasetSpec* spec = nullptr;
  for (const auto& f : ws.flows) {
    for (const auto& r : f.recipes)
      for (const auto& o : r.outputs)
        if (o == dataset) {
          if (flow_out) *flow_out = &f;
          if (producer) *producer = &r;
        }
    if (auto it = f.datasets.find(dataset); it != f.datasets.end() && !spec) spec = &it->second;
  }
  return spec;
}

bool DatasetKnown(const Workspace& ws, const std::string& dataset) {
  for (const auto& f : ws.flows) {
    if (f.datasets.count(dataset)) return true;
    for (const auto& r : f.recipes) {
      if (std::find(r.outputs.begin(), r.outputs.end(), dataset) != r.outputs.end()) return true;
      if (std::find(r.inputs.begin(), r.inputs.end(), dataset) != r.inputs.end()) return true;
    }
  }
  return false;
}

}  // namespace

struct CatalogViews::Watch {
  std::unique_ptr<SQLite::Database> run, lab;
  fs::path lab_path;
  int64_t run_version = -1, lab_version = -1;
};

CatalogViews::CatalogViews(fs::path root) : root_(std::move(root)) {}
CatalogViews::~CatalogViews() = default;

uint64_t CatalogViews::Generation() {
  const fs::path lab = lab_path();
  std::lock_guard<std::mutex> lock(gen_mu_);
  if (!watch_) watch_ = std::make_unique<Watch>();
  Watch& w = *watch_;
  // A connection that cannot read its version counts as a change each time.
  auto version = [](std::unique_ptr<SQLite::Database>& db, const fs::path& path) -> int64_t {
    try {
      if (!db) {
        db = std::make_unique<SQLite::Database>(path.string(), SQLite::OPEN_READONLY);
        db->setBusyTimeout(kBusyTimeoutMs);
      }
      return db->execAndGet("PRAGMA data_version").getInt64();
    } catch (const std::exception&) {
      db.reset();
      return -1;
    }
  };
  if (w.lab_path != lab) {
    w.lab.reset();
    w.lab_path = lab;
  }
  const int64_t rv = version(w.run, catalog_path());
  const int64_t lv = lab.empty() ? 0 : version(w.lab, lab);
  if (rv != w.run_version || lv != w.lab_version || rv < 0 || lv < 0) ++gen_;
  w.run_version = rv;
  w.lab_version = lv;
  return gen_;
}

Result<std::unique_ptr<CatalogViews>> CatalogViews::Open(const fs::path& root) {
  std::unique_ptr<CatalogViews> v(new CatalogViews(root));
  ALAMBIC_RETURN_IF_ERROR(v->Refresh());
  return v;
}

Status CatalogViews::Refresh() {
  LoadedWorkspace lw = LoadWorkspace(root_);
  if (!lw.ok()) {
    std::string msg;
    for (const auto& d : lw.diagnostics) msg += (msg.empty() ? "" : "\n") + d.ToString();
    return Status::Invalid(msg);
  }
  {
    // The run catalog exists and is migrated before readers open it.
    ALAMBIC_ASSIGN_OR_RETURN(auto cat, Catalog::Open(root_ / ".alambic" / "catalog.db"));
  }
  auto ws = std::make_shared<const Workspace>(std::move(lw.workspace));
  ALAMBIC_ASSIGN_OR_RETURN(LabSync sync, SyncLabCatalog(root_, ""));
  std::lock_guard<std::mutex> lock(mu_);
  ws_ = std::move(ws);
  lab_path_ = sync.path;
  cards_.reset();
  json_cache_.clear();
  kpi_cache_.clear();
  {
    std::lock_guard<std::mutex> g(gen_mu_);
    ++gen_;
  }
  return Status::Ok();
}

std::shared_ptr<const Workspace> CatalogViews::workspace() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ws_;
}
fs::path CatalogViews::catalog_path() const { return root_ / ".alambic" / "catalog.db"; }
fs::path CatalogViews::lab_path() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lab_path_;
}

std::string CatalogViews::name() const {
  auto ws = workspace();
  return ws->config.name.empty() ? root_.filename().string() : ws->config.name;
}
std::string CatalogViews::default_env() const { return EnvironmentName(workspace()->config, ""); }
std::string CatalogViews::production_env() const {
  auto ws = workspace();
  if (ws->config.environments.count("warehouse")) return "warehouse";
  for (const auto& [name, spec] : ws->config.environments)
    if (RunsReleasesOnly(ws->config, name)) return name;
  return EnvironmentName(ws->config, "");
}

Result<std::string> CatalogViews::Env(const std::string& env) const {
  auto ws = workspace();
  const std::string e = EnvironmentName(ws->config, env);
  if (!ws->config.environments.empty() && !ws->config.environments.count(e))
    return Status::Invalid(fmt::format("unknown environment '{}'", e));
  return e;
}

std::string CatalogViews::UseCaseOfFlow(const std::string& flow) const {
  auto ws = workspace();
  const Flow* f = ws->FindFlow(flow);
  return f ? f->usecase : "";
}

std::string CatalogViews::UseCaseOfDataset(const std::string& dataset) const {
  auto ws = workspace();
  const Flow* f = nullptr;
  FindDatasetSpec(*ws, dataset, &f, nullptr);
  return f ? f->usecase : "";
}

bool CatalogViews::HasFlow(const std::string& flow) const {
  return workspace()->FindFlow(flow) != nullptr;
}

// ---------------------------------------------------------------- use cases

Result<std::shared_ptr<const std::vector<json>>> CatalogViews::Cards(const std::string& search) {
  using Cards = std::shared_ptr<const std::vector<json>>;
  const uint64_t gen = search.empty() ? Generation() : 0;
  std::unique_lock<std::mutex> building(build_mu_, std::defer_lock);
  if (search.empty()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cards_ && cards_gen_ == gen) return cards_;
    }
    // One thread builds; the others wait for its cards rather than build theirs.
    building.lock();
    std::lock_guard<std::mutex> lock(mu_);
    if (cards_ && cards_gen_ >= gen) return cards_;
  }
  LabCatalog* lab = Lab(lab_path());
  if (!lab) return Status::Failed("cannot open the lab catalog");
  UseCaseFilter filter;
  filter.search = search;
  ALAMBIC_ASSIGN_OR_RETURN(auto entries, lab->ListUseCases(filter));
  const std::string prod = production_env(), dflt = default_env();
  auto built = std::make_shared<std::vector<json>>();
  std::vector<json>& cards = *built;
  try {
    SQLite::Database& db = Reader(catalog_path());
    for (const auto& e : entries) {
      const auto& c = e.card;
      json fresh{{"state", "fresh"}, {"fresh", 0},       {"stale", 0},
                 {"never_built", 0}, {"unplannable", 0}, {"updated_at", ""}};
      std::string updated;
      for (const auto& [w, d] : e.datasets) {
        json f = Freshness(d.state, d.updated_at);
        const std::string st = f["state"];
        fresh[st] = fresh[st].get<int>() + 1;
        updated = std::max(updated, d.updated_at);
      }
      fresh["updated_at"] = updated;
      fresh["state"] = fresh["unplannable"] > 0   ? "unplannable"
                       : fresh["stale"] > 0       ? "stale"
                       : fresh["never_built"] > 0 ? "never_built"
                       : e.datasets.empty()       ? "never_built"
                                                  : "fresh";
      std::vector<std::string> flows;
      json health{{"status", "never_run"}};
      std::string best;
      for (const auto& [w, f] : e.flows) {
        flows.push_back(f.name);
        for (const std::string& env : {prod, dflt}) {
          json r = LastRun(db, f.name, env);
          if (r.is_null()) continue;
          // Production first: a run there wins over any run elsewhere.
          const std::string key = (env == prod ? "1" : "0") + r["started_at"].get<std::string>();
          if (key > best) {
            best = key;
            health = json{{"status", r["status"]},
                          {"run_id", r["id"]},
                          {"finished_at", r["finished_at"]},
                          {"environment", r["environment"]}};
          }
          break;
        }
      }
      cards.push_back(json{{"id", c.id},
                           {"title", c.title},
                           {"summary", Summary(c.description)},
                           {"status", c.status},
                           {"priority", c.priority},
                           {"owner", c.owner},
                           {"team", c.team},
                           {"direction", c.direction},
                           {"ministry", c.ministry},
                           {"tags", c.tags},
                           {"workspace", e.workspace},
                           {"flows", flows},
                           {"freshness", fresh},
                           {"health", health},
                           {"updated", updated}});
    }
  } catch (const std::exception& ex) {
    return ReadError(ex, "the use cases");
  }
  Cards out = std::move(built);
  if (search.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    cards_ = out;
    cards_gen_ = gen;
  }
  return out;
}

Result<std::shared_ptr<const std::string>> CatalogViews::UseCasesJson(const UseCaseQuery& q) {
  const uint64_t gen = Generation();
  json key_doc{q.status, q.direction, q.tag, q.owner, q.q, q.sort, q.descending};
  const std::string key = key_doc.dump();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (json_gen_ == gen) {
      auto it = json_cache_.find(key);
      if (it != json_cache_.end()) return it->second;
    }
  }
  ALAMBIC_ASSIGN_OR_RETURN(json doc, UseCases(q));
  auto text =
      std::make_shared<const std::string>(doc.dump(-1, ' ', false, json::error_handler_t::replace));
  std::lock_guard<std::mutex> lock(mu_);
  if (json_gen_ != gen) {
    if (gen < json_gen_) return text;  // built from older data: not kept
    json_cache_.clear();
    json_gen_ = gen;
  }
  if (json_cache_.size() >= kMaxCachedQueries) json_cache_.clear();
  json_cache_[key] = text;
  return text;
}

Result<json> CatalogViews::UseCases(const UseCaseQuery& q) {
  ALAMBIC_ASSIGN_OR_RETURN(auto cards, Cards(q.q));
  auto any = [](const std::vector<std::string>& allowed, const std::string& v) {
    return allowed.empty() || std::find(allowed.begin(), allowed.end(), v) != allowed.end();
  };
  json counts = json::object();
  for (const char* s : kUseCaseStatuses) counts[s] = 0;
  std::set<std::string> directions, owners, tags;
  std::vector<json> items;
  for (const json& card : *cards) {
    const std::string status = card["status"], direction = card["direction"], owner = card["owner"];
    const auto card_tags = card["tags"].get<std::vector<std::string>>();
    bool tag_ok = q.tag.empty();
    for (const auto& t : card_tags) tag_ok = tag_ok || any(q.tag, t);
    if (!any(q.direction, direction) || !any(q.owner, owner) || !tag_ok) continue;
    if (!direction.empty()) directions.insert(direction);
    if (!owner.empty()) owners.insert(owner);
    tags.insert(card_tags.begin(), card_tags.end());
    counts[status] = counts.value(status, 0) + 1;
    if (!any(q.status, status)) continue;
    items.push_back(card);
  }
  static const std::map<std::string, int> kStatusOrder = {
      {"idea", 0}, {"poc", 1}, {"preprod", 2}, {"production", 3}, {"abandoned", 4}};
  const std::string sort = q.sort;
  auto key = [&](const json& j) -> std::string {
    if (sort == "status") {
      auto it = kStatusOrder.find(j["status"].get<std::string>());
      return std::to_string(it == kStatusOrder.end() ? 9 : it->second);
    }
    if (sort == "owner") return j["owner"];
    if (sort == "direction") return j["direction"];
    if (sort == "updated") return j["updated"];
    if (sort == "health") return j["health"]["status"];
    return j["title"];
  };
  std::stable_sort(items.begin(), items.end(), [&](const json& a, const json& b) {
    const std::string ka = key(a), kb = key(b);
    if (ka != kb) return q.descending ? ka > kb : ka < kb;
    return a["id"].get<std::string>() < b["id"].get<std::string>();
  });
  for (auto& i : items) i.erase("updated");
  return json{{"counts", counts},
              {"total", items.size()},
              {"facets", {{"directions", directions}, {"owners", owners}, {"tags", tags}}},
              {"items", items}};
}

Result<json> CatalogViews::Search(const std::string& text, int limit) {
  if (text.empty() || text.size() > 200) return Status::Invalid("q must hold 1 to 200 characters");
  if (limit < 1 || limit > kMaxPageLimit)
    return Status::Invalid(fmt::format("limit must be between 1 and {}", kMaxPageLimit));
  LabCatalog* lab = Lab(lab_path());
  if (!lab) return Status::Failed("cannot open the lab catalog");
  ALAMBIC_ASSIGN_OR_RETURN(auto hits, lab->Search(text, limit));
  auto lower = [](std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  const std::string lq = lower(text);
  auto url = [](const SearchHit& h) {
    if (h.kind == "usecase") return "/usecases/" + h.ref;
    if (h.kind == "column") {
      const size_t dot = h.ref.find('.');
      return "/datasets/" + h.ref.substr(0, dot) + "#" + h.ref.substr(dot + 1);
    }
    return "/datasets/" + h.ref;
  };
  auto item = [&](const SearchHit& h) {
    const bool exact = lower(h.ref) == lq || lower(h.title) == lq;
    return json{
        {"kind", h.kind},           {"ref", h.ref},   {"title", h.title}, {"snippet", h.snippet},
        {"workspace", h.workspace}, {"exact", exact}, {"url", url(h)}};
  };
  std::vector<json> items;
  std::set<std::string> seen;
  for (const auto& h : hits) {
    items.push_back(item(h));
    seen.insert(h.kind + ":" + h.ref);
  }
  // An exact name the full-text ranking left out still comes first.
  if (auto uc = lab->FindUseCase(text); uc.ok() && *uc && !seen.count("usecase:" + text)) {
    SearchHit h{"usecase", (*uc)->card.id, (*uc)->workspace, (*uc)->card.title,
                Summary((*uc)->card.description)};
    items.push_back(item(h));
  }
  if (DatasetKnown(*workspace(), text) && !seen.count("dataset:" + text))
    items.push_back(item(SearchHit{"dataset", text, name(), text, ""}));
  std::stable_sort(items.begin(), items.end(), [](const json& a, const json& b) {
    return a["exact"].get<bool>() && !b["exact"].get<bool>();
  });
  if (static_cast<int>(items.size()) > limit) items.resize(static_cast<size_t>(limit));
  return json{{"items", items}};
}

Result<json> CatalogViews::UseCase(const std::string& id) {
  LabCatalog* lab = Lab(lab_path());
  if (!lab) return Status::Failed("cannot open the lab catalog");
  ALAMBIC_ASSIGN_OR_RETURN(auto found, lab->FindUseCase(id));
  if (!found) return Status::NotFound(fmt::format("no use case '{}'", id));
  const UseCaseEntry& e = *found;
  const UseCaseCard& c = e.card;
  auto ws = workspace();
  json out = UseCaseJson(c);
  out["id"] = c.id;
  out["workspace"] = e.workspace;
  out["benefits"] = json{{"expected", c.expected_benefits}, {"measured", c.measured_benefits}};
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto it = kpi_cache_.find(c.id);
    if (it == kpi_cache_.end()) {
      lock.unlock();
      json kpis = KpiSeries(root_, c, e.workspace == name());
      lock.lock();
      it = kpi_cache_.emplace(c.id, std::move(kpis)).first;
    }
    out["kpis"] = it->second;
  }
  json history = json::array();
  for (const auto& h : e.history)
    history.push_back(json{{"status", h.status},
                           {"reason", h.reason},
                           {"changed_at", h.changed_at},
                           {"git_commit", h.git_commit}});
  out["status_history"] = history;
  const std::string prod = production_env();
  try {
    SQLite::Database& db = Reader(catalog_path());
    Catalog* cat = CatalogReader(catalog_path());
    json flows = json::array(), production = json::array(), next_runs = json::array();
    std::vector<std::string> flow_names;
    for (const auto& [w, f] : e.flows) {
      flow_names.push_back(f.name);
      json last = LastRun(db, f.name, "");
      const Flow* wf = ws->FindFlow(f.name);
      // A flow of another workspace of the lab: its cron as registered.
      json schedule = wf ? ScheduleJson(*wf, cat, prod)
                      : f.schedule.empty()
                          ? json(nullptr)
                          : json{{"cron", f.schedule}, {"timezone", ""}, {"paused", nullptr}};
      flows.push_back(json{{"name", f.name},
                           {"workspace", w},
                           {"description", f.description},
                           {"schedule", schedule},
                           {"last_run", last}});
      if (cat) {
        if (auto rel = cat->ActiveRelease(f.name, prod); rel.ok() && *rel) {
          const ReleaseRecord& r = **rel;
          production.push_back(json{{"flow", f.name},
                                    {"environment", prod},
                                    {"release", r.number},
                                    {"tag", r.tag},
                                    {"git_commit", r.git_commit},
                                    {"since", r.activated_at},
                                    {"promoted_by", r.user},
                                    {"gates", r.gates}});
        }
      }
      if (wf) {
        json n = NextRun(cat, *wf, prod);
        if (!n.is_null()) next_runs.push_back(n);
      }
    }
    out["flows"] = flows;
    out["production"] = production;
    out["next_runs"] = next_runs;
    json datasets = json::array();
    for (const auto& [w, d] : e.datasets)
      datasets.push_back(json{{"name", d.name},
                              {"flow", d.flow},
                              {"recipe", d.recipe},
                              {"rows", d.rows},
                              {"freshness", Freshness(d.state, d.updated_at)}});
    out["datasets"] = datasets;
    json models = json::array();
    if (cat) {
      if (auto mv = cat->ModelVersions(default_env()); mv.ok())
        for (const auto& m : *mv)
          if (m.current &&
              std::find(flow_names.begin(), flow_names.end(), m.flow) != flow_names.end())
            models.push_back(json{{"model", m.model},
                                  {"flow", m.flow},
                                  {"recipe", m.recipe},
                                  {"version_id", m.version_id},
                                  {"created_at", m.created_at},
                                  {"environment", m.environment},
                                  {"metrics", m.metrics}});
    }
    out["models"] = models;
    // The last runs of its flows, newest first, merged.
    std::vector<json> runs;
    for (const auto& f : flow_names) {
      SQLite::Statement q(db, fmt::format("SELECT {} FROM run_flows f JOIN runs r ON r.id = "
                                          "f.run_id WHERE f.flow = ? ORDER BY f.started_at DESC, "
                                          "f.run_id DESC LIMIT {}",
                                          kRunColumns, kLastRuns));
      q.bind(1, f);
      while (q.executeStep()) {
        json r = RunJson(q);
        r["flow"] = f;
        runs.push_back(r);
      }
    }
    std::sort(runs.begin(), runs.end(), [](const json& a, const json& b) {
      return a["started_at"].get<std::string>() > b["started_at"].get<std::string>();
    });
    if (runs.size() > static_cast<size_t>(kLastRuns)) runs.resize(kLastRuns);
    out["last_runs"] = runs;
  } catch (const std::exception& ex) {
    return ReadError(ex, "use case " + id);
  }
  return out;
}

Result<json> CatalogViews::UseCaseAudit(const std::string& id, const Page& page) {
  ALAMBIC_RETURN_IF_ERROR(CheckPage(page));
  auto ws = workspace();
  std::vector<std::string> flows;
  for (const auto& f : ws->flows)
    if (f.usecase == id) flows.push_back(f.name);
  LabCatalog* lab = Lab(lab_path());
  if (!lab) return Status::Failed("cannot open the lab catalog");
  ALAMBIC_ASSIGN_OR_RETURN(auto found, lab->FindUseCase(id));
  if (!found) return Status::NotFound(fmt::format("no use case '{}'", id));
  ALAMBIC_ASSIGN_OR_RETURN(auto after, ReadCursor(page.cursor, "audit:" + id, 1));
  try {
    SQLite::Database& db = Reader(catalog_path());
    json items = json::array();
    std::string in;
    for (size_t i = 0; i < flows.size(); ++i) in += (i ? ",?" : "?");
    if (flows.empty()) return json{{"items", items}, {"next_cursor", nullptr}};
    SQLite::Statement q(db, fmt::format("SELECT seq, at, user, action, environment, flow, target, "
                                        "outcome, detail FROM audit WHERE flow IN ({}) AND seq < "
                                        "? AND action IN ('promote', 'rollback', 'run', "
                                        "'trigger', 'schedule.pause', 'schedule.resume') ORDER "
                                        "BY seq DESC LIMIT ?",
                                        in));
    int b = 1;
    for (const auto& f : flows) q.bind(b++, f);
    q.bind(b++, after ? (*after)[0].get<int64_t>() : INT64_MAX);
    q.bind(b++, page.limit + 1);
    return KeysetPage(
        q, page, "audit:" + id,
        [](SQLite::Statement& r) {
          return json{{"seq", r.getColumn(0).getInt64()},
                      {"at", r.getColumn(1).getString()},
                      {"user", r.getColumn(2).getString()},
                      {"action", r.getColumn(3).getString()},
                      {"environment", r.getColumn(4).getString()},
                      {"flow", r.getColumn(5).getString()},
                      {"target", r.getColumn(6).getString()},
                      {"outcome", r.getColumn(7).getString()},
                      {"detail", json::parse(r.getColumn(8).getString(), nullptr, false)}};
        },
        [](SQLite::Statement&, const json& item) { return json{item["seq"]}; });
  } catch (const std::exception& ex) {
    return ReadError(ex, "the audit log");
  }
}

// ---------------------------------------------------------------- flows

Result<json> CatalogViews::FlowGraph(const std::string& flow, const std::string& env_in) {
  auto ws = workspace();
  const Flow* f = ws->FindFlow(flow);
  if (!f) return Status::NotFound(fmt::format("no flow '{}'", flow));
  ALAMBIC_ASSIGN_OR_RETURN(std::string env, Env(env_in));
  LabCatalog* lab = Lab(lab_path());
  std::map<std::string, LabDataset> lab_datasets;
  if (lab && !f->usecase.empty())
    if (auto uc = lab->FindUseCase(f->usecase); uc.ok() && *uc)
      for (const auto& [w, d] : (*uc)->datasets) lab_datasets[d.name] = d;
  json nodes = json::array(), edges = json::array();
  std::set<std::string> produced, datasets;
  for (const auto& r : f->recipes)
    for (const auto& o : r.outputs) produced.insert(o);
  std::string plan_error;  // why the flow cannot be planned ("" : it can)
  for (const auto& r : f->recipes)
    for (const auto& o : r.outputs)
      if (auto it = lab_datasets.find(o);
          it != lab_datasets.end() && it->second.state.rfind("unplannable: ", 0) == 0)
        plan_error = it->second.state.substr(13);
  try {
    SQLite::Database& db = Reader(catalog_path());
    json last = LastRun(db, flow, env);
    std::map<std::string, std::pair<std::string, double>> recipe_status;
    if (!last.is_null()) {
      SQLite::Statement q(
          db,
          "SELECT recipe, status, duration_ms FROM recipe_run_rows WHERE run_id = ? "
          "AND flow = ?");
      q.bind(1, last["id"].get<std::string>());
      q.bind(2, flow);
      while (q.executeStep())
        recipe_status[q.getColumn(0).getString()] = {q.getColumn(1).getString(),
                                                     q.getColumn(2).getDouble()};
    }
    auto add_dataset = [&](const std::string& d) {
      if (!datasets.insert(d).second) return;
      json n{{"id", "dataset:" + d}, {"type", "dataset"}, {"name", d}};
      auto it = lab_datasets.find(d);
      n["freshness"] = it != lab_datasets.end()
                           ? Freshness(it->second.state, it->second.updated_at)
                           : json{{"state", "never_built"}, {"reason", ""}, {"updated_at", ""}};
      n["rows"] = it != lab_datasets.end() ? it->second.rows : 0;
      std::set<std::string> tags;
      if (auto spec = f->datasets.find(d); spec != f->datasets.end())
        for (const auto& c : spec->second.columns) tags.insert(c.tags.begin(), c.tags.end());
      n["tags"] = tags;
      if (!produced.count(d)) n["external"] = true;
      nodes.push_back(n);
    };
    for (const auto& r : f->recipes) {
      json n{{"id", "recipe:" + r.name}, {"type", "recipe"}, {"name", r.name}, {"kind", r.kind}};
      auto it = recipe_status.find(r.name);
      n["last_status"] = it != recipe_status.end() ? json(it->second.first) : json(nullptr);
      n["last_run_id"] = last.is_null() ? json(nullptr) : last["id"];
      n["duration_ms"] = it != recipe_status.end() ? json(it->second.second) : json(nullptr);
      nodes.push_back(n);
      for (const auto& i : r.inputs) {
        add_dataset(i);
        edges.push_back(json{{"from", "dataset:" + i}, {"to", "recipe:" + r.name}});
      }
      for (const auto& o : r.outputs) {
        add_dataset(o);
        edges.push_back(json{{"from", "recipe:" + r.name}, {"to", "dataset:" + o}});
      }
    }
  } catch (const std::exception& ex) {
    return ReadError(ex, "flow " + flow);
  }
  // The layout cache key: the flow as loaded (its recipes and datasets).
  std::string shape;
  for (const auto& e : edges) shape += e.dump();
  const std::string version = fmt::format("{:016x}", std::hash<std::string>{}(shape));
  json schedule = nullptr;
  if (f->schedule) {
    schedule = ScheduleJson(*f, CatalogReader(catalog_path()), env);
  }
  return json{{"name", f->name},
              {"usecase", f->usecase},
              {"description", f->description},
              {"schedule", schedule},
              {"version", version},
              {"environment", env},
              {"plan_error", plan_error.empty() ? json(nullptr) : json(plan_error)},
              {"nodes", nodes},
              {"edges", edges}};
}

Result<json> CatalogViews::FlowNeighbourhood(const std::string& flow,
                                             const std::vector<std::string>& centres, int depth,
                                             int limit, const std::string& env) {
  if (centres.empty() || centres.size() > kMaxNeighbourhoodCentres)
    return Status::Invalid(fmt::format("node must name 1 to {} nodes", kMaxNeighbourhoodCentres));
  if (depth < 0 || depth > kMaxLineageDepth)
    return Status::Invalid(fmt::format("depth must be between 0 and {}", kMaxLineageDepth));
  if (limit < 1 || limit > kMaxNeighbourhoodNodes)
    return Status::Invalid(fmt::format("limit must be between 1 and {}", kMaxNeighbourhoodNodes));
  ALAMBIC_ASSIGN_OR_RETURN(json g, FlowGraph(flow, env));
  std::map<std::string, size_t> index;  // node id -> its place in g["nodes"]
  for (size_t i = 0; i < g["nodes"].size(); ++i) index[g["nodes"][i]["id"]] = i;
  std::map<std::string, std::vector<std::string>> adj;
  for (const auto& e : g["edges"]) {
    adj[e["from"]].push_back(e["to"]);
    adj[e["to"]].push_back(e["from"]);
  }
  for (const auto& c : centres)
    if (!index.count(c)) return Status::NotFound(fmt::format("no node '{}' in flow '{}'", c, flow));
  // Breadth first from the centres, both directions, at most `limit` nodes.
  std::set<std::string> kept(centres.begin(), centres.end());
  std::vector<std::string> order(kept.begin(), kept.end()), frontier = order;
  bool truncated = false;
  for (int hop = 0; hop < depth && !frontier.empty() && !truncated; ++hop) {
    std::vector<std::string> next;
    for (const auto& id : frontier) {
      for (const auto& nb : adj[id]) {
        if (kept.count(nb)) continue;
        if (static_cast<int>(kept.size()) >= limit) {
          truncated = true;
          break;
        }
        kept.insert(nb);
        order.push_back(nb);
        next.push_back(nb);
      }
      if (truncated) break;
    }
    frontier = std::move(next);
  }
  json nodes = json::array(), edges = json::array();
  for (const auto& id : order) {
    json n = g["nodes"][index[id]];
    int hidden = 0;
    for (const auto& nb : adj[id]) hidden += kept.count(nb) ? 0 : 1;
    n["more"] = hidden;  // neighbours left out: expand from this node to see them
    nodes.push_back(std::move(n));
  }
  for (const auto& e : g["edges"])
    if (kept.count(e["from"]) && kept.count(e["to"])) edges.push_back(e);
  return json{
      {"name", g["name"]},      {"version", g["version"]}, {"environment", g["environment"]},
      {"centres", centres},     {"depth", depth},          {"total_nodes", g["nodes"].size()},
      {"truncated", truncated}, {"nodes", nodes},          {"edges", edges}};
}

Result<json> CatalogViews::Recipe(const std::string& flow, const std::string& recipe,
                                  const std::string& env_in) {
  auto ws = workspace();
  const Flow* f = ws->FindFlow(flow);
  if (!f) return Status::NotFound(fmt::format("no flow '{}'", flow));
  const RecipeSpec* r = nullptr;
  for (const auto& x : f->recipes)
    if (x.name == recipe) r = &x;
  if (!r) return Status::NotFound(fmt::format("no recipe '{}' in flow '{}'", recipe, flow));
  ALAMBIC_ASSIGN_OR_RETURN(std::string env, Env(env_in));
  json code = nullptr;
  if (!r->script.empty()) {
    // The script is a workspace file the flow names; it stays inside the workspace.
    std::error_code ec;
    const fs::path p = fs::weakly_canonical(ws->root / r->script, ec);
    const fs::path rootc = fs::weakly_canonical(ws->root, ec);
    const auto rel = p.lexically_relative(rootc);
    if (!rel.empty() && *rel.begin() != "..") {
      std::ifstream in(p, std::ios::binary);
      std::string text(kMaxCodeBytes + 1, '\0');
      in.read(text.data(), static_cast<std::streamsize>(text.size()));
      text.resize(static_cast<size_t>(in.gcount()));
      const bool truncated = text.size() > kMaxCodeBytes;
      if (truncated) text.resize(kMaxCodeBytes);
      const std::string ext = p.extension().string();
      code = json{{"file", r->script},
                  {"language", ext.empty() ? "" : ext.substr(1)},
                  {"text", text},
                  {"truncated", truncated}};
    }
  } else if (r->params.contains("query") && r->params["query"].is_string()) {
    code = json{
        {"file", nullptr}, {"language", "sql"}, {"text", r->params["query"]}, {"truncated", false}};
  }
  json history = json::array();
  try {
    SQLite::Database& db = Reader(catalog_path());
    // Run by run (newest first), each read with its own run id: the view
    // reads a run's up-to-date record only then.
    SQLite::Statement q(db,
                        "SELECT run_id, status, started_at, duration_ms, rows_in, rows_out, reason "
                        "FROM recipe_run_rows WHERE run_id = ? AND flow = ? AND recipe = ?");
    for (const auto& run_id : RunsOfFlow(db, flow, env)) {
      if (static_cast<int>(history.size()) == kRecipeHistory) break;
      q.reset();
      q.bind(1, run_id);
      q.bind(2, flow);
      q.bind(3, recipe);
      if (q.executeStep())
        history.push_back(json{{"run_id", q.getColumn(0).getString()},
                               {"status", q.getColumn(1).getString()},
                               {"started_at", q.getColumn(2).getString()},
                               {"duration_ms", q.getColumn(3).getDouble()},
                               {"rows_in", q.getColumn(4).getInt64()},
                               {"rows_out", q.getColumn(5).getInt64()},
                               {"reason", q.getColumn(6).getString()}});
    }
  } catch (const std::exception& ex) {
    return ReadError(ex, "recipe " + recipe);
  }
  return json{{"flow", flow},
              {"name", r->name},
              {"kind", r->kind},
              {"inputs", r->inputs},
              {"outputs", r->outputs},
              {"params", r->params},
              {"description", r->description},
              {"code", code},
              {"history", history}};
}

Result<json> CatalogViews::FlowRuns(const std::string& flow, const std::string& env_in,
                                    const std::string& status, const Page& page) {
  ALAMBIC_RETURN_IF_ERROR(CheckPage(page));
  if (!HasFlow(flow)) return Status::NotFound(fmt::format("no flow '{}'", flow));
  std::string env;
  if (!env_in.empty()) {
    ALAMBIC_ASSIGN_OR_RETURN(env, Env(env_in));
  }
  ALAMBIC_ASSIGN_OR_RETURN(auto after, ReadCursor(page.cursor, "runs:" + flow, 2));
  try {
    SQLite::Database& db = Reader(catalog_path());
    SQLite::Statement q(db, RunsPageSql());
    q.bind(1, flow);
    q.bind(2, after ? (*after)[0].get<std::string>() : std::string("\x7f"));
    q.bind(3, after ? (*after)[1].get<std::string>() : std::string("\x7f"));
    q.bind(4, env);
    q.bind(5, status);
    q.bind(6, page.limit + 1);
    return KeysetPage(q, page, "runs:" + flow, RunJson, [](SQLite::Statement&, const json& item) {
      return json{item["started_at"], item["id"]};
    });
  } catch (const std::exception& ex) {
    return ReadError(ex, "the runs of " + flow);
  }
}

std::string CatalogViews::RunsPageSql() {
  return fmt::format(
      "SELECT {} FROM run_flows f JOIN runs r ON r.id = f.run_id WHERE f.flow = ?1 "
      "AND (f.started_at, f.run_id) < (?2, ?3) AND (?4 = '' OR r.environment = "
      "?4) AND (?5 = '' OR r.status = ?5) ORDER BY f.started_at DESC, f.run_id "
      "DESC LIMIT ?6",
      kRunColumns);
}

Result<json> CatalogViews::Run(const std::string& id) {
  try {
    SQLite::Database& db = Reader(catalog_path());
    SQLite::Statement q(db, fmt::format("SELECT {} FROM runs r WHERE r.id >= ?1 AND r.id < ?1 || "
                                        "x'7f' ORDER BY r.id LIMIT 2",
                                        kRunColumns));
    q.bind(1, id);
    std::vector<json> found;
    std::vector<std::pair<bool, std::string>> extra;
    while (q.executeStep()) {
      found.push_back(RunJson(q));
      extra.emplace_back(q.getColumn(11).getInt() != 0, q.getColumn(12).getString());
    }
    if (id.empty() || found.empty()) return Status::NotFound(fmt::format("no run '{}'", id));
    if (found.size() > 1 && found[0]["id"] != id)
      return Status::NotFound(fmt::format("run id '{}' is ambiguous", id));
    json run = found[0];
    run["git_dirty"] = extra[0].first;
    run["host"] = extra[0].second;
    SQLite::Statement r(db,
                        "SELECT flow, recipe, kind, status, reason, attempts, started_at, "
                        "finished_at, duration_ms, rows_in, rows_out, bytes_out, error, metrics, "
                        "log FROM recipe_run_rows WHERE run_id = ? ORDER BY started_at = '', "
                        "started_at, flow, recipe");
    r.bind(1, run["id"].get<std::string>());
    json recipes = json::array();
    while (r.executeStep()) {
      const std::string log = r.getColumn(14).getString();
      const auto lines =
          log.empty() ? 0 : std::count(log.begin(), log.end(), '\n') + (log.back() == '\n' ? 0 : 1);
      recipes.push_back(json{{"flow", r.getColumn(0).getString()},
                             {"recipe", r.getColumn(1).getString()},
                             {"kind", r.getColumn(2).getString()},
                             {"status", r.getColumn(3).getString()},
                             {"reason", r.getColumn(4).getString()},
                             {"attempts", r.getColumn(5).getInt()},
                             {"started_at", r.getColumn(6).getString()},
                             {"finished_at", r.getColumn(7).getString()},
                             {"duration_ms", r.getColumn(8).getDouble()},
                             {"rows_in", r.getColumn(9).getInt64()},
                             {"rows_out", r.getColumn(10).getInt64()},
                             {"bytes_out", r.getColumn(11).getInt64()},
                             {"error", r.getColumn(12).getString()},
                             {"metrics", json::parse(r.getColumn(13).getString(), nullptr, false)},
                             {"log_lines", lines}});
    }
    run["recipes"] = recipes;
    return run;
  } catch (const std::exception& ex) {
    return ReadError(ex, "run " + id);
  }
}

Result<json> CatalogViews::RunLogs(const std::string& id, const std::string& recipe,
                                   const Page& page) {
  ALAMBIC_RETURN_IF_ERROR(CheckPage(page));
  if (recipe.find("..") != std::string::npos || (!recipe.empty() && recipe[0] == '/') ||
      recipe.find('\\') != std::string::npos || recipe.find('\0') != std::string::npos)
    return Status::Invalid("recipe must be a recipe name or flow/recipe");
  ALAMBIC_ASSIGN_OR_RETURN(json run, Run(id));
  const std::string run_id = run["id"];
  ALAMBIC_ASSIGN_OR_RETURN(auto after, ReadCursor(page.cursor, "logs:" + run_id, 3));
  std::string flow, name = recipe;
  if (auto slash = recipe.find('/'); slash != std::string::npos) {
    flow = recipe.substr(0, slash);
    name = recipe.substr(slash + 1);
  }
  try {
    SQLite::Database& db = Reader(catalog_path());
    SQLite::Statement q(
        db,
        "SELECT flow, recipe, log FROM recipe_run_rows WHERE run_id = ?1 AND (?2 = '' "
        "OR recipe = ?2) AND (?3 = '' OR flow = ?3) AND (flow, recipe) >= (?4, "
        "?5) ORDER BY flow, recipe");
    q.bind(1, run_id);
    q.bind(2, name);
    q.bind(3, flow);
    q.bind(4, after ? (*after)[0].get<std::string>() : std::string());
    q.bind(5, after ? (*after)[1].get<std::string>() : std::string());
    const int64_t from_line = after ? (*after)[2].get<int64_t>() : 0;
    json items = json::array();
    while (q.executeStep()) {
      const std::string f = q.getColumn(0).getString(), r = q.getColumn(1).getString();
      const std::string log = q.getColumn(2).getString();
      const bool same = after && f == (*after)[0] && r == (*after)[1];
      int64_t line = 0;
      size_t start = 0;
      while (start < log.size()) {
        size_t eol = log.find('\n', start);
        if (eol == std::string::npos) eol = log.size();
        ++line;
        if (!same || line > from_line) {
          if (static_cast<int>(items.size()) == page.limit)
            return json{{"items", items},
                        {"next_cursor", MakeCursor("logs:" + run_id, {f, r, line - 1})}};
          items.push_back(json{
              {"recipe", f + "/" + r}, {"line", line}, {"text", log.substr(start, eol - start)}});
        }
        start = eol + 1;
      }
    }
    return json{{"items", items}, {"next_cursor", nullptr}};
  } catch (const std::exception& ex) {
    return ReadError(ex, "the log of run " + id);
  }
}

// ---------------------------------------------------------------- datasets

Result<json> CatalogViews::Dataset(const std::string& name, const std::string& env_in) {
  auto ws = workspace();
  if (!DatasetKnown(*ws, name)) return Status::NotFound(fmt::format("no dataset '{}'", name));
  ALAMBIC_ASSIGN_OR_RETURN(std::string env, Env(env_in));
  const Flow* flow = nullptr;
  const RecipeSpec* producer = nullptr;
  const DatasetSpec* spec = FindDatasetSpec(*ws, name, &flow, &producer);
  json out{{"name", name},
           {"environment", env},
           {"flow", flow ? json(flow->name) : json(nullptr)},
           {"recipe", producer ? json(producer->name) : json(nullptr)},
           {"description", spec ? spec->description : ""},
           {"usecase", flow ? flow->usecase : ""}};
  std::map<std::string, json> col_specs;
  if (spec)
    for (const auto& c : spec->columns)
      col_specs[c.name] = json{{"tags", c.tags}, {"description", c.description}};
  json columns = json::array();
  json current = nullptr;
  try {
    SQLite::Database& db = Reader(catalog_path());
    SQLite::Statement q(db,
                        "SELECT v.id, v.row_count, v.size_bytes, v.created_at, v.run_id, v.schema "
                        "FROM current_versions c JOIN dataset_versions v ON v.environment = "
                        "c.environment AND v.dataset = c.dataset AND v.id = c.version_id WHERE "
                        "c.environment = ? AND c.dataset = ?");
    q.bind(1, env);
    q.bind(2, name);
    if (q.executeStep()) {
      current = json{{"version_id", q.getColumn(0).getString()},
                     {"rows", q.getColumn(1).getInt64()},
                     {"bytes", q.getColumn(2).getInt64()},
                     {"created_at", q.getColumn(3).getString()},
                     {"run_id", q.getColumn(4).getString()}};
      json schema = json::parse(q.getColumn(5).getString(), nullptr, false);
      if (schema.is_array())
        for (const auto& f : schema) {
          const std::string cname = f.value("name", "");
          json c{{"name", cname},
                 {"type", f.value("type", "")},
                 {"tags", json::array()},
                 {"description", ""}};
          if (auto it = col_specs.find(cname); it != col_specs.end()) {
            c["tags"] = it->second["tags"];
            c["description"] = it->second["description"];
            col_specs.erase(it);
          }
          columns.push_back(c);
        }
    }
  } catch (const std::exception& ex) {
    return ReadError(ex, "dataset " + name);
  }
  for (const auto& [cname, c] : col_specs)
    columns.push_back(json{{"name", cname},
                           {"type", nullptr},
                           {"tags", c["tags"]},
                           {"description", c["description"]}});
  out["columns"] = columns;
  out["current"] = current;
  json fresh{{"state", current.is_null() ? "never_built" : "fresh"},
             {"reason", ""},
             {"updated_at", current.is_null() ? json("") : current["created_at"]}};
  if (LabCatalog* lab = Lab(lab_path()); lab && flow && !flow->usecase.empty())
    if (auto uc = lab->FindUseCase(flow->usecase); uc.ok() && *uc)
      for (const auto& [w, d] : (*uc)->datasets)
        if (d.name == name && d.environment == env) fresh = Freshness(d.state, d.updated_at);
  out["freshness"] = fresh;
  return out;
}

Result<json> CatalogViews::DatasetVersions(const std::string& name, const std::string& env_in,
                                           const Page& page) {
  ALAMBIC_RETURN_IF_ERROR(CheckPage(page));
  if (!DatasetKnown(*workspace(), name))
    return Status::NotFound(fmt::format("no dataset '{}'", name));
  ALAMBIC_ASSIGN_OR_RETURN(std::string env, Env(env_in));
  ALAMBIC_ASSIGN_OR_RETURN(auto after, ReadCursor(page.cursor, "versions:" + name, 2));
  try {
    SQLite::Database& db = Reader(catalog_path());
    SQLite::Statement q(db,
                        "SELECT v.id, v.row_count, v.size_bytes, v.created_at, v.run_id, "
                        "c.version_id IS NOT NULL FROM dataset_versions v LEFT JOIN "
                        "current_versions c ON c.environment = v.environment AND c.dataset = "
                        "v.dataset AND c.version_id = v.id WHERE v.environment = ?1 AND v.dataset "
                        "= ?2 AND (v.created_at, v.id) < (?3, ?4) ORDER BY v.created_at DESC, "
                        "v.id DESC LIMIT ?5");
    q.bind(1, env);
    q.bind(2, name);
    q.bind(3, after ? (*after)[0].get<std::string>() : std::string("\x7f"));
    q.bind(4, after ? (*after)[1].get<std::string>() : std::string("\x7f"));
    q.bind(5, page.limit + 1);
    return KeysetPage(
        q, page, "versions:" + name,
        [](SQLite::Statement& r) {
          return json{{"version_id", r.getColumn(0).getString()},
                      {"rows", r.getColumn(1).getInt64()},
                      {"bytes", r.getColumn(2).getInt64()},
                      {"created_at", r.getColumn(3).getString()},
                      {"run_id", r.getColumn(4).getString()},
                      {"current", r.getColumn(5).getInt() != 0}};
        },
        [](SQLite::Statement&, const json& item) {
          return json{item["created_at"], item["version_id"]};
        });
  } catch (const std::exception& ex) {
    return ReadError(ex, "the versions of " + name);
  }
}

namespace {

// The version `version` (a prefix; "" : current) of `name` in `env`, read from the store.
Result<std::pair<std::string, Table>> ReadVersion(const Workspace& ws, const fs::path& catalog,
                                                  const std::string& name, const std::string& env,
                                                  const std::string& version) {
  std::string id;
  try {
    SQLite::Database& db = Reader(catalog);
    if (version.empty()) {
      SQLite::Statement q(db,
                          "SELECT version_id FROM current_versions WHERE environment = ? AND "
                          "dataset = ?");
      q.bind(1, env);
      q.bind(2, name);
      if (q.executeStep()) id = q.getColumn(0).getString();
    } else {
      SQLite::Statement q(db,
                          "SELECT id FROM dataset_versions WHERE environment = ?1 AND dataset = "
                          "?2 AND id >= ?3 AND id < ?3 || x'7f' LIMIT 2");
      q.bind(1, env);
      q.bind(2, name);
      q.bind(3, version);
      int n = 0;
      while (q.executeStep()) {
        id = q.getColumn(0).getString();
        ++n;
      }
      if (n > 1) return Status::NotFound(fmt::format("version '{}' is ambiguous", version));
    }
  } catch (const std::exception& ex) {
    return ReadError(ex, "dataset " + name);
  }
  if (id.empty())
    return Status::NotFound(version.empty()
                                ? fmt::format("dataset '{}' was never built", name)
                                : fmt::format("no version '{}' of '{}'", version, name));
  ALAMBIC_ASSIGN_OR_RETURN(auto store, OpenEnvironmentStore(ws.config, env, ws.root));
  auto table = store->Read(name, id);
  if (!table.ok())
    return Status::NotFound(fmt::format("version {} of '{}' is not in the store", id, name));
  return std::make_pair(id, std::move(*table));
}

}  // namespace

Result<json> CatalogViews::Preview(const std::string& name, const std::string& env_in,
                                   const std::string& version, int limit) {
  if (limit < 1 || limit > kMaxPageLimit)
    return Status::Invalid(fmt::format("limit must be between 1 and {}", kMaxPageLimit));
  auto ws = workspace();
  if (!DatasetKnown(*ws, name)) return Status::NotFound(fmt::format("no dataset '{}'", name));
  ALAMBIC_ASSIGN_OR_RETURN(std::string env, Env(env_in));
  ALAMBIC_ASSIGN_OR_RETURN(auto vt, ReadVersion(*ws, catalog_path(), name, env, version));
  const Table& t = vt.second;
  json columns = json::array(), rows = json::array();
  for (const auto& f : t.schema().fields)
    columns.push_back(json{{"name", f.name}, {"type", TypeName(f.type)}});
  const int64_t n = std::min<int64_t>(limit, t.num_rows());
  for (int64_t i = 0; i < n; ++i) {
    json row = json::array();
    for (int c = 0; c < t.num_columns(); ++c) row.push_back(Cell(*t.column(c), i));
    rows.push_back(row);
  }
  return json{
      {"version_id", vt.first}, {"columns", columns}, {"rows", rows}, {"total_rows", t.num_rows()}};
}

Result<json> CatalogViews::Stats(const std::string& name, const std::string& env_in,
                                 const std::string& version, int bins) {
  if (bins < 2 || bins > 50) return Status::Invalid("bins must be between 2 and 50");
  auto ws = workspace();
  if (!DatasetKnown(*ws, name)) return Status::NotFound(fmt::format("no dataset '{}'", name));
  ALAMBIC_ASSIGN_OR_RETURN(std::string env, Env(env_in));
  ALAMBIC_ASSIGN_OR_RETURN(auto vt, ReadVersion(*ws, catalog_path(), name, env, version));
  const Table& t = vt.second;
  json columns = json::array();
  for (int c = 0; c < t.num_columns(); ++c) {
    const Column& col = *t.column(c);
    const Field& f = t.schema().fields[static_cast<size_t>(c)];
    json s{{"name", f.name}, {"type", TypeName(f.type)}, {"nulls", 0},           {"distinct", 0},
           {"min", nullptr}, {"max", nullptr},           {"histogram", nullptr}, {"top", nullptr}};
    int64_t nulls = 0;
    const bool numeric = col.type == TypeId::kInt64 || col.type == TypeId::kFloat64;
    if (numeric) {
      std::vector<double> v;
      std::set<double> distinct;
      for (int64_t i = 0; i < t.num_rows(); ++i) {
        if (col.IsNull(i)) {
          ++nulls;
          continue;
        }
        const double d =
            col.type == TypeId::kInt64 ? static_cast<double>(col.Int64(i)) : col.Double(i);
        if (std::isnan(d)) continue;
        v.push_back(d);
        distinct.insert(d);
      }
      s["distinct"] = distinct.size();
      if (!v.empty()) {
        const double lo = *distinct.begin(), hi = *distinct.rbegin();
        s["min"] = lo;
        s["max"] = hi;
        if (col.type == TypeId::kInt64) {
          s["min"] = static_cast<int64_t>(lo);
          s["max"] = static_cast<int64_t>(hi);
        }
        if (std::isfinite(lo) && std::isfinite(hi)) {
          std::vector<double> edges;
          std::vector<int64_t> counts(static_cast<size_t>(bins), 0);
          const double width = (hi - lo) / bins;
          for (int b = 0; b <= bins; ++b) edges.push_back(lo + width * b);
          for (double d : v) {
            int b = width > 0 ? static_cast<int>((d - lo) / width) : 0;
            b = std::clamp(b, 0, bins - 1);
            ++counts[static_cast<size_t>(b)];
          }
          s["histogram"] = json{{"edges", edges}, {"counts", counts}};
        }
      }
    } else {
      std::map<std::string, int64_t> freq;
      for (int64_t i = 0; i < t.num_rows(); ++i) {
        if (col.IsNull(i)) {
          ++nulls;
          continue;
        }
        ++freq[FormatCell(col, i)];
      }
      s["distinct"] = freq.size();
      if (!freq.empty()) {
        s["min"] = freq.begin()->first;
        s["max"] = freq.rbegin()->first;
      }
      std::vector<std::pair<std::string, int64_t>> top(freq.begin(), freq.end());
      std::stable_sort(top.begin(), top.end(),
                       [](const auto& a, const auto& b) { return a.second > b.second; });
      if (top.size() > static_cast<size_t>(kTopValues)) top.resize(kTopValues);
      json tj = json::array();
      for (const auto& [value, count] : top) tj.push_back(json{{"value", value}, {"count", count}});
      s["top"] = tj;
    }
    s["nulls"] = nulls;
    columns.push_back(s);
  }
  return json{{"version_id", vt.first}, {"rows", t.num_rows()}, {"columns", columns}};
}

Result<json> CatalogViews::Checks(const std::string& name, const std::string& env_in,
                                  const Page& page) {
  ALAMBIC_RETURN_IF_ERROR(CheckPage(page));
  auto ws = workspace();
  if (!DatasetKnown(*ws, name)) return Status::NotFound(fmt::format("no dataset '{}'", name));
  ALAMBIC_ASSIGN_OR_RETURN(std::string env, Env(env_in));
  // The check recipes reading it, by flow.
  std::vector<std::pair<std::string, std::string>> checks;
  for (const auto& f : ws->flows)
    for (const auto& r : f.recipes)
      if (r.kind == "check" && std::find(r.inputs.begin(), r.inputs.end(), name) != r.inputs.end())
        checks.emplace_back(f.name, r.name);
  json items = json::array(), next = nullptr;
  if (checks.empty()) return json{{"items", items}, {"next_cursor", next}};
  ALAMBIC_ASSIGN_OR_RETURN(auto after, ReadCursor(page.cursor, "checks:" + name, 3));
  try {
    SQLite::Database& db = Reader(catalog_path());
    // Run by run (newest first, from the cursor on), each read with its own
    // run id: the view reads a run's up-to-date record only then.
    std::set<std::string> flows;
    std::string in;
    for (const auto& [f, r] : checks)
      if (flows.insert(f).second)
        in += fmt::format("{}?{}", in.empty() ? "" : ",", 3 + flows.size());
    SQLite::Statement runs(
        db, fmt::format("SELECT DISTINCT f.started_at, f.run_id FROM run_flows f JOIN runs r ON "
                        "r.id = f.run_id WHERE f.flow IN ({}) AND r.environment = ?1 AND "
                        "(f.started_at, f.run_id) <= (?2, ?3) ORDER BY f.started_at DESC, "
                        "f.run_id DESC",
                        in));
    runs.bind(1, env);
    runs.bind(2, after ? (*after)[0].get<std::string>() : std::string("\x7f"));
    runs.bind(3, after ? (*after)[1].get<std::string>() : std::string("\x7f"));
    int b = 4;
    for (const auto& f : flows) runs.bind(b++, f);
    SQLite::Statement q(db,
                        "SELECT finished_at, status, metrics FROM recipe_run_rows WHERE run_id = ? "
                        "AND flow = ? AND recipe = ?");
    json last_keys;
    while (runs.executeStep()) {
      const std::string started = runs.getColumn(0).getString(),
                        run_id = runs.getColumn(1).getString();
      const bool at_cursor = after && started == (*after)[0] && run_id == (*after)[1];
      std::vector<std::pair<std::string, json>> found;  // recipe, item
      for (const auto& [f, r] : checks) {
        if (at_cursor && !(r < (*after)[2].get<std::string>())) continue;
        q.reset();
        q.bind(1, run_id);
        q.bind(2, f);
        q.bind(3, r);
        if (!q.executeStep()) continue;
        found.emplace_back(
            r, json{{"run_id", run_id},
                    {"recipe", r},
                    {"finished_at", q.getColumn(0).getString()},
                    {"status", q.getColumn(1).getString()},
                    {"metrics", json::parse(q.getColumn(2).getString(), nullptr, false)}});
      }
      std::stable_sort(found.begin(), found.end(),
                       [](const auto& x, const auto& y) { return x.first > y.first; });
      for (auto& [r, item] : found) {
        if (static_cast<int>(items.size()) == page.limit)
          return json{{"items", items}, {"next_cursor", MakeCursor("checks:" + name, last_keys)}};
        items.push_back(std::move(item));
        last_keys = json{started, run_id, r};
      }
    }
    return json{{"items", items}, {"next_cursor", next}};
  } catch (const std::exception& ex) {
    return ReadError(ex, "the checks of " + name);
  }
}

Result<json> CatalogViews::Lineage(const std::string& name, const std::string& env_in, int depth,
                                   const std::string& direction) {
  if (depth < 1 || depth > kMaxLineageDepth)
    return Status::Invalid(fmt::format("depth must be between 1 and {}", kMaxLineageDepth));
  if (direction != "up" && direction != "down" && direction != "both")
    return Status::Invalid("direction must be up, down or both");
  auto ws = workspace();
  if (!DatasetKnown(*ws, name)) return Status::NotFound(fmt::format("no dataset '{}'", name));
  ALAMBIC_ASSIGN_OR_RETURN(std::string env, Env(env_in));
  (void)env;
  struct Producer {
    std::string flow, recipe;
    std::vector<std::string> inputs;
  };
  std::map<std::string, Producer> producers;
  std::map<std::string, std::vector<std::pair<std::string, std::string>>>
      readers;  // ds->(out, recipe)
  for (const auto& f : ws->flows)
    for (const auto& r : f.recipes)
      for (const auto& o : r.outputs) {
        producers[o] = {f.name, r.name, r.inputs};
        for (const auto& i : r.inputs) readers[i].emplace_back(o, r.name);
      }
  json nodes = json::array(), edges = json::array();
  std::set<std::string> seen{name};
  std::set<std::string> edge_seen;
  bool truncated = false;
  auto node = [&](const std::string& d, int dist) {
    auto p = producers.find(d);
    nodes.push_back(json{{"name", d},
                         {"flow", p != producers.end() ? json(p->second.flow) : json(nullptr)},
                         {"recipe", p != producers.end() ? json(p->second.recipe) : json(nullptr)},
                         {"depth", dist}});
  };
  node(name, 0);
  auto edge = [&](const std::string& from, const std::string& to, const std::string& recipe) {
    if (edge_seen.insert(from + "\n" + to + "\n" + recipe).second)
      edges.push_back(json{{"from", from}, {"to", to}, {"recipe", recipe}});
  };
  if (direction != "down") {
    std::deque<std::pair<std::string, int>> todo{{name, 0}};
    while (!todo.empty()) {
      auto [d, dist] = todo.front();
      todo.pop_front();
      auto p = producers.find(d);
      if (p == producers.end()) continue;
      for (const auto& in : p->second.inputs) {
        if (dist == depth) {
          truncated = true;
          break;
        }
        edge(in, d, p->second.recipe);
        if (seen.insert(in).second) {
          node(in, -(dist + 1));
          todo.emplace_back(in, dist + 1);
        }
      }
    }
  }
  if (direction != "up") {
    std::deque<std::pair<std::string, int>> todo{{name, 0}};
    while (!todo.empty()) {
      auto [d, dist] = todo.front();
      todo.pop_front();
      for (const auto& [out, recipe] : readers[d]) {
        if (dist == depth) {
          truncated = true;
          break;
        }
        edge(d, out, recipe);
        if (seen.insert(out).second) {
          node(out, dist + 1);
          todo.emplace_back(out, dist + 1);
        }
      }
    }
  }
  return json{{"dataset", name}, {"nodes", nodes}, {"edges", edges}, {"truncated", truncated}};
}

Result<json> CatalogViews::ColumnLineage(const std::string& name, const std::string& column,
                                         const std::string& env_in, int depth) {
  if (!DatasetKnown(*workspace(), name))
    return Status::NotFound(fmt::format("no dataset '{}'", name));
  if (depth < 1 || depth > kMaxLineageDepth)
    return Status::Invalid(fmt::format("depth must be between 1 and {}", kMaxLineageDepth));
  ALAMBIC_ASSIGN_OR_RETURN(std::string env, Env(env_in));
  json sources = json::array(), consumers = json::array();
  bool truncated = false;
  try {
    SQLite::Database& db = Reader(catalog_path());
    SQLite::Statement up(db,
                         "SELECT l.input_dataset, l.input_column, l.transform FROM "
                         "current_versions c JOIN column_lineage l ON l.environment = "
                         "c.environment AND l.dataset = c.dataset AND l.version_id = c.version_id "
                         "WHERE c.environment = ? AND c.dataset = ? AND l.column_name = ? ORDER BY "
                         "1, 2");
    SQLite::Statement down(db,
                           "SELECT l.dataset, l.column_name, l.transform FROM column_lineage l "
                           "JOIN current_versions c ON c.environment = l.environment AND "
                           "c.dataset = l.dataset AND c.version_id = l.version_id WHERE "
                           "l.environment = ? AND l.input_dataset = ? AND (l.input_column = ? OR "
                           "l.input_column = '') ORDER BY 1, 2");
    // Breadth first, hop by hop, each (dataset, column) once; at most
    // kMaxColumnLineageNodes entries per direction.
    auto walk = [&](SQLite::Statement& q, json& out) {
      std::set<std::pair<std::string, std::string>> seen{{name, column}};
      std::vector<std::pair<std::string, std::string>> frontier{{name, column}};
      for (int hop = 1; hop <= depth && !frontier.empty(); ++hop) {
        std::vector<std::pair<std::string, std::string>> next;
        for (const auto& [d, c] : frontier) {
          q.reset();
          q.bind(1, env);
          q.bind(2, d);
          q.bind(3, c);
          while (q.executeStep()) {
            std::pair<std::string, std::string> key{q.getColumn(0).getString(),
                                                    q.getColumn(1).getString()};
            if (!seen.insert(key).second) continue;
            if (out.size() >= kMaxColumnLineageNodes) {
              truncated = true;
              return;
            }
            out.push_back(json{{"dataset", key.first},
                               {"column", key.second},
                               {"transform", q.getColumn(2).getString()},
                               {"depth", hop},
                               {"via", json{{"dataset", d}, {"column", c}}}});
            // A whole dataset ("" column) has no column lineage of its own.
            if (!key.second.empty()) next.push_back(key);
          }
        }
        frontier = std::move(next);
      }
      // Entries at the last hop that lead further: expand with a larger depth.
      for (auto& e : out) e["more"] = false;
      for (const auto& [d, c] : frontier) {
        q.reset();
        q.bind(1, env);
        q.bind(2, d);
        q.bind(3, c);
        bool further = false;
        while (!further && q.executeStep())
          further = !seen.count({q.getColumn(0).getString(), q.getColumn(1).getString()});
        if (further)
          for (auto& e : out)
            if (e["dataset"] == d && e["column"] == c) e["more"] = true;
      }
    };
    walk(up, sources);
    walk(down, consumers);
  } catch (const std::exception& ex) {
    return ReadError(ex, "the column lineage of " + name);
  }
  return json{{"dataset", name},    {"column", column},       {"depth", depth},
              {"sources", sources}, {"consumers", consumers}, {"truncated", truncated}};
}

Result<json> CatalogViews::WhyStale(const std::string& name, const std::string& env_in) {
  auto ws = workspace();
  if (!DatasetKnown(*ws, name)) return Status::NotFound(fmt::format("no dataset '{}'", name));
  ALAMBIC_ASSIGN_OR_RETURN(std::string env, Env(env_in));
  const Flow* flow = nullptr;
  const RecipeSpec* producer = nullptr;
  FindDatasetSpec(*ws, name, &flow, &producer);
  json out{{"dataset", name},
           {"state", "fresh"},
           {"reasons", json::array()},
           {"changed_inputs", json::array()},
           {"failed_upstream", json::array()},
           {"next_run", nullptr}};
  if (!flow || !producer) return out;
  ALAMBIC_ASSIGN_OR_RETURN(auto session, OpenWorkspaceSession(root_, env, /*read_only=*/true));
  PlanOptions po;
  po.flows = {flow->name};
  ALAMBIC_ASSIGN_OR_RETURN(Plan plan, session->MakePlan(po));
  // The recipes upstream of the producer (and itself), by graph index.
  const auto& graph = session->graph();
  const int me = graph.Find(flow->name, producer->name);
  std::vector<char> up(static_cast<size_t>(graph.size()), 0);
  if (me >= 0) {
    graph.MarkAncestors(me, &up);
    up[static_cast<size_t>(me)] = 1;
  }
  json reasons = json::array();
  for (const auto& rp : plan.recipes) {
    if (rp.node < 0 || !up[static_cast<size_t>(rp.node)] || rp.decision != Decision::kRun) continue;
    const auto& rn = graph.node(rp.node);
    reasons.push_back(
        json{{"recipe", rn.recipe->name}, {"flow", rn.flow->name}, {"reason", rp.explanation}});
  }
  out["reasons"] = reasons;
  if (!reasons.empty()) out["state"] = "stale";
  try {
    SQLite::Database& db = Reader(catalog_path());
    // Inputs whose current version is not the one the last build used.
    SQLite::Statement st(db,
                         "SELECT inputs FROM recipe_state WHERE environment = ? AND flow = ? AND "
                         "recipe = ?");
    st.bind(1, env);
    st.bind(2, flow->name);
    st.bind(3, producer->name);
    if (st.executeStep()) {
      auto used = RecipeStateView::DecodeMap(st.getColumn(0).getString());
      st.reset();
      json changed = json::array();
      for (const auto& [ds, vid] : used) {
        SQLite::Statement c(db,
                            "SELECT version_id FROM current_versions WHERE environment = ? AND "
                            "dataset = ?");
        c.bind(1, env);
        c.bind(2, ds);
        const std::string cur = c.executeStep() ? c.getColumn(0).getString() : "";
        if (cur != vid)
          changed.push_back(json{{"dataset", ds}, {"current_version", cur}, {"used_version", vid}});
      }
      out["changed_inputs"] = changed;
    }
    // Upstream recipes whose last recipe run failed.
    // Each recipe's latest record: a recipe run, or an entry of a run's
    // up-to-date record (never failed), each run's read once.
    json failed = json::array();
    std::map<std::string, std::vector<std::string>> runs_of_flow;
    UpToDateRecipesOfRuns up_to_date(db);
    SQLite::Statement q(db,
                        "SELECT status, finished_at, error FROM recipe_runs WHERE run_id = ? AND "
                        "flow = ? AND recipe = ?");
    for (int i = 0; i < graph.size(); ++i) {
      if (!up[static_cast<size_t>(i)]) continue;
      const auto& rn = graph.node(i);
      auto runs = runs_of_flow.find(rn.flow->name);
      if (runs == runs_of_flow.end())
        runs = runs_of_flow.emplace(rn.flow->name, RunsOfFlow(db, rn.flow->name, env)).first;
      for (const auto& run_id : runs->second) {
        q.reset();
        q.bind(1, run_id);
        q.bind(2, rn.flow->name);
        q.bind(3, rn.recipe->name);
        if (q.executeStep()) {
          const std::string status = q.getColumn(0).getString();
          if (status == "failed" || status == "timed_out" || status == "cancelled")
            failed.push_back(json{{"flow", rn.flow->name},
                                  {"recipe", rn.recipe->name},
                                  {"run_id", run_id},
                                  {"status", status},
                                  {"finished_at", q.getColumn(1).getString()},
                                  {"error", q.getColumn(2).getString()}});
          break;
        }
        if (up_to_date.Has(run_id, rn.flow->name, rn.recipe->name)) break;
      }
    }
    out["failed_upstream"] = failed;
    if (!failed.empty() && out["state"] == "fresh") out["state"] = "stale";
  } catch (const std::exception& ex) {
    return ReadError(ex, "why " + name + " is stale");
  }
  out["next_run"] = NextRun(&session->catalog(), *flow, env);
  return out;
}

// ---------------------------------------------------------------- production

Result<json> CatalogViews::Production(const std::string& env_in) {
  std::string env = production_env();
  if (!env_in.empty()) {
    ALAMBIC_ASSIGN_OR_RETURN(env, Env(env_in));
  }
  auto ws = workspace();
  ALAMBIC_ASSIGN_OR_RETURN(auto cat, Catalog::OpenReader(catalog_path()));
  json flows = json::array(), failed = json::array(), late = json::array();
  const auto now = NowInstant();
  const std::string now_iso = sched::FormatUtc(now);
  try {
    SQLite::Database& db = Reader(catalog_path());
    for (const auto& f : ws->flows) {
      json release = nullptr, schedule = nullptr;
      if (auto rel = cat->ActiveRelease(f.name, env); rel.ok() && *rel) {
        const ReleaseRecord& r = **rel;
        release =
            json{{"number", r.number},      {"tag", r.tag},          {"git_commit", r.git_commit},
                 {"since", r.activated_at}, {"promoted_by", r.user}, {"gates", r.gates}};
      }
      bool is_late = false;
      if (auto s = CompiledSchedule(f)) {
        bool paused = false;
        if (auto st = cat->GetScheduleState(f.name, env); st.ok() && *st) paused = (*st)->paused;
        auto next = s->Next(now, 1);
        json last_slot = nullptr;
        if (auto slots = cat->ListSlots(f.name, env); slots.ok() && !slots->empty()) {
          const SlotClaim& l = slots->back();
          last_slot = json{{"nominal", l.nominal}, {"status", l.status}, {"run_id", l.run_id}};
          for (const auto& sl : *slots) {
            const bool open = sl.status == "claimed" || sl.status == "queued" ||
                              sl.status == "retry_wait" || sl.status.empty();
            if (open && sl.fire_at < now_iso) {
              is_late = true;
              late.push_back(
                  json{{"flow", f.name}, {"nominal", sl.nominal}, {"status", sl.status}});
            }
          }
        }
        schedule = json{
            {"cron", f.schedule->cron},
            {"timezone", f.schedule->timezone},
            {"paused", paused},
            {"next_run", next.empty() ? json(nullptr) : json(sched::FormatUtc(next.front().at))},
            {"last_slot", last_slot}};
      }
      json last = LastRun(db, f.name, env);
      if (!last.is_null() && (last["status"] == "failed" || last["status"] == "cancelled"))
        failed.push_back(json{{"flow", f.name},
                              {"run_id", last["id"]},
                              {"finished_at", last["finished_at"]},
                              {"error", last["error"]}});
      if (release.is_null() && schedule.is_null() && last.is_null()) continue;
      flows.push_back(json{{"flow", f.name},
                           {"usecase", f.usecase},
                           {"release", release},
                           {"schedule", schedule},
                           {"last_run", last},
                           {"late", is_late}});
    }
  } catch (const std::exception& ex) {
    return ReadError(ex, "production");
  }
  return json{{"environment", env}, {"flows", flows}, {"failed", failed}, {"late", late}};
}

Result<ScheduleChange> CatalogViews::SetSchedulePaused(const std::string& flow,
                                                       const std::string& env_in, bool paused,
                                                       const Actor& who) {
  auto ws = workspace();
  const Flow* f = ws->FindFlow(flow);
  if (!f) return Status::NotFound(fmt::format("no flow '{}'", flow));
  if (!f->schedule) return Status::NotFound(fmt::format("flow '{}' has no schedule", flow));
  std::string env = production_env();
  if (!env_in.empty()) {
    ALAMBIC_ASSIGN_OR_RETURN(env, Env(env_in));
  }
  auto s = CompiledSchedule(*f);
  if (!s) return Status::Invalid(fmt::format("the schedule of '{}' does not compile", flow));
  ALAMBIC_ASSIGN_OR_RETURN(auto cat, Catalog::Open(catalog_path()));
  ALAMBIC_ASSIGN_OR_RETURN(
      bool changed, PauseSchedule(*cat, flow, env, f->schedule->cron, paused, who, NowInstant()));
  if (!changed)
    return Status::Invalid(fmt::format("the schedule of '{}' in {} is already {}", flow, env,
                                       paused ? "paused" : "running"));
  return ScheduleChange{flow, env, paused};
}

}  // namespace alambic
