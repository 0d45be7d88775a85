#include "ui/common/progress.h"

#include <ctime>

#include <fmt/format.h>

#include "ui/common/text_table.h"

namespace alambic {

namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);
constexpr size_t kMaxErrorWidth = 100;
constexpr size_t kMaxSummaryWarnings = 50;  // more are counted, not repeated

double Since(SteadyClock::time_point t) {
  return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

// "10:42:07.123", local time.
std::string Timestamp() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  localtime_r(&t, &tm);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  return fmt::format("{:02}:{:02}:{:02}.{:03}", tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

std::string FirstLine(const std::string& s) {
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl) + " …";
}

}  // namespace

std::string FormatDuration(double seconds) {
  if (seconds < 0) seconds = 0;
  if (seconds < 1) return fmt::format("{}ms", static_cast<int64_t>(seconds * 1000 + 0.5));
  if (seconds < 60) return fmt::format("{:.1f}s", seconds);
  auto total = static_cast<int64_t>(seconds + 0.5);
  if (total < 3600) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}h{:02}m{:02}s", total / 3600, total / 60 % 60, total % 60);
}

std::string FormatCount(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

TerminalProgress::TerminalProgress(std::FILE* out, bool tty, bool verbose)
    : out_(out), tty_(tty), verbose_(verbose) {}

TerminalProgress::~TerminalProgress() {
  std::lock_guard l(mu_);
  Clear();
  std::fflush(out_);
}

void TerminalProgress::Clear() {
  if (!tty_ || drawn_ == 0) return;
  // Move up over the live lines and erase to the end of the screen.
  std::fprintf(out_, "\x1b[%dF\x1b[J", drawn_);
  drawn_ = 0;
}

void TerminalProgress::Redraw() {
  if (!tty_) return;
  Clear();
  for (const auto& [label, live] : live_) {
    std::string rows = live.rows > 0 ? FormatCount(live.rows) + " rows  " : "";
    std::fprintf(out_, "  running  %s  %s%s\n", Printable(label).c_str(), rows.c_str(),
                 FormatDuration(Since(live.start)).c_str());
    ++drawn_;
  }
  std::fflush(out_);
  last_draw_ = SteadyClock::now();
}

void TerminalProgress::Line(const std::string& text) {
  Clear();
  if (tty_) {
    std::fprintf(out_, "%s\n", text.c_str());
  } else {
    std::fprintf(out_, "%s %s\n", Timestamp().c_str(), text.c_str());
  }
  Redraw();
  std::fflush(out_);
}

void TerminalProgress::RunStarted(const RunRecord& run, const Plan& plan) {
  std::lock_guard l(mu_);
  std::string commit = run.git_commit.empty() ? "no commit" : run.git_commit.substr(0, 10);
  if (run.git_dirty) commit += "+";
  Line(fmt::format("run {} ({}, {}): {} of {} recipes to run", run.id.substr(0, 8), run.environment,
                   commit, plan.to_run, plan.recipes.size()));
}

void TerminalProgress::RecipeStarted(const RecipeNode& node, int attempt) {
  std::lock_guard l(mu_);
  live_[node.Label()] = Live{SteadyClock::now(), 0};
  if (tty_) {
    if (attempt > 1) Line(fmt::format("retry    {} (attempt {})", node.Label(), attempt));
    Redraw();
  } else {
    Line(attempt > 1 ? fmt::format("start    {} (attempt {})", node.Label(), attempt)
                     : fmt::format("start    {}", node.Label()));
  }
}

void TerminalProgress::RecipeProgress(const RecipeNode& node, int64_t rows) {
  std::lock_guard l(mu_);
  auto it = live_.find(node.Label());
  if (it == live_.end()) return;
  it->second.rows = rows;
  if (tty_ && SteadyClock::now() - last_draw_ >= kRedrawInterval) Redraw();
}

void TerminalProgress::RecipeLog(const RecipeNode& node, LogLevel level, const std::string& line) {
  if (!verbose_ && level < LogLevel::kWarn) return;
  static const char* kNames[] = {"debug", "info", "warn", "error"};
  std::lock_guard l(mu_);
  if (level == LogLevel::kWarn && warnings_.size() < kMaxSummaryWarnings)
    warnings_.emplace_back(node.Label(), line);
  else if (level == LogLevel::kWarn)
    ++warnings_dropped_;
  Line(fmt::format("{:<8} {}: {}", kNames[static_cast<int>(level)], node.Label(),
                   PrintableLines(line, "  ")));
}

void TerminalProgress::RecipeRetrying(const RecipeNode& node, int attempt, const Status& why,
                                      double delay) {
  std::lock_guard l(mu_);
  live_.erase(node.Label());
  Line(fmt::format("retrying {} after attempt {} in {}: {}", node.Label(), attempt,
                   FormatDuration(delay), Printable(FirstLine(why.message()))));
}

void TerminalProgress::RecipeFinished(const RecipeNode& node, const RecipeRunRecord& record) {
  std::lock_guard l(mu_);
  live_.erase(node.Label());
  std::string text = fmt::format("{:<8} {}", record.status, node.Label());
  if (record.status == "succeeded" && record.output_rows.size() > 1) {
    for (size_t k = 0; k < record.output_rows.size(); ++k)
      text +=
          fmt::format("{} {} {} rows", k == 0 ? " " : ",", Printable(record.output_rows[k].first),
                      FormatCount(record.output_rows[k].second));
    text += "  " + FormatDuration(record.duration_ms / 1000);
  } else if (record.status == "succeeded") {
    text += fmt::format("  {} rows  {}", FormatCount(record.rows_out),
                        FormatDuration(record.duration_ms / 1000));
  } else if (!record.error.empty()) {
    text += ": " + Printable(FirstLine(record.error));
  }
  Line(text);
}

void TerminalProgress::RunFinished(const RunSummary& summary) {
  std::lock_guard l(mu_);
  live_.clear();
  Clear();
  if (!summary.recipes.empty()) {
    TextTable table({"recipe", "status", "rows", "duration"});
    table.AlignRight(2);
    table.AlignRight(3);
    for (const auto& r : summary.recipes) {
      std::string label = r.flow + "/" + r.recipe;
      bool ran = r.status == "succeeded";
      table.AddRow({label, r.status, ran ? FormatCount(r.rows_out) : "-",
                    r.attempts > 0 ? FormatDuration(r.duration_ms / 1000) : "-"});
      // A recipe with several outputs: one line per output under its total.
      if (ran && r.output_rows.size() > 1)
        for (const auto& [dataset, rows] : r.output_rows)
          table.AddRow({"  -> " + dataset, "", FormatCount(rows), ""});
    }
    std::fprintf(out_, "\n%s", table.Render().c_str());
  }
  if (!warnings_.empty()) {
    std::fprintf(out_, "\nwarnings:\n");
    for (const auto& [label, line] : warnings_)
      std::fprintf(out_, "  %s: %s\n", Printable(label).c_str(),
                   PrintableLines(line, "    ").c_str());
    if (warnings_dropped_ > 0)
      std::fprintf(out_, "  … and %zu more (alambic log shows them all)\n", warnings_dropped_);
  }
  for (const auto& r : summary.recipes) {
    if (r.error.empty() || r.status == "skipped") continue;
    std::string err = r.error;
    if (err.size() > kMaxErrorWidth * 20) err = err.substr(0, kMaxErrorWidth * 20) + " …";
    std::fprintf(out_, "%s %s/%s: %s\n", r.status.c_str(), r.flow.c_str(), r.recipe.c_str(),
                 PrintableLines(err, "  ").c_str());
  }
  std::fprintf(
      out_, "\nrun %s %s in %s: %d succeeded, %d failed, %d cancelled, %d skipped, %d up to date\n",
      summary.run.id.substr(0, 8).c_str(), summary.run.status.c_str(),
      FormatDuration(summary.seconds).c_str(), summary.succeeded, summary.failed, summary.cancelled,
      summary.skipped, summary.up_to_date);
  std::fflush(out_);
}

}  // namespace alambic
