// Tables through the Arrow C data interface: export then import gives the same
// table for every column type, offsets are honoured, bad input is refused.
#include "plugins/arrow_c.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "plugins/alambic_plugin_helpers.h"

namespace alambic::arrow_c_test {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<const Table> AllTypes() {
  ColumnBuilder i(TypeId::kInt64), f(TypeId::kFloat64), b(TypeId::kBool), s(TypeId::kUtf8),
      d(TypeId::kDate32), t(TypeId::kTimestamp);
  for (int r = 0; r < 10; ++r) {
    const bool null = r % 4 == 3;
    null ? i.AppendNull() : i.AppendInt64(r * 1000);
    null ? f.AppendNull() : f.AppendDouble(r / 3.0);
    null ? b.AppendNull() : b.AppendBool(r % 2 == 0);
    null ? s.AppendNull() : s.AppendString(r % 2 ? "Évry" : "Paris");
    null ? d.AppendNull() : d.AppendDate32(19000 + r);
    null ? t.AppendNull() : t.AppendTimestamp(int64_t{1700000000000000} + r);
  }
  auto plain = s.Finish();
  auto dict = DictionaryEncode(*plain);
  Schema schema{{{"i", TypeId::kInt64},
                 {"f", TypeId::kFloat64},
                 {"b", TypeId::kBool},
                 {"s", TypeId::kUtf8},
                 {"sd", TypeId::kUtf8},
                 {"d", TypeId::kDate32},
                 {"t", TypeId::kTimestamp}}};
  return std::make_shared<const Table>(*Table::Make(
      schema, {i.Finish(), f.Finish(), b.Finish(), plain, dict, d.Finish(), t.Finish()}));
}

std::string Cells(const Table& t, int64_t from = 0) {
  std::string out;
  for (int64_t r = from; r < t.num_rows(); ++r)
    for (int c = 0; c < t.num_columns(); ++c)
      out += (t.column(c)->IsNull(r) ? "null" : FormatCell(*t.column(c), r)) + "|";
  return out;
}

TEST(ArrowCTest, ExportThenImportKeepsEveryTypeAndNull) {
  auto table = AllTypes();
  ArrowSchema schema;
  ArrowArray array;
  ExportTable(table, &schema, &array);
  EXPECT_STREQ(schema.format, "+s");
  ASSERT_EQ(schema.n_children, 7);
  EXPECT_STREQ(schema.children[0]->format, "l");
  EXPECT_STREQ(schema.children[4]->format, "i");
  EXPECT_STREQ(schema.children[4]->dictionary->format, "u");
  EXPECT_STREQ(schema.children[5]->format, "tdD");
  EXPECT_STREQ(schema.children[6]->format, "tsu:UTC");
  EXPECT_EQ(array.children[0]->null_count, 2);
  auto back = ImportTable(&schema, &array);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(schema.release, nullptr);  // released by the import
  EXPECT_EQ(array.release, nullptr);
  EXPECT_EQ(back->schema(), table->schema());
  EXPECT_EQ(Cells(*back), Cells(*table));
}

// What a plugin sees and builds with alambic_plugin_helpers.h: every column
// of an exported table read through InputTable and copied row by row into a
// TableBuilder comes back to the host unchanged (dictionary columns plain).
TEST(ArrowCTest, PluginHelpersReadAndBuildEveryType) {
  auto table = AllTypes();
  ArrowSchema in_schema;
  ArrowArray in_array;
  ExportTable(table, &in_schema, &in_array);
  const alambic_plugin::InputTable in(&in_schema, &in_array);
  ASSERT_EQ(in.columns(), 7);
  EXPECT_EQ(in.find("sd"), 4);
  EXPECT_EQ(in.format(4), "u");
  EXPECT_TRUE(in.boolean(2, 0));
  EXPECT_FALSE(in.boolean(2, 1));
  EXPECT_TRUE(in.is_null(2, 3));
  EXPECT_EQ(in.utf8(4, 1), "Évry");
  alambic_plugin::TableBuilder out;
  for (int64_t c = 0; c < in.columns(); ++c)
    ASSERT_EQ(out.add_column(in.name(c), alambic_plugin::CopyFormat(in, c)), c);
  for (int64_t r = 0; r < in.rows(); ++r)
    for (int64_t c = 0; c < in.columns(); ++c) in.copy_to(out, static_cast<int>(c), c, r);
  in_array.release(&in_array);
  in_schema.release(&in_schema);

  ArrowSchema schema;
  ArrowArray array;
  out.finish(&schema, &array);
  auto back = ImportTable(&schema, &array);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->schema(), table->schema());
  EXPECT_EQ(Cells(*back), Cells(*table));
  EXPECT_TRUE(back->column(2)->Bool(0));
  EXPECT_TRUE(back->column(2)->IsNull(3));

  // An empty table is valid too.
  alambic_plugin::TableBuilder empty;
  for (const char* f : {"l", "g", "b", "u", "tdD", "tsu:UTC"}) empty.add_column(f, f);
  empty.finish(&schema, &array);
  auto none = ImportTable(&schema, &array);
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_EQ(none->num_rows(), 0);
  EXPECT_EQ(none->num_columns(), 6);
}

TEST(ArrowCTest, ImportHonoursTheStructOffset) {
  auto table = AllTypes();
  ArrowSchema schema;
  ArrowArray array;
  ExportTable(table, &schema, &array);
  array.offset = 3;
  array.length = 7;
  auto back = ImportTable(&schema, &array);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->num_rows(), 7);
  EXPECT_EQ(Cells(*back), Cells(*table, 3));
}

TEST(ArrowCTest, RefusesWhatItCannotRead) {
  auto table = AllTypes();
  ArrowSchema schema;
  ArrowArray array;
  ExportTable(table, &schema, &array);
  const char* saved = schema.children[1]->format;
  schema.children[1]->format = "e";  // float16
  auto r = ImportTable(&schema, &array);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("table: column 'f' (format 'e'): unsupported type"));
  (void)saved;
  EXPECT_EQ(array.release, nullptr);  // released even on failure

  ExportTable(table, &schema, &array);
  schema.format = "l";
  r = ImportTable(&schema, &array);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "table: expected a struct array (format '+s'), got 'l'");
}

}  // namespace
}  // namespace alambic::arrow_c_test
