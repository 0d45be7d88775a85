// The clean recipe (recipes/clean/kind.cc). The steps' shared machinery: placing columns, option
// checks, conversions under on_error, counts.
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "recipes/clean/step.h"

namespace alambic::clean {

// Puts `col`, computed from the column at `from`, under `into`: replaces the
// column of that name, or inserts it after the column at `after`.
void Place(Work& w, const std::string& into, ColumnPtr col, int from, int after) {
  const WorkColumn& source = w.cols[static_cast<size_t>(from)];
  WorkColumn placed{into, std::move(col), source.sources, source.masked};
  int at = w.Find(into);
  if (at >= 0) {
    w.cols[static_cast<size_t>(at)] = std::move(placed);
  } else {
    w.cols.insert(w.cols.begin() + after + 1, std::move(placed));
  }
}

namespace {

// Text form of a cell for messages: quoted, cut when long.
std::string Quoted(const Column& c, int64_t i) {
  constexpr size_t kMaxShown = 40;
  std::string v = FormatCell(c, i);
  if (v.size() > kMaxShown) v = v.substr(0, kMaxShown) + "…";
  return "'" + v + "'";
}

const char* OnErrorName(OnError e) {
  switch (e) {
    case OnError::kFail:
      return "fail";
    case OnError::kNull:
      return "null";
    case OnError::kDropRow:
      return "drop_row";
  }
  return "?";
}

}  // namespace

Status Need(const Step& s, const char* key, bool (json::*is)() const, const char* what) {
  auto it = s.options.find(key);
  if (it == s.options.end()) return Status::Invalid(fmt::format("option '{}' is required", key));
  if (!((*it).*is)()) return Status::Invalid(fmt::format("option '{}' must be {}", key, what));
  return Status::Ok();
}

Status Maybe(const Step& s, const char* key, bool (json::*is)() const, const char* what) {
  if (!s.options.contains(key)) return Status::Ok();
  return Need(s, key, is, what);
}

Status CheckNone(const Step&) { return Status::Ok(); }

Status CheckInto(const Step& s) {
  ALAMBIC_RETURN_IF_ERROR(Maybe(s, "into", &json::is_string, "a column name"));
  if (s.options.contains("into") && s.columns.size() != 1)
    return Status::Invalid("option 'into' needs a single column");
  if (s.options.contains("into") && s.Str("into").empty())
    return Status::Invalid("option 'into' must not be empty");
  return Status::Ok();
}

// Converts one column cell by cell under the step's on_error policy; failed
// rows are marked in `keep` (drop_row) and counted.
Status ConvertColumn(const Step& s, const StepEnv& env, const std::string& name, const Column& src,
                     TypeId to,
                     const std::function<bool(const Column&, int64_t, ColumnBuilder&)>& conv,
                     std::vector<uint8_t>& keep, ColumnPtr* out, int64_t* converted,
                     int64_t* failed, const char* verb, const std::string& target) {
  ColumnBuilder b(to);
  b.Reserve(src.length);
  for (int64_t i = 0; i < src.length; ++i) {
    if (src.IsNull(i)) {
      b.AppendNull();
      continue;
    }
    if (conv(src, i, b)) {
      ++*converted;
      continue;
    }
    ++*failed;
    if (s.on_error == OnError::kFail)
      return env.Error(s,
                       fmt::format("column '{}': cannot {} {} {} (row {}); set on_error: null or "
                                   "drop_row to go on",
                                   name, verb, Quoted(src, i), target, i + 1));
    if (s.on_error == OnError::kDropRow) keep[static_cast<size_t>(i)] = 0;
    b.AppendNull();
  }
  *out = b.Finish();
  return Status::Ok();
}

void ReportFailures(const Step& s, Work& w, const std::vector<uint8_t>& keep, int64_t failed,
                    Report& r) {
  r["failed"] = failed;
  r["on_error"] = OnErrorName(s.on_error);
  if (s.on_error == OnError::kNull) r["nulled"] = failed;
  if (s.on_error == OnError::kDropRow) {
    int64_t before = w.rows;
    w.Filter(keep);
    r["rows_removed"] = before - w.rows;
  }
}

// Cells of `col` that are non-null (for new columns) or differ from the column
// they replace.
int64_t CountChanged(const Work& w, const std::string& into, const Column& col) {
  int at = w.Find(into);
  const Column* old = at >= 0 ? w.cols[static_cast<size_t>(at)].col.get() : nullptr;
  int64_t changed = 0;
  for (int64_t i = 0; i < col.length; ++i) {
    bool was = old && old->IsValid(i), is = col.IsValid(i);
    if (was != is) {
      ++changed;
    } else if (is && (old->type != col.type || FormatCell(*old, i) != FormatCell(col, i))) {
      ++changed;
    }
  }
  return changed;
}

}  // namespace alambic::clean
