#include "tests/fault_vfs.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

namespace alambic::testing {
namespace {

FaultVfs* g_active = nullptr;  // the living FaultVfs (one at a time)

// A file of the fault VFS: ours first, the parent VFS's file right after it.
struct FaultFile {
  sqlite3_file base;
  sqlite3_file* real;
};

sqlite3_file* Real(sqlite3_file* f) { return reinterpret_cast<FaultFile*>(f)->real; }

int Close(sqlite3_file* f) {
  sqlite3_file* r = Real(f);
  return r->pMethods ? r->pMethods->xClose(r) : SQLITE_OK;
}
int Read(sqlite3_file* f, void* buf, int amt, sqlite3_int64 off) {
  if (int rc = g_active->Check(FaultVfs::Op::kRead); rc != SQLITE_OK) return rc;
  return Real(f)->pMethods->xRead(Real(f), buf, amt, off);
}
int Write(sqlite3_file* f, const void* buf, int amt, sqlite3_int64 off) {
  if (int rc = g_active->Check(FaultVfs::Op::kWrite); rc != SQLITE_OK) return rc;
  return Real(f)->pMethods->xWrite(Real(f), buf, amt, off);
}
int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (int rc = g_active->Check(FaultVfs::Op::kTruncate); rc != SQLITE_OK) return rc;
  return Real(f)->pMethods->xTruncate(Real(f), size);
}
int Sync(sqlite3_file* f, int flags) {
  if (int rc = g_active->Check(FaultVfs::Op::kSync); rc != SQLITE_OK) return rc;
  return Real(f)->pMethods->xSync(Real(f), flags);
}
int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  return Real(f)->pMethods->xFileSize(Real(f), size);
}
int Lock(sqlite3_file* f, int l) { return Real(f)->pMethods->xLock(Real(f), l); }
int Unlock(sqlite3_file* f, int l) { return Real(f)->pMethods->xUnlock(Real(f), l); }
int CheckReservedLock(sqlite3_file* f, int* out) {
  return Real(f)->pMethods->xCheckReservedLock(Real(f), out);
}
int FileControl(sqlite3_file* f, int op, void* arg) {
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}
int SectorSize(sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); }
int DeviceCharacteristics(sqlite3_file* f) {
  return Real(f)->pMethods->xDeviceCharacteristics(Real(f));
}
int ShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** p) {
  return Real(f)->pMethods->xShmMap(Real(f), region, size, extend, p);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
}
void ShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
int ShmUnmap(sqlite3_file* f, int del) { return Real(f)->pMethods->xShmUnmap(Real(f), del); }
int Fetch(sqlite3_file* f, sqlite3_int64 off, int amt, void** p) {
  return Real(f)->pMethods->xFetch(Real(f), off, amt, p);
}
int Unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  return Real(f)->pMethods->xUnfetch(Real(f), off, p);
}

const sqlite3_io_methods kMethods3 = {
    3,
    Close,
    Read,
    Write,
    Truncate,
    Sync,
    FileSize,
    Lock,
    Unlock,
    CheckReservedLock,
    FileControl,
    SectorSize,
    DeviceCharacteristics,
    ShmMap,
    ShmLock,
    ShmBarrier,
    ShmUnmap,
    Fetch,
    Unfetch,
};

// The methods of a file whose real file has methods of version `v`: SQLite
// calls the xShm* (v2) and xFetch (v3) methods only when the version says so.
const sqlite3_io_methods* MethodsFor(int v) {
  static const sqlite3_io_methods versions[3] = {
      [] {
        sqlite3_io_methods m = kMethods3;
        m.iVersion = 1;
        return m;
      }(),
      [] {
        sqlite3_io_methods m = kMethods3;
        m.iVersion = 2;
        return m;
      }(),
      kMethods3,
  };
  return &versions[std::min(std::max(v, 1), 3) - 1];
}

sqlite3_vfs* Parent(sqlite3_vfs* vfs) { return static_cast<sqlite3_vfs*>(vfs->pAppData); }

int Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  auto* ff = reinterpret_cast<FaultFile*>(f);
  ff->base.pMethods = nullptr;
  ff->real = reinterpret_cast<sqlite3_file*>(ff + 1);
  std::memset(ff->real, 0, static_cast<size_t>(Parent(vfs)->szOsFile));
  int rc = Parent(vfs)->xOpen(Parent(vfs), name, ff->real, flags, out_flags);
  // SQLite calls xClose when pMethods is set, even after a failed open.
  if (ff->real->pMethods) ff->base.pMethods = MethodsFor(ff->real->pMethods->iVersion);
  return rc;
}
int Delete(sqlite3_vfs* v, const char* name, int sync) {
  return Parent(v)->xDelete(Parent(v), name, sync);
}
int Access(sqlite3_vfs* v, const char* name, int flags, int* out) {
  return Parent(v)->xAccess(Parent(v), name, flags, out);
}
int FullPathname(sqlite3_vfs* v, const char* name, int n, char* out) {
  return Parent(v)->xFullPathname(Parent(v), name, n, out);
}
void* DlOpen(sqlite3_vfs* v, const char* name) { return Parent(v)->xDlOpen(Parent(v), name); }
void DlError(sqlite3_vfs* v, int n, char* out) { Parent(v)->xDlError(Parent(v), n, out); }
void (*DlSym(sqlite3_vfs* v, void* h, const char* sym))(void) {
  return Parent(v)->xDlSym(Parent(v), h, sym);
}
void DlClose(sqlite3_vfs* v, void* h) { Parent(v)->xDlClose(Parent(v), h); }
int Randomness(sqlite3_vfs* v, int n, char* out) {
  return Parent(v)->xRandomness(Parent(v), n, out);
}
int Sleep(sqlite3_vfs* v, int us) { return Parent(v)->xSleep(Parent(v), us); }
int CurrentTime(sqlite3_vfs* v, double* out) { return Parent(v)->xCurrentTime(Parent(v), out); }
int GetLastError(sqlite3_vfs* v, int n, char* out) {
  return Parent(v)->xGetLastError ? Parent(v)->xGetLastError(Parent(v), n, out) : 0;
}
int CurrentTimeInt64(sqlite3_vfs* v, sqlite3_int64* out) {
  return Parent(v)->xCurrentTimeInt64(Parent(v), out);
}

}  // namespace

const char* FaultVfs::OpName(Op op) {
  switch (op) {
    case Op::kWrite:
      return "xWrite";
    case Op::kSync:
      return "xSync";
    case Op::kRead:
      return "xRead";
    case Op::kTruncate:
      return "xTruncate";
  }
  return "?";
}

FaultVfs::FaultVfs() {
  if (g_active) std::abort();  // one at a time
  parent_ = sqlite3_vfs_find(nullptr);
  vfs_.iVersion = 2;
  vfs_.szOsFile = static_cast<int>(sizeof(FaultFile)) + parent_->szOsFile;
  vfs_.mxPathname = parent_->mxPathname;
  vfs_.zName = "alambic-fault";
  vfs_.pAppData = parent_;
  vfs_.xOpen = Open;
  vfs_.xDelete = Delete;
  vfs_.xAccess = Access;
  vfs_.xFullPathname = FullPathname;
  vfs_.xDlOpen = DlOpen;
  vfs_.xDlError = DlError;
  vfs_.xDlSym = DlSym;
  vfs_.xDlClose = DlClose;
  vfs_.xRandomness = Randomness;
  vfs_.xSleep = Sleep;
  vfs_.xCurrentTime = CurrentTime;
  vfs_.xGetLastError = GetLastError;
  vfs_.xCurrentTimeInt64 = CurrentTimeInt64;
  g_active = this;
  sqlite3_vfs_register(&vfs_, 1);
}

FaultVfs::~FaultVfs() {
  sqlite3_vfs_unregister(&vfs_);
  sqlite3_vfs_register(parent_, 1);
  g_active = nullptr;
}

void FaultVfs::FailNth(Op op, int n, Error error) {
  fail_op_.store(-1);
  for (auto& c : counts_) c.store(0);
  failures_.store(0);
  fail_at_.store(n);
  fail_error_.store(static_cast<int>(error));
  fail_op_.store(n > 0 ? static_cast<int>(op) : -1);
}

int FaultVfs::Check(Op op) {
  const int i = static_cast<int>(op);
  const int n = counts_[i].fetch_add(1) + 1;
  if (fail_op_.load() != i || n != fail_at_.load()) return SQLITE_OK;
  failures_.fetch_add(1);
  if (static_cast<Error>(fail_error_.load()) == Error::kFull) return SQLITE_FULL;
  switch (op) {
    case Op::kWrite:
      return SQLITE_IOERR_WRITE;
    case Op::kSync:
      return SQLITE_IOERR_FSYNC;
    case Op::kRead:
      return SQLITE_IOERR_READ;
    case Op::kTruncate:
      return SQLITE_IOERR_TRUNCATE;
  }
  return SQLITE_IOERR;
}

}  // namespace alambic::testing
