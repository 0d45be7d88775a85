// The narrow, fast case of the SQLite fault loop (tests/fault_loop_test.cc) for
// the defect it found: a catalog read failing during a run (SQLITE_IOERR_READ)
// let a SQLite::Exception ("disk I/O error") escape from the run, where `alambic
// run` would have ended on it. On a small flow (two CSV collects, one of them
// changed since the last run), each catalog read of a run fails in turn; the run
// must end with a status (succeeded, failed) or an error, never an exception;
// the catalog stays sound and the next, undisturbed, run succeeds with the
// outputs an undisturbed run gives.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/fault_harness.h"
#include "tests/fault_vfs.h"
#include "tests/test_util.h"

namespace alambic::fault_catalog_test {
namespace {

namespace fs = std::filesystem;
using testing::FaultVfs;
using testing::TempDir;
using testing::WriteFile;
using testing::fault_harness::RunPermis;

// dataset -> rows of its current version, and the catalog's integrity check.
std::map<std::string, int64_t> Current(const fs::path& ws, const std::string& where) {
  std::map<std::string, int64_t> out;
  auto cat = Catalog::Open(ws / ".alambic/catalog.db");
  EXPECT_TRUE(cat.ok()) << where;
  if (!cat.ok()) return out;
  auto ic = (*cat)->IntegrityCheck();
  EXPECT_TRUE(ic.ok() && *ic == "ok") << where;
  auto current = (*cat)->CurrentVersions("datalab");
  EXPECT_TRUE(current.ok()) << where;
  if (current.ok())
    for (const auto& c : *current) out[c.dataset] = c.rows;
  return out;
}

// Under /dev/shm when there is one: the runs fsync the catalog at each commit,
// which costs seconds on a loaded disk and proves nothing here.
struct ScratchDir {
  TempDir fallback;
  fs::path dir;
  ScratchDir() {
    std::error_code ec;
    const fs::path shm = fmt::format("/dev/shm/alambic_fault_catalog_{}", ::getpid());
    dir =
        fs::is_directory("/dev/shm", ec) && fs::create_directories(shm, ec) ? shm : fallback.path();
  }
  ~ScratchDir() {
    std::error_code ec;
    if (dir != fallback.path()) fs::remove_all(dir, ec);
  }
  const fs::path& path() const { return dir; }
};

TEST(FaultCatalogTest, EveryFailedCatalogReadOfARunIsAnErrorNotAnException) {
  ScratchDir tmp;
  const fs::path start = tmp.path() / "start";
  fs::create_directories(start / "flows");
  fs::create_directories(start / "data");
  WriteFile(start / "alambic.yaml", "name: faults\n");
  WriteFile(start / "data/a.csv", "id,x\n1,a\n2,b\n");
  WriteFile(start / "data/b.csv", "id,y\n1,c\n");
  WriteFile(start / "flows/f.yaml",
            "flow: f\nrecipes:\n"
            "  - name: collect_a\n    kind: collect\n    outputs: [a]\n"
            "    params: {path: data/a.csv, format: csv}\n"
            "  - name: collect_b\n    kind: collect\n    outputs: [b]\n"
            "    params: {path: data/b.csv, format: csv}\n");
  ASSERT_EQ(RunPermis(start), "succeeded");
  // b changes: the run reads a's fingerprint and recorded version, and publishes b.
  WriteFile(start / "data/b.csv", "id,y\n1,c\n2,d\n3,e\n");
  const std::map<std::string, int64_t> expected = {{"a", 2}, {"b", 3}};
  int cases = 0, failed = 0;
  for (int n = 1; n < 1000; ++n) {
    const fs::path ws = tmp.path() / fmt::format("ws{}", n);
    fs::copy(start, ws, fs::copy_options::recursive);
    const std::string where = fmt::format("catalog xRead #{} failing with SQLITE_IOERR", n);
    std::string outcome;
    int injected = 0;
    {
      FaultVfs vfs;
      vfs.FailNth(FaultVfs::Op::kRead, n, FaultVfs::Error::kIoErr);
      try {
        outcome = RunPermis(ws);
      } catch (const std::exception& e) {
        ADD_FAILURE() << where << ": an exception escaped from the run: " << e.what();
      }
      injected = vfs.Failures();
    }
    if (injected == 0) break;  // past the run's last read
    ++cases;
    if (outcome != "succeeded") ++failed;
    const auto after = Current(ws, where + " (" + outcome + ")");
    for (const auto& [ds, rows] : after)
      EXPECT_TRUE(rows == expected.at(ds) || (ds == "b" && rows == 1))
          << where << ": " << ds << " has " << rows << " rows, neither the old nor the new";
    EXPECT_EQ(RunPermis(ws), "succeeded") << where << ": the next run";
    EXPECT_EQ(Current(ws, where + ", next run"), expected) << where;
    fs::remove_all(ws);
    if (HasFailure()) return;
  }
  // The run reads the catalog: a few dozen cases, some of them failing the run.
  EXPECT_GT(cases, 5);
  EXPECT_GT(failed, 0);
  std::cout << fmt::format("catalog read faults: {} cases, {} runs failed\n", cases, failed);
}

// Found by the soak (scripts/soak): a daemon's runs failed at publishing with
// "catalog: commit: database is locked" while `alambic serve` recorded token uses
// in the same catalog. A fenced commit (the daemon's: it first reads its lease)
// began as a reader and could not become a writer once another connection had
// committed since its read (SQLite's busy handler cannot help then). Here one
// connection commits fenced batches while another writes without pause: every
// commit must succeed (the writer waits for the other, up to the busy timeout).
TEST(FaultCatalogTest, FencedCommitsWaitForAnotherWriterInsteadOfFailingLocked) {
  TempDir tmp;
  const fs::path db = tmp.path() / "catalog.db";
  auto daemon = Catalog::Open(db);
  auto other = Catalog::Open(db);
  ASSERT_TRUE(daemon.ok() && other.ok());
  auto lease = (*daemon)->AcquireLease("ws", "datalab", "host:1", "2026-06-01T10:00:00.000Z",
                                       "2026-06-01T11:00:00.000Z");
  ASSERT_TRUE(lease.ok()) << lease.status().message();
  (*daemon)->SetFence("ws", "datalab", lease->token);
  RunRecord run;
  run.id = "r1";
  run.flows = "f";
  run.environment = "datalab";
  run.trigger = "schedule";
  run.status = "running";
  run.started_at = "2026-06-01T10:00:00.000Z";
  ASSERT_TRUE((*daemon)->BeginRun(run).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  std::thread writer([&] {
    const FileFingerprint fp{1, 2, 3, std::string(64, 'b')};
    // A write every fraction of a millisecond, as a busy server records token
    // uses; a writer with no pause at all could starve the other connection
    // beyond its busy timeout on a loaded machine, which is not what this tests.
    for (int i = 0; !stop.load(); ++i) {
      if ((*other)->PutFingerprint(fmt::format("f{}", i % 20), fp).ok()) ++writes;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  while (writes.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // Commits for a second, beside the writer.
  int commits = 0, failed = 0;
  std::string first_error;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < until || writes.load() < 10) {
    CatalogBatch b;
    b.environment = "datalab";
    RecipeRunRecord rr;
    rr.run_id = "r1";
    rr.flow = "f";
    rr.recipe = fmt::format("r{}", commits++);
    rr.kind = "collect";
    rr.status = "succeeded";
    b.recipe_runs = {rr};
    Status st = (*daemon)->Commit(b);
    if (!st.ok() && failed++ == 0) first_error = st.message();
  }
  stop = true;
  writer.join();
  EXPECT_EQ(failed, 0) << "of " << commits << " fenced commits beside " << writes.load()
                       << " writes of another connection; the first: " << first_error;
  auto recorded = (*daemon)->RecipeRuns("r1");
  ASSERT_TRUE(recorded.ok());
  EXPECT_EQ(recorded->size(), static_cast<size_t>(commits - failed));
}

}  // namespace
}  // namespace alambic::fault_catalog_test
