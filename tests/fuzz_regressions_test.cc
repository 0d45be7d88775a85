// Defects the fuzz targets found (fuzz/regressions/<target>/), as focused unit tests; the
// inputs themselves also run in fuzz_corpus_replay.
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

#include "core/table/arrow_ipc.h"

namespace alambic::fuzz_regressions_test {
namespace {

std::string Regression(const std::string& name) {
  std::ifstream in(std::string(ALAMBIC_SOURCE_DIR) + "/fuzz/regressions/" + name, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A 1650-byte Arrow file whose schema has no column and whose record batch claims billions
// of rows: it was read as a table of that many empty rows, which printing (or writing as CSV)
// never finished. A batch without columns must have no rows.
TEST(FuzzRegressionTest, ArrowBatchWithoutColumnsCannotClaimRows) {
  const std::string file = Regression("arrow/no_column_huge_batch");
  ASSERT_EQ(file.size(), 1650u);
  auto t = ReadArrowBuffer(reinterpret_cast<const uint8_t*>(file.data()), file.size());
  ASSERT_FALSE(t.ok()) << "read as " << t->num_rows() << " rows";
  EXPECT_NE(t.status().message().find("no column"), std::string::npos) << t.status().message();
}

}  // namespace
}  // namespace alambic::fuzz_regressions_test
