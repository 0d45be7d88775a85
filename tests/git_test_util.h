// Making real git repositories in tests with the git command line: a fixed
// identity, no user or system configuration, optional fixed dates.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace alambic::testing {

// Runs `git ARGS` in `dir` as "Test User <test@example.org>" (author and
// committer `date` when given, e.g. "2024-05-01T10:00:00Z"); returns its
// stdout without the final newline. A failing git fails the test.
inline std::string Git(const std::filesystem::path& dir, const std::string& args,
                       const std::string& date = "") {
  TempDir io;
  std::string env = "GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null";
  if (!date.empty()) env += " GIT_AUTHOR_DATE=" + date + " GIT_COMMITTER_DATE=" + date;
  const std::string cmd = "cd " + ShellQuote(dir.string()) + " && " + env +
                          " git -c user.name='Test User' -c user.email=test@example.org "
                          "-c init.defaultBranch=main " +
                          args + " >" + ShellQuote((io.path() / "out").string()) + " 2>" +
                          ShellQuote((io.path() / "err").string());
  const int status = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "git " << args << ": " << ReadFile(io.path() / "err");
  std::string out = ReadFile(io.path() / "out");
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Commits everything in the repository at `repo`; returns the new commit's id.
inline std::string CommitAll(const std::filesystem::path& repo, const std::string& message,
                             const std::string& date = "") {
  Git(repo, "add -A");
  Git(repo, "commit -q --allow-empty -m " + ShellQuote(message), date);
  return Git(repo, "rev-parse HEAD");
}

}  // namespace alambic::testing
