// TEST HOOK: a deterministic kill -9 at a named step of a run.
//
// CrashPoint("step") kills the process with SIGKILL (exit status 137, as
// `kill -9`) when the environment variable ALAMBIC_CRASH_AT names that step
// ("STEP": the first time it is reached; "STEP:N": the Nth time, N >= 1);
// otherwise it does nothing. Compiled in always, read only from the
// environment, so that the crash tests drive the real binary
// (tests/e2e/daemon_crash*.sh, tests/crash_loop_test.cc). The steps, in the
// order a scheduled run meets them (docs/operations.md, "Crash safety"):
//   slot_recorded      the scheduler claimed a slot in the catalog
//   run_created        the run's record is in the catalog (status running)
//   run_started        its first recipe started
//   dataset_write      a version is being written to the store's .tmp/
//   store_rename       a staged version was renamed into place, others of its
//                      batch not yet
//   recipe_publishing  a recipe's outputs are in the store, not yet in the catalog
//   catalog_commit     inside the catalog transaction that records them
//   before_commit      the run ended; the slot's outcome is not yet recorded
// and, for `alambic promote`:
//   promotion          the release is tagged in git, not yet recorded
//   release_activation inside the catalog transaction that records it: the
//                      release is written, its activation not yet
//   promotion_recorded the release is recorded and active, its audit entry
//                      not yet written
// and, for the daemon taking up a newly promoted release:
//   release_reload     it saw the active releases change, has not loaded them
//   release_checkout   the release's commit is fetched into its checkout
//                      (.alambic/checkouts/ENV/FLOW), its files not yet
//                      checked out (`alambic run` in the environment too)
#pragma once

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include <unistd.h>

namespace alambic {

inline void CrashPoint(const char* step) {
  const char* at = std::getenv("ALAMBIC_CRASH_AT");
  if (at == nullptr) return;
  const size_t len = std::strlen(step);
  if (std::strncmp(at, step, len) != 0 || (at[len] != '\0' && at[len] != ':')) return;
  if (at[len] == ':') {
    static std::atomic<long> hits{0};  // one counter: only one step is named
    if (hits.fetch_add(1) + 1 != std::strtol(at + len + 1, nullptr, 10)) return;
  }
  std::raise(SIGKILL);
  ::_exit(137);  // not reached
}

}  // namespace alambic
