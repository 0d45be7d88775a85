// The dataset store on a filesystem that fails (core/base/fs.h's
// FaultyFileSystem): each write, fsync, rename, mkdir, create or close of a
// publication fails in turn, with ENOSPC or EIO. Every time the previous
// version stays intact and readable, no file at a published path is partial,
// nothing staged stays behind once discarded, the error names the path, and
// the store works again afterwards. The same scenario passes on the real
// filesystem.
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/base/fs.h"
#include "core/store/store.h"
#include "core/table/arrow_ipc.h"
#include "tests/test_util.h"

namespace alambic::store_fault_test {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using Op = FaultyFileSystem::Op;

Table Numbers(int64_t n, int64_t offset) {
  ColumnBuilder a(TypeId::kInt64), s(TypeId::kUtf8);
  a.Reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    a.AppendInt64(i + offset);
    s.AppendString("row-" + std::to_string(i + offset));
  }
  return *Table::Make(Schema{{{"id", TypeId::kInt64}, {"label", TypeId::kUtf8}}},
                      {a.Finish(), s.Finish()});
}

// Stages `count` new versions of datasets d0..d<count-1> and publishes them as
// one batch, discarding what was staged on failure (as the runner does).
Status PublishBatch(const DatasetStore& store, int count, const std::string& version,
                    const Table& table) {
  std::vector<DatasetStore::Staged> staged;
  Status st;
  for (int i = 0; i < count && st.ok(); ++i) {
    auto s = store.Stage("d" + std::to_string(i), version, table);
    if (s.ok())
      staged.push_back(*s);
    else
      st = s.status();
  }
  if (st.ok()) st = store.Publish(staged);
  if (!st.ok())
    for (const auto& s : staged) store.Discard(s);
  return st;
}

// What must hold after an attempt to publish `version`, failed or not: the
// previous version "v1" of each dataset reads whole (as `table`), a file at
// the attempt's published path is complete, and nothing staged stays in .tmp.
void ExpectNothingLost(const fs::path& root, int count, const std::string& version,
                       const Table& table) {
  DatasetStore reader(root);  // the real filesystem
  const int64_t last = table.num_rows() - 1;
  for (int i = 0; i < count; ++i) {
    const std::string ds = "d" + std::to_string(i);
    auto old = reader.Read(ds, "v1");
    ASSERT_TRUE(old.ok()) << old.status().message();
    EXPECT_EQ(old->num_rows(), table.num_rows());
    EXPECT_EQ(old->column(1)->String(last), table.column(1)->String(last));
    if (!reader.Exists(ds, version)) continue;
    auto t = ReadArrowFile(reader.PathFor(ds, version).string());
    ASSERT_TRUE(t.ok()) << ds << "/" << version << ": " << t.status().message();
    EXPECT_EQ(t->num_rows(), table.num_rows()) << ds << "/" << version;
  }
  EXPECT_TRUE(fs::is_empty(root / ".tmp"));
}

// For each kind of operation and each of its occurrences in a publication of
// `count` datasets of `rows` rows, fails that one; returns how many
// publications failed.
int FailEachStep(int count, int64_t rows) {
  TempDir dir;
  FaultyFileSystem faulty(RealFileSystem());
  DatasetStore store(dir.path(), faulty);
  const Table table = Numbers(rows, 0);
  EXPECT_TRUE(PublishBatch(store, count, "v1", table).ok());
  int failed = 0, attempt = 0;
  for (Op op : {Op::kMkdir, Op::kCreate, Op::kWrite, Op::kClose, Op::kSync, Op::kRename}) {
    for (int n = 1;; ++n) {
      const int error = n % 2 ? ENOSPC : EIO;
      SCOPED_TRACE(fmt::format("{} #{} of {}", FaultyFileSystem::OpName(op), n, count));
      faulty.FailNth(op, n, error);
      const std::string version = "v" + std::to_string(2 + attempt++);
      Status st = PublishBatch(store, count, version, table);
      if (faulty.Failures() == 0) {  // fewer than n such operations: all went through
        EXPECT_TRUE(st.ok()) << st.message();
        ExpectNothingLost(dir.path(), count, version, table);
        break;
      }
      ++failed;
      EXPECT_FALSE(st.ok());
      EXPECT_EQ(st.code(), StatusCode::kIoError);
      EXPECT_NE(st.message().find(dir.path().string()), std::string::npos) << st.message();
      EXPECT_NE(st.message().find(std::string(FaultyFileSystem::OpName(op)) + ": " +
                                  std::strerror(error)),
                std::string::npos)
          << st.message();
      ExpectNothingLost(dir.path(), count, version, table);
    }
  }
  // Afterwards the store publishes as usual.
  faulty.FailNth(Op::kWrite, 0, 0);
  EXPECT_TRUE(PublishBatch(store, count, "last", table).ok());
  DatasetStore reader(dir.path());
  for (int i = 0; i < count; ++i)
    EXPECT_EQ(reader.Read("d" + std::to_string(i), "last")->num_rows(), rows);
  return failed;
}

// About 2 MB: three buffered writes. mkdir 2 (.tmp, the dataset's),
// create 1, write 3, close 1, fsync 2 (the file, the dataset's directory),
// rename 1.
TEST(StoreFaultTest, AFailureAtAnyStepOfOnePublicationLosesNothing) {
  EXPECT_EQ(FailEachStep(1, 100'000), 10);
}

// Eight files or more: one syncfs before the renames and one after. mkdir 16
// (.tmp at each Stage(), then each dataset's directory), create 8, write 8,
// close 8, fsync 2, rename 8.
TEST(StoreFaultTest, AFailureAtAnyStepOfABatchLosesNothing) {
  EXPECT_EQ(FailEachStep(8, 1'000), 50);
}

TEST(StoreFaultTest, AFailedReadNamesTheVersionAndThePath) {
  TempDir dir;
  FaultyFileSystem faulty(RealFileSystem());
  DatasetStore store(dir.path(), faulty);
  ASSERT_TRUE(PublishBatch(store, 1, "v1", Numbers(10, 0)).ok());
  faulty.FailNth(Op::kRead, 1, EIO);
  auto t = store.Read("d0", "v1");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(),
            "dataset d0 version v1: " + (dir.path() / "d0/v1.arrow").string() +
                ": read: " + std::strerror(EIO));
  EXPECT_EQ(store.Read("d0", "v1")->num_rows(), 10);
}

// The scenario without faults, on the real filesystem itself: publications
// of one and of eight datasets, the previous versions kept.
TEST(StoreFaultTest, TheRealFileSystemPassesTheSameChecks) {
  for (int count : {1, 8}) {
    TempDir dir;
    DatasetStore store(dir.path());
    const Table table = Numbers(100'000, 0);
    ASSERT_TRUE(PublishBatch(store, count, "v1", table).ok());
    ASSERT_TRUE(PublishBatch(store, count, "v2", table).ok());
    ExpectNothingLost(dir.path(), count, "v2", table);
    EXPECT_EQ(store.CleanTemporaries(), 0);
  }
}

}  // namespace
}  // namespace alambic::store_fault_test
