// What every command group of the `alambic` command shares: the global options
// (-C, --env), the exit statuses, error and JSON printing, and the workspace
// opened through the services (services/workspace.h) from the global options.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/base/status.h"
#include "core/exec/session.h"
#include "services/workspace.h"

namespace CLI {
class App;
}  // namespace CLI

namespace alambic {

// Exit status: 0 success; 1 a run failed, validation found problems or bad
// input; 2 wrong command line; 130 the run was stopped (Ctrl-C).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitStopped = 130;
inline constexpr int kShortIdLength = 8;
inline constexpr int kVersionDisplayLength = 12;

// The global options.
struct Globals {
  std::string dir = ".";
  std::string env;
};

using OJson = nlohmann::ordered_json;

// Prints "alambic: MESSAGE" on stderr, one line per line of the message (tabs
// expanded, control characters escaped); returns kExitFailed.
int Fail(const Status& st);

// JSON output (--format json): keys in the order given, invalid UTF-8 replaced;
// strings are escaped by construction, so nothing printed can drive the terminal.
void PrintJson(const OJson& j);

// Adds --format text|json.
void AddFormat(CLI::App* cmd, std::string* format);

// Writes `content` to `p` (replacing it).
Status WriteNewFile(const std::filesystem::path& p, const std::string& content);

// The workspace found from -C.
Result<std::filesystem::path> WorkspaceRoot(const Globals& g);

// The kinds for the workspace at `root` (services LoadKinds); a broken set of
// built-in kinds stops the process.
const KindSet& CliKinds(const std::filesystem::path& root);

// Sessions and history for the workspace found from -C in --env.
Result<std::unique_ptr<Session>> OpenSession(const Globals& g, bool read_only = false);
Result<std::optional<std::vector<ReleaseSession>>> OpenReleaseSessions(
    const Globals& g, const std::vector<std::string>& flows);
// `read_only`: for commands that only read (show, runs, log), which then work on
// a full disk.
Result<History> OpenHistory(const Globals& g, bool read_only = false);

// "FLOW: release N (commit C)\n", above what a release's session shows.
std::string ReleaseHeading(const ReleaseSession& rs);

}  // namespace alambic
