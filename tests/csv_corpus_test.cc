// The awkward-CSV corpus: every tests/data/csv/NAME.csv read by the collect kind
// gives exactly the table (or the error) of NAME.json. Python's csv module
// checks the same files independently (tests/interop/csv_oracle.py).
#include "tests/csv_corpus.h"

#include <fstream>

#include <gtest/gtest.h>

namespace alambic::csv_corpus_test {
namespace {

const std::filesystem::path kCorpus = std::filesystem::path(ALAMBIC_SOURCE_DIR) / "tests/data/csv";

// Expands {"$repeat": S, "count": N} cells.
nlohmann::json Expand(const nlohmann::json& v) {
  if (v.is_object() && v.contains("$repeat")) {
    std::string out;
    const std::string unit = v["$repeat"].get<std::string>();
    for (int64_t i = 0; i < v["count"].get<int64_t>(); ++i) out += unit;
    return out;
  }
  if (v.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : v) out.push_back(Expand(e));
    return out;
  }
  return v;
}

class CsvCorpusTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CsvCorpusTest, ReadsAsExpected) {
  const std::string name = GetParam();
  std::ifstream in(kCorpus / (name + ".json"));
  const nlohmann::json doc = nlohmann::json::parse(in);
  const nlohmann::json got = testing::ReadCorpusCase(kCorpus, name);
  if (doc.contains("error")) {
    ASSERT_TRUE(got.contains("error")) << name << " read without error";
    EXPECT_EQ(got["error"], "recipe corpus: " + doc["error"].get<std::string>());
    return;
  }
  ASSERT_FALSE(got.contains("error")) << got["error"];
  EXPECT_EQ(got["columns"], doc["columns"]);
  const nlohmann::json rows = Expand(doc["rows"]);
  ASSERT_EQ(got["rows"].size(), rows.size());
  for (size_t r = 0; r < rows.size(); ++r)
    EXPECT_EQ(got["rows"][r], rows[r]) << name << " row " << r;  // cell text and JSON type
}

TEST(CsvCorpusListTest, HoldsEveryAwkwardCase) {
  const auto cases = testing::CorpusCases(kCorpus);
  for (const char* want :
       {"quoting", "newlines_in_fields", "bom", "latin1", "semicolon_decimal_comma", "ragged",
        "empty", "header_only", "one_column", "long_field", "type_change_after_1000_rows",
        "french_dates"})
    EXPECT_NE(std::find(cases.begin(), cases.end(), want), cases.end()) << want;
}

INSTANTIATE_TEST_SUITE_P(Corpus, CsvCorpusTest, ::testing::ValuesIn(testing::CorpusCases(kCorpus)),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace alambic::csv_corpus_test
