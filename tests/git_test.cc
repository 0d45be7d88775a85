// core/vcs/git.h on real repositories made with libgit2 and the git command
// line in temporary directories: revisions, files at a commit, uncommitted
// paths, first-parent log, release tags, and a checkout into another directory
// that leaves the source repository untouched.
#include "core/vcs/git.h"

#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/git_test_util.h"
#include "tests/test_util.h"

namespace alambic::git_test {
namespace {

namespace fs = std::filesystem;
using testing::CommitAll;
using ::testing::ElementsAre;
using testing::Git;
using ::testing::IsEmpty;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

// Every file under `dir` (but .git) with its content: a working tree's state.
std::map<std::string, std::string> Snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
       ++it) {
    if (it->path().filename() == ".git") {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file())
      files[fs::relative(it->path(), dir).generic_string()] = ReadFile(it->path());
  }
  return files;
}

class GitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = tmp_.path() / "repo";
    fs::create_directories(repo_);
    Git(repo_, "init -q");
  }
  TempDir tmp_;
  fs::path repo_;
};

TEST_F(GitTest, ResolveRevisionAcceptsIdsHeadBranchesAndTags) {
  WriteFile(repo_ / "alambic.yaml", "name: w\n");
  const std::string c1 = CommitAll(repo_, "first");
  Git(repo_, "tag light");
  Git(repo_, "tag -a -m 'annotated' rel/1");
  WriteFile(repo_ / "alambic.yaml", "name: w2\n");
  const std::string c2 = CommitAll(repo_, "second");

  for (const auto& [rev, want] :
       std::vector<std::pair<std::string, std::string>>{{c1, c1},
                                                        {c1.substr(0, 7), c1},
                                                        {"HEAD", c2},
                                                        {"HEAD~1", c1},
                                                        {"main", c2},
                                                        {"light", c1},
                                                        {"rel/1", c1}}) {
    auto r = GitResolveRevision(repo_, rev);
    ASSERT_TRUE(r.ok()) << rev << ": " << r.status().message();
    EXPECT_EQ(*r, want) << rev;
  }
}

TEST_F(GitTest, ResolveRevisionRefusesWhatNamesNoCommit) {
  WriteFile(repo_ / "alambic.yaml", "name: w\n");
  CommitAll(repo_, "first");
  for (const std::string rev : {"nope", "", "HEAD:alambic.yaml", "HEAD~5"}) {
    auto r = GitResolveRevision(repo_, rev);
    ASSERT_FALSE(r.ok()) << rev;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
    EXPECT_EQ(r.status().message(), "unknown revision '" + rev + "'");
  }
}

TEST_F(GitTest, ADirectoryOutsideAnyRepositoryIsNotFound) {
  const fs::path lone = tmp_.path() / "lone";
  fs::create_directories(lone);
  auto r = GitResolveRevision(lone, "HEAD");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(),
            fs::weakly_canonical(lone).string() + " is not in a git repository");
}

TEST_F(GitTest, ReadFileAtReturnsTheContentOfThatCommit) {
  WriteFile(repo_ / "recipes" / "rate.sql", "select 1\n");
  const std::string c1 = CommitAll(repo_, "first");
  WriteFile(repo_ / "recipes" / "rate.sql", "select 2\n");
  CommitAll(repo_, "second");
  WriteFile(repo_ / "recipes" / "rate.sql", "select 3\n");  // not committed

  auto old = GitReadFileAt(repo_, c1, "recipes/rate.sql");
  ASSERT_TRUE(old.ok()) << old.status().message();
  EXPECT_EQ(*old, "select 1\n");
  auto head = GitReadFileAt(repo_, "HEAD", "./recipes//rate.sql");
  ASSERT_TRUE(head.ok()) << head.status().message();
  EXPECT_EQ(*head, "select 2\n");
}

TEST_F(GitTest, ReadFileAtReportsMissingFilesDirectoriesAndBadPaths) {
  WriteFile(repo_ / "recipes" / "rate.sql", "select 1\n");
  const std::string c1 = CommitAll(repo_, "first");
  const std::string short_id = c1.substr(0, 7);

  auto missing = GitReadFileAt(repo_, c1, "recipes/gone.sql");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "recipes/gone.sql does not exist in commit " + short_id);

  auto dir = GitReadFileAt(repo_, c1, "recipes");
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().message(), "recipes is a directory in commit " + short_id);

  auto outside = GitReadFileAt(repo_, c1, "../secret");
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(outside.status().message(), "path '../secret' is outside the workspace");

  auto bad_rev = GitReadFileAt(repo_, "nope", "recipes/rate.sql");
  ASSERT_FALSE(bad_rev.ok());
  EXPECT_EQ(bad_rev.status().message(), "unknown revision 'nope'");
}

TEST_F(GitTest, ListFilesAtListsTheFilesOfThatCommitUnderAPrefix) {
  WriteFile(repo_ / "alambic.yaml", "name: w\n");
  WriteFile(repo_ / "flows" / "b.yaml", "flow: b\n");
  WriteFile(repo_ / "flows" / "a.yaml", "flow: a\n");
  WriteFile(repo_ / "flows" / "old" / "c.yaml", "flow: c\n");
  WriteFile(repo_ / "flowsheet.txt", "x\n");
  const std::string c1 = CommitAll(repo_, "first");
  WriteFile(repo_ / "flows" / "d.yaml", "flow: d\n");
  CommitAll(repo_, "second");

  auto flows = GitListFilesAt(repo_, c1, "flows/");
  ASSERT_TRUE(flows.ok()) << flows.status().message();
  EXPECT_THAT(*flows, ElementsAre("flows/a.yaml", "flows/b.yaml", "flows/old/c.yaml"));
  auto all = GitListFilesAt(repo_, c1, "");
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(*all, ElementsAre("alambic.yaml", "flows/a.yaml", "flows/b.yaml", "flows/old/c.yaml",
                                "flowsheet.txt"));
  auto head = GitListFilesAt(repo_, "HEAD", "flows/d");
  ASSERT_TRUE(head.ok());
  EXPECT_THAT(*head, ElementsAre("flows/d.yaml"));
  auto none = GitListFilesAt(repo_, c1, "recipes/");
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(*none, IsEmpty());
  EXPECT_EQ(GitListFilesAt(repo_, "nope", "").status().message(), "unknown revision 'nope'");
}

TEST_F(GitTest, UncommittedPathsFindsChangedNewAndUntrackedButNotIgnoredFiles) {
  WriteFile(repo_ / ".gitignore", ".alambic/\n*.tmp\n");
  WriteFile(repo_ / "alambic.yaml", "name: w\n");
  WriteFile(repo_ / "flows" / "a.yaml", "flow: a\n");
  WriteFile(repo_ / "flows" / "b.yaml", "flow: b\n");
  WriteFile(repo_ / "recipes" / "gone.sql", "select 1\n");
  WriteFile(repo_ / "recipes" / "kept.sql", "select 1\n");
  CommitAll(repo_, "first");

  WriteFile(repo_ / "flows" / "a.yaml", "flow: a2\n");  // modified in the working tree
  WriteFile(repo_ / "flows" / "c.yaml", "flow: c\n");   // new, staged
  Git(repo_, "add flows/c.yaml");
  fs::remove(repo_ / "recipes" / "gone.sql");                // deleted
  WriteFile(repo_ / "recipes" / "new" / "x.lua", "-- x\n");  // untracked, in an untracked dir
  WriteFile(repo_ / "data.tmp", "ignored\n");                // ignored
  WriteFile(repo_ / ".alambic" / "catalog.db", "ignored\n");

  auto r = GitUncommittedPaths(
      repo_, {"recipes/new", "alambic.yaml", "flows/c.yaml", "flows/a.yaml", "flows/b.yaml",
              "recipes/gone.sql", "recipes/kept.sql", "data.tmp", ".alambic", "recipes/new/x.lua",
              "flows", "missing.txt"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_THAT(*r, ElementsAre("recipes/new", "flows/c.yaml", "flows/a.yaml", "recipes/gone.sql",
                              "recipes/new/x.lua", "flows"));

  auto whole = GitUncommittedPaths(repo_, {"."});
  ASSERT_TRUE(whole.ok());
  EXPECT_THAT(*whole, ElementsAre("."));
  Git(repo_, "add -A");
  Git(repo_, "commit -q -m second");
  auto clean = GitUncommittedPaths(repo_, {".", "flows", "alambic.yaml"});
  ASSERT_TRUE(clean.ok());
  EXPECT_THAT(*clean, IsEmpty());
  EXPECT_EQ(GitUncommittedPaths(repo_, {"/etc/passwd"}).status().message(),
            "path '/etc/passwd' is outside the workspace");
}

TEST_F(GitTest, LogListsFirstParentCommitsThatChangedThePathsNewestFirst) {
  WriteFile(repo_ / "alambic.yaml", "name: w\n");
  const std::string c1 = CommitAll(repo_, "Create workspace", "2024-05-01T10:00:00Z");
  WriteFile(repo_ / "recipes" / "a.sql", "select 1\n");
  const std::string c2 = CommitAll(repo_, "Add a.sql\n\nWith a body.\n", "2024-05-02T10:00:00Z");
  WriteFile(repo_ / "data" / "x.csv", "x\n1\n");
  CommitAll(repo_, "Data only");
  Git(repo_, "checkout -q -b side");
  WriteFile(repo_ / "recipes" / "a.sql", "select 2\n");
  const std::string side = CommitAll(repo_, "On the side");
  Git(repo_, "checkout -q main");
  Git(repo_, "merge -q --no-ff -m 'Merge side' side");
  const std::string merge = Git(repo_, "rev-parse HEAD");
  WriteFile(repo_ / "alambic.yaml", "name: w2\n");
  const std::string c5 = CommitAll(repo_, "Rename workspace");

  auto log = GitLog(repo_, {"alambic.yaml", "recipes"}, 0);
  ASSERT_TRUE(log.ok()) << log.status().message();
  ASSERT_EQ(log->size(), 4u);
  EXPECT_EQ((*log)[0].id, c5);
  EXPECT_THAT((*log)[0].paths, ElementsAre("alambic.yaml"));
  EXPECT_EQ((*log)[1].id, merge);  // the side commit itself is not first-parent history
  EXPECT_THAT((*log)[1].paths, ElementsAre("recipes"));
  EXPECT_EQ((*log)[2].id, c2);
  EXPECT_EQ((*log)[2].summary, "Add a.sql");
  EXPECT_EQ((*log)[2].message, "Add a.sql\n\nWith a body.");
  EXPECT_EQ((*log)[2].author, "Test User");
  EXPECT_EQ((*log)[2].email, "test@example.org");
  EXPECT_EQ((*log)[2].time, 1714644000);
  EXPECT_EQ((*log)[3].id, c1);  // the root commit: the path exists
  EXPECT_THAT((*log)[3].paths, ElementsAre("alambic.yaml"));
  for (const auto& c : *log) EXPECT_NE(c.id, side);

  auto limited = GitLog(repo_, {"recipes/a.sql"}, 1);
  ASSERT_TRUE(limited.ok());
  ASSERT_EQ(limited->size(), 1u);
  EXPECT_EQ((*limited)[0].id, merge);

  auto everything = GitLog(repo_, {}, 0);
  ASSERT_TRUE(everything.ok());
  EXPECT_EQ(everything->size(), 5u);  // every first-parent commit changed the workspace
  EXPECT_THAT((*everything)[0].paths, IsEmpty());
}

TEST_F(GitTest, LogOfARepositoryWithoutCommitsIsEmpty) {
  auto log = GitLog(repo_, {"alambic.yaml"}, 0);
  ASSERT_TRUE(log.ok()) << log.status().message();
  EXPECT_THAT(*log, IsEmpty());
}

TEST_F(GitTest, CreateAnnotatedTagRecordsTaggerAndMessageAndNeverMovesATag) {
  Git(repo_, "config user.name 'Release Bot'");
  Git(repo_, "config user.email bot@example.org");
  WriteFile(repo_ / "alambic.yaml", "name: w\n");
  const std::string c1 = CommitAll(repo_, "first");
  WriteFile(repo_ / "alambic.yaml", "name: w2\n");
  const std::string c2 = CommitAll(repo_, "second");

  ASSERT_TRUE(GitCreateAnnotatedTag(repo_, "release/permis/1", c1, "Promote permis").ok());
  EXPECT_EQ(Git(repo_, "rev-parse release/permis/1^{commit}"), c1);
  EXPECT_EQ(Git(repo_, "cat-file -t release/permis/1"), "tag");
  EXPECT_EQ(Git(repo_,
                "tag -l --format='%(taggername) %(taggeremail) %(contents)' "
                "release/permis/1"),
            "Release Bot <bot@example.org> Promote permis");

  Status again = GitCreateAnnotatedTag(repo_, "release/permis/1", c2, "Again");
  EXPECT_EQ(again.code(), StatusCode::kInvalid);
  EXPECT_EQ(again.message(), "tag release/permis/1 already exists");
  EXPECT_EQ(Git(repo_, "rev-parse release/permis/1^{commit}"), c1);

  Git(repo_, "tag light");
  EXPECT_EQ(GitCreateAnnotatedTag(repo_, "light", c2, "x").message(), "tag light already exists");
  EXPECT_EQ(GitCreateAnnotatedTag(repo_, "bad..name", c2, "x").message(),
            "invalid tag name 'bad..name'");
  EXPECT_EQ(GitCreateAnnotatedTag(repo_, "release/permis/2", "nope", "x").message(),
            "unknown revision 'nope'");
}

TEST_F(GitTest, ListTagsSortsNumbersAsNumbersAndKeepsThePrefix) {
  WriteFile(repo_ / "alambic.yaml", "name: w\n");
  const std::string c1 = CommitAll(repo_, "first", "2024-05-01T10:00:00Z");
  for (const char* n : {"10", "9", "1", "11", "2"})
    ASSERT_TRUE(
        GitCreateAnnotatedTag(repo_, std::string("release/permis/") + n, c1, std::string("v") + n)
            .ok());
  Git(repo_, "tag release/permis/3");  // lightweight
  ASSERT_TRUE(GitCreateAnnotatedTag(repo_, "release/other/1", c1, "other").ok());

  auto tags = GitListTags(repo_, "release/permis/");
  ASSERT_TRUE(tags.ok()) << tags.status().message();
  std::vector<std::string> names;
  for (const auto& t : *tags) names.push_back(t.name);
  EXPECT_THAT(names, ElementsAre("release/permis/1", "release/permis/2", "release/permis/3",
                                 "release/permis/9", "release/permis/10", "release/permis/11"));
  for (const auto& t : *tags) EXPECT_EQ(t.commit, c1) << t.name;
  EXPECT_EQ((*tags)[0].message, "v1");
  EXPECT_FALSE((*tags)[0].tagger.empty());
  EXPECT_GT((*tags)[0].time, 0);
  EXPECT_EQ((*tags)[2].tagger, "");  // lightweight: no tagger, its commit's time
  EXPECT_EQ((*tags)[2].message, "");
  EXPECT_EQ((*tags)[2].time, 1714557600);

  auto none = GitListTags(repo_, "release/nope/");
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(*none, IsEmpty());
}

// A workspace at the root of its repository, two commits: the second deletes
// recipes/b.sql and adds recipes/c.sql.
class CheckoutTest : public GitTest {
 protected:
  void SetUp() override {
    GitTest::SetUp();
    WriteFile(repo_ / ".gitignore", ".alambic/\n");
    WriteFile(repo_ / "alambic.yaml", "name: w\n");
    WriteFile(repo_ / "recipes" / "a.sql", "select 'a1'\n");
    WriteFile(repo_ / "recipes" / "b.sql", "select 'b'\n");
    c1_ = CommitAll(repo_, "first");
    fs::remove(repo_ / "recipes" / "b.sql");
    WriteFile(repo_ / "recipes" / "a.sql", "select 'a2'\n");
    WriteFile(repo_ / "recipes" / "c.sql", "select 'c'\n");
    c2_ = CommitAll(repo_, "second");
    // The source's own uncommitted state, which a checkout must neither take nor touch.
    WriteFile(repo_ / "recipes" / "a.sql", "select 'dirty'\n");
    WriteFile(repo_ / "untracked.txt", "mine\n");
    WriteFile(repo_ / ".alambic" / "catalog.db", "lab\n");
    dest_ = tmp_.path() / "warehouse" / "checkout";
  }
  std::string c1_, c2_;
  fs::path dest_;
};

TEST_F(CheckoutTest, ASecondCheckoutRemovesDeletedFilesAndLeavesTheSourceUntouched) {
  const auto source_files = Snapshot(repo_);
  const std::string source_status = Git(repo_, "status --porcelain");
  const std::string source_head = Git(repo_, "rev-parse HEAD");
  const std::string source_refs = Git(repo_, "show-ref");

  auto root = GitCheckoutInto(repo_, dest_, c1_);
  ASSERT_TRUE(root.ok()) << root.status().message();
  EXPECT_EQ(*root, fs::weakly_canonical(dest_));
  EXPECT_EQ(ReadFile(dest_ / "recipes" / "a.sql"), "select 'a1'\n");
  EXPECT_EQ(ReadFile(dest_ / "recipes" / "b.sql"), "select 'b'\n");
  EXPECT_FALSE(fs::exists(dest_ / "recipes" / "c.sql"));
  EXPECT_FALSE(fs::exists(dest_ / "untracked.txt"));
  EXPECT_EQ(Git(dest_, "rev-parse HEAD"), c1_);

  // State the warehouse keeps in the checkout (ignored) survives; stray and
  // modified files do not.
  WriteFile(dest_ / ".alambic" / "store" / "v1.arrow", "data");
  WriteFile(dest_ / "stray.txt", "stray\n");
  WriteFile(dest_ / "recipes" / "a.sql", "select 'edited in the checkout'\n");

  auto again = GitCheckoutInto(repo_, dest_, c2_);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(*again, *root);
  EXPECT_EQ(ReadFile(dest_ / "recipes" / "a.sql"), "select 'a2'\n");
  EXPECT_FALSE(fs::exists(dest_ / "recipes" / "b.sql"));
  EXPECT_EQ(ReadFile(dest_ / "recipes" / "c.sql"), "select 'c'\n");
  EXPECT_FALSE(fs::exists(dest_ / "stray.txt"));
  EXPECT_EQ(ReadFile(dest_ / ".alambic" / "store" / "v1.arrow"), "data");
  EXPECT_EQ(Git(dest_, "rev-parse HEAD"), c2_);
  EXPECT_EQ(Git(dest_, "rev-parse --abbrev-ref HEAD"), "HEAD");  // detached
  EXPECT_EQ(Git(dest_, "status --porcelain"), "");

  EXPECT_EQ(Snapshot(repo_), source_files);
  EXPECT_EQ(Git(repo_, "status --porcelain"), source_status);
  EXPECT_EQ(Git(repo_, "rev-parse HEAD"), source_head);
  EXPECT_EQ(Git(repo_, "rev-parse --abbrev-ref HEAD"), "main");
  EXPECT_EQ(Git(repo_, "show-ref"), source_refs);
}

TEST_F(CheckoutTest, ACheckoutInTheSourcesIgnoredStateDirectoryLeavesItsStatusClean) {
  const std::string source_status = Git(repo_, "status --porcelain");
  const fs::path inside = repo_ / ".alambic" / "warehouse" / "checkout";
  auto root = GitCheckoutInto(repo_, inside, c2_);
  ASSERT_TRUE(root.ok()) << root.status().message();
  EXPECT_EQ(ReadFile(inside / "recipes" / "a.sql"), "select 'a2'\n");
  ASSERT_TRUE(GitCheckoutInto(repo_, inside, c1_).ok());
  EXPECT_EQ(ReadFile(inside / "recipes" / "b.sql"), "select 'b'\n");
  EXPECT_EQ(Git(repo_, "status --porcelain"), source_status);
  EXPECT_EQ(ReadFile(repo_ / "recipes" / "a.sql"), "select 'dirty'\n");
}

TEST_F(CheckoutTest, ALaterCommitIsFetchedIntoTheExistingClone) {
  ASSERT_TRUE(GitCheckoutInto(repo_, dest_, c1_).ok());
  WriteFile(repo_ / "recipes" / "d.sql", "select 'd'\n");
  Git(repo_, "add recipes/d.sql");
  Git(repo_, "commit -q -m third");
  const std::string c3 = Git(repo_, "rev-parse HEAD");
  auto root = GitCheckoutInto(repo_, dest_, "HEAD");
  ASSERT_TRUE(root.ok()) << root.status().message();
  EXPECT_EQ(Git(dest_, "rev-parse HEAD"), c3);
  EXPECT_EQ(ReadFile(dest_ / "recipes" / "d.sql"), "select 'd'\n");
}

TEST_F(CheckoutTest, ACommitNoBranchTagOrHeadReachesIsNotFound) {
  ASSERT_TRUE(GitCheckoutInto(repo_, dest_, c1_).ok());
  Git(repo_, "commit -q --allow-empty -m dangling");
  const std::string dangling = Git(repo_, "rev-parse HEAD");
  Git(repo_, "reset -q --soft HEAD~1");
  auto r = GitCheckoutInto(repo_, dest_, dangling);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "commit " + dangling.substr(0, 7) +
                                      " is not reachable from a branch, a tag or HEAD of " +
                                      fs::weakly_canonical(repo_).string());
  EXPECT_EQ(Git(dest_, "rev-parse HEAD"), c1_);
}

TEST_F(CheckoutTest, RefusesADestinationThatIsNotACheckout) {
  WriteFile(tmp_.path() / "busy" / "file.txt", "x");
  auto busy = GitCheckoutInto(repo_, tmp_.path() / "busy", c1_);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(busy.status().message(),
            (tmp_.path() / "busy").string() +
                " exists and is neither empty nor a git repository: not a checkout");
  EXPECT_EQ(ReadFile(tmp_.path() / "busy" / "file.txt"), "x");

  auto self = GitCheckoutInto(repo_, repo_, c1_);
  ASSERT_FALSE(self.ok());
  EXPECT_EQ(self.status().message(),
            repo_.string() + " is the workspace's own repository, not a checkout");
  EXPECT_EQ(ReadFile(repo_ / "recipes" / "a.sql"), "select 'dirty'\n");

  EXPECT_EQ(GitCheckoutInto(repo_, dest_, "nope").status().message(), "unknown revision 'nope'");
  EXPECT_FALSE(fs::exists(dest_));
}

// A workspace in examples/ws of a larger repository.
class SubdirectoryTest : public GitTest {
 protected:
  void SetUp() override {
    GitTest::SetUp();
    ws_ = repo_ / "examples" / "ws";
    WriteFile(repo_ / "README.md", "top\n");
    WriteFile(repo_ / "examples" / "other" / "alambic.yaml", "name: other\n");
    WriteFile(ws_ / "alambic.yaml", "name: ws\n");
    WriteFile(ws_ / "flows" / "a.yaml", "flow: a\n");
    c1_ = CommitAll(repo_, "first");
    WriteFile(repo_ / "README.md", "top 2\n");
    WriteFile(repo_ / "examples" / "other" / "alambic.yaml", "name: other2\n");
    c2_ = CommitAll(repo_, "outside the workspace");
    WriteFile(ws_ / "flows" / "a.yaml", "flow: a2\n");
    fs::remove(ws_ / "alambic.yaml");
    WriteFile(ws_ / "alambic.yaml", "name: ws2\n");
    c3_ = CommitAll(repo_, "inside");
  }
  fs::path ws_;
  std::string c1_, c2_, c3_;
};

TEST_F(SubdirectoryTest, PathsAreRelativeToTheWorkspace) {
  auto text = GitReadFileAt(ws_, c1_, "flows/a.yaml");
  ASSERT_TRUE(text.ok()) << text.status().message();
  EXPECT_EQ(*text, "flow: a\n");
  EXPECT_EQ(GitReadFileAt(ws_, c1_, "README.md").status().message(),
            "README.md does not exist in commit " + c1_.substr(0, 7));

  auto files = GitListFilesAt(ws_, "HEAD", "");
  ASSERT_TRUE(files.ok());
  EXPECT_THAT(*files, ElementsAre("alambic.yaml", "flows/a.yaml"));

  auto log = GitLog(ws_, {}, 0);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 2u);
  EXPECT_EQ((*log)[0].id, c3_);
  EXPECT_EQ((*log)[1].id, c1_);
  auto flow_log = GitLog(ws_, {"flows/a.yaml", "README.md"}, 0);
  ASSERT_TRUE(flow_log.ok());
  ASSERT_EQ(flow_log->size(), 2u);
  EXPECT_THAT((*flow_log)[0].paths, ElementsAre("flows/a.yaml"));

  WriteFile(repo_ / "README.md", "dirty outside\n");
  auto clean = GitUncommittedPaths(ws_, {"."});
  ASSERT_TRUE(clean.ok());
  EXPECT_THAT(*clean, IsEmpty());
  WriteFile(ws_ / "recipes" / "new.lua", "-- new\n");
  auto dirty = GitUncommittedPaths(ws_, {".", "recipes", "flows"});
  ASSERT_TRUE(dirty.ok());
  EXPECT_THAT(*dirty, ElementsAre(".", "recipes"));
}

TEST_F(SubdirectoryTest, CheckoutReturnsTheWorkspaceInsideTheClone) {
  const fs::path dest = tmp_.path() / "checkout";
  auto root = GitCheckoutInto(ws_, dest, c1_);
  ASSERT_TRUE(root.ok()) << root.status().message();
  EXPECT_EQ(*root, fs::weakly_canonical(dest) / "examples" / "ws");
  EXPECT_EQ(ReadFile(*root / "flows" / "a.yaml"), "flow: a\n");
  EXPECT_EQ(ReadFile(dest / "README.md"), "top\n");
}

TEST_F(SubdirectoryTest, CheckoutFromALinkedWorktreeReachesItsBranch) {
  const fs::path linked = tmp_.path() / "linked";
  Git(repo_, "worktree add -q -b feature " + testing::ShellQuote(linked.string()));
  WriteFile(linked / "examples" / "ws" / "flows" / "b.yaml", "flow: b\n");
  const std::string feature = CommitAll(linked, "on the feature branch");
  auto root = GitCheckoutInto(linked / "examples" / "ws", tmp_.path() / "checkout", feature);
  ASSERT_TRUE(root.ok()) << root.status().message();
  EXPECT_EQ(ReadFile(*root / "flows" / "b.yaml"), "flow: b\n");
  EXPECT_EQ(Git(repo_, "rev-parse HEAD"), c3_);
}

}  // namespace
}  // namespace alambic::git_test
