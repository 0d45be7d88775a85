#include "core/exec/publisher.h"

#include "core/base/crash_point.h"

namespace alambic {

Publisher::Publisher(const DatasetStore& store, Catalog& catalog, std::string env)
    : store_(store), catalog_(catalog), env_(std::move(env)), thread_([this] { Loop(); }) {}

Publisher::~Publisher() { (void)Close(); }

void Publisher::Push(Item item) {
  std::lock_guard l(mu_);
  queue_.push_back(std::move(item));
  cv_.notify_one();
}

Status Publisher::Close() {
  {
    std::lock_guard l(mu_);
    if (closed_) return error_;
    closed_ = true;
    cv_.notify_one();
  }
  thread_.join();
  return error_;
}

void Publisher::Loop() {
  for (;;) {
    std::vector<Item> items;
    {
      std::unique_lock l(mu_);
      cv_.wait(l, [&] { return closed_ || !queue_.empty(); });
      if (queue_.empty() && closed_) return;
      while (!queue_.empty()) {
        items.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<DatasetStore::Staged> staged;
    CatalogBatch batch;
    batch.environment = env_;
    for (auto& it : items) {
      staged.insert(staged.end(), it.staged.begin(), it.staged.end());
      for (auto& r : it.batch.recipe_runs) batch.recipe_runs.push_back(std::move(r));
      for (auto& v : it.batch.versions) batch.versions.push_back(std::move(v));
      for (auto& s : it.batch.states) batch.states.push_back(std::move(s));
    }
    Status st = error_.ok() ? store_.Publish(staged) : error_;
    // Once per recipe whose outputs are now in the store, not per batch: how many
    // recipes a batch gathers depends on timing, and ALAMBIC_CRASH_AT=recipe_publishing:N
    // names the Nth recipe whatever the batching.
    if (st.ok())
      for (const auto& it : items)
        if (!it.staged.empty()) CrashPoint("recipe_publishing");
    if (st.ok()) st = catalog_.Commit(batch);
    if (!st.ok()) {
      for (const auto& s : staged) store_.Discard(s);
      std::lock_guard l(mu_);
      if (error_.ok()) error_ = st.WithContext("publishing");
      for (const auto& r : batch.recipe_runs) unpublished_.insert(r.uuid);
    }
  }
}

}  // namespace alambic
