// Use-case cards: usecases/*.yaml in a workspace, one card per file, versioned
// in git with the flows that name them (`usecase: ID` in a flow file).
//
// A card:
//   usecase: fraude-examens-permis        # the id (or `id:`); [a-z0-9][a-z0-9_-]*
//   title: Fraude aux examens du permis   # required
//   description: |                        # Markdown
//     ...
//   owner: Jeanne Martin                  # required
//   team: datalab
//   direction: DSR
//   ministry: Ministère de l'Intérieur
//   status: poc                           # idea | poc | preprod | production | abandoned
//   reason: ...                           # why it stands there; required when abandoned
//   priority: high                        # low | medium | high | critical
//   benefits:
//     expected: Free text
//     measured: Free text
//     kpis:
//       - {name: inspections_ciblees, unit: "%", expected: 30, measured: 12, date: 2025-06-30}
//   tags: [fraude, permis]
//   links:
//     - {title: Note de cadrage, url: https://..., type: document}  #
//     document|dashboard|repository|other
//   sources:
//     - {name: Fichier des examens, description: ..., dataset: exams_raw}  # or just a name
//
// Loading never stops at the first problem: every problem is a Diagnostic with
// file:line:column.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/base/diagnostic.h"
#include "core/base/fs.h"

namespace alambic {

inline constexpr const char* kUseCaseStatuses[] = {"idea", "poc", "preprod", "production",
                                                   "abandoned"};
inline constexpr const char* kUseCasePriorities[] = {"low", "medium", "high", "critical"};
inline constexpr const char* kUseCaseLinkTypes[] = {"document", "dashboard", "repository", "other"};

struct Kpi {
  std::string name, unit;
  std::optional<double> expected, measured;
  std::string date;  // YYYY-MM-DD, the measure's date; "" when none
};

struct UseCaseLink {
  std::string title, url, type = "other";
};

struct UseCaseSource {
  std::string name, description, dataset;  // dataset: the dataset it becomes, if any
};

struct UseCaseCard {
  std::string id, title, description, owner, team, direction, ministry;
  std::string status, reason, priority;
  std::string expected_benefits, measured_benefits;
  std::vector<Kpi> kpis;
  std::vector<std::string> tags;
  std::vector<UseCaseLink> links;
  std::vector<UseCaseSource> sources;
  std::string file;  // relative to the workspace
  SourceLoc loc;     // the id's place
};

// The card as JSON (what the catalog stores and `usecase show --format json` prints).
nlohmann::json UseCaseJson(const UseCaseCard& card);
UseCaseCard UseCaseFromJson(const nlohmann::json& j);

// Parses one card; `file` is used in locations.
UseCaseCard ParseUseCase(const std::string& text, const std::string& file,
                         std::vector<Diagnostic>* diags);

struct LoadedUseCases {
  std::vector<UseCaseCard> cards;       // in file name order
  std::vector<Diagnostic> diagnostics;  // including duplicate ids
  bool ok() const { return diagnostics.empty(); }
};

// Every usecases/*.yaml (and *.yml) of the workspace at `root`, read through
// `fs`; none when the folder is missing. A file that cannot be read is a
// diagnostic.
LoadedUseCases LoadUseCases(const std::filesystem::path& root, FileSystem& fs = RealFileSystem());

}  // namespace alambic
