#include "core/store/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <set>

#include <fmt/format.h>

#include "core/table/arrow_ipc.h"

namespace alambic {

namespace {

// Above this many files, one syncfs() is cheaper than an fsync per file.
constexpr size_t kSyncfsThreshold = 8;

Status FsyncPath(const std::filesystem::path& p, bool directory) {
  int fd = ::open(p.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0)
    return Status::IoError(fmt::format("{}: open for sync: {}", p.string(), std::strerror(errno)));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0)
    return Status::IoError(fmt::format("{}: fsync: {}", p.string(), std::strerror(errno)));
  return Status::Ok();
}

// Flushes the whole filesystem holding `dir` (data and metadata).
Status SyncFilesystem(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::IoError(fmt::format("{}: {}", dir.string(), std::strerror(errno)));
  int rc = ::syncfs(fd);
  ::close(fd);
  if (rc != 0) return Status::IoError(fmt::format("syncfs: {}", std::strerror(errno)));
  return Status::Ok();
}

std::string RandomSuffix() {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:x}-{:x}-{}", ::getpid(), rng(), counter.fetch_add(1));
}

}  // namespace

DatasetStore::DatasetStore(std::filesystem::path root) : root_(std::move(root)) {}

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
  std::error_code ec;
  std::filesystem::create_directories(root_ / ".tmp", ec);
  if (ec) return Status::IoError(fmt::format("{}: {}", (root_ / ".tmp").string(), ec.message()));
  Staged s{dataset, version,
           root_ / ".tmp" / fmt::format("{}.{}.{}.tmp", dataset, version, RandomSuffix()), 0};
  int fd = ::open(s.temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IoError(fmt::format("{}: {}", s.temp.string(), std::strerror(errno)));
  FdByteSink sink(fd);
  Status st = WriteArrowFile(table, sink);
  if (st.ok()) st = sink.Flush();
  if (::close(fd) != 0 && st.ok())
    st = Status::IoError(fmt::format("{}: close: {}", s.temp.string(), std::strerror(errno)));
  if (!st.ok()) {
    std::filesystem::remove(s.temp, ec);
    return st.WithContext(fmt::format("writing dataset {}", dataset));
  }
  s.bytes = sink.written();
  return s;
}

Status DatasetStore::Publish(const std::vector<Staged>& batch) const {
  if (batch.empty()) return Status::Ok();
  // Large batches: one syncfs() makes every staged file durable, and another,
  // after the renames, every directory entry; small ones sync what they touch.
  const bool whole_fs = batch.size() >= kSyncfsThreshold;
  if (whole_fs) {
    ALAMBIC_RETURN_IF_ERROR(SyncFilesystem(root_ / ".tmp"));
  } else {
    for (const auto& s : batch) ALAMBIC_RETURN_IF_ERROR(FsyncPath(s.temp, false));
  }
  std::set<std::filesystem::path> dirs;
  bool created_any = false;
  for (const auto& s : batch) {
    std::filesystem::path final_path = PathFor(s.dataset, s.version);
    std::error_code ec;
    if (dirs.insert(final_path.parent_path()).second) {
      created_any |= std::filesystem::create_directories(final_path.parent_path(), ec);
      if (ec)
        return Status::IoError(
            fmt::format("{}: {}", final_path.parent_path().string(), ec.message()));
    }
    if (::rename(s.temp.c_str(), final_path.c_str()) != 0)
      return Status::IoError(
          fmt::format("{}: rename: {}", final_path.string(), std::strerror(errno)));
  }
  if (whole_fs) return SyncFilesystem(root_);
  if (created_any) ALAMBIC_RETURN_IF_ERROR(FsyncPath(root_, true));
  for (const auto& d : dirs) ALAMBIC_RETURN_IF_ERROR(FsyncPath(d, true));
  return Status::Ok();
}

void DatasetStore::Discard(const Staged& staged) const {
  std::error_code ec;
  std::filesystem::remove(staged.temp, ec);
}

Result<Table> DatasetStore::Read(const std::string& dataset, const std::string& version) const {
  ALAMBIC_RETURN_IF_ERROR(CheckStoreName("dataset", dataset));
  auto p = PathFor(dataset, version);
  auto t = ReadArrowFile(p.string());
  if (!t.ok())
    return t.status().WithContext(
        fmt::format("dataset {} version {}", dataset, version.substr(0, 12)));
  return t;
}

bool DatasetStore::Exists(const std::string& dataset, const std::string& version) const {
  struct stat st;
  return ::stat(PathFor(dataset, version).c_str(), &st) == 0;
}

Status DatasetStore::Remove(const std::string& dataset, const std::string& version) const {
  ALAMBIC_RETURN_IF_ERROR(CheckStoreName("dataset", dataset));
  std::error_code ec;
  std::filesystem::remove(PathFor(dataset, version), ec);
  if (ec)
    return Status::IoError(fmt::format("{}: {}", PathFor(dataset, version).string(), ec.message()));
  return Status::Ok();
}

int DatasetStore::CleanTemporaries() const {
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(root_ / ".tmp", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::error_code rm;
    if (std::filesystem::remove(it->path(), rm)) ++n;
  }
  return n;
}

}  // namespace alambic
