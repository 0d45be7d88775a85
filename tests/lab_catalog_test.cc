// Use-case cards (parsing, validation) and the lab catalog (sync, status
// history, filters, full-text search, files shared across workspaces).
#include "catalog/lab_catalog.h"

#include <atomic>
#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace alambic::lab_catalog_test {
namespace {

using ::testing::ElementsAre;
using testing::TempDir;
using testing::WriteFile;

std::vector<std::string> Messages(const std::vector<Diagnostic>& diags) {
  std::vector<std::string> out;
  for (const auto& d : diags) out.push_back(d.ToString());
  return out;
}

TEST(UseCaseCardTest, ReadsEveryField) {
  std::vector<Diagnostic> diags;
  UseCaseCard c = ParseUseCase(R"(id: fraude
title: Fraude
description: |
  # Contexte
  Des **centres** suspects.
owner: Jeanne
team: datalab
direction: DSR
ministry: Intérieur
status: production
priority: critical
benefits:
  expected: moins de fraude
  measured: 12 centres contrôlés
  kpis:
    - {name: contrôles, unit: centres, expected: 20, measured: 12.5, date: 2026-01-31}
tags: [fraude, permis]
links:
  - {title: Tableau de bord, url: "https://bi/x", type: dashboard}
sources:
  - Fichier des examens
  - {name: Centres, dataset: centres}
)",
                               "usecases/f.yaml", &diags);
  ASSERT_TRUE(diags.empty()) << Messages(diags)[0];
  EXPECT_EQ(c.id, "fraude");
  EXPECT_EQ(c.description, "# Contexte\nDes **centres** suspects.\n");
  EXPECT_EQ(c.status, "production");
  EXPECT_EQ(c.priority, "critical");
  ASSERT_EQ(c.kpis.size(), 1u);
  EXPECT_EQ(c.kpis[0].measured, 12.5);
  EXPECT_EQ(c.kpis[0].date, "2026-01-31");
  EXPECT_EQ(c.links[0].type, "dashboard");
  EXPECT_EQ(c.sources[0].name, "Fichier des examens");
  EXPECT_EQ(c.sources[1].dataset, "centres");
  EXPECT_EQ(c.loc.ToString(), "usecases/f.yaml:1:5");
  // The JSON form round-trips.
  EXPECT_EQ(UseCaseJson(UseCaseFromJson(UseCaseJson(c))), UseCaseJson(c));
}

TEST(UseCaseCardTest, EveryProblemWithItsPlace) {
  std::vector<Diagnostic> diags;
  ParseUseCase(R"(title: [not, text]
status: dreaming
benefits:
  kpis:
    - {name: k, expected: lots, date: 2026-13-01}
tags: {a: b}
)",
               "usecases/x.yaml", &diags);
  EXPECT_THAT(
      Messages(diags),
      ElementsAre("usecases/x.yaml:1:8: title must be text",
                  "usecases/x.yaml:2:9: unknown status 'dreaming' (expected one of: idea, "
                  "poc, preprod, production, abandoned)",
                  "usecases/x.yaml:5:27: kpi expected must be a number",
                  "usecases/x.yaml:5:39: kpi date must be a date YYYY-MM-DD, not '2026-13-01'",
                  "usecases/x.yaml:6:7: tags must be a list",
                  "usecases/x.yaml:1:1: the card has no id (usecase: ID)",
                  "usecases/x.yaml:1:1: the card has no title",
                  "usecases/x.yaml:1:1: the card has no owner"));
  diags.clear();
  ParseUseCase("usecase: a\ntitle: [\n", "usecases/y.yaml", &diags);
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_THAT(diags[0].ToString(), ::testing::StartsWith("usecases/y.yaml:"));
  EXPECT_THAT(diags[0].ToString(), ::testing::HasSubstr(": YAML: "));
  // A card saved in Latin-1: the place of its first byte that is not UTF-8.
  diags.clear();
  ParseUseCase(
      "usecase: a\ntitle: \"Pr\xe9"
      "fecture\"\nowner: o\n",
      "usecases/l1.yaml", &diags);
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].ToString(),
            "usecases/l1.yaml:2:11: not UTF-8 text (byte 0xE9): save the file as UTF-8");
}

TEST(UseCaseCardTest, DuplicateIdsAcrossFiles) {
  TempDir dir;
  WriteFile(dir.path() / "usecases/a.yaml", "usecase: same\ntitle: A\nowner: o\nstatus: idea\n");
  WriteFile(dir.path() / "usecases/b.yml", "usecase: same\ntitle: B\nowner: o\nstatus: idea\n");
  WriteFile(dir.path() / "usecases/notes.txt", "not a card");
  LoadedUseCases l = LoadUseCases(dir.path());
  ASSERT_EQ(l.cards.size(), 1u);
  EXPECT_EQ(l.cards[0].title, "A");
  EXPECT_THAT(Messages(l.diagnostics),
              ElementsAre("usecases/b.yml:1:10: use case 'same' is already defined at "
                          "usecases/a.yaml:1:10"));
  EXPECT_TRUE(LoadUseCases(dir.path() / "nowhere").cards.empty());
}

UseCaseCard Card(const std::string& id, const std::string& status,
                 std::vector<std::string> tags = {}, const std::string& description = "") {
  UseCaseCard c;
  c.id = id;
  c.title = "Title of " + id;
  c.owner = "owner";
  c.status = status;
  c.tags = std::move(tags);
  c.description = description;
  c.file = "usecases/" + id + ".yaml";
  c.loc = {c.file, 1, 10};
  return c;
}

class LabCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto lab = LabCatalog::Open(dir_.path() / "lab" / "catalog.db");
    ASSERT_TRUE(lab.ok()) << lab.status().message();
    lab_ = std::move(*lab);
    permis_.name = "permis";
    permis_.root = "/ws/permis";
    permis_.git_commit = "abc123";
    permis_.cards = {Card("fraude", "poc", {"fraude", "permis"}, "Centres d'examen suspects"),
                     Card("affluence", "abandoned", {"guichets"})};
    permis_.flows = {
        {"permis",
         "fraude",
         "",
         "flows/permis.yaml",
         "0 3 * * 1",
         {{"run2", "failed", "t2", "t2e", "boom"}, {"run1", "succeeded", "t1", "t1e", ""}}}};
    LabDataset rates;
    rates.name = "centre_rates";
    rates.flow = "permis";
    rates.description = "Taux de réussite par centre";
    rates.state = "fresh";
    rates.columns = {{"success_rate", "float64", "", {}},
                     {"candidate_id", "utf8", "", {"personal"}}};
    rates.reads_files = {"/shared/centres.csv"};
    permis_.datasets = {rates};
  }
  TempDir dir_;
  std::unique_ptr<LabCatalog> lab_;
  WorkspaceSnapshot permis_;
};

TEST_F(LabCatalogTest, SyncListsFiltersAndAttachesFlowsAndDatasets) {
  ASSERT_TRUE(lab_->Sync(permis_, "2026-01-01T00:00:00Z").ok());
  auto all = *lab_->ListUseCases({});
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].card.id, "affluence");
  EXPECT_EQ(all[0].health, "no flows");
  const UseCaseEntry& f = all[1];
  EXPECT_EQ(f.workspace, "permis");
  ASSERT_EQ(f.flows.size(), 1u);
  EXPECT_EQ(f.flows[0].second.last_runs[0].id, "run2");
  EXPECT_EQ(f.health, "failing");  // the last run failed
  ASSERT_EQ(f.datasets.size(), 1u);
  EXPECT_EQ(f.datasets[0].second.columns[1].tags, (std::vector<std::string>{"personal"}));
  EXPECT_EQ((*lab_->ListUseCases({.status = "abandoned"})).size(), 1u);
  EXPECT_EQ((*lab_->ListUseCases({.tag = "permis"}))[0].card.id, "fraude");
  EXPECT_TRUE((*lab_->ListUseCases({.status = "abandoned", .tag = "permis"})).empty());
  // Search reaches use cases through their datasets and columns, without accents.
  auto found = *lab_->ListUseCases({.search = "reussite"});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].card.id, "fraude");
  EXPECT_EQ((*lab_->ListUseCases({.search = "suspect"})).size(), 1u);
  EXPECT_TRUE((*lab_->ListUseCases({.search = "nothing-like-this"})).empty());
  EXPECT_TRUE((*lab_->ListUseCases({.search = "\"*)("})).empty());  // no FTS syntax error
  EXPECT_EQ(lab_->Workspaces(), (std::vector<std::string>{"permis"}));
}

TEST_F(LabCatalogTest, StatusHistoryRecordsChangesOnly) {
  ASSERT_TRUE(lab_->Sync(permis_, "t1").ok());
  ASSERT_TRUE(lab_->Sync(permis_, "t2").ok());  // unchanged: no new entry
  permis_.cards[0].status = "preprod";
  permis_.git_commit = "def456";
  ASSERT_TRUE(lab_->Sync(permis_, "t3").ok());
  auto e = *lab_->FindUseCase("fraude");
  ASSERT_TRUE(e.has_value());
  ASSERT_EQ(e->history.size(), 2u);
  EXPECT_EQ(e->history[0].status, "poc");
  EXPECT_EQ(e->history[0].changed_at, "t1");
  EXPECT_EQ(e->history[1].status, "preprod");
  EXPECT_EQ(e->history[1].changed_at, "t3");
  EXPECT_EQ(e->history[1].git_commit, "def456");
  // A card removed from the workspace leaves the catalog; its history stays.
  permis_.cards.pop_back();
  ASSERT_TRUE(lab_->Sync(permis_, "t4").ok());
  EXPECT_FALSE((*lab_->FindUseCase("affluence")).has_value());
  EXPECT_FALSE((*lab_->FindUseCase("ghost")).has_value());
}

TEST_F(LabCatalogTest, WorkspacesShareTheCatalogAndFiles) {
  ASSERT_TRUE(lab_->Sync(permis_, "t1").ok());
  WorkspaceSnapshot ref;
  ref.name = "referentiels";
  ref.cards = {Card("referentiels", "production")};
  ref.flows = {{"centres", "referentiels", "", "", "", {}}};
  LabDataset published;
  published.name = "centres_published";
  published.flow = "centres";
  published.writes_files = {"/shared/centres.csv"};
  ref.datasets = {published};
  ASSERT_TRUE(lab_->Sync(ref, "t2").ok());
  EXPECT_EQ((*lab_->ListUseCases({})).size(), 3u);
  auto shared = *lab_->SharedFiles();
  ASSERT_EQ(shared.size(), 1u);
  EXPECT_EQ(shared[0].from_workspace, "referentiels");
  EXPECT_EQ(shared[0].from_dataset, "centres_published");
  EXPECT_EQ(shared[0].to_workspace, "permis");
  EXPECT_EQ(shared[0].to_dataset, "centre_rates");
  // A use-case id is lab-wide: the second workspace cannot register it again.
  ref.cards.push_back(Card("fraude", "idea"));
  Status st = lab_->Sync(ref, "t3");
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), ::testing::StartsWith("usecases/fraude.yaml:1:10: use case 'fraude' is "
                                                  "already registered by workspace 'permis'"));
  // ...and nothing of that sync was applied.
  EXPECT_EQ((*lab_->FindUseCase("fraude"))->workspace, "permis");
  // Search over datasets and columns names the workspace.
  auto hits = *lab_->Search("candidate", 10);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].kind, "column");
  EXPECT_EQ(hits[0].ref, "centre_rates.candidate_id");
  EXPECT_EQ(hits[0].workspace, "permis");
}

// Two workspaces syncing into one lab catalog at once (a server and `alambic
// catalog sync`, say): each sync reads (which use cases another workspace
// owns) before it writes. Begun as a reader, a sync could not become a writer
// while the other held the write lock, and failed at once with "database is
// locked" instead of waiting for it (SQLite calls no busy handler there).
TEST_F(LabCatalogTest, ConcurrentSyncsOfTwoWorkspacesWaitInsteadOfFailingLocked) {
  auto second = LabCatalog::Open(dir_.path() / "lab" / "catalog.db");
  ASSERT_TRUE(second.ok()) << second.status().message();
  WorkspaceSnapshot ref;
  ref.name = "referentiels";
  ref.cards = {Card("referentiels", "production", {"centres"}, "Centres")};
  ref.flows = {{"centres", "referentiels", "", "", "", {}}};
  std::atomic<bool> stop{false};
  std::atomic<int> other_syncs{0}, other_failed{0};
  std::string other_error;
  std::thread other([&] {
    for (int i = 0; !stop.load(); ++i) {
      Status st = (*second)->Sync(ref, fmt::format("t{}", i));
      if (st.ok())
        ++other_syncs;
      else if (other_failed++ == 0)
        other_error = st.message();
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  while (other_syncs.load() + other_failed.load() == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  int syncs = 0, failed = 0;
  std::string first_error;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  while (std::chrono::steady_clock::now() < until || other_syncs.load() < 5) {
    Status st = lab_->Sync(permis_, fmt::format("t{}", syncs++));
    if (!st.ok() && failed++ == 0) first_error = st.message();
    // A pause, as the other has: a writer with none could starve the other
    // beyond its busy timeout on a loaded machine, which is not what this tests.
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  stop = true;
  other.join();
  EXPECT_EQ(failed, 0) << "of " << syncs << " syncs beside " << other_syncs.load()
                       << " of another workspace; the first: " << first_error;
  EXPECT_EQ(other_failed.load(), 0) << "of the other workspace's syncs; the first: " << other_error;
  auto all = lab_->ListUseCases({});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);
}

TEST(FtsQueryTest, WordsBecomeQuotedPrefixTerms) {
  EXPECT_EQ(FtsQuery("taux réussite"), "\"taux\"* \"réussite\"*");
  EXPECT_EQ(FtsQuery("a\"b OR (c)"), "\"a\"* \"b\"* \"OR\"* \"c\"*");
  EXPECT_EQ(FtsQuery("  -- "), "");
}

}  // namespace
}  // namespace alambic::lab_catalog_test
