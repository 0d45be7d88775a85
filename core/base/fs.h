// The filesystem seam: every file the store and the catalog write or read goes
// through a FileSystem, never through the OS directly, so that tests can fail
// the Nth write, fsync or rename (FaultyFileSystem) and check that nothing
// already published is lost.
//
// Contract: errors are IoError (NotFound for a missing file or directory) and
// name the path and the operation ("<path>: rename: No space left on device").
// Paths are used as given (no confinement: callers confine them).
//
// Thread-safety: RealFileSystem() is stateless and may be used from any
// thread; a WritableFile is used by one thread at a time; FaultyFileSystem
// counts with atomics and may be shared.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"

namespace alambic {

// A file open for writing, created by FileSystem::NewWritableFile().
// Destroying it without Close() closes it and ignores errors.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends `data`: with write(2) calls, except that the real filesystem keeps
  // up to 4 MiB of a large file in memory until Sync or Close (fs.cc).
  virtual Status Append(std::string_view data) = 0;
  // Makes what was appended durable (fsync).
  virtual Status Sync() = 0;
  // Closes the file; an error of close(2) is returned. Only once.
  virtual Status Close() = 0;
};

// The bytes of a whole file, read-only, valid while the object lives (mapped
// into memory by the real filesystem).
class FileContents {
 public:
  virtual ~FileContents() = default;
  virtual const uint8_t* data() const = 0;
  virtual size_t size() const = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Creates `path` for writing (mode 0644): it must not exist yet.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::filesystem::path& path) = 0;
  // The whole content of `path`, mapped (an empty file gives size 0).
  virtual Result<std::unique_ptr<FileContents>> MapFile(const std::filesystem::path& path) = 0;
  // The whole content of `path`, copied.
  virtual Result<std::string> ReadFile(const std::filesystem::path& path) = 0;
  // fsync of an existing file, or of a directory (its entries).
  virtual Status SyncFile(const std::filesystem::path& path) = 0;
  virtual Status SyncDirectory(const std::filesystem::path& dir) = 0;
  // Flushes the whole filesystem holding `dir` (syncfs): cheaper than many fsyncs.
  virtual Status SyncFilesystem(const std::filesystem::path& dir) = 0;
  // Atomically replaces `to` by `from` (rename(2): same filesystem).
  virtual Status Rename(const std::filesystem::path& from, const std::filesystem::path& to) = 0;
  // Removes a file or an empty directory; Ok when there is none.
  virtual Status Remove(const std::filesystem::path& path) = 0;
  // Whether `path` exists, and whether it is a regular file (after symlinks;
  // false when it cannot be told).
  virtual bool Exists(const std::filesystem::path& path) = 0;
  virtual bool IsRegularFile(const std::filesystem::path& path) = 0;
  // The names of the entries of `dir`, sorted; NotFound when it does not exist.
  virtual Result<std::vector<std::string>> List(const std::filesystem::path& dir) = 0;
  // Creates `dir` and its missing parents; true when it created any.
  virtual Result<bool> CreateDirectories(const std::filesystem::path& dir) = 0;
};

// The operating system's filesystem (POSIX calls). Process-wide, stateless.
FileSystem& RealFileSystem();

// A part of a file name unique to this call in this process
// ("<pid>-<random>-<counter>"), for temporary files.
std::string TempSuffix();

// Writes `data` to `path` so that a reader sees the old content or the new,
// never a part: a temporary file beside it (".<name>.<random>.tmp"), written,
// fsynced, closed, renamed over `path`, then the directory fsynced. On failure
// the temporary file is removed and `path` is untouched.
Status WriteFileAtomically(FileSystem& fs, const std::filesystem::path& path,
                           std::string_view data);

// A FileSystem that forwards every call to `target` (borrowed): derive from it
// to override one operation.
class FileSystemWrapper : public FileSystem {
 public:
  explicit FileSystemWrapper(FileSystem& target) : target_(target) {}
  FileSystem& target() { return target_; }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::filesystem::path& p) override {
    return target_.NewWritableFile(p);
  }
  Result<std::unique_ptr<FileContents>> MapFile(const std::filesystem::path& p) override {
    return target_.MapFile(p);
  }
  Result<std::string> ReadFile(const std::filesystem::path& p) override {
    return target_.ReadFile(p);
  }
  Status SyncFile(const std::filesystem::path& p) override { return target_.SyncFile(p); }
  Status SyncDirectory(const std::filesystem::path& d) override { return target_.SyncDirectory(d); }
  Status SyncFilesystem(const std::filesystem::path& d) override {
    return target_.SyncFilesystem(d);
  }
  Status Rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
    return target_.Rename(from, to);
  }
  Status Remove(const std::filesystem::path& p) override { return target_.Remove(p); }
  bool Exists(const std::filesystem::path& p) override { return target_.Exists(p); }
  bool IsRegularFile(const std::filesystem::path& p) override { return target_.IsRegularFile(p); }
  Result<std::vector<std::string>> List(const std::filesystem::path& d) override {
    return target_.List(d);
  }
  Result<bool> CreateDirectories(const std::filesystem::path& d) override {
    return target_.CreateDirectories(d);
  }

 private:
  FileSystem& target_;
};

// For tests: a wrapper that fails the Nth operation of a kind with an errno
// (ENOSPC, EIO, ...), as the OS would, and counts the operations done.
// Counting starts at construction and at each FailNth().
class FaultyFileSystem final : public FileSystemWrapper {
 public:
  enum class Op {
    kCreate,  // NewWritableFile
    kWrite,   // WritableFile::Append
    kSync,    // WritableFile::Sync, SyncFile, SyncDirectory, SyncFilesystem
    kClose,   // WritableFile::Close
    kRename,
    kRemove,
    kMkdir,  // CreateDirectories
    kRead,   // MapFile, ReadFile
  };
  static constexpr int kOps = 8;
  static const char* OpName(Op op);

  explicit FaultyFileSystem(FileSystem& target) : FileSystemWrapper(target) {}

  // The `n`th (1-based) `op` from now fails with `error` (an errno), once;
  // n = 0 clears it. Resets every count, Failures() included.
  void FailNth(Op op, int n, int error);
  // How many `op` were attempted since the last FailNth() (failed ones included).
  int Count(Op op) const { return counts_[static_cast<int>(op)].load(); }
  // How many operations were failed since the last FailNth().
  int Failures() const { return failures_.load(); }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::filesystem::path& p) override;
  Result<std::unique_ptr<FileContents>> MapFile(const std::filesystem::path& p) override;
  Result<std::string> ReadFile(const std::filesystem::path& p) override;
  Status SyncFile(const std::filesystem::path& p) override;
  Status SyncDirectory(const std::filesystem::path& d) override;
  Status SyncFilesystem(const std::filesystem::path& d) override;
  Status Rename(const std::filesystem::path& from, const std::filesystem::path& to) override;
  Status Remove(const std::filesystem::path& p) override;
  Result<bool> CreateDirectories(const std::filesystem::path& d) override;

  // Ok, or the injected error for this `op` on `path` ("<path>: <op>: <strerror>").
  Status Check(Op op, const std::filesystem::path& path);

 private:
  std::atomic<int> counts_[kOps] = {};
  std::atomic<int> fail_op_{-1};
  std::atomic<int> fail_at_{0};
  std::atomic<int> fail_errno_{0};
  std::atomic<int> failures_{0};
};

}  // namespace alambic
