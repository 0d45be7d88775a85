// Releases: immutable promoted versions of a flow in an environment, and the
// append-only log of their activations (which release is active). Stored in
// the catalog (tables `releases` and `release_activations`, schema 5); written
// and read through Catalog (catalog.h).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace alambic {

// Actions of a release activation.
inline constexpr const char* kActivationPromote = "promote";
inline constexpr const char* kActivationRollback = "rollback";

// Statuses of a release, as Catalog::ListReleases fills them.
inline constexpr const char* kReleaseActive = "active";
inline constexpr const char* kReleaseSuperseded = "superseded";
inline constexpr const char* kReleaseRolledBack = "rolled back";
inline constexpr const char* kReleaseInactive = "inactive";

struct ReleaseRecord {
  std::string flow, environment;
  int number = 0;  // 1, 2, ... per (flow, environment)
  std::string git_commit, tag;
  nlohmann::json gates = nlohmann::json::array();     // [{gate, passed, reason}]
  nlohmann::json schemas = nlohmann::json::object();  // dataset -> [{name, type}]
  std::string user, host, created_at, note;
  // Filled when read, from the activations:
  //   "active": the latest activation of (flow, environment) is this release's;
  //   "superseded": it was moved away from by a promotion;
  //   "rolled back": it was moved away from by a rollback;
  //   "inactive": never activated.
  // A release moved away from several times has the status of the last move; a
  // release re-activated later is "active" again.
  std::string status;
  std::string activated_at;  // its last activation ("" when never)

  // "permis/3": how runs, audit entries and messages name a release.
  std::string Name() const { return flow + "/" + std::to_string(number); }
};

// Summary of the gates, e.g. "5/5 gates" (passed / total); "no gates" when empty.
std::string GatesSummary(const nlohmann::json& gates);

}  // namespace alambic
