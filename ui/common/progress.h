// Terminal progress for `alambic run`: on a TTY, one live line per running
// recipe (rows done, elapsed time); otherwise plain timestamped lines. A summary
// table (recipe, status, rows, duration; the rows of each output of a recipe
// with several) and the run's warnings are printed at the end either way.
#pragma once

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/exec/run.h"

namespace alambic {

class TerminalProgress final : public RunObserver {
 public:
  // `tty`: draw live lines (true when stderr is a terminal).
  TerminalProgress(std::FILE* out, bool tty, bool verbose);
  ~TerminalProgress() override;

  void RunStarted(const RunRecord& run, const Plan& plan) override;
  void RecipeStarted(const RecipeNode& node, int attempt) override;
  void RecipeProgress(const RecipeNode& node, int64_t rows) override;
  void RecipeLog(const RecipeNode& node, LogLevel level, const std::string& line) override;
  void RecipeRetrying(const RecipeNode& node, int attempt, const Status& why,
                      double delay) override;
  void RecipeFinished(const RecipeNode& node, const RecipeRunRecord& record) override;
  void RunFinished(const RunSummary& summary) override;

 private:
  struct Live {
    std::chrono::steady_clock::time_point start;
    int64_t rows = 0;
  };
  void Line(const std::string& text);  // requires mu_
  void Redraw();                       // requires mu_
  void Clear();                        // requires mu_
  std::FILE* out_;
  bool tty_, verbose_;
  std::mutex mu_;
  std::map<std::string, Live> live_;  // guarded by mu_
  // Warn-level log lines of this run (recipe label, line), repeated in the
  // summary; guarded by mu_.
  std::vector<std::pair<std::string, std::string>> warnings_;
  size_t warnings_dropped_ = 0;  // guarded by mu_
  int drawn_ = 0;                // live lines on screen, guarded by mu_
  std::chrono::steady_clock::time_point last_draw_;
};

// "1.2s", "340ms", "2m05s".
std::string FormatDuration(double seconds);
// "12,345".
std::string FormatCount(int64_t n);

}  // namespace alambic
