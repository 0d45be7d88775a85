// Data triggers (`schedule: on_change:`): the scheduler polls each source at
// its interval on a controllable clock and fires one slot per change, keyed by
// content hash, with the cursor moved in the slot's transaction. Real sources:
// files, a loopback HTTP server serving ETags (and one without), another
// flow's dataset versions in the catalog, a query on a SQLite connection.
#include "services/scheduler/triggers.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <mutex>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <httplib.h>

#include "catalog/catalog.h"
#include "core/base/hash.h"
#include "core/flow/loader.h"
#include "services/scheduler/scheduler.h"
#include "test_util.h"

namespace alambic::triggers_test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::TempDir;
using testing::WriteFile;

sched::Instant At(const char* iso) { return *sched::ParseUtc(iso); }

// Records each request; every run succeeds at once.
class RecordingLauncher final : public RunLauncher {
 public:
  Result<LaunchedRun> Launch(const ScheduledRunRequest& req, const CancelToken&,
                             const std::function<void(const std::string&)>& started) override {
    std::lock_guard lock(mu_);
    requests_.push_back(req);
    const std::string id = fmt::format("run-{}", requests_.size());
    started(id);
    return LaunchedRun{id, "succeeded", "", {}};
  }
  std::vector<ScheduledRunRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  std::mutex mu_;
  std::vector<ScheduledRunRequest> requests_;
};

// sha256sum's digest of a file: an oracle independent of Alambic's hashing.
std::string Sha256sum(const fs::path& p) {
  std::string cmd = "sha256sum '" + p.string() + "'";
  FILE* f = ::popen(cmd.c_str(), "r");
  char buf[65] = {0};
  if (f == nullptr || std::fread(buf, 1, 64, f) != 64) buf[0] = 0;
  if (f) ::pclose(f);
  return buf;
}

struct Fixture {
  TempDir dir;
  fs::path ws = dir.path() / "ws";
  std::unique_ptr<Catalog> catalog;
  ManualClock clock;
  RecordingLauncher launcher;
  ConnectionsConfig connections;
  TriggerSources sources;
  std::vector<std::string> log;
  Fixture() {
    fs::create_directories(ws / ".alambic");
    catalog = std::move(*Catalog::Open(ws / ".alambic" / "catalog.db"));
    sources.root = ws;
    sources.connections = &connections;
    sources.environment = "warehouse";
    sources.catalog = catalog.get();
    clock.Set(At("2026-06-01T10:00:00Z"));
  }
  // The flow `permis` as written in flows/permis.yaml, compiled.
  FlowSchedule Compiled(const std::string& on_change) {
    const std::string text =
        "flow: permis\nschedule:\n  on_change: " + on_change +
        "\nrecipes:\n  - {name: c, kind: collect, outputs: [x], params: {path: data/x.csv}}\n";
    std::vector<Diagnostic> diags;
    auto flow = ParseFlow(text, "flows/permis.yaml", &diags);
    EXPECT_TRUE(diags.empty()) << diags.front().ToString();
    auto f = CompileFlowSchedule(flow);
    EXPECT_TRUE(f.ok()) << f.status().message();
    return std::move(*f);
  }
  std::unique_ptr<Scheduler> Start(FlowSchedule f) {
    SchedulerOptions o;
    o.workspace = "ws";
    o.environment = "warehouse";
    o.holder = "a";
    o.lease_ttl = 3600s;
    o.log = [this](const std::string& l) { log.push_back(l); };
    o.poll = [this](const ChangeTrigger& t) { return PollTrigger(t, sources); };
    std::vector<FlowSchedule> flows;
    flows.push_back(std::move(f));
    return std::make_unique<Scheduler>(*catalog, clock, launcher, std::move(flows), o);
  }
  // Advances the clock and ticks; returns the runs launched so far.
  size_t TickAt(Scheduler& s, std::chrono::seconds advance) {
    clock.Advance(advance);
    EXPECT_TRUE(s.Tick().ok());
    EXPECT_TRUE(s.WaitRuns().ok());
    return launcher.requests().size();
  }
  std::string Cursor(const std::string& key) {
    auto c = catalog->GetTriggerCursor("permis", "warehouse", key);
    EXPECT_TRUE(c.ok());
    return c.ok() && *c ? (*c)->hash : "";
  }
};

TEST(TriggerTest, AFileChangeFiresOnceAndAnUnchangedRedeliveryDoesNot) {
  Fixture fx;
  const fs::path csv = fx.ws / "data/exams.csv";
  WriteFile(csv, "id;result\n1;ok\n");
  auto s = fx.Start(fx.Compiled("[{file: data/exams.csv, every: 5m}]"));
  EXPECT_EQ(fx.TickAt(*s, 0s), 0u);  // the first poll records the baseline only
  EXPECT_EQ(fx.Cursor("file:data/exams.csv"), "sha256:" + Sha256sum(csv));
  WriteFile(csv, "id;result\n1;ok\n");  // delivered again, same bytes
  EXPECT_EQ(fx.TickAt(*s, 5min), 0u);
  WriteFile(csv, "id;result\n1;ok\n2;ko\n");
  EXPECT_EQ(fx.TickAt(*s, 1min), 0u);  // not due before its interval
  EXPECT_EQ(fx.TickAt(*s, 4min), 1u);
  EXPECT_EQ(fx.TickAt(*s, 5min), 1u);  // nothing new
  auto r = fx.launcher.requests()[0];
  EXPECT_EQ(r.trigger, "on_change");
  EXPECT_EQ(r.nominal, "2026-06-01T10:10:00Z");
  EXPECT_EQ(r.timezone, "on_change file:data/exams.csv");
  EXPECT_EQ(fx.Cursor("file:data/exams.csv"), "sha256:" + Sha256sum(csv));
  // The cursor names the slot it fired; the slot has its run.
  auto cursor = *fx.catalog->GetTriggerCursor("permis", "warehouse", "file:data/exams.csv");
  EXPECT_EQ(cursor->slot, "2026-06-01T10:10:00Z");
  auto slots = *fx.catalog->ListSlots("permis", "warehouse");
  ASSERT_EQ(slots.size(), 1u);
  EXPECT_EQ(slots[0].kind, "on_change");
  EXPECT_EQ(slots[0].status, "succeeded");
  EXPECT_EQ(slots[0].run_id, "run-1");
  auto fire = *fx.catalog->ReadAudit({.action = kAuditFire});
  ASSERT_EQ(fire.size(), 1u);
  EXPECT_EQ(fire[0].detail["trigger"], "file:data/exams.csv");
  // Back to the first content: a change from the cursor, so it fires again.
  WriteFile(csv, "id;result\n1;ok\n");
  EXPECT_EQ(fx.TickAt(*s, 5min), 2u);
}

TEST(TriggerTest, AMissingFileIsLoggedOnceNamingTheFlowFileAndTheCursorStays) {
  Fixture fx;
  WriteFile(fx.ws / "data/exams.csv", "a\n1\n");
  auto s = fx.Start(fx.Compiled("[{file: data/exams.csv, every: 1m}]"));
  fx.TickAt(*s, 0s);
  const std::string before = fx.Cursor("file:data/exams.csv");
  fs::remove(fx.ws / "data/exams.csv");
  fx.TickAt(*s, 1min);
  fx.TickAt(*s, 1min);
  int errors = 0;
  for (const auto& l : fx.log)
    if (l.find("not polled") != std::string::npos) {
      ++errors;
      EXPECT_NE(l.find("flows/permis.yaml:3:15: on_change file:data/exams.csv: data/exams.csv: "
                       "no such file"),
                std::string::npos)
          << l;
    }
  EXPECT_EQ(errors, 1);
  EXPECT_EQ(fx.Cursor("file:data/exams.csv"), before);
  EXPECT_TRUE(fx.launcher.requests().empty());
  // A path outside the workspace is refused.
  ChangeTrigger out{"file", "../../etc/passwd", "", "1m", {}};
  auto polled = PollTrigger(out, fx.sources);
  ASSERT_FALSE(polled.ok());
  EXPECT_NE(polled.status().message().find("outside the workspace"), std::string::npos);
}

// A loopback server: /etag serves an ETag, /plain neither ETag nor Last-Modified.
struct HttpSource {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  std::mutex mu;
  std::string etag = "\"v1\"", body = "a\n1\n";
  int gets = 0, heads = 0;
  HttpSource() {
    auto handler = [this](bool with_etag) {
      return [this, with_etag](const httplib::Request& req, httplib::Response& res) {
        std::lock_guard lock(mu);
        (req.method == "HEAD" ? heads : gets)++;
        if (with_etag) res.set_header("ETag", etag);
        res.set_content(body, "text/csv");
      };
    };
    server.Get("/etag", handler(true));
    server.Get("/plain", handler(false));
    port = server.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~HttpSource() {
    server.stop();
    thread.join();
  }
  void Set(std::string e, std::string b) {
    std::lock_guard lock(mu);
    etag = std::move(e);
    body = std::move(b);
  }
  std::string Url(const char* path) const {
    return fmt::format("http://127.0.0.1:{}{}", port, path);
  }
};

TEST(TriggerTest, AnHttpETagChangeFiresAndWithoutETagTheBodyHashDoes) {
  HttpSource src;
  Fixture fx;
  auto s = fx.Start(
      fx.Compiled(fmt::format("[{{http: \"{}\", every: 15m}}, {{http: \"{}\", every: 15m}}]",
                              src.Url("/etag"), src.Url("/plain"))));
  const std::string etag_key = "http:" + src.Url("/etag"), plain_key = "http:" + src.Url("/plain");
  EXPECT_EQ(fx.TickAt(*s, 0s), 0u);
  EXPECT_EQ(fx.Cursor(etag_key), "etag:\"v1\"");
  EXPECT_EQ(fx.Cursor(plain_key), "sha256:" + Sha256Hex("a\n1\n"));
  {
    std::lock_guard lock(src.mu);
    EXPECT_EQ(src.heads, 2);  // a HEAD each; /plain also needed its body
    EXPECT_EQ(src.gets, 1);
  }
  // The same ETag with another body: the server says it did not change.
  src.Set("\"v1\"", "a\n1\n2\n");
  EXPECT_EQ(fx.TickAt(*s, 15min), 1u);  // /plain's body changed
  EXPECT_EQ(fx.launcher.requests()[0].timezone, "on_change http:" + src.Url("/plain"));
  src.Set("\"v2\"", "a\n1\n2\n");
  EXPECT_EQ(fx.TickAt(*s, 15min), 2u);  // /etag's ETag changed, /plain's body did not
  EXPECT_EQ(fx.launcher.requests()[1].timezone, "on_change http:" + src.Url("/etag"));
  EXPECT_EQ(fx.Cursor(etag_key), "etag:\"v2\"");
  EXPECT_EQ(fx.TickAt(*s, 15min), 2u);
}

TEST(TriggerTest, ANewVersionOfAnotherFlowsDatasetFires) {
  Fixture fx;
  auto publish = [&](const std::string& id, const std::string& run) {
    RunRecord r;
    r.id = run;
    r.flows = "upstream";
    r.environment = "warehouse";
    r.trigger = "manual";
    r.status = "running";
    r.started_at = NowIso();
    ASSERT_TRUE(fx.catalog->BeginRun(r).ok());
    CatalogBatch b;
    b.environment = "warehouse";
    DatasetVersionRecord v;
    v.id = id;
    v.dataset = "out";
    v.environment = "warehouse";
    v.file = "out/" + id + ".arrow";
    v.schema = "[]";
    v.run_id = run;
    v.flow = "upstream";
    v.recipe = "make_out";
    v.created_at = NowIso();
    b.versions.push_back(v);
    ASSERT_TRUE(fx.catalog->Commit(b).ok());
    ASSERT_TRUE(fx.catalog->FinishRun(run, "succeeded", NowIso(), "").ok());
  };
  auto s = fx.Start(fx.Compiled("[{dataset: upstream/out, every: 1m}]"));
  EXPECT_EQ(fx.TickAt(*s, 0s), 0u);
  EXPECT_EQ(fx.Cursor("dataset:upstream/out"), "none");  // not built yet
  publish("v1aaaa", "u-1");
  EXPECT_EQ(fx.TickAt(*s, 1min), 1u);
  EXPECT_EQ(fx.Cursor("dataset:upstream/out"), "version:v1aaaa");
  EXPECT_EQ(fx.TickAt(*s, 1min), 1u);
  publish("v2bbbb", "u-2");
  EXPECT_EQ(fx.TickAt(*s, 1min), 2u);
  // Naming the wrong flow is an error, not a silent never-fires.
  ChangeTrigger wrong{"dataset", "other/out", "", "1m", {}};
  auto polled = PollTrigger(wrong, fx.sources);
  ASSERT_FALSE(polled.ok());
  EXPECT_NE(polled.status().message().find("dataset out is built by flow upstream, not other"),
            std::string::npos);
}

TEST(TriggerTest, AChangedQueryResultOnASqliteConnectionFiresOtherWritesDoNot) {
  Fixture fx;
  const fs::path db = fx.ws / "data/wh.sqlite";
  fs::create_directories(db.parent_path());
  {
    SQLite::Database d(db.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    d.exec("CREATE TABLE t (id INTEGER, updated TEXT); CREATE TABLE other (x);");
    d.exec("INSERT INTO t VALUES (1, '2026-05-01')");
  }
  fx.connections.connections["wh"] = {.type = kConnectionSqlite, .path = "data/wh.sqlite"};
  auto s = fx.Start(
      fx.Compiled("[{sql: {connection: wh, query: \"select max(updated) from t\"}, every: 10m}]"));
  EXPECT_EQ(fx.TickAt(*s, 0s), 0u);
  auto write = [&](const char* sql) {
    SQLite::Database d(db.string(), SQLite::OPEN_READWRITE);
    d.exec(sql);
  };
  write("INSERT INTO other VALUES (1)");  // the file changed, the result did not
  write("INSERT INTO t VALUES (2, '2026-04-01')");
  EXPECT_EQ(fx.TickAt(*s, 10min), 0u);
  write("INSERT INTO t VALUES (3, '2026-06-01')");
  EXPECT_EQ(fx.TickAt(*s, 10min), 1u);
  EXPECT_EQ(fx.launcher.requests()[0].timezone, "on_change sql:wh");
  // A write statement is refused (the connection is read-only).
  ChangeTrigger bad{"sql", "delete from t", "wh", "10m", {"flows/permis.yaml", 3, 5}};
  auto polled = PollTrigger(bad, fx.sources);
  ASSERT_FALSE(polled.ok());
  EXPECT_NE(polled.status().message().find("flows/permis.yaml:3:5: on_change sql:wh"),
            std::string::npos)
      << polled.status().message();
  SQLite::Database d(db.string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(d.execAndGet("select count(*) from t").getInt(), 3);
}

TEST(TriggerTest, BadTriggersAreRefusedNamingTheFileAndLine) {
  auto errors = [](const std::string& on_change) {
    std::vector<Diagnostic> diags;
    ParseFlow("flow: f\nschedule:\n  on_change: " + on_change +
                  "\nrecipes:\n  - {name: c, kind: collect, outputs: [x], params: {path: x.csv}}\n",
              "flows/f.yaml", &diags);
    std::string out;
    for (const auto& d : diags) out += d.ToString() + "\n";
    return out;
  };
  EXPECT_EQ(errors("[{file: a.csv, every: 5s}]"),
            "flows/f.yaml:3:36: schedule on_change every '5s' is too short: polling is at most "
            "every 10s\n");
  EXPECT_EQ(errors("[{file: a.csv, http: \"http://x\"}]"),
            "flows/f.yaml:3:15: schedule on_change trigger needs exactly one of file, http, "
            "dataset, sql\n");
  EXPECT_EQ(errors("[{dataset: out}]"),
            "flows/f.yaml:3:25: schedule on_change dataset 'out' must be FLOW/DATASET\n");
  EXPECT_EQ(errors("[{http: \"ftp://x\"}]"),
            "flows/f.yaml:3:22: schedule on_change http 'ftp://x' must be an http:// or https:// "
            "URL\n");
  EXPECT_EQ(errors("[{sql: {query: \"select 1\"}}]"),
            "flows/f.yaml:3:21: schedule on_change sql needs a connection and a query\n");
  EXPECT_EQ(errors("{file: a.csv}"),
            "flows/f.yaml:3:14: schedule on_change must be a list of triggers, e.g. [{file: "
            "data/x.csv, every: 5m}]\n");
}

}  // namespace
}  // namespace alambic::triggers_test
