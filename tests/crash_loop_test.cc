// The crash loop: the real `alambic run` of the permis example (after its
// exams extract changed, tests/fault_harness.h) killed with SIGKILL at each
// crash point (core/base/crash_point.h, ALAMBIC_CRASH_AT=STEP:N) and each time
// N that the run reaches it: while a dataset is written, between two renames
// of a batch, between the store and the catalog, inside the catalog
// transaction. After each kill: PRAGMA integrity_check, the catalog all-old or
// all-new, every referenced version readable with its recorded rows, bytes
// and content hash; then the next run succeeds, closes the killed run as
// abandoned, leaves no temporary file and gives outputs identical to an
// undisturbed run's. The daemon's points are in tests/e2e/daemon_crash.sh.
//
// By default a few N per point; ALAMBIC_FAULTS_LONG=1 every N (scripts/fault-loops).
#include <cstdlib>
#include <iostream>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "catalog/audit.h"
#include "catalog/catalog.h"
#include "tests/fault_harness.h"
#include "tests/test_util.h"

namespace alambic::crash_loop_test {
namespace {

namespace fs = std::filesystem;
using namespace testing::fault_harness;
using testing::Cli;

// The killed run's exit status: 137 (SIGKILL) when it reached `step` the Nth
// time, 0 when it finished first.
int KilledRun(const fs::path& ws, const std::string& crash_at) {
  auto r = Cli(ws, {"run"}, "ALAMBIC_CRASH_AT=" + crash_at);
  EXPECT_TRUE(r.code == 137 || r.code == 0) << crash_at << ": " << r.code << "\n" << r.err;
  return r.code;
}

TEST(CrashLoopTest, PermisRunKilledAtEachPointLosesNothing) {
  GetBaseline();
  LoopFigures figures;
  int points = 0, kills = 0;
  // How many times an undisturbed run reaches each point, then kills at each.
  for (const char* step :
       {"dataset_write", "store_rename", "recipe_publishing", "catalog_commit"}) {
    // Each N until the run is no longer killed (it reaches the point fewer
    // times); the default slice takes N = 1 and 3 only.
    const int last = LongLoop() ? 1 << 12 : 3;
    for (int n = 1; n <= last; n += LongLoop() ? 1 : 2) {
      const std::string at = fmt::format("{}:{}", step, n);
      int code = -1;
      FaultCase(
          "killed at " + at,
          [&](const fs::path& ws) {
            code = KilledRun(ws, at);
            return code == 0 ? std::string("succeeded") : std::string("killed");
          },
          [&] { return code == 137 ? 1 : 0; }, &figures, /*settled=*/false);
      if (code == 137) {
        ++kills;
        points += n == 1;
      }
      if (HasFailure()) return;
      if (code == 0) break;
    }
  }
  EXPECT_EQ(points, 4) << "every point is reached";
  std::cout << fmt::format("crash loop: {} points, {} runs killed, {} cases\n", points, kills,
                           figures.cases);
}

// A workspace whose flow `sales` is committed and run in the datalab, ready
// for `alambic promote sales` to the warehouse.
fs::path PromotableWorkspace(const fs::path& dir) {
  const fs::path ws = dir / "ws", landing = dir / "landing";
  fs::create_directories(ws / "data");
  fs::create_directories(landing);
  testing::WriteFile(ws / "alambic.yaml",
                     "name: crashws\ndefault_environment: datalab\nconnections:\n"
                     "  sales_src: {type: file, path: data/sales.csv}\nenvironments:\n"
                     "  datalab: {}\n  warehouse:\n    data_roots: [" +
                         landing.string() +
                         "]\n    connections:\n      sales_src: {type: file, path: " +
                         (landing / "sales.csv").string() + "}\n");
  testing::WriteFile(ws / "data/sales.csv", "region,amount\nnord,10\nsud,20\n");
  testing::WriteFile(landing / "sales.csv", "region,amount\nnord,10\nsud,20\n");
  testing::WriteFile(ws / "flows/sales.yaml",
                     "flow: sales\nrecipes:\n"
                     "  - {name: collect_sales, kind: collect, outputs: [sales_raw], params: "
                     "{connection: sales_src}}\n");
  testing::WriteFile(ws / ".gitignore", ".alambic/\n");
  const std::string git =
      "cd " + testing::ShellQuote(ws.string()) +
      " && export GIT_AUTHOR_NAME=Ops GIT_AUTHOR_EMAIL=ops@example.org GIT_COMMITTER_NAME=Ops "
      "GIT_COMMITTER_EMAIL=ops@example.org && git init -q -b main . && git add -A && git commit "
      "-qm sales";
  EXPECT_EQ(std::system(git.c_str()), 0);
  auto run = Cli(ws, {"run"});
  EXPECT_EQ(run.code, 0) << run.err;
  return ws;
}

// The warehouse runs recorded in the catalog: (release, status), oldest first.
std::vector<std::pair<std::string, std::string>> WarehouseRuns(const fs::path& ws) {
  std::vector<std::pair<std::string, std::string>> out;
  SQLite::Database db((ws / ".alambic/catalog.db").string(), SQLite::OPEN_READONLY);
  SQLite::Statement q(db,
                      "SELECT release, status FROM runs WHERE environment = 'warehouse' ORDER BY "
                      "started_at, rowid");
  while (q.executeStep()) out.emplace_back(q.getColumn(0).getString(), q.getColumn(1).getString());
  return out;
}

// `alambic promote` killed at each of its points (core/base/crash_point.h):
// once the release's tag is in git (`promotion`), inside the catalog
// transaction that records the release before its activation
// (`release_activation`), and once the catalog has recorded it with its audit
// entry (`promotion_recorded`). Each time: the catalog is sound and its audit
// chain verifies, a release active is audited, the promotion made again succeeds (with the next
// number when the tag was taken) and is audited, and the warehouse runs the
// release then active.
TEST(CrashLoopTest, PromotionKilledAtEachPointCanBeMadeAgain) {
  struct Case {
    const char* point;
    int active_after_kill;  // 0: none
    int active_after_again;
  };
  for (const Case& c : {Case{"promotion", 0, 2}, Case{"release_activation", 0, 2},
                        Case{"promotion_recorded", 1, 2}}) {
    SCOPED_TRACE(c.point);
    testing::TempDir dir;
    const fs::path ws = PromotableWorkspace(dir.path());
    if (HasFailure()) return;
    auto killed = Cli(ws, {"promote", "sales"}, std::string("ALAMBIC_CRASH_AT=") + c.point);
    ASSERT_EQ(killed.code, 137) << killed.out << killed.err;
    auto check = [&](int want_active, bool audited) {
      auto cat = Catalog::Open(ws / ".alambic/catalog.db");
      ASSERT_TRUE(cat.ok()) << cat.status().message();
      EXPECT_EQ(*(*cat)->IntegrityCheck(), "ok");
      auto active = (*cat)->ActiveRelease("sales", "warehouse");
      ASSERT_TRUE(active.ok());
      EXPECT_EQ(active->has_value() ? (*active)->number : 0, want_active);
      auto audit = (*cat)->ReadAudit({.action = kAuditPromote});
      ASSERT_TRUE(audit.ok()) << audit.status().message();
      std::vector<std::string> promoted;
      for (const auto& e : *audit)
        if (e.outcome == kAuditOk) promoted.push_back(e.target);
      if (want_active == 0) {
        EXPECT_TRUE(promoted.empty()) << promoted[0];
      } else if (audited) {
        EXPECT_THAT(promoted, ::testing::Contains(fmt::format("release/sales/{}", want_active)))
            << "release " << want_active << " is active with no audit entry";
      }
      EXPECT_TRUE((*cat)->VerifyAudit().ok());
    };
    // Killed at promotion_recorded, release 1 is active and audited: the audit
    // entry is written in the release's own transaction.
    check(c.active_after_kill, true);
    auto again = Cli(ws, {"promote", "sales"});
    ASSERT_EQ(again.code, 0) << again.out << again.err;
    check(c.active_after_again, true);
    auto prod = Cli(ws, {"--env", "warehouse", "run"});
    EXPECT_EQ(prod.code, 0) << prod.out << prod.err;
    EXPECT_EQ(WarehouseRuns(ws),
              (std::vector<std::pair<std::string, std::string>>{
                  {fmt::format("sales/{}", c.active_after_again), "succeeded"}}));
  }
}

}  // namespace
}  // namespace alambic::crash_loop_test
