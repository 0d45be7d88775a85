#include "services/scheduler/scheduler.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/base/actor.h"
#include "core/base/crash_point.h"
#include "core/flow/schedule_spec.h"
#include "services/scheduler/triggers.h"

namespace alambic {

namespace {

using sched::FormatUtc;
using sched::Instant;

// Retry delays double per attempt up to this.
constexpr std::chrono::seconds kMaxRetryDelay{24 * 3600};
// Fresh slots of one flow handled per tick at most (a clock jump forward).
constexpr int kMaxFreshPerTick = 1000;

bool LeaseLost(const Status& st) {
  return st.code() == StatusCode::kFailed && st.message().rfind("lease lost", 0) == 0;
}

std::chrono::seconds RetryDelay(std::chrono::seconds base, int attempt) {
  std::chrono::seconds d = base;
  for (int i = 1; i < attempt && d < kMaxRetryDelay; ++i) d *= 2;
  return std::min(d, kMaxRetryDelay);
}

}  // namespace

struct Scheduler::Active {
  Pending p;
  std::shared_ptr<CancelToken> cancel = std::make_shared<CancelToken>();
  Instant started;
  bool timed_out = false, superseded = false, shutdown = false;
  std::thread thread;
};

Result<FlowSchedule> CompileFlowSchedule(const Flow& flow) {
  if (!flow.schedule) return Status::Invalid(fmt::format("flow {} has no schedule", flow.name));
  const Schedule& s = *flow.schedule;
  FlowSchedule f;
  f.flow = flow.name;
  if (!s.cron.empty()) {
    ALAMBIC_ASSIGN_OR_RETURN(auto spec, ScheduleSpecOf(s));
    auto compiled = sched::Schedule::Compile(spec);
    if (!compiled.ok())
      return Status::Invalid(s.loc.ToString() + ": schedule " + compiled.status().message());
    f.schedule = std::move(*compiled);
  } else if (s.on_change.empty()) {
    return Status::Invalid(fmt::format(
        "{}: schedule has no cron expression (nor on_change triggers)", s.loc.ToString()));
  }
  for (const ChangeTrigger& t : s.on_change) {
    auto every = sched::ParseWindow(t.every);
    if (!every.ok())
      return Status::Invalid(fmt::format("{}: schedule on_change every '{}': {}", t.loc.ToString(),
                                         t.every, every.status().message()));
    if (every->count() < kMinTriggerEverySeconds)
      return Status::Invalid(fmt::format(
          "{}: schedule on_change every '{}' is too short: polling is at most every {}s",
          t.loc.ToString(), t.every, kMinTriggerEverySeconds));
    f.triggers.push_back(FlowTrigger{t, *every});
  }
  auto at = [&](const std::string& what, const Status& st) {
    return Status::Invalid(fmt::format("{}: schedule {} {}", s.loc.ToString(), what, st.message()));
  };
  f.retries = s.retries;
  auto delay = sched::ParseWindow(s.retry_delay);
  if (!delay.ok()) return at("retry_delay", delay.status());
  f.retry_delay = *delay;
  f.max_active_runs = s.max_active_runs;
  if (s.overlap == "skip")
    f.overlap = Overlap::kSkip;
  else if (s.overlap == "queue")
    f.overlap = Overlap::kQueue;
  else if (s.overlap == "cancel")
    f.overlap = Overlap::kCancel;
  else
    return Status::Invalid(
        fmt::format("{}: schedule overlap must be skip, queue or cancel, not '{}'",
                    s.loc.ToString(), s.overlap));
  if (!s.timeout.empty()) {
    auto t = sched::ParseWindow(s.timeout);
    if (!t.ok()) return at("timeout", t.status());
    f.timeout = *t;
  }
  if (!s.late_after.empty()) {
    auto t = sched::ParseWindow(s.late_after);
    if (!t.ok()) return at("late_after", t.status());
    f.late_after = *t;
  }
  return f;
}

Scheduler::Scheduler(Catalog& catalog, Clock& clock, RunLauncher& launcher,
                     std::vector<FlowSchedule> flows, SchedulerOptions options)
    : catalog_(catalog),
      clock_(clock),
      launcher_(launcher),
      flows_(std::move(flows)),
      options_(std::move(options)) {
  next_.resize(flows_.size());
  next_poll_.resize(flows_.size());
  for (size_t i = 0; i < flows_.size(); ++i) next_poll_[i].resize(flows_[i].triggers.size());
}

Scheduler::~Scheduler() {
  CancelRunning();
  (void)WaitRuns();
}

Instant Scheduler::Now() const { return std::chrono::floor<std::chrono::seconds>(clock_.Now()); }

void Scheduler::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

void Scheduler::Audit(const std::string& action, const std::string& flow, const std::string& target,
                      const std::string& outcome, nlohmann::json detail) const {
  const Actor who = Actor::Current();
  AuditEntry e;
  e.at = FormatUtc(Now());
  e.user = who.user;
  e.host = who.host;
  e.action = action;
  e.environment = options_.environment;
  e.flow = flow;
  e.target = target;
  e.outcome = outcome;
  detail["holder"] = options_.holder;
  detail["lease_token"] = token_;
  e.detail = std::move(detail);
  if (Status st = catalog_.AppendAudit(e); !st.ok()) Log("audit: " + st.message());
}

std::optional<size_t> Scheduler::FlowIndex(const std::string& name) const {
  for (size_t i = 0; i < flows_.size(); ++i)
    if (flows_[i].flow == name) return i;
  return std::nullopt;
}

int Scheduler::ActiveOf(size_t flow) const {
  return static_cast<int>(std::count_if(active_.begin(), active_.end(),
                                        [&](const auto& a) { return a->p.flow == flow; }));
}

int Scheduler::active_runs() const { return static_cast<int>(active_.size()); }

Status Scheduler::Fenced(const Status& st) {
  if (st.ok() || !LeaseLost(st)) return st;
  LoseLease(st);
  return Status::Ok();
}

void Scheduler::LoseLease(const Status& why) {
  if (token_ == 0) return;
  Log(fmt::format("lease lost (token {}): {}; launching nothing more", token_, why.message()));
  Audit(kAuditLease, "", options_.holder, kAuditRefused, {{"error", why.message()}});
  token_ = 0;
  fresh_.clear();
  catchup_.clear();
  retry_wait_.clear();
  // Its runs cannot record anything any more (their catalog writes are fenced).
  for (auto& a : active_) a->cancel->Cancel();
}

Status Scheduler::Lease(Instant now) {
  if (token_ != 0 && now < last_heartbeat_ + options_.lease_ttl / 3) return Status::Ok();
  if (stopping_ && token_ == 0) return Status::Ok();
  auto lease = catalog_.AcquireLease(options_.workspace, options_.environment, options_.holder,
                                     FormatUtc(now), FormatUtc(now + options_.lease_ttl));
  if (!lease.ok()) return lease.status();
  if (lease->holder != options_.holder) {
    if (token_ != 0)
      LoseLease(Status::Failed(fmt::format("lease lost: held by {} since {} (token {})",
                                           lease->holder, lease->acquired_at, lease->token)));
    return Status::Ok();
  }
  last_heartbeat_ = now;
  if (lease->token == token_) return Status::Ok();
  if (token_ != 0)
    LoseLease(
        Status::Failed(fmt::format("lease lost: our lease expired and was taken again "
                                   "(token {})",
                                   lease->token)));
  // A new holding: fence, recover, catch up.
  token_ = lease->token;
  catalog_.SetFence(options_.workspace, options_.environment, token_);
  Log(fmt::format("lease of {} taken (token {})", options_.environment, token_));
  Audit(kAuditLease, "", options_.holder, kAuditOk, {{"expires_at", lease->expires_at}});
  if (Status st = Fenced(Recover(now)); !st.ok() || token_ == 0) return st;
  return Fenced(CatchUp(now));
}

Status Scheduler::Recover(Instant now) {
  ALAMBIC_ASSIGN_OR_RETURN(auto open, catalog_.OpenSlots(options_.environment));
  for (SlotClaim& s : open) {
    auto f = FlowIndex(s.flow);
    const bool mine = std::any_of(active_.begin(), active_.end(), [&](const auto& a) {
      return a->p.slot.flow == s.flow && a->p.slot.nominal == s.nominal;
    });
    if (mine) continue;
    if (!f) {
      // Its flow has no schedule any more: the slot ends here.
      s.status = kSlotCancelled;
      s.error = "the flow has no schedule any more";
      ALAMBIC_RETURN_IF_ERROR(catalog_.UpdateSlot(s));
      continue;
    }
    Pending p{s, *f};
    std::optional<RunRecord> ended;  // the slot's run, if it ended before its slot was recorded
    if (s.status == kSlotRunning && !s.run_id.empty()) {
      auto run = catalog_.FindRun(s.run_id);
      if (run.ok() && run->status != "running" && !run->status.empty()) ended = *run;
    }
    if (ended) {
      s.status = ended->status == "succeeded"   ? kSlotSucceeded
                 : ended->status == "cancelled" ? kSlotCancelled
                                                : kSlotFailed;
      s.error = ended->error;
      ALAMBIC_RETURN_IF_ERROR(catalog_.UpdateSlot(s));
      Log(fmt::format("{} {}: run {} had ended {}; slot {}", s.flow, s.nominal, s.run_id,
                      ended->status, s.status));
      Audit(kAuditRecover, s.flow, s.nominal, s.status,
            {{"run_id", s.run_id}, {"run_status", ended->status}});
    } else if (s.status == kSlotRunning) {
      std::string why = fmt::format(
          "abandoned: the scheduler running it stopped heartbeating (lease expired); found by {}",
          options_.holder);
      if (!s.run_id.empty()) {
        auto run = catalog_.FindRun(s.run_id);
        if (run.ok() && run->status == "running")
          ALAMBIC_RETURN_IF_ERROR(catalog_.FinishRun(s.run_id, "failed", FormatUtc(now), why));
        if (!run.ok() && run.status().code() == StatusCode::kNotFound) {
          // Killed before its run was recorded (checking out the release's
          // code, planning): the run is recorded failed, so that the slot
          // names a run that exists, as every slot that started does.
          RunRecord r;
          r.id = s.run_id;
          r.flows = s.flow;
          r.environment = options_.environment;
          r.trigger = s.attempts > 1          ? "retry"
                      : s.kind == "catchup"   ? "catchup"
                      : s.kind == "on_change" ? "on_change"
                                              : "schedule";
          r.user = "scheduler:" + options_.holder;
          r.status = "running";
          r.started_at = FormatUtc(now);
          ALAMBIC_RETURN_IF_ERROR(catalog_.BeginRun(r));
          ALAMBIC_RETURN_IF_ERROR(
              catalog_.FinishRun(s.run_id, "failed", FormatUtc(now),
                                 why + "; its process ended before the run was recorded"));
        }
      }
      s.error = why;
      if (s.attempts <= flows_[*f].retries) {
        s.status = kSlotRetryWait;
        s.next_attempt_at = FormatUtc(now);
        p.slot = s;
        retry_wait_.push_back(p);
      } else {
        s.status = kSlotFailed;
      }
      ALAMBIC_RETURN_IF_ERROR(catalog_.UpdateSlot(s));
      Log(fmt::format("{} {}: run {} {}; slot {}", s.flow, s.nominal, s.run_id, why, s.status));
      Audit(kAuditRecover, s.flow, s.nominal, s.status, {{"run_id", s.run_id}, {"error", why}});
    } else if (s.status == kSlotRetryWait) {
      retry_wait_.push_back(p);
    } else {  // claimed or queued: never started
      Audit(kAuditRecover, s.flow, s.nominal, kAuditOk, {{"status", s.status}});
      (s.kind == "catchup" ? catchup_ : fresh_).push_back(p);
    }
  }
  return Status::Ok();
}

// The slots missed while no scheduler held the lease, per each schedule's
// catch-up policy, claimed now and launched after the fresh ones.
Status Scheduler::CatchUp(Instant now) {
  const Instant fresh_from = std::max(last_tick_, now - options_.fresh_window);
  for (size_t i = 0; i < flows_.size(); ++i) {
    const FlowSchedule& f = flows_[i];
    next_[i] = std::nullopt;
    if (!f.schedule) continue;  // data triggers only
    const sched::ScheduleSpec& spec = f.schedule->spec();
    ALAMBIC_ASSIGN_OR_RETURN(
        ScheduleState state,
        catalog_.ObserveSchedule(f.flow, options_.environment, spec.Definition(), FormatUtc(now)));
    auto n = f.schedule->Next(fresh_from, 1);
    if (!n.empty()) next_[i] = n[0];
    if (state.paused) continue;
    Instant not_before = sched::ParseUtc(state.first_seen).value_or(now);
    if (auto r = sched::ParseUtc(state.resumed_at); r && *r > not_before) not_before = *r;
    ALAMBIC_ASSIGN_OR_RETURN(auto last,
                             catalog_.LastClaimedSlot(f.flow, options_.environment, spec.timezone));
    std::optional<sched::LocalTime> last_nominal;
    if (last) {
      auto l = sched::ParseLocalTime(last->nominal);
      if (l.ok()) last_nominal = *l;
    }
    for (const auto& slot : sched::CatchupSlots(*f.schedule, last_nominal, not_before, fresh_from))
      ALAMBIC_RETURN_IF_ERROR(Claim(i, slot, "catchup", false));
  }
  last_tick_ = std::max(last_tick_, fresh_from);
  return Status::Ok();
}

Status Scheduler::FireFresh(Instant now) {
  for (size_t i = 0; i < flows_.size() && token_ != 0; ++i) {
    const FlowSchedule& f = flows_[i];
    if (!f.schedule || !next_[i] || next_[i]->at > now) continue;
    ALAMBIC_ASSIGN_OR_RETURN(auto state, catalog_.GetScheduleState(f.flow, options_.environment));
    const bool paused = state && state->paused;
    Instant from = std::max(last_tick_, now - options_.fresh_window);
    // Nothing from before the current definition or the last resume.
    if (state) {
      if (auto r = sched::ParseUtc(state->resumed_at))
        from = std::max(from, *r - std::chrono::seconds(1));
      if (auto r = sched::ParseUtc(state->first_seen))
        from = std::max(from, *r - std::chrono::seconds(1));
    }
    for (const auto& slot : f.schedule->Next(from, kMaxFreshPerTick)) {
      if (slot.at > now) break;
      if (paused) {
        Log(fmt::format("{} {}: paused, not fired", f.flow, slot.nominal.ToString()));
        continue;
      }
      ALAMBIC_RETURN_IF_ERROR(Claim(i, slot, "scheduled", true));
      if (token_ == 0) return Status::Ok();
    }
    auto n = f.schedule->Next(now, 1);
    next_[i] = n.empty() ? std::nullopt : std::optional<sched::Slot>(n[0]);
  }
  return Status::Ok();
}

Status Scheduler::PollTriggers(Instant now) {
  if (!options_.poll) return Status::Ok();
  for (size_t i = 0; i < flows_.size(); ++i) {
    const FlowSchedule& f = flows_[i];
    for (size_t j = 0; j < f.triggers.size() && token_ != 0; ++j) {
      if (now < next_poll_[i][j]) continue;
      const FlowTrigger& t = f.triggers[j];
      next_poll_[i][j] = now + t.every;
      ALAMBIC_ASSIGN_OR_RETURN(auto state, catalog_.GetScheduleState(f.flow, options_.environment));
      if (state && state->paused) continue;  // the cursor stays: a change fires on resume
      const std::string key = t.source.Key(), name = TriggerName(t.source);
      const std::string error_key = f.flow + " " + key;
      Result<std::string> hash = options_.poll(t.source);
      if (!hash.ok()) {
        std::string& last = poll_errors_[error_key];
        if (last != hash.status().message()) {  // each new error once
          last = hash.status().message();
          Log(fmt::format("{} {}: not polled: {}", f.flow, name, last));
          Audit(kAuditChange, f.flow, name, kAuditFailed, {{"error", last}});
        }
        continue;
      }
      poll_errors_.erase(error_key);
      ALAMBIC_ASSIGN_OR_RETURN(auto cursor,
                               catalog_.GetTriggerCursor(f.flow, options_.environment, key));
      TriggerCursor c{f.flow, options_.environment, key, *hash, FormatUtc(now), ""};
      if (!cursor) {  // first seen: the baseline, nothing fires
        auto set = catalog_.AdvanceTriggerCursor(c, "", nullptr);
        if (!set.ok()) return Fenced(set.status());
        Log(fmt::format("{} {}: watching ({})", f.flow, name, *hash));
        continue;
      }
      if (cursor->hash == *hash) continue;  // unchanged (or the same content again)
      SlotClaim slot;
      slot.flow = f.flow;
      slot.environment = options_.environment;
      slot.nominal = FormatUtc(now);
      slot.timezone = std::string(kOnChangeZone) + " " + name;
      slot.fire_at = FormatUtc(now);
      slot.kind = "on_change";
      slot.claimed_at = FormatUtc(now);
      slot.claimed_by = options_.holder;
      slot.status = kSlotClaimed;
      auto fired = catalog_.AdvanceTriggerCursor(c, cursor->hash, &slot);
      if (!fired.ok()) return Fenced(fired.status());
      if (!*fired) continue;  // moved meanwhile by another scheduler
      CrashPoint("slot_recorded");
      Log(fmt::format("{} {}: {} changed ({} -> {}): claimed (on_change)", f.flow, slot.nominal,
                      name, cursor->hash, *hash));
      Audit(kAuditFire, f.flow, slot.nominal, kAuditOk,
            {{"timezone", slot.timezone},
             {"kind", "on_change"},
             {"trigger", name},
             {"from", cursor->hash},
             {"to", *hash}});
      ALAMBIC_RETURN_IF_ERROR(Dispatch(Pending{slot, i}, true));
    }
  }
  return Status::Ok();
}

Status Scheduler::Claim(size_t flow, const sched::Slot& slot, const std::string& kind, bool fresh) {
  const FlowSchedule& f = flows_[flow];
  SlotClaim c;
  c.flow = f.flow;
  c.environment = options_.environment;
  c.nominal = slot.nominal.ToString();
  c.timezone = f.schedule->spec().timezone;
  c.fire_at = FormatUtc(slot.at);
  c.kind = kind;
  c.claimed_at = FormatUtc(Now());
  c.claimed_by = options_.holder;
  c.status = kSlotClaimed;
  auto claimed = catalog_.TryClaimSlot(c);
  if (!claimed.ok()) return Fenced(claimed.status());
  if (!*claimed) return Status::Ok();  // fired already (by us before a restart, or another daemon)
  CrashPoint("slot_recorded");
  Log(fmt::format("{} {} {}: claimed ({})", c.flow, c.nominal, c.timezone, kind));
  Audit(kAuditFire, c.flow, c.nominal, kAuditOk,
        {{"timezone", c.timezone}, {"fire_at", c.fire_at}, {"kind", kind}});
  return Dispatch(Pending{c, flow}, fresh);
}

// A claimed slot: launched when there is room, else per the overlap policy.
Status Scheduler::Dispatch(Pending p, bool fresh) {
  const FlowSchedule& f = flows_[p.flow];
  if (ActiveOf(p.flow) >= f.max_active_runs) {
    if (f.overlap == Overlap::kSkip) {
      p.slot.status = kSlotSkipped;
      p.slot.error = fmt::format("{} run(s) of {} still running (max_active_runs {}, overlap skip)",
                                 ActiveOf(p.flow), f.flow, f.max_active_runs);
      ALAMBIC_RETURN_IF_ERROR(Fenced(catalog_.UpdateSlot(p.slot)));
      Log(fmt::format("{} {}: skipped: {}", f.flow, p.slot.nominal, p.slot.error));
      Audit(kAuditSkip, f.flow, p.slot.nominal, kAuditOk, {{"reason", p.slot.error}});
      return Status::Ok();
    }
    if (f.overlap == Overlap::kCancel) {
      for (auto& a : active_)
        if (a->p.flow == p.flow && !a->superseded) {
          a->superseded = true;
          a->cancel->Cancel();
          Log(fmt::format("{} {}: cancelled, superseded by {}", f.flow, a->p.slot.nominal,
                          p.slot.nominal));
          Audit(kAuditCancel, f.flow, a->p.slot.nominal, kAuditOk,
                {{"reason", "superseded by slot " + p.slot.nominal}});
          break;
        }
    }
  }
  p.slot.status = kSlotQueued;
  ALAMBIC_RETURN_IF_ERROR(Fenced(catalog_.UpdateSlot(p.slot)));
  (fresh ? fresh_ : catchup_).push_back(std::move(p));
  return Status::Ok();
}

Status Scheduler::LaunchPending(Instant now) {
  // Retries whose time has come join the fresh queue's front.
  for (auto it = retry_wait_.begin(); it != retry_wait_.end();) {
    auto due = sched::ParseUtc(it->slot.next_attempt_at);
    if (!due || *due <= now) {
      fresh_.push_front(*it);
      it = retry_wait_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto* q : {&fresh_, &catchup_}) {
    for (auto it = q->begin(); it != q->end() && token_ != 0 && !stopping_;) {
      if (active_runs() >= options_.max_active_runs) return Status::Ok();
      if (ActiveOf(it->flow) >= flows_[it->flow].max_active_runs) {
        ++it;
        continue;
      }
      Pending p = std::move(*it);
      it = q->erase(it);
      ALAMBIC_RETURN_IF_ERROR(Start(std::move(p), now));
    }
  }
  return Status::Ok();
}

Status Scheduler::Start(Pending p, Instant now) {
  p.slot.status = kSlotRunning;
  ++p.slot.attempts;
  p.slot.next_attempt_at.clear();
  p.slot.run_id = NewUuid();
  if (Status st = catalog_.UpdateSlot(p.slot); !st.ok()) return Fenced(st);
  auto a = std::make_shared<Active>();
  a->p = p;
  a->started = now;
  ScheduledRunRequest req;
  req.flow = p.slot.flow;
  req.environment = options_.environment;
  req.nominal = p.slot.nominal;
  req.timezone = p.slot.timezone;
  req.trigger = p.slot.attempts > 1          ? "retry"
                : p.slot.kind == "catchup"   ? "catchup"
                : p.slot.kind == "on_change" ? "on_change"
                                             : "schedule";
  req.requested_by = "scheduler:" + options_.holder;
  req.attempt = p.slot.attempts;
  req.workspace = options_.workspace;
  req.lease_token = token_;
  req.run_id = p.slot.run_id;
  Log(fmt::format("{} {}: starting (attempt {})", req.flow, req.nominal, req.attempt));
  active_.push_back(a);
  a->thread = std::thread([this, a, req] {
    auto started = [&](const std::string& run_id) {
      SlotClaim s = a->p.slot;
      if (Status st = catalog_.SetSlotRun(s, run_id); !st.ok())
        Log(fmt::format("{} {}: run {}: {}", s.flow, s.nominal, run_id, st.message()));
    };
    Result<LaunchedRun> r = launcher_.Launch(req, *a->cancel, started);
    std::lock_guard lock(mu_);
    done_.push_back(Done{a, std::move(r)});
    cv_.notify_all();
  });
  return Status::Ok();
}

void Scheduler::CheckTimeouts(Instant now) {
  for (auto& a : active_) {
    const FlowSchedule& f = flows_[a->p.flow];
    if (!f.timeout || a->timed_out || now < a->started + *f.timeout) continue;
    a->timed_out = true;
    a->cancel->Cancel(StatusCode::kTimedOut);
    Log(fmt::format("{} {}: timed out after {}", f.flow, a->p.slot.nominal,
                    sched::WindowToString(*f.timeout)));
    Audit(kAuditTimeout, f.flow, a->p.slot.nominal, kAuditOk,
          {{"timeout", sched::WindowToString(*f.timeout)}});
  }
}

void Scheduler::SendAlert(const std::string& kind, const SlotClaim& s, const std::string& message) {
  if (!options_.alerts) return;
  Alert a{kind, s.flow, options_.environment, s.nominal, s.timezone, s.run_id, message};
  Status st = options_.alerts->Send(a);
  Log(fmt::format("{} {}: {} alert {}", s.flow, s.nominal, kind,
                  st.ok() ? "sent" : "not sent: " + st.message()));
  Audit("schedule.alert", s.flow, s.nominal, st.ok() ? kAuditOk : kAuditFailed,
        {{"kind", kind}, {"error", st.ok() ? "" : st.message()}});
}

// A slot whose run has not finished late_after past its fire time.
void Scheduler::CheckLate(Instant now) {
  auto check = [&](const Pending& p) {
    const FlowSchedule& f = flows_[p.flow];
    if (!f.late_after) return;
    auto fire = sched::ParseUtc(p.slot.fire_at);
    if (!fire || now < *fire + *f.late_after) return;
    if (!late_.insert(p.slot.flow + " " + p.slot.nominal).second) return;
    SendAlert("late", p.slot,
              fmt::format("not finished {} after its time ({})",
                          sched::WindowToString(*f.late_after), p.slot.status));
  };
  for (const auto& a : active_) check(a->p);
  for (const auto& p : fresh_) check(p);
  for (const auto& p : catchup_) check(p);
  for (const auto& p : retry_wait_) check(p);
}

Status Scheduler::ProcessDone(Instant now) {
  std::vector<Done> done;
  {
    std::lock_guard lock(mu_);
    done.swap(done_);
  }
  Status first;
  for (auto& d : done) {
    if (Status st = Finish(std::move(d), now); !st.ok() && first.ok()) first = st;
  }
  return first;
}

Status Scheduler::Finish(Done d, Instant now) {
  auto a = d.run;
  if (a->thread.joinable()) a->thread.join();
  active_.erase(std::remove(active_.begin(), active_.end(), a), active_.end());
  SlotClaim s = a->p.slot;
  const FlowSchedule& f = flows_[a->p.flow];
  std::string status, error;
  std::vector<std::string> warnings;
  if (!d.result.ok()) {
    status = "failed";
    error = d.result.status().message();
  } else {
    s.run_id = d.result->run_id;
    status = d.result->status;
    error = d.result->error;
    warnings = d.result->warnings;
  }
  if (a->timed_out) {
    status = "failed";
    error = fmt::format("timed out after {}", sched::WindowToString(*f.timeout));
  }
  if (token_ == 0) {
    // Not ours any more: the new holder recovers it; we may not write.
    Log(fmt::format("{} {}: run {} ended {} after the lease was lost: not recorded", s.flow,
                    s.nominal, s.run_id, status));
    return Status::Ok();
  }
  s.error = error;
  const bool retry = status == "failed" && !a->shutdown && !stopping_ && s.attempts <= f.retries;
  if (retry) {
    s.status = kSlotRetryWait;
    s.next_attempt_at = FormatUtc(now + RetryDelay(f.retry_delay, s.attempts));
  } else {
    s.status = status == "succeeded"   ? kSlotSucceeded
               : status == "cancelled" ? kSlotCancelled
                                       : kSlotFailed;
  }
  CrashPoint("before_commit");
  if (Status st = catalog_.UpdateSlot(s); !st.ok()) {
    if (LeaseLost(st))
      Log(fmt::format("{} {}: run {} ended {}: refused: {}", s.flow, s.nominal, s.run_id, status,
                      st.message()));
    return Fenced(st);
  }
  Log(fmt::format("{} {}: run {} {}{}{}", s.flow, s.nominal, s.run_id, status,
                  error.empty() ? "" : ": " + error,
                  retry ? fmt::format("; retry {} at {}", s.attempts, s.next_attempt_at) : ""));
  Audit(kAuditFinish, s.flow, s.nominal, status,
        {{"run_id", s.run_id}, {"attempt", s.attempts}, {"error", error}});
  if (s.status == kSlotFailed) {
    failing_[a->p.flow] = true;
    SendAlert("failure", s, error);
  } else if (s.status == kSlotSucceeded && failing_[a->p.flow]) {
    failing_[a->p.flow] = false;
    SendAlert("recovery", s, "succeeded after a failure");
  }
  if (s.status == kSlotSucceeded && !warnings.empty()) {
    std::string text = fmt::format("succeeded with {} check warning(s):", warnings.size());
    for (const auto& w : warnings) text += "\n" + w;
    SendAlert("warning", s, text);
  }
  if (retry) {
    Audit(kAuditRetry, s.flow, s.nominal, kAuditOk,
          {{"attempt", s.attempts + 1}, {"at", s.next_attempt_at}});
    retry_wait_.push_back(Pending{s, a->p.flow});
  }
  return Status::Ok();
}

Status Scheduler::SetFlows(std::vector<FlowSchedule> flows) {
  // The flows of runs going and slots waiting stay (firing nothing) when left out.
  std::vector<std::string> in_use;
  auto use = [&](size_t i) { in_use.push_back(flows_[i].flow); };
  for (const auto& a : active_) use(a->p.flow);
  for (const auto& p : fresh_) use(p.flow);
  for (const auto& p : catchup_) use(p.flow);
  for (const auto& p : retry_wait_) use(p.flow);
  auto index_in = [](const std::vector<FlowSchedule>& v, const std::string& name) {
    for (size_t i = 0; i < v.size(); ++i)
      if (v[i].flow == name) return std::optional<size_t>(i);
    return std::optional<size_t>();
  };
  for (const auto& name : in_use) {
    if (index_in(flows, name)) continue;
    FlowSchedule kept = flows_[*FlowIndex(name)];
    kept.schedule.reset();
    kept.triggers.clear();
    flows.push_back(std::move(kept));
  }
  auto remap = [&](Pending& p) { p.flow = *index_in(flows, flows_[p.flow].flow); };
  for (auto& a : active_) remap(a->p);
  for (auto& p : fresh_) remap(p);
  for (auto& p : catchup_) remap(p);
  for (auto& p : retry_wait_) remap(p);
  std::map<size_t, bool> failing;
  for (const auto& [i, f] : failing_)
    if (auto j = index_in(flows, flows_[i].flow)) failing[*j] = f;
  failing_ = std::move(failing);
  flows_ = std::move(flows);
  next_.assign(flows_.size(), std::nullopt);
  next_poll_.assign(flows_.size(), {});
  for (size_t i = 0; i < flows_.size(); ++i) next_poll_[i].resize(flows_[i].triggers.size());
  Log(fmt::format("schedules replaced: {} flow(s)", flows_.size()));
  if (token_ == 0) return Status::Ok();  // computed when the lease is taken
  // Each definition observed now (a changed one is first seen now, so nothing
  // from before fires), the next slots computed; missed slots of unchanged
  // schedules (none while ticking) per their policy.
  return Fenced(CatchUp(Now()));
}

Status Scheduler::Tick() {
  const Instant now = Now();
  if (Status st = Lease(now); !st.ok()) return st;
  ALAMBIC_RETURN_IF_ERROR(ProcessDone(now));
  if (token_ == 0) return Status::Ok();
  CheckTimeouts(now);
  CheckLate(now);
  if (!stopping_) {
    ALAMBIC_RETURN_IF_ERROR(FireFresh(now));
    ALAMBIC_RETURN_IF_ERROR(PollTriggers(now));
    // A long pause of this process (suspend, a stall): what it missed is catch-up.
    last_tick_ = std::max(last_tick_, now);
    ALAMBIC_RETURN_IF_ERROR(LaunchPending(now));
  }
  return Status::Ok();
}

std::optional<Instant> Scheduler::NextWake() const {
  std::optional<Instant> w;
  auto take = [&](Instant t) {
    if (!w || t < *w) w = t;
  };
  for (const auto& n : next_)
    if (n) take(n->at);
  for (const auto& p : retry_wait_)
    if (auto t = sched::ParseUtc(p.slot.next_attempt_at)) take(*t);
  if (options_.poll)
    for (const auto& polls : next_poll_)
      for (const auto& t : polls) take(t);
  return w;
}

void Scheduler::WaitForEvent(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, deadline, [&] { return !done_.empty(); });
}

void Scheduler::CancelRunning() {
  for (auto& a : active_) {
    a->shutdown = true;
    a->cancel->Cancel();
  }
}

Status Scheduler::WaitRuns() {
  Status first;
  while (!active_.empty()) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !done_.empty(); });
    }
    if (Status st = ProcessDone(Now()); !st.ok() && first.ok()) first = st;
  }
  return first;
}

Result<LaunchedRun> TriggerRun(Catalog& catalog, RunLauncher& launcher, const std::string& flow,
                               const std::string& env, const std::string& reason, const Actor& who,
                               const CancelToken& cancel) {
  ScheduledRunRequest req;
  req.flow = flow;
  req.environment = env;
  req.trigger = "manual";
  req.requested_by = who.user;
  Result<LaunchedRun> r = launcher.Launch(req, cancel, [](const std::string&) {});
  AuditEntry e;
  e.user = who.user;
  e.host = who.host;
  e.action = kAuditTrigger;
  e.environment = env;
  e.flow = flow;
  e.outcome = r.ok() ? r->status : std::string(kAuditFailed);
  e.detail = {{"reason", reason}};
  if (r.ok()) {
    e.target = r->run_id;
    if (!r->error.empty()) e.detail["error"] = r->error;
  } else {
    e.detail["error"] = r.status().message();
  }
  ALAMBIC_RETURN_IF_ERROR(catalog.AppendAudit(e));
  return r;
}

Status Scheduler::ReleaseLease() {
  if (token_ == 0) return Status::Ok();
  Status st =
      catalog_.ReleaseLease(options_.workspace, options_.environment, token_, FormatUtc(Now()));
  Audit(kAuditLease, "", options_.holder, "released", {});
  token_ = 0;
  return st;
}

}  // namespace alambic
