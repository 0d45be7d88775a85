// Many readers while runs publish new versions of the same datasets: threads
// reading the catalog (current versions, versions, lineage) through their own
// connections, the store's files, and the web API's dataset routes over HTTP,
// while another thread runs the flow again and again on a changing source (half
// of the runs started through the web API, on the server's own run thread).
// Every read must see one whole version: the bytes it read hash to the file the
// catalog records for that version id once everything is over, the rows are all
// of one generation of the source and as many as the catalog says, and the
// version the lineage names as input is of the same generation. No read fails.
// scripts/tsan runs it under ThreadSanitizer too (docs/reliability.md, Concurrency).
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "core/base/hash.h"
#include "core/store/store.h"
#include "core/table/arrow_ipc.h"
#include "services/catalog_path.h"
#include "services/runs.h"
#include "services/users.h"
#include "tests/test_util.h"
#include "tests/web_test_server.h"

namespace alambic::concurrent_readers_test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

constexpr int kBaseRows = 150;
constexpr int kGenerations = 6;
constexpr const char* kEnv = "datalab";
const std::vector<std::string> kDatasets = {"numbers", "evens"};

// Generation g of the source: rows i = 0 .. kBaseRows + g - 1, each carrying g.
std::string SourceCsv(int g) {
  std::string s = "gen,i,payload\n";
  for (int i = 0; i < kBaseRows + g; ++i) s += fmt::format("{},{},g{}-row{}\n", g, i, g, i);
  return s;
}

// The rows `dataset` has at generation g.
int64_t RowsAt(const std::string& dataset, int g) {
  const int64_t n = kBaseRows + g;
  return dataset == "numbers" ? n : (n + 1) / 2;
}

// The generation of a whole version of `dataset`, or an error saying how the
// table is not one: rows of several generations, missing or extra rows.
Result<int> GenerationOf(const std::string& dataset, const Table& t) {
  const int gc = t.schema().FieldIndex("gen"), ic = t.schema().FieldIndex("i"),
            pc = t.schema().FieldIndex("payload");
  if (gc < 0 || ic < 0 || pc < 0 || t.num_rows() == 0)
    return Status::Invalid(dataset + ": not a version of the source: " + t.schema().ToString());
  const Column &gen = *t.column(gc), &idx = *t.column(ic), &payload = *t.column(pc);
  const int g = static_cast<int>(gen.Int64(0));
  if (t.num_rows() != RowsAt(dataset, g))
    return Status::Invalid(fmt::format("{}: {} rows, generation {} has {}", dataset, t.num_rows(),
                                       g, RowsAt(dataset, g)));
  const int64_t step = dataset == "numbers" ? 1 : 2;
  for (int64_t r = 0; r < t.num_rows(); ++r) {
    const int64_t i = idx.Int64(r);
    if (gen.Int64(r) != g || i != r * step || payload.String(r) != fmt::format("g{}-row{}", g, i))
      return Status::Invalid(fmt::format("{}: row {} is not of generation {}", dataset, r, g));
  }
  return g;
}

// What one read saw: the version, the generation of its rows, and the hash of
// the bytes read ("" when read through the API, which gives rows only).
struct Seen {
  std::string dataset, version;
  int generation = 0;
  std::string sha256;
  std::string reader;
};

class ConcurrentReadersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ws_ = dir_.path() / "ws";
    WriteFile(ws_ / "alambic.yaml",
              "name: ws\ndefault_environment: datalab\nenvironments:\n  datalab: {}\n");
    WriteFile(ws_ / "flows/numbers.yaml",
              "flow: numbers\nrecipes:\n"
              "  - {name: collect_numbers, kind: collect, outputs: [numbers],\n"
              "     params: {path: data/numbers.csv, format: csv}}\n"
              "  - {name: keep_evens, kind: sql, inputs: [numbers], outputs: [evens],\n"
              "     params: {query: \"select gen, i, payload from numbers where i % 2 = 0\"}}\n");
    Publish(1);
  }

  // Writes generation g of the source in one rename (a run reads it whole) and
  // runs the flow.
  void Publish(int g) {
    WriteFile(ws_ / "data/numbers.csv.tmp", SourceCsv(g));
    fs::rename(ws_ / "data/numbers.csv.tmp", ws_ / "data/numbers.csv");
    RunRequest r;
    r.jobs = 2;
    auto ran = RunWorkspace(ws_, r);
    ASSERT_TRUE(ran.ok()) << ran.status().message();
    ASSERT_EQ(ran->verdict, RunVerdict::kSucceeded) << "generation " << g;
  }

  // The same through the web API, as a user starts a run from the UI: POST
  // /api/flows/numbers/runs, then the end of the server's run thread (which also
  // refreshes the server's views while the readers read).
  void PublishThroughApi(int g, testing::RunningServer& server, const std::string& token) {
    WriteFile(ws_ / "data/numbers.csv.tmp", SourceCsv(g));
    fs::rename(ws_ / "data/numbers.csv.tmp", ws_ / "data/numbers.csv");
    httplib::Client c("127.0.0.1", server.port());
    c.set_read_timeout(30, 0);
    auto r = c.Post("/api/flows/numbers/runs", {{"Authorization", "Bearer " + token}}, "{}",
                    "application/json");
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    ASSERT_EQ(r->status, 202) << r->body;
    const std::string run_id = json::parse(r->body).value("run_id", "");
    server.server->WaitForRuns();
    auto cat = Catalog::OpenReader(RunCatalogPath(ws_));
    ASSERT_TRUE(cat.ok()) << cat.status().message();
    auto run = (*cat)->FindRun(run_id);
    ASSERT_TRUE(run.ok()) << run.status().message();
    ASSERT_EQ(run->status, "succeeded") << "generation " << g << ": " << run->error;
  }

  fs::path StoreRoot() const { return ws_ / ".alambic/store" / kEnv; }

  void Fail(const std::string& message) {
    std::lock_guard l(mu_);
    errors_.push_back(message);
  }
  void Record(Seen s) {
    std::lock_guard l(mu_);
    seen_.push_back(std::move(s));
  }

  // One reader of the catalog and the store files through its own connection,
  // as another process (or the server's views) reads while a run publishes.
  void ReadCatalogAndStore(const std::string& name) {
    auto cat = Catalog::OpenReader(RunCatalogPath(ws_));
    if (!cat.ok()) return Fail(name + ": " + cat.status().message());
    DatasetStore store(StoreRoot());
    while (!done_.load()) {
      auto current = (*cat)->CurrentVersions(kEnv);
      if (!current.ok()) return Fail(name + ": current versions: " + current.status().message());
      if (current->size() != kDatasets.size())
        return Fail(fmt::format("{}: {} current versions", name, current->size()));
      for (const CurrentVersion& cv : *current) {
        auto v = (*cat)->FindVersion(kEnv, cv.dataset, cv.version_id);
        if (!v.ok() || !*v) return Fail(name + ": no record of current " + cv.version_id);
        if (Status st = (*cat)->LoadLineage(&**v); !st.ok())
          return Fail(name + ": lineage: " + st.message());
        // The bytes of the file the catalog names, hashed and decoded as they are.
        const std::string bytes = ReadFile(store.root() / (*v)->file);
        if (static_cast<int64_t>(bytes.size()) != (*v)->bytes)
          return Fail(fmt::format("{}: {} has {} bytes, the catalog says {}", name, (*v)->file,
                                  bytes.size(), (*v)->bytes));
        auto table = ReadArrowBuffer(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
        if (!table.ok()) return Fail(name + ": " + (*v)->file + ": " + table.status().message());
        auto g = GenerationOf(cv.dataset, *table);
        if (!g.ok()) return Fail(name + ": " + g.status().message());
        if (table->num_rows() != cv.rows || table->num_rows() != (*v)->rows)
          return Fail(
              fmt::format("{}: {} rows, the catalog says {}", name, table->num_rows(), cv.rows));
        // The store's own read of the same version gives the same generation.
        auto read = store.Read(cv.dataset, cv.version_id);
        if (!read.ok()) return Fail(name + ": store read: " + read.status().message());
        auto g2 = GenerationOf(cv.dataset, *read);
        if (!g2.ok() || *g2 != *g) return Fail(name + ": the store read another generation");
        // The input version the lineage names is of the same generation.
        if (cv.dataset == "evens") {
          if ((*v)->inputs.size() != 1 || (*v)->inputs[0].first != "numbers")
            return Fail(name + ": evens' lineage does not name numbers");
          auto input = store.Read("numbers", (*v)->inputs[0].second);
          if (!input.ok()) return Fail(name + ": lineage input: " + input.status().message());
          auto gi = GenerationOf("numbers", *input);
          if (!gi.ok() || *gi != *g) return Fail(name + ": evens' input is of another generation");
        }
        Record({cv.dataset, cv.version_id, *g, Sha256Hex(bytes), name});
      }
    }
  }

  // One reader of the web API's dataset routes, over HTTP.
  void ReadApi(const std::string& name, int port, const std::string& token) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(30, 0);
    const httplib::Headers h{{"Authorization", "Bearer " + token}};
    auto get = [&](const std::string& path) -> json {
      auto r = c.Get(path.c_str(), h);
      if (!r) {
        Fail(name + ": GET " + path + ": " + httplib::to_string(r.error()));
        return nullptr;
      }
      if (r->status != 200) {
        Fail(fmt::format("{}: GET {}: {} {}", name, path, r->status, r->body));
        return nullptr;
      }
      return json::parse(r->body, nullptr, false);
    };
    while (!done_.load()) {
      for (const std::string& d : kDatasets) {
        json ds = get("/api/datasets/" + d);
        if (!ds.is_object() || !ds["current"].is_object())
          return Fail(name + ": no current version of " + d);
        json lineage = get("/api/datasets/" + d + "/lineage");
        json versions = get("/api/datasets/" + d + "/versions");
        if (lineage.is_null() || versions.is_null()) return;
        json p = get("/api/datasets/" + d + "/preview?limit=200");
        if (!p.is_object() || !p["rows"].is_array() || !p["columns"].is_array())
          return Fail(name + ": no preview of " + d);
        // The preview's rows as a table of the columns gen, i, payload.
        std::vector<std::string> cols;
        for (const auto& col : p["columns"]) cols.push_back(col.value("name", ""));
        if (cols != std::vector<std::string>{"gen", "i", "payload"})
          return Fail(name + ": preview columns of " + d + ": " + p["columns"].dump());
        const auto& rows = p["rows"];
        if (rows.empty() || !rows[0][0].is_number_integer())
          return Fail(name + ": empty preview of " + d);
        const int g = rows[0][0].get<int>();
        if (p["total_rows"] != RowsAt(d, g) || static_cast<int64_t>(rows.size()) != RowsAt(d, g))
          return Fail(fmt::format("{}: preview of {}: {} rows, generation {} has {}", name, d,
                                  p["total_rows"].dump(), g, RowsAt(d, g)));
        const int64_t step = d == "numbers" ? 1 : 2;
        for (size_t r = 0; r < rows.size(); ++r)
          if (rows[r] != json::array({g, static_cast<int64_t>(r) * step,
                                      fmt::format("g{}-row{}", g, static_cast<int64_t>(r) * step)}))
            return Fail(fmt::format("{}: preview of {}: row {} is {}, not of generation {}", name,
                                    d, r, rows[r].dump(), g));
        Record({d, p.value("version_id", ""), g, "", name});
      }
    }
  }

  TempDir dir_;
  fs::path ws_;
  std::atomic<bool> done_{false};
  std::mutex mu_;
  std::vector<std::string> errors_;  // guarded by mu_
  std::vector<Seen> seen_;           // guarded by mu_
};

TEST_F(ConcurrentReadersTest, EveryReadSeesAWholeOldOrNewVersionWhileRunsPublish) {
  // A viewer's token for the API readers.
  ASSERT_TRUE(InitInstallSecret(ws_).ok());
  auto secret = LoadInstallSecret(ws_);
  ASSERT_TRUE(secret.ok()) << secret.status().message();
  auto users = UserStore::Open(RunCatalogPath(ws_), *secret);
  ASSERT_TRUE(users.ok()) << users.status().message();
  ASSERT_TRUE((*users)->AddUser("vera", Role::kViewer, "correct horse battery").ok());
  auto token = (*users)->AddToken("vera", "readers", Role::kViewer, {});
  ASSERT_TRUE(token.ok()) << token.status().message();
  // An engineer's, for the runs started through the API.
  ASSERT_TRUE((*users)->AddUser("eric", Role::kEngineer, "correct horse battery").ok());
  auto runner = (*users)->AddToken("eric", "runs", Role::kEngineer, {});
  ASSERT_TRUE(runner.ok()) << runner.status().message();
  ServerOptions o;
  o.threads = 8;
  auto server = testing::StartServer(ws_, o, UiConfig{}, *secret);
  ASSERT_NE(server, nullptr);

  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) {
    readers.emplace_back([this, i] { ReadCatalogAndStore(fmt::format("catalog reader {}", i)); });
    readers.emplace_back([this, i, port = server->port(), t = token->secret] {
      ReadApi(fmt::format("api reader {}", i), port, t);
    });
  }
  // The runs, each publishing a new version of both datasets: every other one
  // started through the web API (a run thread of the server), the others here.
  for (int g = 2; g <= kGenerations; ++g) {
    if (g % 2)
      PublishThroughApi(g, *server, runner->secret);
    else
      Publish(g);
    if (HasFatalFailure()) break;
  }
  done_ = true;
  for (auto& t : readers) t.join();
  ASSERT_FALSE(HasFatalFailure());
  for (const auto& e : errors_) ADD_FAILURE() << e;
  ASSERT_TRUE(errors_.empty());

  // The oracle, once nothing moves: every version the catalog records, its file's
  // hash and generation.
  auto cat = Catalog::OpenReader(RunCatalogPath(ws_));
  ASSERT_TRUE(cat.ok()) << cat.status().message();
  std::map<std::pair<std::string, std::string>, std::pair<std::string, int>> recorded;
  for (const std::string& d : kDatasets) {
    auto versions = (*cat)->Versions(kEnv, d);
    ASSERT_TRUE(versions.ok()) << versions.status().message();
    EXPECT_EQ(versions->size(), static_cast<size_t>(kGenerations)) << d;
    std::set<int> generations;
    for (const auto& v : *versions) {
      const fs::path file = StoreRoot() / v.file;
      auto sha = Sha256File(file);
      ASSERT_TRUE(sha.ok()) << sha.status().message();
      auto t = ReadArrowFile(file.string());
      ASSERT_TRUE(t.ok()) << t.status().message();
      auto g = GenerationOf(d, *t);
      ASSERT_TRUE(g.ok()) << g.status().message();
      generations.insert(*g);
      recorded[{d, v.id}] = {*sha, *g};
    }
    EXPECT_EQ(generations.size(), static_cast<size_t>(kGenerations)) << d;
  }
  std::map<std::string, std::set<std::string>> versions_seen;  // reader kind -> dataset/version
  for (const Seen& s : seen_) {
    auto it = recorded.find({s.dataset, s.version});
    ASSERT_NE(it, recorded.end()) << s.reader << " read " << s.dataset << " version " << s.version
                                  << ", which the catalog does not record";
    EXPECT_EQ(s.generation, it->second.second) << s.reader << ": " << s.dataset << " " << s.version;
    if (!s.sha256.empty()) {
      EXPECT_EQ(s.sha256, it->second.first) << s.reader << ": " << s.dataset << " " << s.version;
    }
    versions_seen[s.reader.substr(0, s.reader.find(' '))].insert(s.dataset + "/" + s.version);
  }
  // The readers did read while the runs published: each kind saw more than the
  // first generation of each dataset.
  for (const std::string kind : {"catalog", "api"})
    EXPECT_GT(versions_seen[kind].size(), kDatasets.size()) << kind;
}

}  // namespace
}  // namespace alambic::concurrent_readers_test
