// The clean recipe (recipes/clean/kind.cc). Column steps: rename, copy, keep, drop.
#include <string>
#include <vector>

#include <fmt/format.h>

#include "recipes/clean/step.h"

namespace alambic::clean {

Status RunRename(const Step& s, const StepEnv& env, Work& w, Report& r) {
  for (const auto& [old_name, value] : s.mapping) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.Column(s, w, old_name));
    std::string to = value.get<std::string>();
    if (to != old_name && w.Find(to) >= 0)
      return env.Error(s, fmt::format("cannot rename '{}' to '{}': column '{}' already exists",
                                      old_name, to, to));
    w.cols[static_cast<size_t>(i)].name = to;
  }
  r["changed"] = 0;
  return Status::Ok();
}

// {copy: {source: new_name, ...}}: a new column, after the others, with the
// source's values, type, lineage and masking.
Status RunCopy(const Step& s, const StepEnv& env, Work& w, Report& r) {
  for (const auto& [from, value] : s.mapping) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.Column(s, w, from));
    std::string to = value.get<std::string>();
    if (w.Find(to) >= 0)
      return env.Error(
          s, fmt::format("cannot copy '{}' to '{}': column '{}' already exists", from, to, to));
    WorkColumn copy = w.cols[static_cast<size_t>(i)];
    copy.name = std::move(to);
    w.cols.push_back(std::move(copy));
  }
  r["changed"] = 0;
  return Status::Ok();
}

Status RunKeep(const Step& s, const StepEnv& env, Work& w, Report& r) {
  std::vector<WorkColumn> kept;
  for (const auto& c : s.columns) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.Column(s, w, c));
    kept.push_back(w.cols[static_cast<size_t>(i)]);
  }
  r["columns_removed"] = w.cols.size() - kept.size();
  r["changed"] = 0;
  w.cols = std::move(kept);
  return Status::Ok();
}

Status RunDrop(const Step& s, const StepEnv& env, Work& w, Report& r) {
  for (const auto& c : s.columns) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.Column(s, w, c));
    w.cols.erase(w.cols.begin() + i);
  }
  r["columns_removed"] = s.columns.size();
  r["changed"] = 0;
  return Status::Ok();
}

}  // namespace alambic::clean
