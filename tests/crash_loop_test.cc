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

#include <fmt/format.h>
#include <gtest/gtest.h>

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

// `alambic promote` killed once the release's tag is in git, before the
// catalog records it: the catalog is sound, nothing is active yet, and the
// promotion made again succeeds (with the next number, the tag being taken)
// and its release runs in the warehouse.
TEST(CrashLoopTest, PromotionKilledBetweenTagAndCatalogCanBeMadeAgain) {
  testing::TempDir dir;
  const fs::path ws = dir.path() / "ws", landing = dir.path() / "landing";
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
  ASSERT_EQ(std::system(git.c_str()), 0);
  auto run = Cli(ws, {"run"});
  ASSERT_EQ(run.code, 0) << run.err;
  auto killed = Cli(ws, {"promote", "sales"}, "ALAMBIC_CRASH_AT=promotion");
  ASSERT_EQ(killed.code, 137) << killed.out << killed.err;
  {
    auto cat = Catalog::Open(ws / ".alambic/catalog.db");
    ASSERT_TRUE(cat.ok()) << cat.status().message();
    EXPECT_EQ(*(*cat)->IntegrityCheck(), "ok");
    auto active = (*cat)->ActiveRelease("sales", "warehouse");
    ASSERT_TRUE(active.ok());
    EXPECT_FALSE(active->has_value()) << "a killed promotion activated a release";
  }
  auto again = Cli(ws, {"promote", "sales"});
  ASSERT_EQ(again.code, 0) << again.out << again.err;
  auto cat = Catalog::Open(ws / ".alambic/catalog.db");
  ASSERT_TRUE(cat.ok());
  auto active = (*cat)->ActiveRelease("sales", "warehouse");
  ASSERT_TRUE(active.ok() && active->has_value());
  EXPECT_EQ((*active)->number, 2) << "release 1's tag was taken by the killed promotion";
  cat->reset();
  auto prod = Cli(ws, {"--env", "warehouse", "run"});
  EXPECT_EQ(prod.code, 0) << prod.out << prod.err;
}

}  // namespace
}  // namespace alambic::crash_loop_test
