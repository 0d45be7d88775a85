// The scheduler: fires the slots of the flows' schedules in one environment,
// exactly once, and runs them through a RunLauncher.
//
// One Tick() is one pass, at the Clock's now:
//   1. the lease of (workspace, environment) is taken or renewed (heartbeat,
//      every lease_ttl / 3). Without it nothing is launched: the scheduler is a
//      standby that takes over when the holder's lease expires. Taking it
//      (a new fencing token) fences the catalog connection (Catalog::SetFence)
//      and recovers what the previous holder left open: a slot claimed or
//      queued is launched; a slot whose run was `running` has that run
//      finished as failed ("abandoned") and is retried per its policy;
//      retry waits are resumed. Then the catch-up pass replays missed slots
//      per each schedule's policy (none, latest, all with max and window).
//   2. finished runs are recorded (slot status; failures retried after
//      retry_delay * 2^(attempt-1)); runs over their timeout are cancelled.
//   3. fresh slots (fired since the last tick) are claimed, then catch-up
//      slots; every slot is claimed in the catalog (TryClaimSlot, unique per
//      (flow, environment, nominal, timezone)) BEFORE its run is created, so a
//      slot fires at most once across restarts and daemons.
//   3b. data triggers (on_change) due for a poll are polled: a content hash
//      other than the trigger's cursor claims a slot (kind on_change, nominal
//      the UTC instant seen) and moves the cursor in ONE catalog transaction
//      (AdvanceTriggerCursor): the change fires exactly once, and its run is
//      created from that slot like any other (recovered after a crash). The
//      first poll of a trigger only records its cursor; an unchanged hash
//      (a re-delivery of the same content) fires nothing; a failed poll is
//      logged and audited once, the cursor stays.
//   4. claimed slots are launched, fresh before catch-up, within the flow's
//      max_active_runs (overlap: skip the new slot, queue it, or cancel the
//      oldest run) and the global limit (queued).
// A paused schedule claims nothing. Changing a schedule (its definition)
// resets its first-seen time: it never fires a slot from before. SetFlows
// replaces the schedules while the scheduler runs (a promotion or a rollback
// in the warehouse): runs going and slots waiting carry on, the new schedules
// fire from now on, never a past slot.
// Every action is in the audit log ("schedule.*" actions, the lease holder in
// the detail).
//
// Thread-safety: Tick, Trigger, StopLaunching, CancelRunning and WaitRuns are
// called from one thread; runs execute on their own threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "catalog/catalog.h"
#include "core/base/actor.h"
#include "core/base/cancel.h"
#include "core/base/clock.h"
#include "core/base/status.h"
#include "core/flow/flow.h"
#include "core/sched/schedule.h"
#include "services/scheduler/alerts.h"

namespace alambic {

// Audit actions of the scheduler.
inline constexpr const char* kAuditLease = "schedule.lease";
inline constexpr const char* kAuditFire = "schedule.fire";
inline constexpr const char* kAuditSkip = "schedule.skip";
inline constexpr const char* kAuditQueue = "schedule.queue";
inline constexpr const char* kAuditFinish = "schedule.finish";
inline constexpr const char* kAuditRetry = "schedule.retry";
inline constexpr const char* kAuditTimeout = "schedule.timeout";
inline constexpr const char* kAuditCancel = "schedule.cancel";
inline constexpr const char* kAuditRecover = "schedule.recover";
inline constexpr const char* kAuditTrigger = "trigger";
inline constexpr const char* kAuditChange = "schedule.change";
// The timezone column of a data trigger's slot: "on_change" and the trigger,
// its nominal the UTC instant the change was seen.
inline constexpr const char* kOnChangeZone = "on_change";

// What the scheduler asks to run: flow F in environment E (its active release
// where the environment runs releases only), for a slot or a manual trigger.
struct ScheduledRunRequest {
  std::string flow, environment;
  // The slot ("" for a manual trigger). A slot's run waits for the workspace's lock while
  // a manual run or gc holds it; a manual trigger is refused at once, as `alambic run` is.
  std::string nominal, timezone;
  std::string trigger;  // schedule | catchup | retry | manual
  std::string requested_by;
  int attempt = 1;
  // The run's id, recorded on the slot before the run is created (so that a
  // crash in between still names the run); "": the launcher chooses.
  std::string run_id;
  // The lease's fencing token (0: none): the run's catalog writes are fenced
  // with it, so a run of a daemon that lost its lease cannot publish.
  std::string workspace;
  int64_t lease_token = 0;
};

struct LaunchedRun {
  std::string run_id;
  std::string status;  // succeeded | failed | cancelled
  std::string error;
  // The failed checks of severity warn of a run that succeeded, one line each:
  // "recipe check_exams: check 'not_null' failed: column 'x': ..."
  std::vector<std::string> warnings;
};

// Runs one flow to its end. Called from several threads at once. `started`
// is called with the run id once the run is created (before any recipe);
// cancelling `cancel` stops the run, which is then recorded as cancelled.
// A non-ok Result: the run could not be created or recorded.
class RunLauncher {
 public:
  virtual ~RunLauncher() = default;
  virtual Result<LaunchedRun> Launch(const ScheduledRunRequest& request, const CancelToken& cancel,
                                     const std::function<void(const std::string&)>& started) = 0;
};

enum class Overlap { kSkip, kQueue, kCancel };

// A data trigger of a flow (flow.h ChangeTrigger) with its polling interval.
struct FlowTrigger {
  ChangeTrigger source;
  std::chrono::seconds every{300};
};

// A flow's schedule compiled with its run policy (flow.h `schedule:`).
struct FlowSchedule {
  std::string flow;
  std::optional<sched::Schedule> schedule;  // its cron; none when it has only data triggers
  std::vector<FlowTrigger> triggers;        // on_change
  int retries = 0;
  std::chrono::seconds retry_delay{60};
  int max_active_runs = 1;
  Overlap overlap = Overlap::kSkip;
  std::optional<std::chrono::seconds> timeout, late_after;
};
Result<FlowSchedule> CompileFlowSchedule(const Flow& flow);

struct SchedulerOptions {
  std::string workspace;    // the lease's key (the workspace's name or path)
  std::string environment;  // where runs happen
  std::string holder;       // who holds the lease, e.g. "host:pid"
  std::chrono::seconds lease_ttl{30};
  // Slots that fired this long before a tick (or since the previous tick)
  // are fresh; older ones are catch-up, per the schedule's policy.
  std::chrono::seconds fresh_window{120};
  int max_active_runs = 4;                      // globally
  std::function<void(const std::string&)> log;  // one line per event (none when empty)
  // Where alerts go (borrowed; none when null): a slot's run failed (after its
  // retries), its flow recovered, succeeded with check warnings, or a slot is
  // late (schedule late_after).
  AlertSink* alerts = nullptr;
  // The current content hash of a data trigger's source (triggers.h
  // PollTrigger); data triggers are not polled when empty.
  std::function<Result<std::string>(const ChangeTrigger&)> poll;
};

class Scheduler {
 public:
  Scheduler(Catalog& catalog, Clock& clock, RunLauncher& launcher, std::vector<FlowSchedule> flows,
            SchedulerOptions options);
  // Cancels and waits for the runs still going.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // One pass (above). Fails only when the catalog cannot be read or written
  // for a reason other than a lost lease.
  Status Tick();
  // Replaces the schedules (a new active release): each flow is matched by
  // name. A flow left out keeps its runs going and its slots waiting (their
  // retries and timeout as before) but fires nothing more. A changed
  // definition is first seen now (no catch-up of its past); an unchanged one
  // goes on where it was.
  Status SetFlows(std::vector<FlowSchedule> flows);
  const std::vector<FlowSchedule>& flows() const { return flows_; }
  // When the next slot of any schedule fires or a retry is due (the daemon
  // sleeps until then, or until a run ends).
  std::optional<sched::Instant> NextWake() const;
  // Blocks until a run ends or `deadline` (real time) passes.
  void WaitForEvent(std::chrono::steady_clock::time_point deadline);

  bool has_lease() const { return token_ != 0; }
  int64_t lease_token() const { return token_; }
  int active_runs() const;
  // Shutdown: launch nothing more (Tick still records finished runs).
  void StopLaunching() { stopping_ = true; }
  // Cancels every running run (recorded as cancelled, not retried).
  void CancelRunning();
  // Waits for every running run to end and records them.
  Status WaitRuns();
  // Ends the lease now (after a clean stop).
  Status ReleaseLease();

 private:
  struct Active;
  struct Pending {
    SlotClaim slot;
    size_t flow = 0;
  };
  struct Done {
    std::shared_ptr<Active> run;
    Result<LaunchedRun> result;
  };

  sched::Instant Now() const;
  void Log(const std::string& line) const;
  void Audit(const std::string& action, const std::string& flow, const std::string& target,
             const std::string& outcome, nlohmann::json detail) const;
  Status Lease(sched::Instant now);
  void LoseLease(const Status& why);
  Status Recover(sched::Instant now);
  Status CatchUp(sched::Instant now);
  Status FireFresh(sched::Instant now);
  Status PollTriggers(sched::Instant now);
  Status Claim(size_t flow, const sched::Slot& slot, const std::string& kind, bool fresh);
  Status Dispatch(Pending p, bool fresh);
  Status LaunchPending(sched::Instant now);
  Status Start(Pending p, sched::Instant now);
  Status ProcessDone(sched::Instant now);
  Status Finish(Done d, sched::Instant now);
  void CheckTimeouts(sched::Instant now);
  void CheckLate(sched::Instant now);
  void SendAlert(const std::string& kind, const SlotClaim& s, const std::string& message);
  int ActiveOf(size_t flow) const;
  std::optional<size_t> FlowIndex(const std::string& name) const;
  // A failure of a fenced write: the lease was lost (handled, ok), or another error.
  Status Fenced(const Status& st);

  Catalog& catalog_;
  Clock& clock_;
  RunLauncher& launcher_;
  std::vector<FlowSchedule> flows_;
  SchedulerOptions options_;
  std::vector<std::optional<sched::Slot>> next_;        // each flow's next slot
  std::vector<std::vector<sched::Instant>> next_poll_;  // each flow's triggers' next poll
  std::map<std::string, std::string> poll_errors_;      // "flow key" -> the last error logged
  int64_t token_ = 0;
  sched::Instant last_heartbeat_{}, last_tick_{};
  bool stopping_ = false;
  std::deque<Pending> fresh_, catchup_;  // claimed, waiting for room
  std::vector<Pending> retry_wait_;      // slot.next_attempt_at says when
  std::vector<std::shared_ptr<Active>> active_;
  std::map<size_t, bool> failing_;  // flows whose last slot failed (for recovery alerts)
  std::set<std::string> late_;      // "flow nominal" already alerted late

  mutable std::mutex mu_;  // guards done_
  std::condition_variable cv_;
  std::vector<Done> done_;
};

// A manual production run of `flow` in `env` (`alambic trigger`), now, on
// behalf of `who`: launched outside any schedule slot, and audited (action
// "trigger", who asked, the reason, the run and its outcome; a launch that
// fails is audited as failed).
Result<LaunchedRun> TriggerRun(Catalog& catalog, RunLauncher& launcher, const std::string& flow,
                               const std::string& env, const std::string& reason, const Actor& who,
                               const CancelToken& cancel);

}  // namespace alambic
