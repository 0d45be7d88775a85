// The filesystem seam (core/base/fs.h): the real filesystem's operations, an
// atomic write that leaves the old content or the new whatever step fails, and
// the fault-injecting wrapper that fails the Nth operation of a kind.
#include "core/base/fs.h"
#include "catalog/usecase.h"

#include <cerrno>
#include <cstring>

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace alambic::fs_test {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::WriteFile;
using Op = FaultyFileSystem::Op;

TEST(FsSeamTest, TheRealFileSystemWritesReadsListsAndRemoves) {
  TempDir dir;
  FileSystem& real = RealFileSystem();
  auto created = real.CreateDirectories(dir.path() / "a/b");
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE(*created);
  EXPECT_FALSE(*real.CreateDirectories(dir.path() / "a/b"));
  ASSERT_TRUE(WriteFileAtomically(real, dir.path() / "a/b/f.txt", "hello").ok());
  EXPECT_EQ(*real.ReadFile(dir.path() / "a/b/f.txt"), "hello");
  EXPECT_EQ(testing::ReadFile(dir.path() / "a/b/f.txt"), "hello");
  auto mapped = real.MapFile(dir.path() / "a/b/f.txt");
  ASSERT_TRUE(mapped.ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>((*mapped)->data()), (*mapped)->size()),
            "hello");
  WriteFile(dir.path() / "a/b/empty", "");
  EXPECT_EQ((*real.MapFile(dir.path() / "a/b/empty"))->size(), 0u);
  EXPECT_EQ(*real.List(dir.path() / "a/b"), (std::vector<std::string>{"empty", "f.txt"}));
  EXPECT_TRUE(real.Exists(dir.path() / "a/b/f.txt"));
  ASSERT_TRUE(real.Remove(dir.path() / "a/b/f.txt").ok());
  EXPECT_FALSE(real.Exists(dir.path() / "a/b/f.txt"));
  EXPECT_TRUE(real.Remove(dir.path() / "a/b/f.txt").ok());  // already gone
  // Missing things are NotFound, naming the path.
  EXPECT_EQ(real.List(dir.path() / "nope").status().code(), StatusCode::kNotFound);
  auto missing = real.ReadFile(dir.path() / "nope.txt");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find((dir.path() / "nope.txt").string()), std::string::npos);
  // A new file must not exist yet.
  auto again = real.NewWritableFile(dir.path() / "a/b/empty");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().message(),
            (dir.path() / "a/b/empty").string() + ": " + std::strerror(EEXIST));
}

// Every step of an atomic write fails in turn: the file keeps its old content,
// no temporary file stays, and the error names the path and the OS error.
TEST(FsSeamTest, AnAtomicWriteFailingAtAnyStepKeepsTheOldContent) {
  TempDir dir;
  const fs::path file = dir.path() / "config.json";
  ASSERT_TRUE(WriteFileAtomically(RealFileSystem(), file, "old").ok());
  FaultyFileSystem faulty(RealFileSystem());
  for (Op op : {Op::kCreate, Op::kWrite, Op::kSync, Op::kClose, Op::kRename}) {
    for (int error : {ENOSPC, EIO}) {
      SCOPED_TRACE(std::string(FaultyFileSystem::OpName(op)) + " " + std::strerror(error));
      faulty.FailNth(op, 1, error);
      Status st = WriteFileAtomically(faulty, file, std::string(100'000, 'n'));
      ASSERT_FALSE(st.ok());
      EXPECT_EQ(st.code(), StatusCode::kIoError);
      EXPECT_NE(st.message().find(dir.path().string()), std::string::npos) << st.message();
      EXPECT_NE(st.message().find(std::string(FaultyFileSystem::OpName(op)) + ": " +
                                  std::strerror(error)),
                std::string::npos)
          << st.message();
      EXPECT_EQ(testing::ReadFile(file), "old");
      EXPECT_EQ(*RealFileSystem().List(dir.path()), std::vector<std::string>{"config.json"});
    }
  }
  // The directory's fsync comes after the rename: the new content is in
  // place, whole, and the failure is still reported.
  faulty.FailNth(Op::kSync, 2, EIO);
  Status st = WriteFileAtomically(faulty, file, "new");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), dir.path().string() + ": fsync: " + std::strerror(EIO));
  EXPECT_EQ(testing::ReadFile(file), "new");
  // No fault: the same write goes through the wrapper unchanged.
  faulty.FailNth(Op::kWrite, 0, 0);
  ASSERT_TRUE(WriteFileAtomically(faulty, file, "newer").ok());
  EXPECT_EQ(testing::ReadFile(file), "newer");
  EXPECT_EQ(faulty.Count(Op::kCreate), 1);
  EXPECT_EQ(faulty.Count(Op::kSync), 2);  // the file, then the directory
  EXPECT_EQ(faulty.Count(Op::kRename), 1);
}

// A failed write lands part of its data (as a full disk does), and only the
// Nth operation fails: the ones before and after go through.
TEST(FsSeamTest, TheFaultyWrapperFailsOnlyTheNthOperation) {
  TempDir dir;
  FaultyFileSystem faulty(RealFileSystem());
  faulty.FailNth(Op::kWrite, 2, ENOSPC);
  auto file = faulty.NewWritableFile(dir.path() / "f");
  ASSERT_TRUE(file.ok());
  EXPECT_TRUE((*file)->Append("aaaa").ok());
  Status second = (*file)->Append("bbbb");
  EXPECT_EQ(second.message(), (dir.path() / "f").string() + ": write: " + std::strerror(ENOSPC));
  EXPECT_TRUE((*file)->Append("cc").ok());
  EXPECT_TRUE((*file)->Close().ok());
  EXPECT_EQ(testing::ReadFile(dir.path() / "f"), "aaaabbcc");
  EXPECT_EQ(faulty.Count(Op::kWrite), 3);
  EXPECT_EQ(faulty.Failures(), 1);
}

// The catalog's use-case cards are read through the seam: a card that cannot
// be read is a diagnostic naming it, and the others still load.
TEST(FsSeamTest, UseCaseCardsAreReadThroughTheFileSystem) {
  TempDir dir;
  WriteFile(dir.path() / "usecases/a.yaml", "usecase: a\ntitle: A\nowner: o\nstatus: idea\n");
  WriteFile(dir.path() / "usecases/b.yaml", "usecase: b\ntitle: B\nowner: o\nstatus: idea\n");
  fs::create_directories(dir.path() / "usecases/c.yaml");  // a folder, not a card
  FaultyFileSystem faulty(RealFileSystem());
  faulty.FailNth(Op::kRead, 2, EIO);
  LoadedUseCases l = LoadUseCases(dir.path(), faulty);
  ASSERT_EQ(l.cards.size(), 1u);
  EXPECT_EQ(l.cards[0].id, "a");
  ASSERT_EQ(l.diagnostics.size(), 1u);
  EXPECT_EQ(l.diagnostics[0].ToString(), "usecases/b.yaml: cannot read the file");
  EXPECT_EQ(faulty.Count(Op::kRead), 2);
  faulty.FailNth(Op::kRead, 0, 0);
  EXPECT_EQ(LoadUseCases(dir.path(), faulty).cards.size(), 2u);
}

}  // namespace
}  // namespace alambic::fs_test
