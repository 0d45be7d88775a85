// The dataset store: staged files are invisible until published, and a process
// killed with SIGKILL at any moment of a write leaves the previous version
// readable and no partial file at a published path.
#include "core/store/store.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "catalog/catalog.h"
#include "core/exec/publisher.h"
#include "core/table/arrow_ipc.h"
#include "tests/test_util.h"

namespace alambic::store_test {
namespace {

using testing::TempDir;

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

TEST(DatasetStoreTest, StageIsInvisibleUntilPublish) {
  TempDir dir;
  DatasetStore store(dir.path());
  auto staged = store.Stage("ds", "v1", Numbers(10, 0));
  ASSERT_TRUE(staged.ok()) << staged.status().message();
  EXPECT_FALSE(store.Exists("ds", "v1"));
  EXPECT_TRUE(std::filesystem::exists(staged->temp));
  ASSERT_TRUE(store.Publish({*staged}).ok());
  EXPECT_TRUE(store.Exists("ds", "v1"));
  EXPECT_FALSE(std::filesystem::exists(staged->temp));
  auto t = store.Read("ds", "v1");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->num_rows(), 10);
  EXPECT_EQ(t->column(1)->String(9), "row-9");
}

TEST(DatasetStoreTest, BatchPublishUsesOneSyncAndPublishesAll) {
  TempDir dir;
  DatasetStore store(dir.path());
  std::vector<DatasetStore::Staged> batch;
  for (int i = 0; i < 20; ++i)
    batch.push_back(*store.Stage("d" + std::to_string(i), "v", Numbers(3, i)));
  ASSERT_TRUE(store.Publish(batch).ok());
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(store.Read("d" + std::to_string(i), "v")->column(0)->Int64(0), i);
}

TEST(DatasetStoreTest, ReadOfMissingVersionNamesIt) {
  TempDir dir;
  DatasetStore store(dir.path());
  auto t = store.Read("exams", "0123456789abcdef");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("dataset exams version 0123456789ab"), std::string::npos)
      << t.status().message();
}

TEST(DatasetStoreTest, KillDuringWriteLeavesPreviousVersionAndNoPartialFile) {
  TempDir dir;
  DatasetStore store(dir.path());
  ASSERT_TRUE(store.Publish({*store.Stage("ds", "old", Numbers(1000, 0))}).ok());
  const Table big = Numbers(3'000'000, 7);  // ~70 MB on disk: the write takes a while
  for (int delay_ms : {0, 5, 20, 60, 150}) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      for (int i = 0;; ++i) {  // publish new versions until killed
        auto s = store.Stage("ds", "new" + std::to_string(i), big);
        if (!s.ok() || !store.Publish({*s}).ok()) ::_exit(3);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
    // The previous version is intact.
    auto old = store.Read("ds", "old");
    ASSERT_TRUE(old.ok()) << old.status().message();
    EXPECT_EQ(old->num_rows(), 1000);
    // Every file at a published path is complete.
    for (const auto& e : std::filesystem::directory_iterator(dir.path() / "ds")) {
      auto t = ReadArrowFile(e.path().string());
      ASSERT_TRUE(t.ok()) << e.path() << ": " << t.status().message();
      if (e.path().stem() != "old") {
        EXPECT_EQ(t->num_rows(), 3'000'000);
      }
    }
    store.CleanTemporaries();
    EXPECT_TRUE(std::filesystem::is_empty(dir.path() / ".tmp"));
  }
}

// Holds the publisher's thread in the fsync of the first version it publishes
// (a file named "first.*") until released, so that the items pushed meanwhile
// queue up and are published in one batch.
class GatedFileSystem final : public FileSystemWrapper {
 public:
  using FileSystemWrapper::FileSystemWrapper;
  std::promise<void> entered, release;
  Status SyncFile(const std::filesystem::path& p) override {
    if (p.filename().string().rfind("first.", 0) == 0) {
      entered.set_value();
      release.get_future().wait();
    }
    return FileSystemWrapper::SyncFile(p);
  }
};

// In a child process: a publisher given recipe "first", then, while it
// publishes that one, recipes "a" and "b" (one batch), with
// ALAMBIC_CRASH_AT=`crash_at`. Returns the child's wait status; the child exits
// 0 when all three were published, 3 otherwise.
int PublishThreeRecipes(const std::filesystem::path& dir, const std::string& crash_at) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("ALAMBIC_CRASH_AT", crash_at.c_str(), 1);
    GatedFileSystem fs(RealFileSystem());
    DatasetStore store(dir / crash_at, fs);
    auto catalog = Catalog::OpenInMemory();
    if (!catalog.ok()) ::_exit(3);
    bool ok = true;
    {
      Publisher publisher(store, **catalog, "datalab");
      auto item = [&](const std::string& name) {
        auto staged = store.Stage(name, "v1", Numbers(3, 0));
        ok = ok && staged.ok();
        Publisher::Item it;
        if (staged.ok()) it.staged.push_back(*staged);
        return it;
      };
      Publisher::Item first = item("first"), a = item("a"), b = item("b");
      publisher.Push(std::move(first));
      fs.entered.get_future().wait();
      publisher.Push(std::move(a));
      publisher.Push(std::move(b));
      fs.release.set_value();
      ok = ok && publisher.Close().ok();
    }
    for (const char* name : {"first", "a", "b"}) ok = ok && store.Exists(name, "v1");
    ::_exit(ok ? 0 : 3);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

// ALAMBIC_CRASH_AT=recipe_publishing:N counts recipes, not the publisher's
// batches (whose size depends on timing): the third recipe is reached though
// the second and third are published together.
TEST(PublisherTest, RecipePublishingCrashPointCountsRecipesNotBatches) {
  TempDir dir;
  int status = PublishThreeRecipes(dir.path(), "recipe_publishing:3");
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  status = PublishThreeRecipes(dir.path(), "recipe_publishing:4");
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "three recipes published";
}

}  // namespace
}  // namespace alambic::store_test
