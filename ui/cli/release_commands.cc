#include "ui/cli/release_commands.h"

#include <cstdio>
#include <iostream>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "services/promotion.h"
#include "ui/cli/cli.h"
#include "ui/common/text_table.h"

namespace alambic {

namespace {

constexpr size_t kShortCommit = 10;
constexpr int kDefaultAuditEntries = 20;
constexpr size_t kAuditDetailWidth = 160;

int ReleaseFail(const Status& st) {
  std::fprintf(stderr, "alambic: %s\n", Printable(st.message()).c_str());
  return kExitFailed;
}

std::string Short(const std::string& commit) {
  return commit.empty() ? "-" : commit.substr(0, kShortCommit);
}

std::string Dump(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json ReleaseJson(const ReleaseRecord& r) {
  return {{"flow", r.flow},
          {"environment", r.environment},
          {"number", r.number},
          {"release", r.Name()},
          {"status", r.status},
          {"git_commit", r.git_commit},
          {"tag", r.tag},
          {"created_at", r.created_at},
          {"activated_at", r.activated_at},
          {"user", r.user},
          {"host", r.host},
          {"note", r.note},
          {"gates", r.gates},
          {"schemas", r.schemas}};
}

nlohmann::json AuditJson(const AuditEntry& e) {
  return {{"seq", e.seq},
          {"at", e.at},
          {"user", e.user},
          {"host", e.host},
          {"action", e.action},
          {"environment", e.environment},
          {"flow", e.flow},
          {"target", e.target},
          {"outcome", e.outcome},
          {"detail", e.detail},
          {"prev_hash", e.prev_hash},
          {"hash", e.hash}};
}

}  // namespace

Status PrintReleases(Catalog& catalog, const std::string& env, const std::string& flow,
                     const std::string& format) {
  ALAMBIC_ASSIGN_OR_RETURN(auto releases, catalog.ListReleases(flow, env));
  if (format == "json") {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : releases) j.push_back(ReleaseJson(r));
    std::cout << Dump(j, 2) << "\n";
    return Status::Ok();
  }
  if (releases.empty()) {
    std::printf("%s\n", Printable(fmt::format("flow {} has no release in {}", flow, env)).c_str());
    return Status::Ok();
  }
  TextTable table({"release", "status", "commit", "created", "user", "gates", "note"});
  table.AlignRight(0);
  for (const auto& r : releases)
    table.AddRow({std::to_string(r.number), r.status, Short(r.git_commit), r.created_at,
                  r.user.empty() ? "-" : r.user, GatesSummary(r.gates), r.note});
  std::fputs(table.Render().c_str(), stdout);
  return Status::Ok();
}

Status RollbackRelease(Catalog& catalog, const std::string& env, const std::string& flow, int to,
                       const std::string& note, const Actor& who) {
  ALAMBIC_ASSIGN_OR_RETURN(RollbackOutcome done, RollbackFlow(catalog, env, flow, to, note, who));
  const ReleaseRecord& target = done.active;
  std::printf(
      "%s\n",
      Printable(fmt::format("rolled back {} in {}: release {} is active (commit {}{}){}", flow, env,
                            target.number, Short(target.git_commit),
                            target.tag.empty() ? "" : ", tag " + target.tag,
                            done.previous ? fmt::format(", was {}", done.previous->number) : ""))
          .c_str());
  return Status::Ok();
}

Status PrintAudit(Catalog& catalog, const AuditFilter& filter, const std::string& format) {
  ALAMBIC_ASSIGN_OR_RETURN(auto entries, catalog.ReadAudit(filter));
  if (format == "json") {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& e : entries) j.push_back(AuditJson(e));
    std::cout << Dump(j, 2) << "\n";
    return Status::Ok();
  }
  if (entries.empty()) {
    std::printf("no audit entries\n");
    return Status::Ok();
  }
  TextTable table({"seq", "at", "who", "action", "env", "flow", "target", "outcome", "detail"},
                  kAuditDetailWidth);
  table.AlignRight(0);
  for (const auto& e : entries)
    table.AddRow({std::to_string(e.seq), e.at, e.user + "@" + e.host, e.action, e.environment,
                  e.flow, e.target, e.outcome, Dump(e.detail)});
  std::fputs(table.Render().c_str(), stdout);
  return Status::Ok();
}

Status PrintAuditVerification(Catalog& catalog) {
  ALAMBIC_RETURN_IF_ERROR(catalog.VerifyAudit());
  ALAMBIC_ASSIGN_OR_RETURN(auto entries, catalog.ReadAudit({}));
  std::printf("audit log verified: %zu entr%s, hash chain intact%s\n", entries.size(),
              entries.size() == 1 ? "y" : "ies",
              entries.empty() ? "" : (", last hash " + entries.back().hash).c_str());
  return Status::Ok();
}

ReleaseCommands::ReleaseCommands(CLI::App& app) {
  releases_ = app.add_subcommand("releases", "The releases of a flow (default env: warehouse)");
  releases_->add_option("flow", flow_, "The flow")->required();
  releases_->add_option("--format", format_)->check(CLI::IsMember({"text", "json"}));

  rollback_ = app.add_subcommand("rollback", "Re-activate an earlier release of a flow");
  rollback_->add_option("flow", flow_, "The flow")->required();
  rollback_->add_option("--to", to_, "The release number (default: the one below the active)")
      ->check(CLI::PositiveNumber);
  rollback_->add_option("--note", note_, "Why (recorded with the activation and in the audit)");

  filter_.limit = kDefaultAuditEntries;
  audit_ = app.add_subcommand("audit", "The audit log: promotions, rollbacks, runs, secrets used");
  audit_->add_option("-n", filter_.limit, "The last N matching entries (0: all)")
      ->check(CLI::NonNegativeNumber);
  audit_->add_option("--action", filter_.action, "Only this action (promote, rollback, run, ...)");
  audit_->add_option("--flow", filter_.flow, "Only this flow");
  audit_->add_option("--format", format_)->check(CLI::IsMember({"text", "json"}));
  audit_->add_flag("--verify", verify_, "Check the hash chain instead of printing entries");
}

bool ReleaseCommands::parsed() const {
  return releases_->parsed() || rollback_->parsed() || audit_->parsed();
}

int ReleaseCommands::Run(const std::string& env, const CatalogOpener& open,
                         const Actor& who) const {
  const std::string release_env = env.empty() ? kReleaseDefaultEnvironment : env;
  auto catalog = open(audit_->parsed() ? env : release_env);
  if (!catalog.ok()) return ReleaseFail(catalog.status());
  Status st;
  if (releases_->parsed()) {
    st = PrintReleases(**catalog, release_env, flow_, format_);
  } else if (rollback_->parsed()) {
    st = RollbackRelease(**catalog, release_env, flow_, to_, note_, who);
  } else if (verify_) {
    st = PrintAuditVerification(**catalog);
  } else {
    AuditFilter f = filter_;
    f.environment = env;
    st = PrintAudit(**catalog, f, format_);
  }
  return st.ok() ? kExitOk : ReleaseFail(st);
}

}  // namespace alambic
