// The lab catalog: use cases, flows and datasets of every workspace registered
// in it (`alambic catalog sync`), with full-text search and use-case status
// history. Where it lives is configurable (alambic.yaml `catalog: {path: ...}`,
// or the ALAMBIC_CATALOG environment variable): by default the workspace's own
// .alambic/catalog.db, for a lab a shared path that many workspaces sync into.
//
// Its tables are prefixed `lab_` and versioned in `lab_schema`, apart from the
// run catalog's (catalog.h), so the two can share a file or not. A sync
// replaces everything the workspace registered before, in one transaction.
// Search is SQLite FTS5 over use cases (title, description, tags, owner, ...),
// datasets (name, description) and columns (name, description, tags),
// diacritics-insensitive. Thread-compatible: one LabCatalog per thread.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "catalog/usecase.h"
#include "core/base/status.h"

namespace SQLite {
class Database;
}

namespace alambic {

inline constexpr int kLabCatalogSchemaVersion = 1;

struct LabColumn {
  std::string name, type, description;
  std::vector<std::string> tags;
};

struct LabDataset {
  std::string name, flow, recipe, description;
  std::string environment;
  std::string version_id, updated_at;  // "" when never built
  int64_t rows = 0;
  std::string state;  // fresh | stale: why | never built | unplannable: why
  std::vector<LabColumn> columns;
  // Files outside the workspace this dataset is read from (a collect recipe's
  // source) or written to (an export's target), absolute: how lineage crosses
  // workspaces that share files.
  std::vector<std::string> reads_files, writes_files;
};

struct LabRun {
  std::string id, status, started_at, finished_at, error;
};

struct LabFlow {
  std::string name, usecase, description, file, schedule;
  std::vector<LabRun> last_runs;  // newest first
};

// What a workspace registers.
struct WorkspaceSnapshot {
  std::string name, root, git_commit;
  std::vector<UseCaseCard> cards;
  std::vector<LabFlow> flows;
  std::vector<LabDataset> datasets;
};

struct StatusChange {
  std::string status, reason, changed_at, git_commit, workspace;
};

struct UseCaseEntry {
  UseCaseCard card;
  std::string workspace;
  std::vector<StatusChange> history;  // oldest first
  // Attached through the flows naming the use case, in any registered workspace.
  std::vector<std::pair<std::string, LabFlow>> flows;        // (workspace, flow)
  std::vector<std::pair<std::string, LabDataset>> datasets;  // (workspace, dataset)
  // ok (every flow's last run succeeded), failing (some last run failed),
  // never run (no flow ran), no flows.
  std::string health;
};

struct UseCaseFilter {
  std::string status, tag, search;  // "" : any
};

struct SearchHit {
  std::string kind;  // usecase, dataset, column
  std::string ref;   // the use case id, the dataset, or dataset.column
  std::string workspace, title, snippet;
};

// A dataset of some workspace that reads a file another workspace's dataset writes.
struct SharedFileEdge {
  std::string file;
  std::string from_workspace, from_dataset;  // the writer
  std::string to_workspace, to_dataset;      // the reader
};

class LabCatalog {
 public:
  // Opens (creating if needed) the lab catalog at `path`.
  static Result<std::unique_ptr<LabCatalog>> Open(const std::filesystem::path& path);
  ~LabCatalog();
  LabCatalog(const LabCatalog&) = delete;
  LabCatalog& operator=(const LabCatalog&) = delete;

  // Registers `ws`, replacing what it registered before. A card whose id
  // another workspace registered is refused (the error names both). A card
  // whose status differs from the last recorded one adds a status change
  // stamped `now` and the snapshot's git commit.
  Status Sync(const WorkspaceSnapshot& ws, const std::string& now);

  std::vector<std::string> Workspaces();
  // Use cases matching the filter, by id; `search` is FTS5 over their text.
  Result<std::vector<UseCaseEntry>> ListUseCases(const UseCaseFilter& filter);
  Result<std::optional<UseCaseEntry>> FindUseCase(const std::string& id);
  // Full-text search over use cases, datasets and columns, best first.
  Result<std::vector<SearchHit>> Search(const std::string& text, int limit);
  // Files one registered dataset writes and another reads, across workspaces.
  Result<std::vector<SharedFileEdge>> SharedFiles();

 private:
  explicit LabCatalog(std::unique_ptr<SQLite::Database> db);
  Result<UseCaseEntry> Load(const std::string& id, const std::string& card_json,
                            const std::string& workspace);
  std::unique_ptr<SQLite::Database> db_;
};

// A user's search text as an FTS5 query: each word a prefix term, all required.
std::string FtsQuery(const std::string& text);

}  // namespace alambic
