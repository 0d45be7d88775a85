// Which spread Alambic reports: the `stddev` aggregate is the sample standard
// deviation (n - 1), the cross-validation `std` of a train recipe the
// population one (over the K folds). Checked against Python's statistics module.
#include <cstdio>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/kind_test_util.h"
#include "tests/test_util.h"

namespace alambic::spread_test {
namespace {

using nlohmann::json;
using testing::Doubles;
using testing::Ints;
using testing::MakeInput;

constexpr const char* kBreastCancer =
    "/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv";

// The output of `python3 -c CODE`.
std::string Python(const std::string& code) {
  testing::TempDir dir;
  testing::WriteFile(dir.path() / "p.py", code);
  const std::string cmd = "python3 " + testing::ShellQuote((dir.path() / "p.py").string());
  FILE* p = ::popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (p && std::fgets(buf, sizeof buf, p)) out += buf;
  if (p) {
    EXPECT_EQ(::pclose(p), 0) << out;
  }
  return out;
}

// Columns 0 (mean radius) and 30 (target) of scikit-learn's breast cancer data.
NamedTable RadiusByTarget() {
  std::ifstream in(kBreastCancer);
  EXPECT_TRUE(in.good()) << kBreastCancer << " (python3-sklearn) is missing";
  std::string line;
  std::getline(in, line);
  std::vector<std::optional<double>> radius;
  std::vector<std::optional<int64_t>> target;
  while (std::getline(in, line)) {
    std::stringstream s(line);
    std::string cell;
    std::vector<std::string> cells;
    while (std::getline(s, cell, ',')) cells.push_back(cell);
    radius.push_back(std::stod(cells.at(0)));
    target.push_back(std::stoll(cells.at(30)));
  }
  return MakeInput("cancer", {{"radius", Doubles(radius)}, {"target", Ints(target)}});
}

TEST(SpreadTest, StddevAggregateIsTheSampleStandardDeviation) {
  auto out = testing::RunKind(
      "group",
      {{"keys", {"target"}},
       {"aggregates", json::array({{{"name", "sd"}, {"fn", "stddev"}, {"column", "radius"}}})}},
      {RadiusByTarget()});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Table& t = out->tables.at(0);
  ASSERT_EQ(t.num_rows(), 2);
  const json oracle = json::parse(Python(std::string(R"(import csv, json, statistics
rows = list(csv.reader(open(")") + kBreastCancer +
                                         R"(")))[1:]
g = {}
for r in rows: g.setdefault(int(r[30]), []).append(float(r[0]))
print(json.dumps({str(k): [statistics.stdev(v), statistics.pstdev(v)] for k, v in g.items()}))
)"));
  const int target = t.schema().FieldIndex("target");
  const int sd = t.schema().FieldIndex("sd");
  ASSERT_GE(target, 0);
  ASSERT_GE(sd, 0);
  for (int64_t i = 0; i < t.num_rows(); ++i) {
    const auto& want = oracle.at(std::to_string(t.column(target)->Int64(i)));
    const double got = t.column(sd)->Double(i);
    EXPECT_NEAR(got, want[0].get<double>(), 1e-9);
    // Not the population figure: the groups are a few hundred rows, the two differ by ~0.1%.
    EXPECT_GT(std::abs(got - want[1].get<double>()), 1e-4);
  }
}

TEST(SpreadTest, CrossValidationStdIsThePopulationStandardDeviationOfTheFolds) {
  NamedTable in = RadiusByTarget();
  auto out = testing::RunKind("train",
                              {{"task", "binary"},
                               {"target", "target"},
                               {"split", {{"method", "kfold"}, {"folds", 4}, {"seed", 5}}},
                               {"rounds", 8}},
                              {std::move(in)}, {"model"});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const json& cv = out->metrics.at("cv");
  ASSERT_EQ(cv.at("per_fold").size(), 4u);
  const json oracle =
      json::parse(Python("import json, statistics\nv = json.loads('" + cv.at("per_fold").dump() +
                         "')\nprint(json.dumps([statistics.pstdev(v), "
                         "statistics.stdev(v), statistics.fmean(v)]))\n"));
  EXPECT_NEAR(cv.at("std").get<double>(), oracle[0].get<double>(), 1e-9);
  EXPECT_NEAR(cv.at("mean").get<double>(), oracle[2].get<double>(), 1e-12);
  ASSERT_GT(oracle[1].get<double>() - oracle[0].get<double>(), 1e-9) << "folds all equal";
}

}  // namespace
}  // namespace alambic::spread_test
