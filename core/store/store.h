// Dataset versions on disk: one Arrow IPC file per version at
// <root>/<dataset>/<version>.arrow.
//
// Publishing is two-phase so that no reader ever sees a partial version:
// Stage() writes the file under <root>/.tmp/ (invisible), Publish() makes a
// batch durable (fsync of each file, or one syncfs for large batches), renames
// each into place and fsyncs the directories. The catalog records the versions
// after Publish(); a version is visible only once the catalog has it, so a crash
// at any point leaves at worst an unreferenced file (removed by gc) or a temp
// file (removed by CleanTemporaries()).
//
// Every file operation goes through a FileSystem (core/base/fs.h; the real one
// by default), so that tests can fail any write, fsync or rename: a failure
// returns an error naming the path, removes what Stage() wrote, and leaves
// every published version as it was.
//
// Thread-safety: Stage() and Read() may run concurrently from many threads;
// Publish() calls must not overlap.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/fs.h"
#include "core/base/status.h"
#include "core/table/table.h"

namespace alambic {

class DatasetStore {
 public:
  // `fs` is borrowed and must outlive the store.
  explicit DatasetStore(std::filesystem::path root, FileSystem& fs = RealFileSystem());

  struct Staged {
    std::string dataset, version;
    std::filesystem::path temp;
    int64_t bytes = 0;
  };

  const std::filesystem::path& root() const { return root_; }
  // "<dataset>/<version>.arrow", relative to root().
  static std::string RelativePath(const std::string& dataset, const std::string& version);
  std::filesystem::path PathFor(const std::string& dataset, const std::string& version) const;

  // Invalid unless `name` is a plain file name: not empty, not starting with
  // '.', no '/', '\\' or control character (defence in depth: validate
  // refuses such names first).
  static Status CheckStoreName(std::string_view what, std::string_view name);

  Result<Staged> Stage(const std::string& dataset, const std::string& version,
                       const Table& table) const;
  Status Publish(const std::vector<Staged>& batch) const;
  void Discard(const Staged& staged) const;

  Result<Table> Read(const std::string& dataset, const std::string& version) const;
  bool Exists(const std::string& dataset, const std::string& version) const;
  Status Remove(const std::string& dataset, const std::string& version) const;
  // Deletes temp files left by interrupted runs; returns how many.
  int CleanTemporaries() const;

 private:
  std::filesystem::path root_;
  FileSystem* fs_;
};

}  // namespace alambic
