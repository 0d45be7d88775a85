// The catalog commands end to end on the permis example: lineage, impact,
// openlineage (printed, and POSTed to a real HTTP server), use cases, search,
// and a lab catalog shared by two workspaces.
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "catalog/lab_catalog.h"
#include "catalog/openlineage.h"
#include "tests/test_util.h"

namespace alambic::catalog_cli_test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

using testing::Cli;
using testing::CliResult;

std::vector<json> JsonLines(const std::string& text) {
  std::vector<json> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    if (nl > pos) out.push_back(json::parse(text.substr(pos, nl - pos)));
    pos = nl + 1;
  }
  return out;
}

// A copy of examples/permis, built once per test.
class PermisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ws_ = dir_.path() / "permis";
    fs::copy(fs::path(ALAMBIC_SOURCE_DIR) / "examples/permis", ws_, fs::copy_options::recursive);
    fs::remove_all(ws_ / ".alambic");
    // The pseudonymisation key the example reads (kept out of git), as quickstart makes it.
    fs::create_directories(ws_ / ".alambic");
    std::ofstream(ws_ / ".alambic/pseudo_key") << std::string(64, 'a');
    fs::permissions(ws_ / ".alambic/pseudo_key", fs::perms::owner_read | fs::perms::owner_write);
  }
  void Build() {
    auto r = Cli(ws_, {"run", "-j", "2"});
    ASSERT_EQ(r.code, 0) << r.out << r.err;
  }
  std::string LastRun() {
    auto r = Cli(ws_, {"runs"});
    EXPECT_EQ(r.code, 0) << r.err;
    size_t nl = r.out.find('\n');
    return r.out.substr(nl + 1, 8);
  }
  // The nodes reached from the start, as "dataset.column transform".
  static std::vector<std::string> Reached(const json& g) {
    std::vector<std::string> out;
    const bool up = g["direction"] == "upstream";
    for (const auto& e : g["edges"]) {
      const json& n = g["nodes"][e[up ? "from" : "to"].get<size_t>()];
      out.push_back(n["dataset"].get<std::string>() + "." + n.value("column", std::string()) + " " +
                    e.value("transform", std::string()));
    }
    return out;
  }
  TempDir dir_;
  fs::path ws_;
};

TEST_F(PermisTest, ColumnLineageOfTheSqlRecipes) {
  Build();
  auto r = Cli(ws_, {"lineage", "centre_rates.success_rate", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  json g = json::parse(r.out);
  EXPECT_EQ(g["nodes"][0]["dataset"], "centre_rates");
  EXPECT_EQ(g["nodes"][0]["column"], "success_rate");
  EXPECT_EQ(g["nodes"][0]["recipe"], "centre_rates");
  // A group aggregate, then the identity chain back to the source column.
  EXPECT_THAT(Reached(g), AllOf(Contains("exams_located.result aggregation"),
                                Contains("exams_enriched.result identity"),
                                Contains("exams_raw.result identity")));
  // A join key comes from both sides.
  r = Cli(ws_, {"lineage", "exams_located.centre_id", "--depth", "1", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(Reached(json::parse(r.out)), AllOf(Contains("exams_enriched.centre_id join_key"),
                                                 Contains("centres.centre_id join_key")));
  // flagged_centres (a sql recipe): identity from its input, filtered on the gap.
  r = Cli(ws_, {"lineage", "flagged_centres.name", "--depth", "1", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(Reached(json::parse(r.out)), AllOf(Contains("centre_gaps_checked.name identity"),
                                                 Contains("centre_gaps_checked.gap filter")));
  // The pseudonymised candidate, in the text view.
  r = Cli(ws_, {"lineage", "exams.candidate_id", "--depth", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("<- exams_raw.candidate_id@"));
  EXPECT_THAT(r.out, HasSubstr("[masking]"));
  r = Cli(ws_, {"lineage", "flagged_centres.gap"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("flagged_centres.gap@"));
  EXPECT_THAT(r.out, HasSubstr("<- centre_vs_departement.success_rate_departement@"));
  EXPECT_THAT(r.out, HasSubstr("[transformation]"));
  EXPECT_THAT(r.out, HasSubstr("<- exams_raw.result@"));
  r = Cli(ws_, {"lineage", "centre_rates.nope"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("dataset centre_rates has no column 'nope' (columns: centre_id, "
                               "name, departement, exams, passed, success_rate, mean_score)"));
}

TEST_F(PermisTest, DatasetLineageDownstreamDepthDotAndOldVersions) {
  Build();
  auto r = Cli(ws_, {"lineage", "exams_raw", "--downstream"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("-> centre_rates@"), HasSubstr("-> departement_rates@"),
                           HasSubstr("-> flagged_centres@")));
  r = Cli(ws_, {"lineage", "exams_raw", "--downstream", "--depth", "1"});
  EXPECT_THAT(r.out, AllOf(HasSubstr("-> exams@"), Not(HasSubstr("centre_rates"))));
  r = Cli(ws_, {"lineage", "flagged_centres", "--format", "dot"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("digraph lineage {"));
  EXPECT_THAT(r.out, HasSubstr("permis/collect_centres"));

  auto before = json::parse(Cli(ws_, {"lineage", "centre_rates", "--format", "json"}).out);
  const std::string old_version = before["nodes"][0]["version"];
  std::ofstream(ws_ / "data/exams.csv", std::ios::app)
      << "20001;K000000001;CE0010000;02/06/2025; b;Orl\xe9"
         "ans;25,5;30;reussite\n";
  Build();
  r = Cli(ws_,
          {"lineage", "centre_rates", "--version", old_version.substr(0, 10), "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  json old = json::parse(r.out);
  EXPECT_EQ(old["nodes"][0]["version"], old_version);
  EXPECT_EQ(old["nodes"][0]["current"], false);
  EXPECT_EQ(old["nodes"][1]["dataset"], "exams_located");
  EXPECT_EQ(old["nodes"][1]["version"], before["nodes"][1]["version"]);
}

TEST_F(PermisTest, ImpactOfASourceAndOfAColumn) {
  Build();
  auto r = Cli(ws_, {"impact", "exams_raw"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("permis/centre_rates"));
  EXPECT_THAT(r.out, HasSubstr("permis/departement_rates"));
  EXPECT_THAT(r.out, HasSubstr("permis/flag_centres"));
  EXPECT_THAT(r.out, Not(HasSubstr("permis/collect_centres")));
  EXPECT_THAT(r.out, HasSubstr("10 recipes would become stale if exams_raw changed"));
  r = Cli(ws_, {"impact", "departement_rates", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  ASSERT_EQ(j.size(), 4u);
  EXPECT_EQ(j[0]["recipe"], "compare_centres");
  EXPECT_EQ(j[3]["recipe"], "flag_centres");
  // Column level: the columns computed from centres.name, transitively.
  r = Cli(ws_, {"impact", "centres.name"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("centre_rates.name"), HasSubstr("flagged_centres.name")));
  EXPECT_THAT(r.out, Not(HasSubstr("departement_rates.departement ")));
  r = Cli(ws_, {"impact", "nowhere"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err,
              HasSubstr("no recipe of this workspace or the catalog writes dataset 'nowhere'"));
}

TEST_F(PermisTest, OpenLineageEventsOfARun) {
  Build();
  const std::string run = LastRun();
  auto r = Cli(ws_, {"openlineage", run});
  ASSERT_EQ(r.code, 0) << r.err;
  auto events = JsonLines(r.out);
  ASSERT_EQ(events.size(), 24u);  // START and COMPLETE for each of 12 recipes
  std::map<std::string, std::vector<std::string>> by_run;
  for (const auto& e : events) {
    by_run[e["run"]["runId"]].push_back(e["eventType"]);
    EXPECT_EQ(e["job"]["namespace"], "permis");
    EXPECT_THAT(e["run"]["facets"]["parent"]["run"]["runId"].get<std::string>(),
                ::testing::StartsWith(run));
    EXPECT_EQ(e["run"]["facets"]["parent"]["job"]["name"], "permis");
    EXPECT_TRUE(e["run"]["facets"].contains("nominalTime"));
  }
  ASSERT_EQ(by_run.size(), 12u);
  for (const auto& [id, types] : by_run)
    EXPECT_EQ(types, (std::vector<std::string>{"START", "COMPLETE"})) << id;
  const json* rates = nullptr;
  for (const auto& e : events)
    if (e["eventType"] == "COMPLETE" && e["job"]["name"] == "permis.centre_rates") rates = &e;
  ASSERT_NE(rates, nullptr);
  ASSERT_EQ((*rates)["inputs"].size(), 1u);
  const json& out = (*rates)["outputs"][0];
  EXPECT_EQ(out["name"], "centre_rates");
  EXPECT_EQ(out["namespace"], "alambic://permis/datalab");
  EXPECT_EQ(out["facets"]["schema"]["fields"][5]["name"], "success_rate");
  EXPECT_EQ(out["facets"]["version"]["datasetVersion"].get<std::string>().size(), 64u);
  json inputs = out["facets"]["columnLineage"]["fields"]["success_rate"]["inputFields"];
  EXPECT_THAT(
      inputs,
      Contains(json{{"namespace", "alambic://permis/datalab"},
                    {"name", "exams_located"},
                    {"field", "result"},
                    {"transformations",
                     {{{"type", "DIRECT"}, {"subtype", "AGGREGATION"}, {"masking", false}}}}}));
  const json* located = nullptr;
  for (const auto& e : events)
    if (e["eventType"] == "COMPLETE" && e["job"]["name"] == "permis.locate_exams") located = &e;
  ASSERT_NE(located, nullptr);
  inputs =
      (*located)["outputs"][0]["facets"]["columnLineage"]["fields"]["centre_id"]["inputFields"];
  EXPECT_THAT(inputs,
              Contains(json{{"namespace", "alambic://permis/datalab"},
                            {"name", "centres"},
                            {"field", "centre_id"},
                            {"transformations",
                             {{{"type", "INDIRECT"}, {"subtype", "JOIN"}, {"masking", false}}}}}));
  // The pseudonymised candidate: a masking transformation.
  const json* cleaned = nullptr;
  for (const auto& e : events)
    if (e["eventType"] == "COMPLETE" && e["job"]["name"] == "permis.clean_exams") cleaned = &e;
  ASSERT_NE(cleaned, nullptr);
  EXPECT_EQ(
      (*cleaned)["outputs"][0]["facets"]["columnLineage"]["fields"]["candidate_id"]["inputFields"],
      json::array({{{"namespace", "alambic://permis/datalab"},
                    {"name", "exams_raw"},
                    {"field", "candidate_id"},
                    {"transformations",
                     {{{"type", "DIRECT"}, {"subtype", "TRANSFORMATION"}, {"masking", true}}}}}}));
  r = Cli(ws_, {"openlineage", "ffffffff"});
  EXPECT_EQ(r.code, 1);
}

// An OpenLineage endpoint on 127.0.0.1 (Marquez's POST /api/v1/lineage) that
// answers 503 to the first `fail_first` requests.
class LineageServer {
 public:
  explicit LineageServer(int fail_first) : fail_first_(fail_first) {
    server_.Post("/api/v1/lineage", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      if (requests_++ < fail_first_) {
        res.status = 503;
        return;
      }
      events_.push_back(json::parse(req.body));
      res.status = 201;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~LineageServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<json> events() {
    std::lock_guard lock(mu_);
    return events_;
  }
  int requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  int fail_first_;
  std::thread thread_;
  std::mutex mu_;
  int requests_ = 0;
  std::vector<json> events_;
};

TEST_F(PermisTest, RunsPostTheirEventsToTheConfiguredEndpointWithRetries) {
  LineageServer server(/*fail_first=*/2);
  std::ofstream(ws_ / "alambic.yaml", std::ios::app)
      << "openlineage: {url: \"" << server.url() << "\", retries: 3, retry_backoff: 0.01}\n";
  Build();
  const std::string run = LastRun();
  auto printed = JsonLines(Cli(ws_, {"openlineage", run}).out);
  ASSERT_EQ(printed.size(), 24u);
  EXPECT_EQ(server.events(), printed);   // every event, in order, as printed
  EXPECT_EQ(server.requests(), 24 + 2);  // the two refused attempts were retried
}

TEST(OpenLineagePostTest, GivesUpAfterItsRetriesAndSaysSo) {
  LineageServer server(/*fail_first=*/100);
  OpenLineageEndpoint endpoint;
  endpoint.url = server.url() + "/";
  endpoint.retries = 2;
  endpoint.retry_backoff_seconds = 0.01;
  std::vector<std::string> warnings;
  auto sent = PostOpenLineageEvents(endpoint, {json{{"eventType", "START"}}},
                                    [&](const std::string& w) { warnings.push_back(w); });
  ASSERT_TRUE(sent.ok()) << sent.status().message();
  EXPECT_EQ(*sent, 0);
  EXPECT_EQ(server.requests(), 3);
  ASSERT_EQ(warnings.size(), 3u);
  EXPECT_THAT(warnings[0], HasSubstr("/api/v1/lineage: HTTP 503; retrying in 0.01s"));
  EXPECT_THAT(warnings[2], HasSubstr("HTTP 503; giving up on this event"));
  endpoint.url = "ftp://example.org";
  EXPECT_FALSE(PostOpenLineageEvents(endpoint, {}, nullptr).ok());
}

TEST_F(PermisTest, UseCaseCardsListShowSearchAndHistory) {
  Build();
  WriteFile(ws_ / "usecases/old.yaml", R"(usecase: prevision-affluence
title: Prévision de l'affluence aux guichets
owner: Paul
status: abandoned
reason: Données de fréquentation trop lacunaires
tags: [guichets]
)");
  auto r = Cli(ws_, {"usecase", "list"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("fraude-examens-permis"));
  EXPECT_THAT(r.out, HasSubstr("prevision-affluence"));
  EXPECT_THAT(r.out, HasSubstr("2 use cases"));
  r = Cli(ws_, {"usecase", "list", "--status", "abandoned"});
  EXPECT_THAT(r.out, AllOf(HasSubstr("prevision-affluence"), Not(HasSubstr("fraude-examens"))));
  r = Cli(ws_, {"usecase", "list", "--tag", "fraude"});
  EXPECT_THAT(r.out, AllOf(HasSubstr("fraude-examens-permis"), Not(HasSubstr("prevision"))));
  // Full text, diacritics-insensitive, over cards and their datasets' text.
  r = Cli(ws_, {"usecase", "list", "--search", "frequentation"});
  EXPECT_THAT(r.out, AllOf(HasSubstr("prevision-affluence"), HasSubstr("1 use case\n")));
  r = Cli(ws_, {"usecase", "list", "--search", "Exam centres département", "--format", "json"});
  json list = json::parse(r.out);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["id"], "fraude-examens-permis");
  EXPECT_EQ(list[0]["health"], "ok");

  r = Cli(ws_, {"usecase", "show", "fraude-examens-permis"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Fraude aux examens du permis de conduire"));
  EXPECT_THAT(r.out, HasSubstr("permis/permis  last run: "));
  EXPECT_THAT(r.out, HasSubstr("succeeded"));
  EXPECT_THAT(r.out, HasSubstr("flagged_centres"));
  EXPECT_THAT(r.out, HasSubstr("fresh"));
  EXPECT_THAT(r.out, HasSubstr("inspections ciblées"));

  // A status change is recorded; the source changing makes datasets stale.
  std::string card = ReadFile(ws_ / "usecases/fraude-examens-permis.yaml");
  card.replace(card.find("status: poc"), 11, "status: preprod");
  WriteFile(ws_ / "usecases/fraude-examens-permis.yaml", card);
  std::ofstream(ws_ / "data/exams.csv", std::ios::app)
      << "20001;K000000001;CE0010000;2025-06-02;B;reussite\n";
  r = Cli(ws_, {"usecase", "show", "fraude-examens-permis", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  json shown = json::parse(r.out);
  ASSERT_EQ(shown["history"].size(), 2u);
  EXPECT_EQ(shown["history"][0]["status"], "poc");
  EXPECT_EQ(shown["history"][1]["status"], "preprod");
  bool stale = false;
  for (const auto& d : shown["datasets"])
    if (d["dataset"] == "exams_raw") stale = d["state"].get<std::string>().find("stale") == 0;
  EXPECT_TRUE(stale) << shown["datasets"].dump();

  r = Cli(ws_, {"catalog", "search", "candidate"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("exams_raw.candidate_id"));
  r = Cli(ws_, {"usecase", "show", "ghost"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("no use case 'ghost' in the catalog (known: fraude-examens-permis, "
                               "prevision-affluence)"));
}

TEST_F(PermisTest, InvalidCardsFailWithTheirPlace) {
  WriteFile(ws_ / "usecases/bad.yaml", R"(usecase: Bad Id
title: x
owner: y
status: abandoned
priority: urgent
links:
  - {title: doc}
colour: blue
)");
  auto r = Cli(ws_, {"validate"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("usecases/bad.yaml:1:10: id 'Bad Id': use lower-case letters, "
                               "digits, '-' and '_'"));
  EXPECT_THAT(r.err, HasSubstr("usecases/bad.yaml:4:9: an abandoned use case needs a reason"));
  EXPECT_THAT(r.err, HasSubstr("usecases/bad.yaml:5:11: unknown priority 'urgent' (expected one "
                               "of: low, medium, high, critical)"));
  EXPECT_THAT(r.err, HasSubstr("usecases/bad.yaml:7:5: a link needs a url"));
  EXPECT_THAT(r.err, HasSubstr("usecases/bad.yaml:8:1: unknown key 'colour' in the card"));
  r = Cli(ws_, {"usecase", "list"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("usecases/bad.yaml:4:9"));
}

TEST_F(PermisTest, ASharedLabCatalogHoldsManyWorkspacesAndLinksTheirFiles) {
  // A reference workspace exports a list of centres to a shared folder; permis collects it.
  const fs::path ref = dir_.path() / "referentiels";
  fs::create_directories(ref / "flows");
  fs::create_directories(ref / "usecases");
  fs::create_directories(dir_.path() / "shared");
  fs::copy_file(ws_ / "data/centres.csv", ref / "centres_source.csv");
  WriteFile(ref / "alambic.yaml",
            "name: referentiels\ndata_roots: [../shared]\ncatalog: {path: ../lab/catalog.db}\n");
  WriteFile(
      ref / "usecases/ref.yaml",
      "usecase: referentiels\ntitle: Référentiels partagés\nowner: datalab\nstatus: production\n");
  WriteFile(ref / "flows/ref.yaml", R"(flow: centres
usecase: referentiels
recipes:
  - {name: collect, kind: collect, outputs: [centres_src], params: {path: centres_source.csv, delimiter: ";", schema: {departement: utf8}}}
  - {name: publish, kind: export, inputs: [centres_src], outputs: [centres_published], params: {path: ../shared/centres.csv, format: csv, delimiter: ";"}}
)");
  auto r = Cli(ref, {"run"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  std::string cfg = ReadFile(ws_ / "alambic.yaml");
  WriteFile(ws_ / "alambic.yaml",
            cfg + "catalog: {path: ../lab/catalog.db}\n" + "data_roots: [../shared]\n");
  cfg = ReadFile(ws_ / "alambic.yaml");
  cfg.replace(cfg.find("data_roots: []\n"), 15, "");
  WriteFile(ws_ / "alambic.yaml", cfg);
  std::string flow = ReadFile(ws_ / "flows/permis.yaml");
  flow.replace(flow.find("path: data/centres.csv"), 22, "path: ../shared/centres.csv");
  WriteFile(ws_ / "flows/permis.yaml", flow);
  Build();

  r = Cli(ref, {"catalog", "sync"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("registered workspace referentiels in "));
  EXPECT_THAT(r.out, HasSubstr("1 use case, 1 flow, 2 datasets"));
  r = Cli(ws_, {"catalog", "sync"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir_.path() / "lab/catalog.db"));
  // From either workspace, the lab catalog lists both use cases.
  r = Cli(ref, {"usecase", "list"});
  EXPECT_THAT(r.out, AllOf(HasSubstr("referentiels"), HasSubstr("fraude-examens-permis")));
  // Lineage crosses workspaces through the shared file, both ways.
  r = Cli(ws_, {"lineage", "centre_rates.name"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("centres is read from " +
                               fs::weakly_canonical(dir_.path() / "shared/centres.csv").string() +
                               ", written by workspace referentiels as centres_published"));
  r = Cli(ref, {"lineage", "centres_src", "--downstream"});
  EXPECT_THAT(r.out, HasSubstr("centres_published is written to "));
  EXPECT_THAT(r.out, HasSubstr("read by workspace permis as centres"));
  // Use-case ids are lab-wide: another workspace may not register the same id.
  WriteFile(ref / "usecases/dup.yaml",
            "usecase: fraude-examens-permis\ntitle: copie\nowner: x\nstatus: idea\n");
  r = Cli(ref, {"catalog", "sync"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("usecases/dup.yaml:1:10: use case 'fraude-examens-permis' is "
                               "already registered by workspace 'permis'"));
}

TEST_F(PermisTest, TheCatalogVariableOverridesTheConfiguredPath) {
  const fs::path elsewhere = dir_.path() / "elsewhere" / "lab.db";
  std::ofstream(ws_ / "alambic.yaml", std::ios::app) << "catalog: {path: ../configured.db}\n";
  ::setenv("ALAMBIC_CATALOG", elsewhere.c_str(), 1);
  auto r = Cli(ws_, {"catalog", "sync"});
  ::unsetenv("ALAMBIC_CATALOG");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("registered workspace permis in " + elsewhere.string() +
                               ": 1 use case, 1 flow, 12 datasets"));
  EXPECT_FALSE(fs::exists(dir_.path() / "configured.db"));
  auto lab = LabCatalog::Open(elsewhere);
  ASSERT_TRUE(lab.ok()) << lab.status().message();
  auto found = (*lab)->FindUseCase("fraude-examens-permis");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->health, "never run");
  // Without the variable, the configured path.
  r = Cli(ws_, {"catalog", "sync"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir_.path() / "configured.db"));
}

}  // namespace
}  // namespace alambic::catalog_cli_test
