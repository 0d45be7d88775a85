// Publishing, one part of a run (run.h): the outputs of finished recipes go to
// the store, then to the catalog, in group commits on a thread of their own.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "catalog/catalog.h"
#include "core/store/store.h"

namespace alambic {

// Publishes finished recipes in group commits on its own thread: one fsync
// round and one catalog transaction for whatever has queued up meanwhile.
// After the first error nothing more is published: the staged files of every
// later item are discarded and their recipe runs listed in unpublished().
class Publisher {
 public:
  Publisher(const DatasetStore& store, Catalog& catalog, std::string env);
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // What one finished recipe publishes: its staged outputs and its records
  // (recipe run, versions, recipe state).
  struct Item {
    std::vector<DatasetStore::Staged> staged;
    CatalogBatch batch;
  };
  void Push(Item item);
  // Waits for everything queued, stops the thread, and returns the first error.
  Status Close();
  // After Close: the recipe runs (uuids) whose batch was not published.
  const std::unordered_set<std::string>& unpublished() const { return unpublished_; }

 private:
  void Loop();

  const DatasetStore& store_;
  Catalog& catalog_;
  std::string env_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool closed_ = false;
  Status error_;
  std::unordered_set<std::string> unpublished_;
  std::thread thread_;
};

}  // namespace alambic
