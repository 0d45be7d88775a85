#include "core/exec/slurm_executor.h"

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace alambic {

namespace {

namespace fs = std::filesystem;

// A job gone from squeue that neither scontrol nor sacct knows after this many
// polls is lost.
constexpr int kMissingPollsForLost = 3;
// How often a waiting attempt looks at its cancellation token.
constexpr auto kWaitSlice = std::chrono::milliseconds(50);

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t b = 0;
  while (b < s.size() && (s[b] == ' ' || s[b] == '\n')) ++b;
  return s.substr(b);
}

// A job name as Slurm shows it: printable, no separator of squeue's output.
std::string JobName(const std::string& name) {
  std::string out;
  for (char c : name) out += (static_cast<unsigned char>(c) < 0x20 || c == '|') ? '_' : c;
  return out.empty() ? "alambic" : out;
}

bool StillQueued(const std::string& state) {
  static const std::set<std::string> kLive = {
      "PENDING",   "RUNNING",     "COMPLETING",   "CONFIGURING", "SUSPENDED",
      "REQUEUED",  "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING",    "SIGNALING",
      "STAGE_OUT", "STOPPED",     "RESV_DEL_HOLD"};
  return kLive.count(state) > 0;
}

// "0:15" -> exit 0, signal 15.
void ParseExit(std::string_view v, JobEnd* end) {
  const size_t colon = v.find(':');
  try {
    end->exit_code = std::stoi(std::string(v.substr(0, colon)));
    if (colon != std::string_view::npos) end->signal = std::stoi(std::string(v.substr(colon + 1)));
  } catch (...) {
    end->exit_code = -1;
  }
}

}  // namespace

Result<std::string> ParseSbatchJobId(const std::string& out) {
  std::string id = Trim(out);
  if (const size_t semi = id.find(';'); semi != std::string::npos) id.resize(semi);
  if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
    return Status::Failed(fmt::format("sbatch printed no job id: '{}'", Trim(out)));
  return id;
}

std::map<std::string, std::string> ParseSqueue(const std::string& out) {
  std::map<std::string, std::string> jobs;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    line = Trim(line);
    const size_t bar = line.find('|');
    if (bar == std::string::npos || bar == 0) continue;
    jobs[line.substr(0, bar)] = line.substr(bar + 1);
  }
  return jobs;
}

JobEnd ParseScontrolJob(const std::string& out) {
  JobEnd end;
  std::istringstream in(out);
  std::string field;
  while (in >> field) {
    const size_t eq = field.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = field.substr(0, eq), value = field.substr(eq + 1);
    if (key == "JobState")
      end.state = value;
    else if (key == "ExitCode")
      ParseExit(value, &end);
    else if (key == "Reason")
      end.reason = value;
  }
  return end;
}

JobEnd ParseSacct(const std::string& out) {
  JobEnd end;
  std::istringstream in(out);
  std::string line;
  if (!std::getline(in, line)) return end;
  line = Trim(line);
  const size_t bar = line.find('|');
  std::string state = line.substr(0, bar);
  if (const size_t sp = state.find(' '); sp != std::string::npos) {
    end.reason = state.substr(sp + 1);  // "by 0"
    state.resize(sp);
  }
  end.state = state;
  if (bar != std::string::npos) ParseExit(line.substr(bar + 1), &end);
  return end;
}

bool JobSucceeded(const JobEnd& end) { return end.state == "COMPLETED" && end.exit_code == 0; }

std::vector<std::string> SbatchArgs(const SlurmSettings& settings, const JobRequest& job,
                                    const fs::path& script) {
  std::vector<std::string> a = {"sbatch",
                                "--parsable",
                                "--job-name=" + JobName(job.name),
                                "--output=" + job.output.string(),
                                "--chdir=" + job.workdir.string(),
                                "--export=ALL"};
  if (!settings.partition.empty()) a.push_back("--partition=" + settings.partition);
  if (!settings.account.empty()) a.push_back("--account=" + settings.account);
  if (!settings.qos.empty()) a.push_back("--qos=" + settings.qos);
  const int cpus = job.resources.cpus > 0 ? job.resources.cpus : settings.defaults.cpus;
  const std::string& mem = job.resources.mem.empty() ? settings.defaults.mem : job.resources.mem;
  const std::string& time =
      job.resources.time.empty() ? settings.defaults.time : job.resources.time;
  if (cpus > 0) a.push_back(fmt::format("--cpus-per-task={}", cpus));
  if (!mem.empty()) a.push_back("--mem=" + mem);
  if (!time.empty()) a.push_back("--time=" + time);
  a.push_back(script.string());
  for (const auto& arg : job.argv) a.push_back(arg);
  return a;
}

std::string SlurmJobDescription(const SlurmSettings& settings, const JobResources& recipe) {
  std::string d = "as a Slurm job";
  std::vector<std::string> parts;
  const int cpus = recipe.cpus > 0 ? recipe.cpus : settings.defaults.cpus;
  const std::string& mem = recipe.mem.empty() ? settings.defaults.mem : recipe.mem;
  const std::string& time = recipe.time.empty() ? settings.defaults.time : recipe.time;
  if (!settings.partition.empty()) parts.push_back("partition " + settings.partition);
  if (cpus > 0) parts.push_back(fmt::format("{} CPU", cpus));
  if (!mem.empty()) parts.push_back(mem);
  if (!time.empty()) parts.push_back("time " + time);
  if (!parts.empty()) d += " (" + fmt::format("{}", fmt::join(parts, ", ")) + ")";
  return d;
}

// ---- The executor ----

namespace {

struct Watch {
  bool ended = false;
  JobEnd end;
  int missing = 0;
};

// Forwards events; on a failure without keep-going, stops the executor: its
// running jobs are scancelled (they end cancelled), nothing new is submitted.
class FailFastObserver final : public ExecObserver {
 public:
  FailFastObserver(ExecObserver* inner, bool keep_going, std::atomic<bool>* failed,
                   Executor* executor)
      : inner_(inner), keep_going_(keep_going), failed_(failed), executor_(executor) {}
  void TaskStarted(int t, int a) override {
    if (inner_) inner_->TaskStarted(t, a);
  }
  void TaskRetrying(int t, int a, const Status& why, double delay) override {
    if (inner_) inner_->TaskRetrying(t, a, why, delay);
  }
  void TaskFinished(int t, const TaskOutcome& o) override {
    if (inner_) inner_->TaskFinished(t, o);
    if (!keep_going_ && (o.state == TaskState::kFailed || o.state == TaskState::kTimedOut) &&
        !failed_->exchange(true))
      executor_->RequestStop();
  }

 private:
  ExecObserver* inner_;
  bool keep_going_;
  std::atomic<bool>* failed_;
  Executor* executor_;
};

}  // namespace

struct SlurmExecutor::Impl {
  std::mutex mu;
  std::condition_variable poll_cv;  // wakes the poller (new job, shutdown)
  std::condition_variable done_cv;  // wakes waiting attempts (a poll ended)
  std::map<std::string, Watch> jobs;
  bool quit = false;
  std::atomic<bool> failed{false};  // fail-fast: a task failed and keep_going is off (stopped)
  std::thread poller;
  fs::path script;
};

SlurmExecutor::SlurmExecutor(SlurmSettings settings, ExecOptions options, CommandRunner& runner)
    : settings_(std::move(settings)),
      options_(options),
      runner_(runner),
      impl_(std::make_unique<Impl>()) {
  ExecOptions lo = options_;
  lo.jobs = settings_.max_jobs;
  local_ = std::make_unique<LocalExecutor>(lo);
  impl_->script = settings_.staging / "alambic-job.sh";
  impl_->poller = std::thread([this] {
    Impl& im = *impl_;
    const auto period = std::chrono::duration<double>(settings_.poll_seconds);
    std::unique_lock l(im.mu);
    while (!im.quit) {
      im.poll_cv.wait_for(l, period);
      if (im.quit) break;
      std::vector<std::string> ids;
      for (auto& [id, w] : im.jobs)
        if (!w.ended) ids.push_back(id);
      if (ids.empty()) continue;
      l.unlock();
      // One squeue for every job of this executor; the ones it no longer
      // lists are looked up one by one (few: they just ended).
      std::string list;
      for (const auto& id : ids) list += (list.empty() ? "" : ",") + id;
      auto q = runner_.Run({"squeue", "-h", "-o", "%i|%T", "--states=all", "--jobs=" + list});
      std::map<std::string, std::string> live;
      bool answered = q.ok() && q->exit_code == 0;
      if (answered) live = ParseSqueue(q->out);
      // squeue refuses the whole list when one id was purged: ask per job then.
      std::map<std::string, JobEnd> ended;
      std::set<std::string> unknown;
      for (const auto& id : ids) {
        auto it = live.find(id);
        if (it != live.end() && StillQueued(it->second)) continue;
        if (!answered && q.ok() && q->err.find("Invalid job id") == std::string::npos) break;
        auto sc = runner_.Run({"scontrol", "-o", "show", "job", id});
        if (sc.ok() && sc->exit_code == 0) {
          JobEnd e = ParseScontrolJob(sc->out);
          if (StillQueued(e.state)) continue;
          if (!e.state.empty()) {
            ended[id] = e;
            continue;
          }
        }
        auto sa = runner_.Run({"sacct", "-n", "-P", "-X", "-o", "State,ExitCode", "-j", id});
        if (sa.ok() && sa->exit_code == 0) {
          JobEnd e = ParseSacct(sa->out);
          if (StillQueued(e.state)) continue;
          if (!e.state.empty()) {
            ended[id] = e;
            continue;
          }
        }
        unknown.insert(id);
      }
      l.lock();
      for (auto& [id, e] : ended) {
        auto it = im.jobs.find(id);
        if (it == im.jobs.end()) continue;
        it->second.ended = true;
        it->second.end = e;
      }
      for (const auto& id : unknown) {
        auto it = im.jobs.find(id);
        if (it != im.jobs.end() && ++it->second.missing >= kMissingPollsForLost)
          it->second.ended = true;  // state "": lost
      }
      im.done_cv.notify_all();
    }
  });
}

SlurmExecutor::~SlurmExecutor() {
  {
    std::lock_guard l(impl_->mu);
    impl_->quit = true;
  }
  impl_->poll_cv.notify_all();
  impl_->poller.join();
}

std::vector<TaskOutcome> SlurmExecutor::Execute(const std::vector<ExecTask>& tasks,
                                                const TaskFn& fn, ExecObserver* observer) {
  impl_->failed = false;
  std::error_code ec;
  fs::create_directories(settings_.staging, ec);
  // The batch script every job runs: its arguments are the command, as given.
  const fs::path tmp = impl_->script.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << "#!/bin/sh\n# Written by alambic: runs the command given as arguments.\nexec \"$@\"\n";
  }
  fs::rename(tmp, impl_->script, ec);
  FailFastObserver wrap(observer, options_.keep_going, &impl_->failed, local_.get());
  return local_->Execute(tasks, fn, &wrap);
}

void SlurmExecutor::RequestStop() { local_->RequestStop(); }
bool SlurmExecutor::stop_requested() const { return local_->stop_requested(); }

std::string SlurmExecutor::Describe() const { return SlurmJobDescription(settings_); }

Status SlurmExecutor::CheckCluster() {
  auto r = runner_.Run({"sinfo", "-h", "-o", "%P"});
  if (!r.ok())
    return r.status().WithContext("Slurm executor (is slurm-client installed and on PATH?)");
  if (r->exit_code != 0)
    return Status::Failed(
        fmt::format("Slurm executor: sinfo failed: {}", Trim(r->err.empty() ? r->out : r->err)));
  if (settings_.partition.empty()) return Status::Ok();
  std::vector<std::string> names;
  std::istringstream in(r->out);
  std::string p;
  while (in >> p) {
    if (!p.empty() && p.back() == '*') p.pop_back();
    names.push_back(p);
    if (p == settings_.partition) return Status::Ok();
  }
  return Status::Invalid(
      fmt::format("Slurm partition '{}' does not exist (the cluster has: {})", settings_.partition,
                  names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", "))));
}

Status SlurmExecutor::RunJob(const JobRequest& job, const CancelToken& cancel,
                             const std::function<void(const std::string& id)>& submitted) {
  Impl& im = *impl_;
  if (cancel.cancelled()) return cancel.AsStatus();
  auto sb = runner_.Run(SbatchArgs(settings_, job, im.script), job.env);
  if (!sb.ok()) return sb.status().WithContext("submitting the job");
  if (sb->exit_code != 0)
    return Status::Failed(
        fmt::format("sbatch refused the job: {}", Trim(sb->err.empty() ? sb->out : sb->err)));
  ALAMBIC_ASSIGN_OR_RETURN(std::string id, ParseSbatchJobId(sb->out));
  {
    std::lock_guard l(im.mu);
    im.jobs[id] = Watch{};
  }
  im.poll_cv.notify_all();
  if (submitted) submitted(id);
  std::unique_lock l(im.mu);
  while (true) {
    Watch& w = im.jobs[id];
    if (w.ended) break;
    if (cancel.cancelled()) {
      im.jobs.erase(id);
      l.unlock();
      (void)runner_.Run({"scancel", id});
      return cancel.AsStatus();
    }
    im.done_cv.wait_for(l, kWaitSlice);
  }
  const JobEnd end = im.jobs[id].end;
  im.jobs.erase(id);
  l.unlock();
  if (JobSucceeded(end)) return Status::Ok();
  if (end.state.empty())
    return Status::Failed(fmt::format(
        "Slurm job {} was lost: it left the queue and neither scontrol nor sacct knows it", id));
  std::string how = end.state;
  if (end.exit_code > 0) how += fmt::format(", exit status {}", end.exit_code);
  if (end.signal > 0) how += fmt::format(", signal {}", end.signal);
  if (!end.reason.empty() && end.reason != "None") how += ", " + end.reason;
  return Status::Failed(fmt::format("Slurm job {} ended {}", id, how));
}

}  // namespace alambic
