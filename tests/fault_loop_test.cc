// Fault loops over a whole run of the permis example (examples/permis: 12
// recipes, 20,000 exams), which re-runs after its exams extract changed, so that
// every output gets a new version on top of an old one.
//
// - Filesystem: through the store's FileSystem seam (core/base/fs.h), for each
//   N the Nth write, fsync, rename and read of the run fails with ENOSPC and
//   with EIO.
// - SQLite: through a test VFS (tests/fault_vfs.h) under the catalog, for
//   each N the Nth xWrite, xSync, xRead and xTruncate fails with SQLITE_IOERR
//   and with SQLITE_FULL.
//
// After each faulted run: PRAGMA integrity_check is ok; the catalog is all-old
// or all-new (each current version is the old run's or the undisturbed new
// run's, byte for byte, and each recipe's recorded outputs are the current
// versions); every version the catalog references is readable, has the rows
// and bytes the catalog says and the content hash of the undisturbed run's (or
// the old run's) version; no temporary file is left; and the next undisturbed
// run succeeds with outputs identical to those of an undisturbed run.
//
// By default a stride over N (a few seconds); ALAMBIC_FAULTS_LONG=1 runs every
// N (scripts/fault-loops, docs/reliability.md).
#include <cerrno>
#include <cstring>
#include <iostream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/base/fs.h"
#include "tests/fault_harness.h"
#include "tests/fault_vfs.h"
#include "tests/test_util.h"

namespace alambic::fault_loop_test {
namespace {

namespace fs = std::filesystem;
using namespace testing::fault_harness;
using testing::FaultVfs;
using testing::TempDir;

TEST(FaultLoopTest, PermisRunSurvivesEveryFailedFileOperation) {
  GetBaseline();
  using Op = FaultyFileSystem::Op;
  LoopFigures figures;
  FaultyFileSystem faulty(RealFileSystem());
  for (Op op : {Op::kWrite, Op::kSync, Op::kRename, Op::kRead}) {
    if (LongLoop() && !OpSelected(FaultyFileSystem::OpName(op))) continue;
    // How many there are in an undisturbed run from the same start.
    faulty.FailNth(op, 0, 0);
    {
      TempDir tmp;
      fs::copy(GetBaseline().start(), tmp.path() / "ws", fs::copy_options::recursive);
      ASSERT_EQ(RunPermis(tmp.path() / "ws", &faulty), "succeeded");
    }
    const int total = faulty.Count(op);
    EXPECT_GT(total, 0) << FaultyFileSystem::OpName(op);
    for (int error : {ENOSPC, EIO})
      for (int n : Ns(total, error == EIO)) {
        const std::string where =
            fmt::format("{} #{} of {} failing with {}", FaultyFileSystem::OpName(op), n, total,
                        std::strerror(error));
        const bool injected = FaultCase(
            where,
            [&](const fs::path& ws) {
              faulty.FailNth(op, n, error);
              return RunPermis(ws, &faulty);
            },
            [&] { return faulty.Failures(); }, &figures);
        (void)injected;
        if (HasFailure()) return;
      }
  }
  EXPECT_GT(figures.injected, figures.cases / 2);
  std::cout << fmt::format("filesystem fault loop: {} cases, {} faults injected, {} runs failed\n",
                           figures.cases, figures.injected, figures.failed_runs);
}

TEST(FaultLoopTest, PermisRunSurvivesEveryFailedSqliteOperation) {
  GetBaseline();
  using Op = FaultVfs::Op;
  LoopFigures figures;
  for (Op op : {Op::kWrite, Op::kSync, Op::kRead, Op::kTruncate}) {
    if (LongLoop() && !OpSelected(FaultVfs::OpName(op))) continue;
    int total = 0;
    {
      FaultVfs vfs;
      vfs.FailNth(op, 0, FaultVfs::Error::kIoErr);
      TempDir tmp;
      fs::copy(GetBaseline().start(), tmp.path() / "ws", fs::copy_options::recursive);
      ASSERT_EQ(RunPermis(tmp.path() / "ws"), "succeeded");
      total = vfs.Count(op);
    }
    if (op != Op::kTruncate) {
      EXPECT_GT(total, 0) << FaultVfs::OpName(op);
    }
    for (auto error : {FaultVfs::Error::kIoErr, FaultVfs::Error::kFull})
      for (int n : Ns(total, error == FaultVfs::Error::kFull)) {
        const std::string where =
            fmt::format("{} #{} of {} failing with {}", FaultVfs::OpName(op), n, total,
                        error == FaultVfs::Error::kFull ? "SQLITE_FULL" : "SQLITE_IOERR");
        int failures = 0;
        const bool injected = FaultCase(
            where,
            [&](const fs::path& ws) {
              FaultVfs vfs;  // only for the faulted run
              vfs.FailNth(op, n, error);
              std::string outcome = RunPermis(ws);
              failures = vfs.Failures();
              return outcome;
            },
            [&] { return failures; }, &figures, /*settled=*/false);
        (void)injected;
        if (HasFailure()) return;
      }
  }
  EXPECT_GT(figures.injected, figures.cases / 2);
  std::cout << fmt::format("SQLite fault loop: {} cases, {} faults injected, {} runs failed\n",
                           figures.cases, figures.injected, figures.failed_runs);
}

}  // namespace
}  // namespace alambic::fault_loop_test
