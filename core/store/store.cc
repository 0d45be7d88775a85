#include "core/store/store.h"

#include <set>

#include <fmt/format.h>

#include "core/base/crash_point.h"
#include "core/table/arrow_ipc.h"

namespace alambic {

namespace {

// Above this many files, one syncfs() is cheaper than an fsync per file.
constexpr size_t kSyncfsThreshold = 8;
// Bytes gathered before each write to the file.
constexpr size_t kWriteBuffer = 1 << 20;

// Buffered writes to a WritableFile it does not own (Flush before closing it).
class FileSink final : public ByteSink {
 public:
  explicit FileSink(WritableFile& file) : file_(file) { buf_.reserve(kWriteBuffer); }
  Status Write(const void* data, size_t n) override {
    if (buf_.size() + n > kWriteBuffer) ALAMBIC_RETURN_IF_ERROR(Flush());
    const std::string_view bytes(static_cast<const char*>(data), n);
    if (n >= kWriteBuffer) return Append(bytes);
    buf_.append(bytes);
    return Status::Ok();
  }
  Status Flush() {
    Status st = Append(buf_);
    buf_.clear();
    return st;
  }
  int64_t written() const { return written_; }

 private:
  Status Append(std::string_view bytes) {
    if (bytes.empty()) return Status::Ok();
    ALAMBIC_RETURN_IF_ERROR(file_.Append(bytes));
    written_ += static_cast<int64_t>(bytes.size());
    return Status::Ok();
  }
  WritableFile& file_;
  std::string buf_;
  int64_t written_ = 0;
};

}  // namespace

DatasetStore::DatasetStore(std::filesystem::path root, FileSystem& fs)
    : root_(std::move(root)), fs_(&fs) {}

DatasetStore::DatasetStore(std::shared_ptr<TableBackend> backend)
    : root_(), fs_(&RealFileSystem()), backend_(std::move(backend)) {}

Status DatasetStore::CheckStoreName(std::string_view what, std::string_view name) {
  bool bad = name.empty() || name.front() == '.' || name.size() > 200;
  for (char c : name)
    if (c == '/' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) bad = true;
  if (bad)
    return Status::Invalid(
        fmt::format("the store refuses {} name '{}': not a plain file name", what, name));
  return Status::Ok();
}

std::string DatasetStore::RelativePath(const std::string& dataset, const std::string& version) {
  return dataset + "/" + version + ".arrow";
}

std::filesystem::path DatasetStore::PathFor(const std::string& dataset,
                                            const std::string& version) const {
  return root_ / dataset / (version + ".arrow");
}

Result<DatasetStore::Staged> DatasetStore::Stage(const std::string& dataset,
                                                 const std::string& version,
                                                 const Table& table) const {
  ALAMBIC_RETURN_IF_ERROR(CheckStoreName("dataset", dataset));
  ALAMBIC_RETURN_IF_ERROR(CheckStoreName("version", version));
  if (backend_) {
    ALAMBIC_ASSIGN_OR_RETURN(auto staged, backend_->Stage(dataset, version, table));
    return Staged{dataset, version, staged.first, staged.second};
  }
  ALAMBIC_RETURN_IF_ERROR(fs_->CreateDirectories(root_ / ".tmp").status());
  Staged s{dataset, version,
           root_ / ".tmp" / fmt::format("{}.{}.{}.tmp", dataset, version, TempSuffix()), 0};
  ALAMBIC_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, fs_->NewWritableFile(s.temp));
  FileSink sink(*file);
  Status st = WriteArrowFile(table, sink);
  CrashPoint("dataset_write");
  if (st.ok()) st = sink.Flush();
  Status closed = file->Close();
  if (st.ok()) st = closed;
  if (!st.ok()) {
    (void)fs_->Remove(s.temp);  // best effort: CleanTemporaries() gets what stays
    return st.WithContext(fmt::format("writing dataset {}", dataset));
  }
  s.bytes = sink.written();
  return s;
}

Status DatasetStore::Publish(const std::vector<Staged>& batch) const {
  if (batch.empty()) return Status::Ok();
  if (backend_) {
    std::vector<TableBackend::Item> items;
    for (const auto& s : batch) items.push_back({s.temp.string(), s.dataset, s.version});
    return backend_->Publish(items);
  }
  // Large batches: one syncfs() makes every staged file durable, and another,
  // after the renames, every directory entry; small ones sync what they touch.
  const bool whole_fs = batch.size() >= kSyncfsThreshold;
  if (whole_fs) {
    ALAMBIC_RETURN_IF_ERROR(fs_->SyncFilesystem(root_ / ".tmp"));
  } else {
    for (const auto& s : batch) ALAMBIC_RETURN_IF_ERROR(fs_->SyncFile(s.temp));
  }
  std::set<std::filesystem::path> dirs;
  bool created_any = false;
  for (const auto& s : batch) {
    std::filesystem::path final_path = PathFor(s.dataset, s.version);
    if (dirs.insert(final_path.parent_path()).second) {
      ALAMBIC_ASSIGN_OR_RETURN(bool created, fs_->CreateDirectories(final_path.parent_path()));
      created_any |= created;
    }
    ALAMBIC_RETURN_IF_ERROR(fs_->Rename(s.temp, final_path));
    CrashPoint("store_rename");
  }
  if (whole_fs) return fs_->SyncFilesystem(root_);
  if (created_any) ALAMBIC_RETURN_IF_ERROR(fs_->SyncDirectory(root_));
  for (const auto& d : dirs) ALAMBIC_RETURN_IF_ERROR(fs_->SyncDirectory(d));
  return Status::Ok();
}

void DatasetStore::Discard(const Staged& staged) const {
  if (backend_)
    backend_->Discard(staged.temp.string());
  else
    (void)fs_->Remove(staged.temp);
}

Result<Table> DatasetStore::Read(const std::string& dataset, const std::string& version) const {
  ALAMBIC_RETURN_IF_ERROR(CheckStoreName("dataset", dataset));
  if (backend_) {
    ALAMBIC_RETURN_IF_ERROR(CheckStoreName("version", version));
    return backend_->Read(dataset, version);
  }
  const std::filesystem::path p = PathFor(dataset, version);
  const std::string context = fmt::format("dataset {} version {}", dataset, version.substr(0, 12));
  auto contents = fs_->MapFile(p);
  if (!contents.ok()) return contents.status().WithContext(context);
  if ((*contents)->size() == 0)
    return Status::Invalid(
        fmt::format("{}: {}: arrow file: file of 0 bytes is too short", context, p.string()));
  auto t = ReadArrowBuffer((*contents)->data(), (*contents)->size());
  if (!t.ok()) return t.status().WithContext(p.string()).WithContext(context);
  return t;
}

bool DatasetStore::Exists(const std::string& dataset, const std::string& version) const {
  if (backend_)
    return CheckStoreName("dataset", dataset).ok() && CheckStoreName("version", version).ok() &&
           backend_->Exists(dataset, version);
  return fs_->Exists(PathFor(dataset, version));
}

Status DatasetStore::Remove(const std::string& dataset, const std::string& version) const {
  ALAMBIC_RETURN_IF_ERROR(CheckStoreName("dataset", dataset));
  if (backend_) {
    ALAMBIC_RETURN_IF_ERROR(CheckStoreName("version", version));
    return backend_->Remove(dataset, version);
  }
  return fs_->Remove(PathFor(dataset, version));
}

int DatasetStore::CleanTemporaries() const {
  if (backend_) return backend_->CleanTemporaries();
  auto names = fs_->List(root_ / ".tmp");
  if (!names.ok()) return 0;
  int n = 0;
  for (const auto& name : *names) {
    const std::filesystem::path p = root_ / ".tmp" / name;
    if (fs_->Exists(p) && fs_->Remove(p).ok()) ++n;
  }
  return n;
}

}  // namespace alambic
