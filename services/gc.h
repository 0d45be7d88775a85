// Garbage collection as a library: the dataset versions of an environment that
// nothing references any more (not current, not made or read by the last N
// runs), the store files no catalog records (left by an interrupted gc) and
// temporary files; then deleting them. Planning and deleting are two steps so
// that a caller can show the plan first (`alambic gc --dry-run`); the
// workspace lock is held from the plan to the deletion.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/exec/run.h"
#include "services/workspace.h"

namespace alambic {

struct UnrecordedFile {
  std::string dataset, id;
  int64_t bytes = 0;
  std::string where;  // "file <dataset>/<id>.arrow" or "table pg:<schema>.v_<id>"
};

class GarbageCollection {
 public:
  // Locks the workspace at `root` (fails at once while a run holds it) and
  // lists what `env` ("" : the default) no longer needs, keeping what the
  // last `keep_runs` runs made or read (< 0 : the workspace's gc.keep_runs).
  static Result<GarbageCollection> Plan(const std::filesystem::path& root, const std::string& env,
                                        int keep_runs);

  // Recorded versions nothing references.
  const std::vector<DatasetVersionRecord>& versions() const { return versions_; }
  // Store files no catalog records.
  const std::vector<UnrecordedFile>& unrecorded() const { return unrecorded_; }
  // Bytes of all of them plus the store's temporary files.
  int64_t bytes() const { return bytes_; }

  // Deletes the plan: the catalog forgets first, so a crash between the two
  // steps leaves files the next sweep removes, never a recorded version
  // without its file. Returns how many unrecorded files were removed.
  Result<int> Apply();

 private:
  History history_;
  std::unique_ptr<WorkspaceLock> lock_;
  std::vector<DatasetVersionRecord> versions_;
  std::vector<UnrecordedFile> unrecorded_;
  int64_t bytes_ = 0;
};

}  // namespace alambic
