// A test fixture shared by the tests of the services and of the daemon's
// launcher: a real git workspace `ws` with one flow, people (a collect of
// data/people.csv), environments datalab and warehouse, committed; helpers to
// open its catalog and to run it in the datalab then promote it.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "catalog/catalog.h"
#include "services/catalog_path.h"
#include "services/promotion.h"
#include "services/runs.h"
#include "tests/git_test_util.h"
#include "tests/test_util.h"

namespace alambic::testing {

class PeopleWorkspaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ws_ = dir_.path() / "ws";
    WriteFile(ws_ / "alambic.yaml",
              "name: ws\ndefault_environment: datalab\nenvironments:\n  datalab: {}\n"
              "  warehouse: {}\n" +
                  ExtraConfig());
    WriteFile(ws_ / ".gitignore", ".alambic/\n");
    WriteFile(ws_ / "data/people.csv", "id;dept\n1;01\n2;2A\n3;75\n");
    WriteFile(ws_ / "flows/people.yaml", FlowText(Cron()));
    Git(ws_, "init -q");
    CommitAll(ws_, "people flow", "2026-01-05T10:00:00Z");
  }
  // Lines appended to alambic.yaml.
  virtual std::string ExtraConfig() const { return ""; }
  // The people flow's schedule ("" : none).
  virtual std::string Cron() const { return ""; }
  // The people flow, with a schedule `cron` (UTC, no catch-up) unless "".
  static std::string FlowText(const std::string& cron) {
    std::string schedule;
    if (!cron.empty())
      schedule = "schedule: {cron: \"" + cron + "\", timezone: UTC, catchup: none}\n";
    return "flow: people\n" + schedule +
           "recipes:\n"
           "  - {name: collect_people, kind: collect, outputs: [people_raw], params: {path: "
           "data/people.csv, delimiter: \";\"}}\n";
  }
  std::unique_ptr<Catalog> Cat() {
    auto c = Catalog::Open(RunCatalogPath(ws_));
    EXPECT_TRUE(c.ok()) << c.status().message();
    return c.ok() ? std::move(*c) : nullptr;
  }
  // A datalab run of HEAD, then its promotion to the warehouse by alice.
  void RunAndPromote() {
    RunRequest lab;
    lab.jobs = 1;
    auto ran = RunWorkspace(ws_, lab);
    ASSERT_TRUE(ran.ok()) << ran.status().message();
    ASSERT_EQ(ran->verdict, RunVerdict::kSucceeded);
    PromotionRequest p;
    p.options.flow = "people";
    p.options.note = "first release";
    p.who = {"alice", "lab"};
    auto promoted = PromoteFlow(ws_, p);
    ASSERT_TRUE(promoted.ok()) << promoted.status().message();
    ASSERT_TRUE(promoted->Admitted());
  }
  TempDir dir_;
  std::filesystem::path ws_;
};

}  // namespace alambic::testing
