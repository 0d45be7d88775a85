#include "ui/cli/cli.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "ui/common/text_table.h"

namespace fs = std::filesystem;

namespace alambic {

int Fail(const Status& st) {
  // Multi-line messages (validation) keep one problem per line.
  std::string msg = st.message();
  size_t pos = 0;
  while (pos <= msg.size()) {
    size_t nl = msg.find('\n', pos);
    std::string line = msg.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    std::fprintf(stderr, "alambic: %s\n", PrintableLines(line, "").c_str());  // tabs expanded
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return kExitFailed;
}

void PrintJson(const OJson& j) {
  const std::string s = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::fwrite(s.data(), 1, s.size(), stdout);
}

void AddFormat(CLI::App* cmd, std::string* format) {
  cmd->add_option("--format", *format, "Output: text (default) or json")
      ->check(CLI::IsMember({"text", "json"}));
}

Status WriteNewFile(const fs::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) return Status::IoError(fmt::format("{}: cannot write", p.string()));
  return Status::Ok();
}

Result<fs::path> WorkspaceRoot(const Globals& g) { return FindWorkspace(g.dir); }

const KindSet& CliKinds(const fs::path& root) {
  auto kinds = LoadKinds(root);
  if (!kinds.ok()) {
    std::fprintf(stderr, "alambic: %s\n", Printable(kinds.status().message()).c_str());
    std::exit(kExitFailed);
  }
  return **kinds;
}

Result<std::unique_ptr<Session>> OpenSession(const Globals& g, bool read_only) {
  ALAMBIC_ASSIGN_OR_RETURN(fs::path root, WorkspaceRoot(g));
  return OpenWorkspaceSession(root, g.env, read_only);
}

Result<std::optional<std::vector<ReleaseSession>>> OpenReleaseSessions(
    const Globals& g, const std::vector<std::string>& flows) {
  ALAMBIC_ASSIGN_OR_RETURN(fs::path root, WorkspaceRoot(g));
  return OpenReleaseSessions(root, g.env, flows);
}

Result<History> OpenHistory(const Globals& g, bool read_only) {
  ALAMBIC_ASSIGN_OR_RETURN(fs::path root, WorkspaceRoot(g));
  return OpenHistory(root, g.env, read_only);
}

std::string ReleaseHeading(const ReleaseSession& rs) {
  return fmt::format("{}: release {} (commit {})\n", rs.flow, rs.release.number,
                     rs.release.git_commit.substr(0, 10));
}

}  // namespace alambic
