// The clean recipe (recipes/clean/kind.cc). Missing values and duplicates: fill_missing,
// drop_missing, deduplicate.
#include <string>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "recipes/clean/step.h"

namespace alambic::clean {

Status RunFillMissing(const Step& s, const StepEnv& env, Work& w, Report& r) {
  int64_t changed = 0;
  for (const auto& [name, value] : s.mapping) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.Column(s, w, name));
    auto& wc = w.cols[static_cast<size_t>(i)];
    // The fill value goes through the cast rules: "2024-01-01" fills a date.
    ColumnBuilder text(TypeId::kUtf8);
    text.AppendString(value.is_string() ? value.get<std::string>() : value.dump());
    ColumnPtr one = text.Finish();
    ColumnBuilder fill(wc.col->type);
    if (!ConvertCell(*one, 0, wc.col->type, fill))
      return env.Error(s, fmt::format("fill value {} does not fit column '{}' ({})", value.dump(),
                                      name, TypeName(wc.col->type)));
    ColumnPtr fill_col = fill.Finish();
    ColumnBuilder b(wc.col->type);
    b.Reserve(w.rows);
    for (int64_t row = 0; row < w.rows; ++row) {
      if (wc.col->IsValid(row)) {
        b.AppendFrom(*wc.col, row);
      } else {
        b.AppendFrom(*fill_col, 0);
        ++changed;
      }
    }
    wc.col = b.Finish();
  }
  r["changed"] = changed;
  return Status::Ok();
}

namespace {

// The step's columns, or every column when it names none.
Result<std::vector<int>> ColumnsOrAll(const Step& s, const StepEnv& env, const Work& w) {
  std::vector<int> out;
  for (const auto& c : s.columns) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.Column(s, w, c));
    out.push_back(i);
  }
  if (s.columns.empty())
    for (size_t i = 0; i < w.cols.size(); ++i) out.push_back(static_cast<int>(i));
  return out;
}

}  // namespace

Status RunDropMissing(const Step& s, const StepEnv& env, Work& w, Report& r) {
  ALAMBIC_ASSIGN_OR_RETURN(std::vector<int> cols, ColumnsOrAll(s, env, w));
  std::vector<uint8_t> keep(static_cast<size_t>(w.rows), 1);
  for (int i : cols) {
    const Column& c = *w.cols[static_cast<size_t>(i)].col;
    if (c.null_count == 0) continue;
    for (int64_t row = 0; row < w.rows; ++row)
      if (c.IsNull(row)) keep[static_cast<size_t>(row)] = 0;
  }
  int64_t before = w.rows;
  w.Filter(keep);
  r["changed"] = 0;
  r["rows_removed"] = before - w.rows;
  return Status::Ok();
}

namespace {

// Appends a cell's bytes to a row key: a null marker, or the type's raw value
// (length-prefixed for text).
void AppendKey(const Column& c, int64_t i, std::string* key) {
  if (c.IsNull(i)) {
    key->push_back('\0');
    return;
  }
  key->push_back('\1');
  switch (c.type) {
    case TypeId::kInt64:
    case TypeId::kTimestamp: {
      int64_t v = c.Int64(i);
      key->append(reinterpret_cast<const char*>(&v), sizeof v);
      break;
    }
    case TypeId::kFloat64: {
      double v = c.Double(i);
      if (v == 0) v = 0;  // -0.0 and 0.0 are the same value
      key->append(reinterpret_cast<const char*>(&v), sizeof v);
      break;
    }
    case TypeId::kBool:
      key->push_back(c.Bool(i) ? '1' : '0');
      break;
    case TypeId::kDate32: {
      int32_t v = c.Date32(i);
      key->append(reinterpret_cast<const char*>(&v), sizeof v);
      break;
    }
    case TypeId::kUtf8: {
      std::string_view v = c.String(i);
      uint64_t n = v.size();
      key->append(reinterpret_cast<const char*>(&n), sizeof n);
      key->append(v);
      break;
    }
  }
}

}  // namespace

Status RunDeduplicate(const Step& s, const StepEnv& env, Work& w, Report& r) {
  ALAMBIC_ASSIGN_OR_RETURN(std::vector<int> cols, ColumnsOrAll(s, env, w));
  std::vector<uint8_t> keep(static_cast<size_t>(w.rows), 1);
  std::unordered_set<std::string> seen;
  seen.reserve(static_cast<size_t>(w.rows));
  std::string key;
  for (int64_t row = 0; row < w.rows; ++row) {
    key.clear();
    for (int i : cols) AppendKey(*w.cols[static_cast<size_t>(i)].col, row, &key);
    if (!seen.insert(key).second) keep[static_cast<size_t>(row)] = 0;
  }
  int64_t before = w.rows;
  w.Filter(keep);
  r["changed"] = 0;
  r["rows_removed"] = before - w.rows;
  return Status::Ok();
}

}  // namespace alambic::clean
