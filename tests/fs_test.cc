// The filesystem seam (core/base/fs.h): the real filesystem's operations, an
// atomic write that leaves the old content or the new whatever step fails, and
// the fault-injecting wrapper that fails the Nth operation of a kind.
#include "core/base/fs.h"
#include "catalog/usecase.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include <fmt/format.h>
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
// Whether `dir`'s filesystem takes O_DIRECT writes (tmpfs does not).
bool TakesDirectWrites(const fs::path& dir) {
  const fs::path probe = dir / ".direct-probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_DIRECT | O_CLOEXEC, 0644);
  if (fd >= 0) ::close(fd);
  fs::remove(probe);
  return fd >= 0;
}

// How many of the pages of `path` in [from, to) are in the page cache.
size_t ResidentPages(const fs::path& path, size_t from, size_t to) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  const size_t size = fs::file_size(path), page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  EXPECT_NE(map, MAP_FAILED);
  std::vector<unsigned char> in((size + page - 1) / page);
  EXPECT_EQ(::mincore(map, size, in.data()), 0);
  ::munmap(map, size);
  size_t n = 0;
  for (size_t i = from / page; i < to / page && i < in.size(); ++i) n += in[i] & 1;
  return n;
}

// Large files are written around the page cache past their first MiB (O_DIRECT
// in aligned blocks, the tail through the cache): whatever the sizes of the
// appends, a Sync in the middle, and whether the filesystem takes O_DIRECT
// (the test directory, and one in the working directory, which is not tmpfs in
// CI), the file holds exactly the bytes appended; where O_DIRECT is taken, the
// middle of the file is not left in the page cache.
TEST(FsSeamTest, LargeFilesHoldTheirBytesWrittenAroundThePageCache) {
  TempDir tmp;
  const fs::path local = fs::current_path() / ("fs-direct-" + TempSuffix());
  fs::create_directories(local);
  struct RemoveLocal {
    fs::path p;
    ~RemoveLocal() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } remove_local{local};
  std::mt19937_64 rng(7);
  const size_t mib = size_t{1} << 20;
  for (const fs::path& dir : {tmp.path(), local}) {
    const bool direct = TakesDirectWrites(dir);
    for (const size_t size : {size_t{0}, size_t{100}, mib - 1, mib, mib + 1, mib + 3 * 4096 + 17,
                              4 * mib + 4096, 9 * mib + 123, 13 * mib}) {
      std::string bytes(size, '\0');
      for (auto& c : bytes) c = static_cast<char>(rng());
      const fs::path path = dir / fmt::format("f{}", size);
      auto file = RealFileSystem().NewWritableFile(path);
      ASSERT_TRUE(file.ok()) << file.status().message();
      size_t at = 0;
      bool synced = false;
      while (at < size) {
        // Small and large appends, some of them unaligned.
        size_t n = rng() % 4 == 0 ? rng() % 5000 : rng() % (3 * mib);
        n = std::min(std::max<size_t>(n, 1), size - at);
        ASSERT_TRUE((*file)->Append(std::string_view(bytes).substr(at, n)).ok());
        at += n;
        if (!synced && at > 5 * mib) {
          ASSERT_TRUE((*file)->Sync().ok());
          synced = true;
        }
      }
      ASSERT_TRUE((*file)->Close().ok());
      ASSERT_EQ(fs::file_size(path), size) << path;
      if (direct && size == 13 * mib) {
        // Pages past the first MiB and before the Sync (after which the rest
        // goes through the page cache): none cached.
        EXPECT_EQ(ResidentPages(path, 2 * mib, 5 * mib), 0u) << path;
        EXPECT_GT(ResidentPages(path, 0, mib), 0u) << path;
      }
      EXPECT_TRUE(*RealFileSystem().ReadFile(path) == bytes) << path << " differs";
    }
  }
}

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
