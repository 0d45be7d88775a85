// Helpers shared by the test files: temporary directories and table builders.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/recipe/recipe.h"

namespace alambic::testing {

// Every built-in kind (recipes/builtin_kinds.h), registered once for the test
// process: the engine has no default set of kinds, a test passes this one.
// A registration failure stops the tests with its message.
const RecipeRegistry& BuiltinKinds();
// A new registry holding every built-in kind, to which a test adds plugins.
std::unique_ptr<RecipeRegistry> MakeBuiltinKinds();

// A recipe's logger that keeps what it is told, for the test to read.
// Thread-safe (recipes log from worker threads).
class CapturingLogger final : public RecipeLogger {
 public:
  void Log(LogLevel level, const std::string& message) override;
  // The messages, in order.
  std::vector<std::string> lines() const;
  // The messages with their level: "warn: M", "error: M", and plain "M" for info.
  std::vector<std::string> tagged() const;
  // The messages, each followed by a line break.
  std::string text() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<LogLevel, std::string>> lines_;  // guarded by mu_
};

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void WriteFile(const std::filesystem::path& p, const std::string& content);
std::string ReadFile(const std::filesystem::path& p);

// `s` quoted for a POSIX shell.
std::string ShellQuote(const std::string& s);

// Runs `/usr/bin/python3 -c PROGRAM ARGS...`: its stdout, or "python failed: "
// and its stdout when it exits non-zero (an independent oracle for tests).
std::string Python(const std::string& program, const std::vector<std::string>& args = {});

struct CliResult {
  int code = -1;
  std::string out, err;
};

// Runs the built `alambic ARGS` in `cwd` (with `env`, e.g. "USER=carol", set
// for it), capturing stdout, stderr and the exit status.
CliResult Cli(const std::filesystem::path& cwd, const std::vector<std::string>& args,
              const std::string& env = "");

}  // namespace alambic::testing
