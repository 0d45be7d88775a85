#include "ui/cli/vcs_commands.h"

#include <cstdio>
#include <ctime>
#include <iostream>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/vcs/flow_history.h"
#include "core/vcs/git.h"
#include "ui/common/text_table.h"

namespace alambic {

namespace {

constexpr size_t kCommitDisplayLength = 7;

// "2024-05-01T10:00:00Z".
std::string UtcIso(int64_t unix_seconds) {
  std::time_t secs = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

// Commit messages, names and file contents are untrusted: control characters
// are escaped, except tabs in diff lines (code is indented with them).
void PrintLine(const std::string& line, bool keep_tabs = false) {
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t tab = keep_tabs ? line.find('\t', pos) : std::string::npos;
    out +=
        Printable(std::string_view(line).substr(pos, tab == std::string::npos ? tab : tab - pos));
    if (tab == std::string::npos) break;
    out += '\t';
    pos = tab + 1;
  }
  std::printf("%s\n", out.c_str());
}

void VcsPrintJson(const nlohmann::json& j) {
  std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

// "v1 (abc1234)", or "abc1234" when the revision is an id.
std::string RevisionText(const std::string& rev, const std::string& id) {
  const std::string short_id = id.substr(0, kCommitDisplayLength);
  return id.rfind(rev, 0) == 0 ? short_id : fmt::format("{} ({})", rev, short_id);
}

}  // namespace

VcsCommands::VcsCommands(CLI::App& app) {
  history_ = app.add_subcommand("history", "The commits that changed a flow, newest first");
  history_->add_option("flow", flow_, "The flow's name")->required();
  history_->add_option("-n", limit_, "How many (default: all)")->check(CLI::NonNegativeNumber);
  history_->add_option("--format", format_)->check(CLI::IsMember({"text", "json"}));

  diff_ = app.add_subcommand("diff", "What changed in a flow between two revisions");
  diff_->add_option("flow", flow_, "The flow's name")->required();
  diff_->add_option("rev1", rev1_, "A commit, tag or branch")->required();
  diff_->add_option("rev2", rev2_, "A commit, tag or branch (default: the working tree)");
  diff_->add_option("--format", format_)->check(CLI::IsMember({"text", "json"}));
}

bool VcsCommands::Selected() const { return history_->parsed() || diff_->parsed(); }

Status VcsCommands::Run(const std::filesystem::path& root) const {
  return history_->parsed() ? History(root) : Diff(root);
}

Status VcsCommands::History(const std::filesystem::path& root) const {
  ALAMBIC_ASSIGN_OR_RETURN(std::vector<GitCommitInfo> commits, FlowHistory(root, flow_, limit_));
  if (format_ == "json") {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& c : commits)
      list.push_back({{"id", c.id},
                      {"author", c.author},
                      {"email", c.email},
                      {"time", UtcIso(c.time)},
                      {"summary", c.summary},
                      {"message", c.message},
                      {"paths", c.paths}});
    VcsPrintJson({{"flow", flow_}, {"commits", list}});
    return Status::Ok();
  }
  for (const auto& c : commits) {
    std::string files;
    for (const auto& p : c.paths) files += (files.empty() ? "" : ", ") + p;
    PrintLine(fmt::format("{}  {}  {}  {}{}", c.id.substr(0, kCommitDisplayLength), UtcIso(c.time),
                          c.author, c.summary, files.empty() ? "" : "  (" + files + ")"));
  }
  return Status::Ok();
}

Status VcsCommands::Diff(const std::filesystem::path& root) const {
  ALAMBIC_ASSIGN_OR_RETURN(std::string from, GitResolveRevision(root, rev1_));
  std::string to;
  if (!rev2_.empty()) {
    ALAMBIC_ASSIGN_OR_RETURN(to, GitResolveRevision(root, rev2_));
  }
  ALAMBIC_ASSIGN_OR_RETURN(std::vector<FlowChange> changes, DiffFlow(root, flow_, from, to));
  if (format_ == "json") {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& c : changes)
      list.push_back({{"subject", c.subject}, {"text", c.text}, {"detail", c.detail}});
    nlohmann::json j = {{"flow", flow_},
                        {"from", {{"rev", rev1_}, {"commit", from}}},
                        {"to", rev2_.empty() ? nlohmann::json{{"rev", nullptr}, {"commit", nullptr}}
                                             : nlohmann::json{{"rev", rev2_}, {"commit", to}}},
                        {"changes", list}};
    VcsPrintJson(j);
    return Status::Ok();
  }
  PrintLine(fmt::format("flow {}: {} → {}", flow_, RevisionText(rev1_, from),
                        rev2_.empty() ? std::string("working tree") : RevisionText(rev2_, to)));
  if (changes.empty()) PrintLine("no changes");
  for (const auto& c : changes) {
    PrintLine(c.text);
    for (const auto& d : c.detail) PrintLine("    " + d, /*keep_tabs=*/true);
  }
  return Status::Ok();
}

}  // namespace alambic
