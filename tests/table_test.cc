#include "core/table/table.h"

#include <gtest/gtest.h>

namespace alambic::table_test {
namespace {

TEST(ColumnBuilderTest, NullsMaterialiseBitmapLazily) {
  ColumnBuilder b(TypeId::kInt64);
  b.AppendInt64(1);
  b.AppendInt64(2);
  b.AppendNull();
  b.AppendInt64(4);
  auto c = b.Finish();
  EXPECT_EQ(c->length, 4);
  EXPECT_EQ(c->null_count, 1);
  EXPECT_TRUE(c->IsValid(0));
  EXPECT_TRUE(c->IsValid(1));
  EXPECT_TRUE(c->IsNull(2));
  EXPECT_EQ(c->Int64(3), 4);
  EXPECT_TRUE(c->Validate().ok());
}

TEST(ColumnBuilderTest, StringsAndDictionaryRoundTrip) {
  ColumnBuilder b(TypeId::kUtf8);
  for (auto s : {"2A", "01", "2A", "", "01"}) b.AppendString(s);
  b.AppendNull();
  auto c = b.Finish();
  auto d = DictionaryEncode(*c);
  EXPECT_EQ(d->dictionary->length, 3);
  EXPECT_TRUE(d->Validate().ok());
  for (int64_t i = 0; i < 5; ++i) EXPECT_EQ(d->String(i), c->String(i));
  EXPECT_TRUE(d->IsNull(5));
  auto back = DictionaryDecode(*d);
  EXPECT_EQ(back->offsets, c->offsets);
}

TEST(CivilDateTest, RoundTripsAndFormats) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(2000, 3, 1), 11017);
  for (int32_t d = -800000; d < 800000; d += 997) {
    int y;
    unsigned m, day;
    CivilFromDays(d, &y, &m, &day);
    EXPECT_EQ(DaysFromCivil(y, m, day), d);
  }
  // The extremes of date32 convert without overflow (UBSan checks this build).
  int y;
  unsigned m, day;
  CivilFromDays(INT32_MAX, &y, &m, &day);
  EXPECT_EQ(y, 5881580);
  CivilFromDays(INT32_MIN, &y, &m, &day);
  EXPECT_EQ(y, -5877641);
  ColumnBuilder ts(TypeId::kTimestamp);
  ts.AppendTimestamp(-1);
  auto c = ts.Finish();
  EXPECT_EQ(FormatCell(*c, 0), "1969-12-31T23:59:59.999999Z");
}

TEST(TableTest, MakeRejectsMismatchedColumns) {
  ColumnBuilder a(TypeId::kInt64);
  a.AppendInt64(1);
  Schema s{{{"x", TypeId::kFloat64}}};
  auto t = Table::Make(s, {a.Finish()});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(), "column 'x' is int64 but the schema says float64");
}

}  // namespace
}  // namespace alambic::table_test
