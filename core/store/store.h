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
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/fs.h"
#include "core/base/status.h"
#include "core/table/table.h"

namespace alambic {

// Where a store keeps its versions when they are not Arrow files: a database
// (core/store/pg_store.h). The store checks names, then hands each call over;
// the semantics are the file store's: Stage makes an invisible copy, Publish
// makes a batch visible at once, Read returns a published version.
// Implementations are thread-safe.
class TableBackend {
 public:
  virtual ~TableBackend() = default;
  // Stages `table`; returns the name of the staged copy and its size in bytes.
  virtual Result<std::pair<std::string, int64_t>> Stage(const std::string& dataset,
                                                        const std::string& version,
                                                        const Table& table) = 0;
  // (staged name, dataset, version) of each staged copy, all made visible at once.
  struct Item {
    std::string staged, dataset, version;
  };
  virtual Status Publish(const std::vector<Item>& batch) = 0;
  virtual void Discard(const std::string& staged) = 0;
  virtual Result<Table> Read(const std::string& dataset, const std::string& version) = 0;
  virtual bool Exists(const std::string& dataset, const std::string& version) = 0;
  virtual Status Remove(const std::string& dataset, const std::string& version) = 0;
  virtual int CleanTemporaries() = 0;
  // Where a version is, for messages and the catalog: "pg:schema.table".
  virtual std::string Locate(const std::string& dataset, const std::string& version) const = 0;
  // Every published version it holds, with its size: gc removes those no
  // catalog records (left by a crashed run or an interrupted gc).
  struct Stored {
    std::string dataset, version;
    int64_t bytes = 0;
  };
  virtual Result<std::vector<Stored>> List() { return std::vector<Stored>{}; }
};

class DatasetStore {
 public:
  // `fs` is borrowed and must outlive the store.
  explicit DatasetStore(std::filesystem::path root, FileSystem& fs = RealFileSystem());
  // A store whose versions live in `backend` (root() is then only a name).
  explicit DatasetStore(std::shared_ptr<TableBackend> backend);

  struct Staged {
    std::string dataset, version;
    std::filesystem::path temp;  // a backend's staged copy: its name
    int64_t bytes = 0;
  };

  // The backend's, or null for Arrow files under root().
  TableBackend* backend() const { return backend_.get(); }

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
  std::shared_ptr<TableBackend> backend_;
};

}  // namespace alambic
