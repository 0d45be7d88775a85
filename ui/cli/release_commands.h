// `alambic releases`, `alambic rollback` and `alambic audit`: the releases of a
// flow, re-activating an earlier one, and the audit log (see docs/cli.md).
// Output goes to stdout, errors to stderr as "alambic: message".
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "catalog/catalog.h"
#include "core/base/status.h"

namespace CLI {
class App;
}  // namespace CLI

namespace alambic {

// Opens the workspace's catalog after checking that `env` is one of its
// environments (the workspace's default when "").
using CatalogOpener = std::function<Result<std::unique_ptr<Catalog>>(const std::string& env)>;

// The three commands, registered on an app before it parses.
class ReleaseCommands {
 public:
  explicit ReleaseCommands(CLI::App& app);
  // Whether the command line named one of them.
  bool parsed() const;
  // Runs the command parsed; `env` is the --env option ("" when not given:
  // releases and rollback then use "warehouse", audit every environment).
  // Returns the exit status: 0, or 1 on a refusal or an error (printed).
  int Run(const std::string& env, const CatalogOpener& open, const Actor& who) const;

 private:
  CLI::App* releases_ = nullptr;
  CLI::App* rollback_ = nullptr;
  CLI::App* audit_ = nullptr;
  std::string flow_, format_ = "text", note_;
  int to_ = 0;
  AuditFilter filter_;
  bool verify_ = false;
};

// The environment releases and rollback use when --env is not given.
inline constexpr const char* kReleaseDefaultEnvironment = "warehouse";

// `alambic releases FLOW`: number, status, commit, creation, user, gates, note
// (format "text"), or every field as a JSON array (format "json").
Status PrintReleases(Catalog& catalog, const std::string& env, const std::string& flow,
                     const std::string& format);

// `alambic rollback FLOW`: re-activates release `to` (0: the highest-numbered
// release below the active one) by `who`, appends a "rollback" audit entry
// (outcome ok, refused or failed) and prints what is active now. Refuses
// (Invalid / NotFound, nothing activated) when the flow has no release, `to`
// does not exist, is already active, or no release is older than the active one.
Status RollbackRelease(Catalog& catalog, const std::string& env, const std::string& flow, int to,
                       const std::string& note, const Actor& who);

// `alambic audit`: the entries `filter` selects, oldest first, as a table
// (format "text") or a JSON array (format "json").
Status PrintAudit(Catalog& catalog, const AuditFilter& filter, const std::string& format);

// `alambic audit --verify`: checks the hash chain and prints how many entries
// were verified; the failure names the first altered entry.
Status PrintAuditVerification(Catalog& catalog);

}  // namespace alambic
