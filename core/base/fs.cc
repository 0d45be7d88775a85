#include "core/base/fs.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>
#include <system_error>

#include <fmt/format.h>

namespace alambic {

namespace {

namespace stdfs = std::filesystem;

Status Errno(const stdfs::path& path, std::string_view what, int error) {
  return Status::IoError(fmt::format("{}: {}: {}", path.string(), what, std::strerror(error)));
}

// Past its first kDirectFrom bytes, a file is written around the page cache
// (O_DIRECT, set with fcntl at that offset) in kDirectStage blocks copied into
// an aligned buffer; the last partial block goes through the page cache again.
// A dataset's version is fsynced before it is published and read by the run
// that made it from memory: copying it into the page cache first, then writing
// that back, is the bulk of the cost of persisting it (on a virtual disk here,
// 1.2 GB/s direct against 0.32 GB/s written then fsynced). Where the
// filesystem refuses O_DIRECT (tmpfs, some network filesystems) or a direct
// write fails with EINVAL, the file goes on through the page cache.
constexpr size_t kDirectFrom = size_t{1} << 20;
constexpr size_t kDirectAlign = 4096;  // offsets, lengths and memory of direct writes
constexpr size_t kDirectStage = size_t{4} << 20;
static_assert(kDirectFrom % kDirectAlign == 0 && kDirectStage % kDirectAlign == 0);

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(stdfs::path path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
    std::free(stage_);
  }
  PosixWritableFile(const PosixWritableFile&) = delete;
  PosixWritableFile& operator=(const PosixWritableFile&) = delete;

  Status Append(std::string_view data) override {
    while (!data.empty()) {
      if (mode_ == Mode::kDirect) {
        const size_t n = std::min(data.size(), kDirectStage - staged_);
        std::memcpy(stage_ + staged_, data.data(), n);
        staged_ += n;
        data.remove_prefix(n);
        if (staged_ == kDirectStage) ALAMBIC_RETURN_IF_ERROR(WriteStage(kDirectStage));
        continue;
      }
      size_t n = data.size();
      if (mode_ == Mode::kUndecided) {
        if (offset_ == kDirectFrom) {
          StartDirect();
          continue;
        }
        n = std::min(n, kDirectFrom - offset_);
      }
      ALAMBIC_RETURN_IF_ERROR(WriteAll(data.data(), n));
      data.remove_prefix(n);
    }
    return Status::Ok();
  }
  Status Sync() override {
    ALAMBIC_RETURN_IF_ERROR(Flush());
    if (::fsync(fd_) != 0) return Errno(path_, "fsync", errno);
    return Status::Ok();
  }
  Status Close() override {
    const int fd = fd_;
    if (fd < 0) return Status::Ok();
    Status flushed = Flush();
    fd_ = -1;
    if (::close(fd) != 0 && flushed.ok()) return Errno(path_, "close", errno);
    return flushed;
  }

 private:
  enum class Mode { kUndecided, kDirect, kBuffered };

  // write(2) of n bytes at the file's offset, in as many calls as it takes.
  Status WriteAll(const char* p, size_t n) {
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return Errno(path_, "write", errno);
      }
      p += w;
      n -= static_cast<size_t>(w);
      offset_ += static_cast<size_t>(w);
    }
    return Status::Ok();
  }
  // At offset kDirectFrom: O_DIRECT from here when the filesystem takes it.
  void StartDirect() {
    mode_ = Mode::kBuffered;
    const int flags = ::fcntl(fd_, F_GETFL);
    if (flags < 0) return;
    void* stage = nullptr;
    if (::posix_memalign(&stage, kDirectAlign, kDirectStage) != 0) return;
    if (::fcntl(fd_, F_SETFL, flags | O_DIRECT) != 0) {
      std::free(stage);
      return;
    }
    stage_ = static_cast<char*>(stage);
    mode_ = Mode::kDirect;
  }
  // Back to the page cache for the rest of the file.
  void StopDirect() {
    const int flags = ::fcntl(fd_, F_GETFL);
    if (flags >= 0) (void)::fcntl(fd_, F_SETFL, flags & ~O_DIRECT);
    mode_ = Mode::kBuffered;
  }
  // Writes the first n (aligned) staged bytes directly and keeps the rest staged.
  Status WriteStage(size_t n) {
    size_t done = 0;
    while (done < n) {
      const ssize_t w = ::write(fd_, stage_ + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && errno != EINVAL) return Errno(path_, "write", errno);
      if (w <= 0 || static_cast<size_t>(w) % kDirectAlign != 0) {
        // Refused (EINVAL) or cut at an unaligned length: the rest (from the
        // file's offset) through the page cache.
        if (w > 0) {
          done += static_cast<size_t>(w);
          offset_ += static_cast<size_t>(w);
        }
        StopDirect();
        ALAMBIC_RETURN_IF_ERROR(WriteAll(stage_ + done, staged_ - done));
        staged_ = 0;
        return Status::Ok();
      }
      done += static_cast<size_t>(w);
      offset_ += static_cast<size_t>(w);
    }
    std::memmove(stage_, stage_ + n, staged_ - n);
    staged_ -= n;
    return Status::Ok();
  }
  // Everything staged to the file: the aligned part directly, the rest buffered.
  Status Flush() {
    if (mode_ != Mode::kDirect) return Status::Ok();
    ALAMBIC_RETURN_IF_ERROR(WriteStage(staged_ / kDirectAlign * kDirectAlign));
    if (mode_ == Mode::kDirect) StopDirect();
    const size_t rest = staged_;
    staged_ = 0;
    return WriteAll(stage_, rest);
  }

  stdfs::path path_;
  int fd_;
  Mode mode_ = Mode::kUndecided;
  size_t offset_ = 0;      // bytes written to the file
  char* stage_ = nullptr;  // kDirectStage bytes, aligned, in direct mode
  size_t staged_ = 0;      // bytes of stage_ not written yet
};

class MappedFile final : public FileContents {
 public:
  MappedFile(void* map, size_t size) : map_(map), size_(size) {}
  ~MappedFile() override {
    if (map_) ::munmap(map_, size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const override { return static_cast<const uint8_t*>(map_); }
  size_t size() const override { return size_; }

 private:
  void* map_;
  size_t size_;
};

// fsync of a file or a directory, by path.
Status SyncPath(const stdfs::path& p, bool directory) {
  const int fd = ::open(p.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return Errno(p, "open for sync", errno);
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0) return Errno(p, "fsync", error);
  return Status::Ok();
}

class PosixFileSystem final : public FileSystem {
 public:
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const stdfs::path& path) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return Status::IoError(fmt::format("{}: {}", path.string(), std::strerror(errno)));
    return std::unique_ptr<WritableFile>(std::make_unique<PosixWritableFile>(path, fd));
  }

  Result<std::unique_ptr<FileContents>> MapFile(const stdfs::path& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::NotFound(fmt::format("{}: {}", path.string(), std::strerror(errno)));
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      const int error = errno;
      ::close(fd);
      return Status::IoError(fmt::format("{}: {}", path.string(), std::strerror(error)));
    }
    const auto size = static_cast<size_t>(st.st_size);
    void* map = nullptr;
    if (size > 0) {
      map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (map == MAP_FAILED) {
        const int error = errno;
        ::close(fd);
        return Errno(path, "mmap", error);
      }
    }
    ::close(fd);
    return std::unique_ptr<FileContents>(std::make_unique<MappedFile>(map, size));
  }

  Result<std::string> ReadFile(const stdfs::path& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::NotFound(fmt::format("{}: {}", path.string(), std::strerror(errno)));
    std::string out;
    char buf[1 << 16];
    for (;;) {
      const ssize_t r = ::read(fd, buf, sizeof buf);
      if (r < 0) {
        if (errno == EINTR) continue;
        const int error = errno;
        ::close(fd);
        return Errno(path, "read", error);
      }
      if (r == 0) break;
      out.append(buf, static_cast<size_t>(r));
    }
    ::close(fd);
    return out;
  }

  Status SyncFile(const stdfs::path& path) override { return SyncPath(path, false); }
  Status SyncDirectory(const stdfs::path& dir) override { return SyncPath(dir, true); }

  Status SyncFilesystem(const stdfs::path& dir) override {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Status::IoError(fmt::format("{}: {}", dir.string(), std::strerror(errno)));
    const int rc = ::syncfs(fd);
    const int error = errno;
    ::close(fd);
    if (rc != 0) return Errno(dir, "syncfs", error);
    return Status::Ok();
  }

  Status Rename(const stdfs::path& from, const stdfs::path& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return Errno(to, "rename", errno);
    return Status::Ok();
  }

  Status Remove(const stdfs::path& path) override {
    std::error_code ec;
    stdfs::remove(path, ec);
    if (ec) return Status::IoError(fmt::format("{}: {}", path.string(), ec.message()));
    return Status::Ok();
  }

  bool Exists(const stdfs::path& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }

  bool IsRegularFile(const stdfs::path& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
  }

  Result<std::vector<std::string>> List(const stdfs::path& dir) override {
    std::error_code ec;
    std::vector<std::string> names;
    auto it = stdfs::directory_iterator(dir, ec);
    if (ec == std::errc::no_such_file_or_directory)
      return Status::NotFound(fmt::format("{}: {}", dir.string(), ec.message()));
    for (; !ec && it != stdfs::directory_iterator(); it.increment(ec))
      names.push_back(it->path().filename().string());
    if (ec) return Status::IoError(fmt::format("{}: {}", dir.string(), ec.message()));
    std::sort(names.begin(), names.end());
    return names;
  }

  Result<bool> CreateDirectories(const stdfs::path& dir) override {
    std::error_code ec;
    const bool created = stdfs::create_directories(dir, ec);
    if (ec) return Status::IoError(fmt::format("{}: {}", dir.string(), ec.message()));
    return created;
  }
};

// Forwards to the file of `target`, failing as `fs` says.
class FaultyWritableFile final : public WritableFile {
 public:
  FaultyWritableFile(FaultyFileSystem& fs, stdfs::path path, std::unique_ptr<WritableFile> target)
      : fs_(fs), path_(std::move(path)), target_(std::move(target)) {}

  Status Append(std::string_view data) override {
    Status injected = fs_.Check(FaultyFileSystem::Op::kWrite, path_);
    if (!injected.ok()) {
      // As a full disk does: part of the data lands, then the error.
      (void)target_->Append(data.substr(0, data.size() / 2));
      return injected;
    }
    return target_->Append(data);
  }
  Status Sync() override {
    ALAMBIC_RETURN_IF_ERROR(fs_.Check(FaultyFileSystem::Op::kSync, path_));
    return target_->Sync();
  }
  Status Close() override {
    Status injected = fs_.Check(FaultyFileSystem::Op::kClose, path_);
    Status closed = target_->Close();  // the descriptor goes either way
    return injected.ok() ? closed : injected;
  }

 private:
  FaultyFileSystem& fs_;
  stdfs::path path_;
  std::unique_ptr<WritableFile> target_;
};

}  // namespace

FileSystem& RealFileSystem() {
  static PosixFileSystem fs;
  return fs;
}

std::string TempSuffix() {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:x}-{:x}-{}", ::getpid(), rng(), counter.fetch_add(1));
}

Status WriteFileAtomically(FileSystem& fs, const stdfs::path& path, std::string_view data) {
  const stdfs::path dir = path.has_parent_path() ? path.parent_path() : stdfs::path(".");
  const stdfs::path temp = dir / fmt::format(".{}.{}.tmp", path.filename().string(), TempSuffix());
  ALAMBIC_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, fs.NewWritableFile(temp));
  Status st = file->Append(data);
  if (st.ok()) st = file->Sync();
  Status closed = file->Close();
  if (st.ok()) st = closed;
  if (st.ok()) st = fs.Rename(temp, path);
  if (!st.ok()) {
    (void)fs.Remove(temp);  // best effort: a leftover is only a hidden temporary
    return st;
  }
  return fs.SyncDirectory(dir);
}

const char* FaultyFileSystem::OpName(Op op) {
  switch (op) {
    case Op::kCreate:
      return "create";
    case Op::kWrite:
      return "write";
    case Op::kSync:
      return "fsync";
    case Op::kClose:
      return "close";
    case Op::kRename:
      return "rename";
    case Op::kRemove:
      return "remove";
    case Op::kMkdir:
      return "mkdir";
    case Op::kRead:
      return "read";
  }
  return "?";
}

void FaultyFileSystem::FailNth(Op op, int n, int error) {
  for (auto& c : counts_) c.store(0);
  failures_.store(0);
  fail_op_.store(n > 0 ? static_cast<int>(op) : -1);
  fail_at_.store(n);
  fail_errno_.store(error);
}

Status FaultyFileSystem::Check(Op op, const stdfs::path& path) {
  const int i = static_cast<int>(op);
  const int n = counts_[i].fetch_add(1) + 1;
  if (fail_op_.load() != i || n != fail_at_.load()) return Status::Ok();
  failures_.fetch_add(1);
  return Errno(path, OpName(op), fail_errno_.load());
}

Result<std::unique_ptr<WritableFile>> FaultyFileSystem::NewWritableFile(const stdfs::path& p) {
  ALAMBIC_RETURN_IF_ERROR(Check(Op::kCreate, p));
  ALAMBIC_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, target().NewWritableFile(p));
  return std::unique_ptr<WritableFile>(
      std::make_unique<FaultyWritableFile>(*this, p, std::move(file)));
}

Result<std::unique_ptr<FileContents>> FaultyFileSystem::MapFile(const stdfs::path& p) {
  ALAMBIC_RETURN_IF_ERROR(Check(Op::kRead, p));
  return target().MapFile(p);
}

Result<std::string> FaultyFileSystem::ReadFile(const stdfs::path& p) {
  ALAMBIC_RETURN_IF_ERROR(Check(Op::kRead, p));
  return target().ReadFile(p);
}

Status FaultyFileSystem::SyncFile(const stdfs::path& p) {
  ALAMBIC_RETURN_IF_ERROR(Check(Op::kSync, p));
  return target().SyncFile(p);
}

Status FaultyFileSystem::SyncDirectory(const stdfs::path& d) {
  ALAMBIC_RETURN_IF_ERROR(Check(Op::kSync, d));
  return target().SyncDirectory(d);
}

Status FaultyFileSystem::SyncFilesystem(const stdfs::path& d) {
  ALAMBIC_RETURN_IF_ERROR(Check(Op::kSync, d));
  return target().SyncFilesystem(d);
}

Status FaultyFileSystem::Rename(const stdfs::path& from, const stdfs::path& to) {
  ALAMBIC_RETURN_IF_ERROR(Check(Op::kRename, to));
  return target().Rename(from, to);
}

Status FaultyFileSystem::Remove(const stdfs::path& p) {
  ALAMBIC_RETURN_IF_ERROR(Check(Op::kRemove, p));
  return target().Remove(p);
}

Result<bool> FaultyFileSystem::CreateDirectories(const stdfs::path& d) {
  ALAMBIC_RETURN_IF_ERROR(Check(Op::kMkdir, d));
  return target().CreateDirectories(d);
}

}  // namespace alambic
