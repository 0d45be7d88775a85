// GitTracksPath on real repositories made with libgit2 in temporary directories:
// tracked (committed or only staged), untracked, ignored, outside any work tree,
// reached through a symlink or "..", and in a nested repository.
#include "core/vcs/git_paths.h"

#include <git2.h>

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace alambic::git_paths_test {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::WriteFile;

class GitPathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    git_libgit2_init();
    ASSERT_EQ(git_repository_init(&repo_, dir_.path().c_str(), 0), 0);
    ASSERT_EQ(git_repository_index(&index_, repo_), 0);
  }
  void TearDown() override {
    git_index_free(index_);
    git_repository_free(repo_);
    git_libgit2_shutdown();
  }
  void Stage(const std::string& rel) {
    ASSERT_EQ(git_index_add_bypath(index_, rel.c_str()), 0) << rel;
    ASSERT_EQ(git_index_write(index_), 0);
  }
  bool Tracks(const fs::path& p) {
    auto r = GitTracksPath(p);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() && *r;
  }
  TempDir dir_;
  git_repository* repo_ = nullptr;
  git_index* index_ = nullptr;
};

TEST_F(GitPathsTest, AStagedFileIsTrackedAnUntrackedOneIsNot) {
  WriteFile(dir_.path() / "keys/staged.key", "a");
  WriteFile(dir_.path() / "keys/loose.key", "b");
  Stage("keys/staged.key");
  EXPECT_TRUE(Tracks(dir_.path() / "keys/staged.key"));
  EXPECT_FALSE(Tracks(dir_.path() / "keys/loose.key"));
  // The same file reached through ".." or a symlink from elsewhere.
  EXPECT_TRUE(Tracks(dir_.path() / "keys/../keys/staged.key"));
  TempDir other;
  fs::create_symlink(dir_.path() / "keys/staged.key", other.path() / "link.key");
  EXPECT_TRUE(Tracks(other.path() / "link.key"));
}

TEST_F(GitPathsTest, IgnoredFilesAndFilesOutsideAnyRepositoryAreNotTracked) {
  WriteFile(dir_.path() / ".gitignore", ".alambic/\n");
  WriteFile(dir_.path() / ".alambic/pseudo_key", "k");
  Stage(".gitignore");
  EXPECT_FALSE(Tracks(dir_.path() / ".alambic/pseudo_key"));
  EXPECT_TRUE(Tracks(dir_.path() / ".gitignore"));
  TempDir outside;
  WriteFile(outside.path() / "key", "k");
  EXPECT_FALSE(Tracks(outside.path() / "key"));
  EXPECT_FALSE(Tracks(outside.path() / "missing"));
}

TEST_F(GitPathsTest, ANestedRepositoryAnswersForItsOwnFiles) {
  WriteFile(dir_.path() / "inner/key", "k");
  git_repository* inner = nullptr;
  ASSERT_EQ(git_repository_init(&inner, (dir_.path() / "inner").c_str(), 0), 0);
  git_index* idx = nullptr;
  ASSERT_EQ(git_repository_index(&idx, inner), 0);
  ASSERT_EQ(git_index_add_bypath(idx, "key"), 0);
  ASSERT_EQ(git_index_write(idx), 0);
  EXPECT_TRUE(Tracks(dir_.path() / "inner/key"));
  git_index_free(idx);
  git_repository_free(inner);
}

}  // namespace
}  // namespace alambic::git_paths_test
