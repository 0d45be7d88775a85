// TEST HOOK: a deterministic kill -9 at a named step of a run.
//
// CrashPoint("step") kills the process with SIGKILL (exit status 137, as
// `kill -9`) when the environment variable ALAMBIC_CRASH_AT names that step;
// otherwise it does nothing. Compiled in always, read only from the
// environment, so that the crash tests drive the real binary
// (tests/e2e/daemon_crash.sh). The steps, in the order a scheduled run meets
// them (docs/operations.md, "Crash safety"):
//   slot_recorded      the scheduler claimed a slot in the catalog
//   run_created        the run's record is in the catalog (status running)
//   run_started        its first recipe started
//   recipe_publishing  a recipe's outputs are in the store, not yet in the catalog
//   before_commit      the run ended; the slot's outcome is not yet recorded
#pragma once

#include <csignal>
#include <cstdlib>
#include <cstring>

#include <unistd.h>

namespace alambic {

inline void CrashPoint(const char* step) {
  const char* at = std::getenv("ALAMBIC_CRASH_AT");
  if (at == nullptr || std::strcmp(at, step) != 0) return;
  std::raise(SIGKILL);
  ::_exit(137);  // not reached
}

}  // namespace alambic
