// For tests: an SQLite VFS that wraps the default one and fails the Nth
// xWrite, xSync, xRead or xTruncate with SQLITE_IOERR (its extended code for
// the operation) or SQLITE_FULL, as a failing disk would, and counts the
// operations done. While a FaultVfs object lives it is SQLite's default VFS,
// so every connection opened meanwhile (the catalog's included) goes through
// it; its destructor makes the previous default the default again. Only one
// may live at a time; connections opened through it must be closed first.
// Counts are atomics: connections on several threads may share it.
#pragma once

#include <sqlite3.h>

#include <atomic>

namespace alambic::testing {

class FaultVfs {
 public:
  enum class Op { kWrite, kSync, kRead, kTruncate };
  static constexpr int kOps = 4;
  static const char* OpName(Op op);
  // kIoErr: SQLITE_IOERR_WRITE, _FSYNC, _READ or _TRUNCATE; kFull: SQLITE_FULL.
  enum class Error { kIoErr, kFull };

  FaultVfs();
  ~FaultVfs();
  FaultVfs(const FaultVfs&) = delete;
  FaultVfs& operator=(const FaultVfs&) = delete;

  // The `n`th (1-based) `op` from now fails with `error`, once; n = 0 clears
  // it. Resets every count, Failures() included.
  void FailNth(Op op, int n, Error error);
  // How many `op` were attempted since the last FailNth() (failed ones included).
  int Count(Op op) const { return counts_[static_cast<int>(op)].load(); }
  // How many operations were failed since the last FailNth().
  int Failures() const { return failures_.load(); }

  // Ok (SQLITE_OK) or the injected error for this `op` (the VFS's methods call it).
  int Check(Op op);
  sqlite3_vfs* parent() const { return parent_; }

 private:
  sqlite3_vfs vfs_{};
  sqlite3_vfs* parent_ = nullptr;
  std::atomic<int> counts_[kOps] = {};
  std::atomic<int> fail_op_{-1};
  std::atomic<int> fail_at_{0};
  std::atomic<int> fail_error_{0};
  std::atomic<int> failures_{0};
};

}  // namespace alambic::testing
