// Example plugin `anomaly`: robust z-scores within groups.
//
// kind anomaly: for each row, z = 0.6745 * (value - median) / MAD, where the
// median and the median absolute deviation (MAD) are those of the row's group
// (all rows when no group column is given). Rows with |z| above `threshold`
// are flagged. Output: the input columns plus median, mad, zscore (null when
// MAD is 0 or the value is null) and anomaly (bool). E.g. exam centres whose
// success rate is abnormal for their département.
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "alambic_plugin_helpers.h"

namespace {

using alambic_plugin::InputTable;
using alambic_plugin::TableBuilder;

constexpr double kMadScale = 0.6745;  // makes the MAD comparable to a standard deviation

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int32_t RunAnomaly(const AlambicRecipeCall* call, ArrowSchema* out_schemas, ArrowArray* out_arrays,
                   char* error, size_t error_size) {
  const InputTable in(call->input_schemas[0], call->input_arrays[0]);
  const std::string value = alambic_plugin::ParamString(call->params_json, "value");
  const std::string group = alambic_plugin::ParamString(call->params_json, "group");
  const double threshold = alambic_plugin::ParamNumber(call->params_json, "threshold", 3.5);
  const int64_t vc = in.find(value);
  if (vc < 0) return alambic_plugin::Fail(error, error_size, "no column '" + value + "'");
  const std::string_view vf = in.format(vc);
  if (vf != "l" && vf != "g")
    return alambic_plugin::Fail(error, error_size, "column '" + value + "' must be numeric");
  const int64_t gc = group.empty() ? -1 : in.find(group);
  if (!group.empty() && gc < 0)
    return alambic_plugin::Fail(error, error_size, "no column '" + group + "'");

  // Rows of each group.
  std::map<std::string, std::vector<int64_t>> groups;
  for (int64_t r = 0; r < in.rows(); ++r) {
    std::string key;
    if (gc >= 0 && !in.is_null(gc, r))
      key = in.format(gc) == "u" ? std::string(in.utf8(gc, r)) : std::to_string(in.number(gc, r));
    groups[key].push_back(r);
  }
  std::vector<double> median(static_cast<size_t>(in.rows()), NAN), mad(median);
  for (const auto& [key, rows] : groups) {
    std::vector<double> v;
    for (int64_t r : rows)
      if (!in.is_null(vc, r)) v.push_back(in.number(vc, r));
    if (v.empty()) continue;
    const double m = Median(v);
    for (double& x : v) x = std::fabs(x - m);
    const double d = Median(v);
    for (int64_t r : rows) {
      median[static_cast<size_t>(r)] = m;
      mad[static_cast<size_t>(r)] = d;
    }
  }

  TableBuilder out;
  std::vector<int> copies;
  for (int64_t c = 0; c < in.columns(); ++c)
    copies.push_back(out.add_column(in.name(c), alambic_plugin::CopyFormat(in, c)));
  const int om = out.add_column("median", "g"), od = out.add_column("mad", "g"),
            oz = out.add_column("zscore", "g"), oa = out.add_column("anomaly", "b");
  int64_t flagged = 0;
  for (int64_t r = 0; r < in.rows(); ++r) {
    for (int64_t c = 0; c < in.columns(); ++c)
      in.copy_to(out, copies[static_cast<size_t>(c)], c, r);
    const double m = median[static_cast<size_t>(r)], d = mad[static_cast<size_t>(r)];
    std::isnan(m) ? out.append_null(om) : out.append_float64(om, m);
    std::isnan(d) ? out.append_null(od) : out.append_float64(od, d);
    if (in.is_null(vc, r) || std::isnan(d) || d == 0) {
      out.append_null(oz);
      out.append_bool(oa, false);
    } else {
      const double z = kMadScale * (in.number(vc, r) - m) / d;
      out.append_float64(oz, z);
      out.append_bool(oa, std::fabs(z) > threshold);
      flagged += std::fabs(z) > threshold;
    }
  }
  out.finish(&out_schemas[0], &out_arrays[0]);
  if (call->host && call->host->log)
    call->host->log(
        call->host->host_data, ALAMBIC_LOG_INFO,
        (std::to_string(flagged) + " anomalies in " + std::to_string(groups.size()) + " groups")
            .c_str());
  return 0;
}

const AlambicParam kParams[] = {
    {"value", ALAMBIC_PARAM_STRING, 1, nullptr, "numeric column to score"},
    {"group", ALAMBIC_PARAM_STRING, 0, nullptr, "column whose values define the groups"},
    {"threshold", ALAMBIC_PARAM_NUMBER, 0, "3.5", "flag rows whose |robust z| exceeds this"},
};
const char* const kInputs[] = {"rows"};
const char* const kOutputs[] = {"scored"};
const AlambicKind kKinds[] = {{"anomaly", "robust z-score (median/MAD) per group", kParams, 3,
                               kInputs, 1, kOutputs, 1, RunAnomaly}};
const AlambicPlugin kPlugin = {ALAMBIC_PLUGIN_HEADER, "anomaly", "1.0.0", kKinds, 1};

}  // namespace

extern "C" ALAMBIC_PLUGIN_EXPORT const AlambicPlugin* alambic_plugin_entry(void) {
  return &kPlugin;
}
