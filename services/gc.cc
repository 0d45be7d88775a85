#include "services/gc.h"

#include "core/flow/loader.h"

namespace fs = std::filesystem;

namespace alambic {

Result<GarbageCollection> GarbageCollection::Plan(const fs::path& root, const std::string& env,
                                                  int keep_runs) {
  GarbageCollection gc;
  ALAMBIC_ASSIGN_OR_RETURN(gc.history_, OpenHistory(root, env));
  History& h = gc.history_;
  if (keep_runs < 0) keep_runs = LoadWorkspace(h.root).workspace.config.gc_keep_runs;
  ALAMBIC_ASSIGN_OR_RETURN(gc.lock_, WorkspaceLock::Acquire(h.root / ".alambic"));
  ALAMBIC_ASSIGN_OR_RETURN(gc.versions_, h.catalog->VersionsNotReferenced(h.env, keep_runs));
  for (const auto& v : gc.versions_) gc.bytes_ += v.bytes;
  // Files no catalog records (left by an interrupted gc) and temp files go too.
  // A backend (the PostgreSQL store) lists its own versions.
  if (TableBackend* backend = h.store->backend()) {
    ALAMBIC_ASSIGN_OR_RETURN(auto stored, backend->List());
    for (auto& s : stored) {
      ALAMBIC_ASSIGN_OR_RETURN(const bool recorded,
                               h.catalog->HasVersion(h.env, s.dataset, s.version));
      if (!recorded)
        gc.unrecorded_.push_back(
            {s.dataset, s.version, s.bytes, "table " + backend->Locate(s.dataset, s.version)});
    }
    for (const auto& f : gc.unrecorded_) gc.bytes_ += f.bytes;
    return gc;
  }
  std::error_code ec;
  for (fs::directory_iterator d(h.store->root(), ec), end; !ec && d != end; d.increment(ec)) {
    std::error_code ec2;
    const std::string dataset = d->path().filename().string();
    if (dataset.empty() || dataset.front() == '.' || !d->is_directory(ec2)) continue;
    for (fs::directory_iterator f(d->path(), ec2); !ec2 && f != end; f.increment(ec2)) {
      if (f->path().extension() != ".arrow") continue;
      std::string id = f->path().stem().string();
      ALAMBIC_ASSIGN_OR_RETURN(const bool recorded, h.catalog->HasVersion(h.env, dataset, id));
      if (recorded) continue;
      std::error_code ec3;
      const auto size = f->file_size(ec3);
      const std::string where = "file " + dataset + "/" + id + ".arrow";
      gc.unrecorded_.push_back(
          {dataset, std::move(id), ec3 ? 0 : static_cast<int64_t>(size), where});
    }
  }
  for (const auto& f : gc.unrecorded_) gc.bytes_ += f.bytes;
  for (fs::directory_iterator t(h.store->root() / ".tmp", ec), end; !ec && t != end;
       t.increment(ec)) {
    std::error_code ec2;
    const auto size = t->file_size(ec2);
    if (!ec2) gc.bytes_ += static_cast<int64_t>(size);
  }
  return gc;
}

Result<int> GarbageCollection::Apply() {
  History& h = history_;
  ALAMBIC_RETURN_IF_ERROR(h.catalog->DeleteVersions(h.env, versions_));
  for (const auto& v : versions_) (void)h.store->Remove(v.dataset, v.id);
  h.store->CleanTemporaries();
  int removed = 0;
  for (const auto& f : unrecorded_)
    if (h.store->Remove(f.dataset, f.id).ok()) ++removed;
  return removed;
}

}  // namespace alambic
