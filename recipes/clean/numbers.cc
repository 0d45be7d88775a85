// The clean recipe (recipes/clean/kind.cc). Number steps: round, bin.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "recipes/clean/step.h"

namespace alambic::clean {

namespace {

constexpr int kMaxRoundDigits = 15;

}  // namespace

Status CheckRound(const Step& s) {
  ALAMBIC_RETURN_IF_ERROR(Maybe(s, "digits", &json::is_number_integer, "an integer"));
  int64_t d = s.Int("digits", 0);
  if (d < -kMaxRoundDigits || d > kMaxRoundDigits)
    return Status::Invalid(fmt::format("option 'digits' must be between -{} and {}",
                                       kMaxRoundDigits, kMaxRoundDigits));
  return Status::Ok();
}

Status CheckBin(const Step& s) {
  ALAMBIC_RETURN_IF_ERROR(Need(s, "edges", &json::is_array, "a list of numbers"));
  ALAMBIC_RETURN_IF_ERROR(Maybe(s, "labels", &json::is_array, "a list of strings"));
  ALAMBIC_RETURN_IF_ERROR(CheckInto(s));
  const json& edges = s.options["edges"];
  if (edges.size() < 2) return Status::Invalid("option 'edges' needs at least two numbers");
  for (size_t i = 0; i < edges.size(); ++i) {
    if (!edges[i].is_number()) return Status::Invalid("option 'edges' must be a list of numbers");
    if (i > 0 && !(edges[i - 1].get<double>() < edges[i].get<double>()))
      return Status::Invalid("option 'edges' must be strictly increasing");
  }
  if (s.options.contains("labels")) {
    const json& labels = s.options["labels"];
    for (const auto& l : labels)
      if (!l.is_string()) return Status::Invalid("option 'labels' must be a list of strings");
    if (labels.size() + 1 != edges.size())
      return Status::Invalid(fmt::format("option 'labels' needs {} labels for {} edges, not {}",
                                         edges.size() - 1, edges.size(), labels.size()));
  }
  return Status::Ok();
}

Status RunRound(const Step& s, const StepEnv& env, Work& w, Report& r) {
  const int digits = static_cast<int>(s.Int("digits", 0));
  int64_t changed = 0;
  for (const auto& c : s.columns) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.Column(s, w, c));
    auto& wc = w.cols[static_cast<size_t>(i)];
    const Column& src = *wc.col;
    if (src.type != TypeId::kFloat64 && src.type != TypeId::kInt64)
      return env.Error(s, fmt::format("column '{}' is {}; round applies to int64 and float64 "
                                      "columns",
                                      c, TypeName(src.type)));
    if (src.type == TypeId::kInt64 && digits >= 0) continue;
    ColumnBuilder b(src.type);
    b.Reserve(src.length);
    for (int64_t row = 0; row < src.length; ++row) {
      if (src.IsNull(row)) {
        b.AppendNull();
      } else if (src.type == TypeId::kFloat64) {
        // Half away from zero, on the binary value (1.005 is just below 1.005).
        double v = src.Double(row), p = std::pow(10.0, digits);
        double rounded = std::isfinite(v) ? std::round(v * p) / p : v;
        if (std::isfinite(rounded) && rounded != v) ++changed;
        b.AppendDouble(std::isfinite(rounded) ? rounded : v);
      } else {
        int64_t v = src.Int64(row), p = 1;
        for (int k = 0; k < -digits; ++k) p *= 10;
        int64_t rem = v % p, down = v - rem;
        int64_t rounded = (rem >= 0 ? rem : -rem) * 2 >= p ? down + (v < 0 ? -p : p) : down;
        if (rounded != v) ++changed;
        b.AppendInt64(rounded);
      }
    }
    wc.col = b.Finish();
  }
  r["changed"] = changed;
  return Status::Ok();
}

Status RunBin(const Step& s, const StepEnv& env, Work& w, Report& r) {
  const std::string& column = s.columns[0];
  ALAMBIC_ASSIGN_OR_RETURN(int i, env.Column(s, w, column));
  const Column& src = *w.cols[static_cast<size_t>(i)].col;
  if (src.type != TypeId::kFloat64 && src.type != TypeId::kInt64)
    return env.Error(s, fmt::format("column '{}' is {}; bin applies to int64 and float64 columns",
                                    column, TypeName(src.type)));
  const std::string into = s.Str("into", column);
  ALAMBIC_RETURN_IF_ERROR(env.CanCreate(s, w, into, column));
  std::vector<double> edges;
  for (const auto& e : s.options["edges"]) edges.push_back(e.get<double>());
  std::vector<std::string> labels;
  if (s.options.contains("labels")) {
    for (const auto& l : s.options["labels"]) labels.push_back(l.get<std::string>());
  } else {
    for (size_t k = 0; k + 1 < edges.size(); ++k)
      labels.push_back(
          fmt::format("[{}, {}{}", edges[k], edges[k + 1], k + 2 == edges.size() ? "]" : ")"));
  }
  int64_t outside = 0;
  ColumnBuilder b(TypeId::kUtf8);
  b.Reserve(src.length);
  for (int64_t row = 0; row < src.length; ++row) {
    if (src.IsNull(row)) {
      b.AppendNull();
      continue;
    }
    double v = src.type == TypeId::kFloat64 ? src.Double(row) : static_cast<double>(src.Int64(row));
    // Bins are [e_k, e_k+1); the last one also holds its upper edge.
    auto it = std::upper_bound(edges.begin(), edges.end(), v);
    size_t k = static_cast<size_t>(it - edges.begin());
    if (v == edges.back()) k = edges.size() - 1;
    if (k == 0 || k == edges.size() || std::isnan(v)) {
      ++outside;
      b.AppendNull();
    } else {
      b.AppendString(labels[k - 1]);
    }
  }
  ColumnPtr col = b.Finish();
  r["changed"] = CountChanged(w, into, *col);
  r["outside"] = outside;
  Place(w, into, std::move(col), i, i);
  return Status::Ok();
}

}  // namespace alambic::clean
