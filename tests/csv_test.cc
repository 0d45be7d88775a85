// CSV reading and writing: RFC 4180 quoting, encodings, type inference, schema
// overrides, error messages with physical line numbers, parallel parsing.
#include "core/table/csv.h"

#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace alambic::csv_test {
namespace {

using testing::TempDir;
using testing::WriteFile;

Table Read(std::string_view csv, const CsvOptions& opts = {}) {
  auto t = ReadCsvBuffer(csv, opts);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? std::move(*t) : Table();
}

std::string ReadError(std::string_view csv, const CsvOptions& opts = {}) {
  auto t = ReadCsvBuffer(csv, opts);
  EXPECT_FALSE(t.ok());
  return t.ok() ? "(no error)" : t.status().message();
}

CsvOptions Named(std::string source) {
  CsvOptions o;
  o.source_name = std::move(source);
  return o;
}

std::vector<std::string> Names(const Table& t) {
  std::vector<std::string> out;
  for (const auto& f : t.schema().fields) out.push_back(f.name);
  return out;
}

std::vector<TypeId> Types(const Table& t) {
  std::vector<TypeId> out;
  for (const auto& f : t.schema().fields) out.push_back(f.type);
  return out;
}

// Column `c` as text, "<null>" for nulls.
std::vector<std::string> Cells(const Table& t, int c) {
  std::vector<std::string> out;
  const Column& col = *t.column(c);
  for (int64_t r = 0; r < col.length; ++r)
    out.push_back(col.IsNull(r) ? "<null>" : FormatCell(col, r));
  return out;
}

using Strings = std::vector<std::string>;

TEST(CsvReadTest, QuotedFieldsHoldDelimitersDoubledQuotesAndNewlines) {
  Table t = Read(
      "id,text,tail\n"
      "1,\"a,b\",x\n"
      "2,\"say \"\"hi\"\"\",y\n"
      "3,\"two\nlines\",z\n"
      "4,\"crlf\r\ninside\",w\n"
      "5,\"\",v\n");
  ASSERT_EQ(t.num_rows(), 5);
  EXPECT_EQ(Cells(t, 1), (Strings{"a,b", "say \"hi\"", "two\nlines", "crlf\r\ninside", "<null>"}));
  EXPECT_EQ(Cells(t, 2), (Strings{"x", "y", "z", "w", "v"}));
  EXPECT_TRUE(t.column(1)->Validate().ok());
}

TEST(CsvReadTest, QuoteInsideUnquotedFieldIsText) {
  Table t = Read("a,b\n5'10\",x\"y\"\n\"ab\"c,d\n");
  EXPECT_EQ(Cells(t, 0), (Strings{"5'10\"", "abc"}));
  EXPECT_EQ(Cells(t, 1), (Strings{"x\"y\"", "d"}));
}

TEST(CsvReadTest, CrlfAndLfLineEndsEmptyLinesAndMissingFinalNewline) {
  Table t = Read("\r\na,b\r\n1,x\r\n\r\n\n2,y\n3,z");
  EXPECT_EQ(Names(t), (Strings{"a", "b"}));
  EXPECT_EQ(Cells(t, 0), (Strings{"1", "2", "3"}));
  EXPECT_EQ(Cells(t, 1), (Strings{"x", "y", "z"}));
  Table u = Read("a,b\r\n1,x\r\n2,\"y\"\r\n");
  EXPECT_EQ(Cells(u, 1), (Strings{"x", "y"}));
}

TEST(CsvReadTest, HeaderOnlyGivesNoRows) {
  Table t = Read("a,b\n");
  EXPECT_EQ(t.num_rows(), 0);
  EXPECT_EQ(Names(t), (Strings{"a", "b"}));
  EXPECT_EQ(Types(t), (std::vector<TypeId>{TypeId::kUtf8, TypeId::kUtf8}));
}

TEST(CsvReadTest, EmptyInputIsAnError) {
  EXPECT_EQ(ReadError("\n\r\n", Named("e.csv")), "e.csv: the file is empty");
}

TEST(CsvReadTest, Utf8BomIsSkipped) {
  Table t = Read("\xEF\xBB\xBFnom,ville\nZo\xC3\xA9,Besan\xC3\xA7on\n");
  EXPECT_EQ(Names(t), (Strings{"nom", "ville"}));
  EXPECT_EQ(Cells(t, 0), (Strings{"Zo\xC3\xA9"}));
  EXPECT_EQ(Cells(t, 1), (Strings{"Besan\xC3\xA7on"}));
}

TEST(CsvReadTest, InvalidUtf8IsAnErrorNamingTheLine) {
  EXPECT_EQ(ReadError("nom;ville\nJos\xE9;Lyon\n", Named("latin.csv")),
            "latin.csv:2: invalid UTF-8 (byte 0xE9); if the file is Latin-1 or Windows-1252, "
            "give its encoding");
  // Overlong encodings and surrogates are invalid too.
  EXPECT_EQ(ReadError("a\nx\n\"y\n\xC0\xAF\"\n", Named("o.csv")),
            "o.csv:4: invalid UTF-8 (byte 0xC0); if the file is Latin-1 or Windows-1252, give "
            "its encoding");
  EXPECT_EQ(ReadError("a\n\xED\xA0\x80\n", Named("s.csv")).substr(0, 24),
            "s.csv:2: invalid UTF-8 (");
}

TEST(CsvReadTest, Latin1IsConvertedToUtf8) {
  CsvOptions o;
  o.encoding = "ISO-8859-1";
  Table t = Read("nom;ville\nJos\xE9;Besan\xE7on\n\x80;\xFF\n", o);
  EXPECT_EQ(Cells(t, 0), (Strings{"Jos\xC3\xA9", "\xC2\x80"}));
  EXPECT_EQ(Cells(t, 1), (Strings{"Besan\xC3\xA7on", "\xC3\xBF"}));
}

TEST(CsvReadTest, Windows1252MapsItsPunctuationRange) {
  CsvOptions o;
  o.encoding = "cp1252";
  // 0x80 euro, 0x92 right single quote, 0x9C oe, 0x85 ellipsis, 0x81 undefined (kept as U+0081).
  Table t = Read("prix,note\n\"12 \x80\",l\x92\x9Cuvre\x85\n\x81,\xE9t\xE9\n", o);
  EXPECT_EQ(Cells(t, 0), (Strings{"12 \xE2\x82\xAC", "\xC2\x81"}));
  EXPECT_EQ(Cells(t, 1), (Strings{"l\xE2\x80\x99\xC5\x93uvre\xE2\x80\xA6", "\xC3\xA9t\xC3\xA9"}));
}

TEST(CsvReadTest, Latin1HeaderNamesAreConverted) {
  CsvOptions o;
  o.encoding = "latin1";
  Table t = Read("ann\xE9\x65,d\xE9partement\n2024,01\n", o);
  EXPECT_EQ(Names(t), (Strings{"ann\xC3\xA9\x65", "d\xC3\xA9partement"}));
}

TEST(CsvReadTest, NormaliseEncodingAcceptsAliases) {
  EXPECT_EQ(NormaliseEncoding("UTF-8"), "utf-8");
  EXPECT_EQ(NormaliseEncoding("utf8"), "utf-8");
  EXPECT_EQ(NormaliseEncoding("utf-8-sig"), "utf-8");
  EXPECT_EQ(NormaliseEncoding("Latin-1"), "latin-1");
  EXPECT_EQ(NormaliseEncoding("iso_8859_1"), "latin-1");
  EXPECT_EQ(NormaliseEncoding("ISO-8859-1"), "latin-1");
  EXPECT_EQ(NormaliseEncoding("CP1252"), "windows-1252");
  EXPECT_EQ(NormaliseEncoding("Windows-1252"), "windows-1252");
  EXPECT_EQ(NormaliseEncoding("utf-9"), "");
  // Other encodings are iconv's, by their upper-case name (decoded before parsing).
  EXPECT_EQ(NormaliseEncoding("iso-8859-15"), "ISO-8859-15");
  CsvOptions o = Named("x.csv");
  o.encoding = "ebcdic";
  EXPECT_EQ(ReadError("a\n1\n", o), "x.csv: unknown encoding 'ebcdic'");
}

TEST(CsvDelimiterTest, DetectedFromTheHeaderOutsideQuotes) {
  EXPECT_EQ(Names(Read("a;b;c\n1;2;3\n")), (Strings{"a", "b", "c"}));
  EXPECT_EQ(Names(Read("a\tb\n1\t2\n")), (Strings{"a", "b"}));
  EXPECT_EQ(Names(Read("a|b\n1|2\n")), (Strings{"a", "b"}));
  EXPECT_EQ(Names(Read("a,b\n1,2\n")), (Strings{"a", "b"}));
  // Semicolons inside quotes do not count.
  EXPECT_EQ(Names(Read("\"x;y;z\",b\n1,2\n")), (Strings{"x;y;z", "b"}));
  // One column: no delimiter at all.
  Table t = Read("only\n1\n2\n");
  EXPECT_EQ(Names(t), (Strings{"only"}));
  EXPECT_EQ(Cells(t, 0), (Strings{"1", "2"}));
}

TEST(CsvDelimiterTest, ExplicitDelimiterWins) {
  CsvOptions o;
  o.delimiter = ';';
  Table t = Read("a,b;c\n1,5;2\n", o);
  EXPECT_EQ(Names(t), (Strings{"a,b", "c"}));
  // One field, read with a decimal comma (the delimiter is ';').
  EXPECT_EQ(Cells(t, 0), (Strings{"1.5"}));
}

TEST(CsvHeaderTest, EmptyAndDuplicateNamesAreMadeUnique) {
  Table t = Read("id,,name,name,id,name_2\n1,2,3,4,5,6\n");
  EXPECT_EQ(Names(t), (Strings{"id", "c2", "name", "name_3", "id_2", "name_2"}));
}

TEST(CsvHeaderTest, WithoutHeaderColumnsAreNumbered) {
  CsvOptions o;
  o.header = false;
  Table t = Read("1,x\n2,y\n", o);
  EXPECT_EQ(Names(t), (Strings{"c1", "c2"}));
  EXPECT_EQ(Cells(t, 0), (Strings{"1", "2"}));
  EXPECT_EQ(Types(t), (std::vector<TypeId>{TypeId::kInt64, TypeId::kUtf8}));
}

TEST(CsvInferTest, EachTypeIsInferred) {
  Table t = Read(
      "i,f,b,d,ts,s\n"
      "1,1.5,true,2024-02-29,2024-03-01T10:00:00Z,x\n"
      "-42,2,FALSE,1970-01-01,2024-03-01 10:00:00.5,y\n"
      "0,-0.25,True,1969-12-31,2024-03-01T12:30:00+02:00,z\n");
  EXPECT_EQ(Types(t), (std::vector<TypeId>{TypeId::kInt64, TypeId::kFloat64, TypeId::kBool,
                                           TypeId::kDate32, TypeId::kTimestamp, TypeId::kUtf8}));
  const Column& i = *t.column(0);
  EXPECT_EQ(i.Int64(0), 1);
  EXPECT_EQ(i.Int64(1), -42);
  EXPECT_EQ(i.Int64(2), 0);
  const Column& f = *t.column(1);
  EXPECT_EQ(f.Double(0), 1.5);
  EXPECT_EQ(f.Double(1), 2.0);
  EXPECT_EQ(f.Double(2), -0.25);
  const Column& b = *t.column(2);
  EXPECT_TRUE(b.Bool(0));
  EXPECT_FALSE(b.Bool(1));
  EXPECT_TRUE(b.Bool(2));
  const Column& d = *t.column(3);
  EXPECT_EQ(d.Date32(0), DaysFromCivil(2024, 2, 29));
  EXPECT_EQ(d.Date32(1), 0);
  EXPECT_EQ(d.Date32(2), -1);
  const Column& ts = *t.column(4);
  const int64_t ten = (int64_t{DaysFromCivil(2024, 3, 1)} * 86400 + 10 * 3600) * 1000000;
  EXPECT_EQ(ts.Int64(0), ten);
  EXPECT_EQ(ts.Int64(1), ten + 500000);
  EXPECT_EQ(ts.Int64(2), ten + 30 * 60 * int64_t{1000000});  // 12:30 at +02:00 is 10:30Z
  EXPECT_EQ(FormatCell(ts, 2), "2024-03-01T10:30:00Z");
  for (int c = 0; c < t.num_columns(); ++c) EXPECT_TRUE(t.column(c)->Validate().ok());
}

TEST(CsvInferTest, DecimalNumbers) {
  Table t = Read("x\n0.5\n-3\n0\n1e5\n.25\n-0.125\n2.5E-3\n7.\n");
  ASSERT_EQ(Types(t), (std::vector<TypeId>{TypeId::kFloat64}));
  const Column& c = *t.column(0);
  EXPECT_EQ(c.Double(0), 0.5);
  EXPECT_EQ(c.Double(1), -3.0);
  EXPECT_EQ(c.Double(2), 0.0);
  EXPECT_EQ(c.Double(3), 1e5);
  EXPECT_EQ(c.Double(4), 0.25);
  EXPECT_EQ(c.Double(5), -0.125);
  EXPECT_EQ(c.Double(6), 0.0025);
  EXPECT_EQ(c.Double(7), 7.0);
}

TEST(CsvInferTest, NanAndInfinityAreFloats) {
  // "NaN" is a null marker by default (as in pandas); without the markers it is a float NaN.
  Table t = Read("x\n1.5\nNaN\ninf\n-inf\n");
  ASSERT_EQ(Types(t), (std::vector<TypeId>{TypeId::kFloat64}));
  EXPECT_EQ(Cells(t, 0), (Strings{"1.5", "<null>", "inf", "-inf"}));
  CsvOptions o;
  o.typed_null_values.clear();
  t = Read("x\n1.5\nNaN\ninf\n-inf\n", o);
  ASSERT_EQ(Types(t), (std::vector<TypeId>{TypeId::kFloat64}));
  EXPECT_EQ(Cells(t, 0), (Strings{"1.5", "NaN", "inf", "-inf"}));
  EXPECT_EQ(Types(Read("x\nNancy\n")), (std::vector<TypeId>{TypeId::kUtf8}));
}

TEST(CsvInferTest, CodesWithLeadingZeroSignOrLetterStayStrings) {
  Table t = Read(
      "dep,insee,tel,cp,small,z\n"
      "01,007,+33123,2A,0,0.5\n"
      "13,100,+33999,974,5,00.5\n");
  EXPECT_EQ(Types(t), (std::vector<TypeId>{TypeId::kUtf8, TypeId::kUtf8, TypeId::kUtf8,
                                           TypeId::kUtf8, TypeId::kInt64, TypeId::kUtf8}));
  EXPECT_EQ(Cells(t, 0), (Strings{"01", "13"}));
  EXPECT_EQ(Cells(t, 1), (Strings{"007", "100"}));
  EXPECT_EQ(Cells(t, 2), (Strings{"+33123", "+33999"}));
  EXPECT_EQ(Cells(t, 3), (Strings{"2A", "974"}));
  EXPECT_EQ(Cells(t, 4), (Strings{"0", "5"}));
}

TEST(CsvInferTest, NullsDoNotTakePartInInference) {
  Table t = Read("a,b,c,d\n1,,x,\n,2.5,,\n3,,y,\n");
  EXPECT_EQ(Types(t),
            (std::vector<TypeId>{TypeId::kInt64, TypeId::kFloat64, TypeId::kUtf8, TypeId::kUtf8}));
  EXPECT_EQ(Cells(t, 0), (Strings{"1", "<null>", "3"}));
  EXPECT_EQ(t.column(0)->null_count, 1);
  EXPECT_EQ(Cells(t, 1), (Strings{"<null>", "2.5", "<null>"}));
  EXPECT_EQ(Cells(t, 2), (Strings{"x", "<null>", "y"}));
  EXPECT_EQ(t.column(3)->null_count, 3);  // all null: utf8
  for (int c = 0; c < 4; ++c) EXPECT_TRUE(t.column(c)->Validate().ok());
}

TEST(CsvInferTest, CustomNullValues) {
  CsvOptions o;
  o.null_values = {"NA", "-"};
  Table t = Read("a,b\n1,NA\nNA,x\n-,\n", o);
  EXPECT_EQ(Types(t), (std::vector<TypeId>{TypeId::kInt64, TypeId::kUtf8}));
  EXPECT_EQ(Cells(t, 0), (Strings{"1", "<null>", "<null>"}));
  // "" is not a null value here: it is an empty string.
  EXPECT_EQ(Cells(t, 1), (Strings{"<null>", "x", ""}));
  EXPECT_EQ(t.column(1)->String(2), "");
  EXPECT_EQ(t.column(1)->String(1), "x");
}

TEST(CsvInferTest, ImpossibleDatesAndTimesAreStrings) {
  EXPECT_EQ(Types(Read("d\n2024-02-30\n")), (std::vector<TypeId>{TypeId::kUtf8}));
  EXPECT_EQ(Types(Read("d\n2023-02-29\n")), (std::vector<TypeId>{TypeId::kUtf8}));
  EXPECT_EQ(Types(Read("d\n2024-13-01\n")), (std::vector<TypeId>{TypeId::kUtf8}));
  EXPECT_EQ(Types(Read("d\n2024-01-01T24:00:00\n")), (std::vector<TypeId>{TypeId::kUtf8}));
  EXPECT_EQ(Types(Read("d\n31/02/2024\n")), (std::vector<TypeId>{TypeId::kUtf8}));
  EXPECT_EQ(Types(Read("d\n01/13/2024\n")), (std::vector<TypeId>{TypeId::kUtf8}));
}

TEST(CsvInferTest, DatesMixedWithTimestampsAreTimestamps) {
  Table t = Read("d\n2024-01-02\n2024-01-02T03:04:05.123456Z\n");
  ASSERT_EQ(Types(t), (std::vector<TypeId>{TypeId::kTimestamp}));
  EXPECT_EQ(Cells(t, 0), (Strings{"2024-01-02T00:00:00Z", "2024-01-02T03:04:05.123456Z"}));
}

TEST(CsvInferTest, MixedNumbersAndTextAreText) {
  EXPECT_EQ(Types(Read("x\n1\n2.5\nabc\n")), (std::vector<TypeId>{TypeId::kUtf8}));
  EXPECT_EQ(Types(Read("x\ntrue\n1\n")), (std::vector<TypeId>{TypeId::kUtf8}));
  EXPECT_EQ(Types(Read("x\n 1\n")), (std::vector<TypeId>{TypeId::kUtf8}));
}

TEST(CsvInferTest, IntegerTooLargeForInt64IsFloat) {
  Table t = Read("x\n1\n123456789012345678901234\n");
  ASSERT_EQ(Types(t), (std::vector<TypeId>{TypeId::kFloat64}));
  EXPECT_EQ(t.column(0)->Double(1), 1.2345678901234568e23);
}

TEST(CsvSchemaTest, ForcesTypesOfNamedColumns) {
  CsvOptions o;
  o.schema = {{"code", TypeId::kInt64},
              {"n", TypeId::kUtf8},
              {"ok", TypeId::kBool},
              {"when", TypeId::kTimestamp},
              {"x", TypeId::kFloat64}};
  Table t = Read("code,n,ok,when,x,rest\n007,1,1,2024-01-02,3,a\n+5,,0,,,b\n", o);
  EXPECT_EQ(Types(t), (std::vector<TypeId>{TypeId::kInt64, TypeId::kUtf8, TypeId::kBool,
                                           TypeId::kTimestamp, TypeId::kFloat64, TypeId::kUtf8}));
  EXPECT_EQ(Cells(t, 0), (Strings{"7", "5"}));
  EXPECT_EQ(Cells(t, 1), (Strings{"1", "<null>"}));
  EXPECT_EQ(Cells(t, 2), (Strings{"true", "false"}));
  EXPECT_EQ(Cells(t, 3), (Strings{"2024-01-02T00:00:00Z", "<null>"}));
  EXPECT_EQ(Cells(t, 4), (Strings{"3", "<null>"}));
  EXPECT_EQ(t.column(4)->Double(0), 3.0);
}

TEST(CsvSchemaTest, ConversionErrorNamesSourcePhysicalLineColumnAndValue) {
  CsvOptions o = Named("exams.csv");
  o.schema = {{"age", TypeId::kInt64}};
  // Line 3 holds a quoted newline, so the bad record (the 5th) starts on physical line 7.
  const std::string csv =
      "id,name,age\n"
      "1,a,30\n"
      "2,\"b\nb\",31\n"
      "3,c,32\n"
      "4,d,33\n"
      "5,e,abc\n"
      "6,f,x\n";
  EXPECT_EQ(ReadError(csv, o), "exams.csv:7: column 'age': cannot read \"abc\" as int64");
}

TEST(CsvSchemaTest, ConversionErrorOnALaterLineOfAMultiLineRecord) {
  CsvOptions o = Named("m.csv");
  o.schema = {{"d", TypeId::kDate32}};
  EXPECT_EQ(ReadError("t,d\n\"a\nb\nc\",2024-99-01\n", o),
            "m.csv:4: column 'd': cannot read \"2024-99-01\" as date32");
}

TEST(CsvSchemaTest, SchemaColumnMissingFromTheFileIsAnError) {
  CsvOptions o = Named("c.csv");
  o.schema = {{"agee", TypeId::kInt64}};
  EXPECT_EQ(ReadError("id,age\n1,2\n", o),
            "c.csv:1: schema column 'agee' is not in the file (columns: id, age)");
}

TEST(CsvErrorTest, RaggedRowNamesThePhysicalLine) {
  const std::string csv =
      "exam_id;candidate_id;centre_id;exam_date;category;result\n"
      "1;K1;CE1;2025-01-01;B;reussite\n"
      "2;K2;\"CE2\nsuite\";2025-01-01;B;echec\n"
      "\n"
      "3;K3;CE3;2025-01-01;B;echec\n"
      "4;K4;CE4;2025-01-01;B\n"
      "5;K5;CE5;2025-01-01;B;echec\n";
  EXPECT_EQ(ReadError(csv, Named("exams.csv")), "exams.csv:7: expected 6 fields, found 5");
  EXPECT_EQ(ReadError("a,b\n1,2,3\n", Named("t.csv")), "t.csv:2: expected 2 fields, found 3");
}

TEST(CsvErrorTest, UnterminatedQuoteNamesTheLineWhereTheFieldStarts) {
  EXPECT_EQ(ReadError("a,b\n1,x\n2,\"open\n3,y\n4,z\n", Named("u.csv")),
            "u.csv:3: unterminated quoted field");
  EXPECT_EQ(ReadError("\"a,b\n1,2\n", Named("h.csv")), "h.csv:1: unterminated quoted field");
}

TEST(CsvErrorTest, TheEarliestErrorIsReported) {
  // A ragged record on line 2 comes before invalid UTF-8 on line 3.
  EXPECT_EQ(ReadError("a,b\n1\n\xFF,2\n", Named("e.csv")), "e.csv:2: expected 2 fields, found 1");
}

TEST(CsvReadFileTest, ReadsAFileAndNamesItInErrors) {
  TempDir dir;
  WriteFile(dir.path() / "d.csv", "a,b\n1,2\n3\n");
  auto t = ReadCsvFile(dir.path() / "d.csv", CsvOptions{});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(),
            (dir.path() / "d.csv").string() + ":3: expected 2 fields, found 1");
  WriteFile(dir.path() / "d.csv", "a,b\n1,2\n");
  auto u = ReadCsvFile(dir.path() / "d.csv", Named("data/d.csv"));
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->num_rows(), 1);
  auto missing = ReadCsvFile(dir.path() / "nope.csv", Named("data/nope.csv"));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "data/nope.csv: no such file");
}

TEST(CsvReadTest, CancelledReadReturnsTheTokenStatus) {
  CancelToken cancel;
  cancel.Cancel(StatusCode::kTimedOut);
  auto t = ReadCsvBuffer("a\n1\n", CsvOptions{}, &cancel);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kTimedOut);
}

// `rows` records (150,000 make about 8.7 MB) with quoted newlines, doubled quotes,
// delimiters in quotes, CRLF and LF, empty lines and nulls; also gives the physical
// line each record starts on.
std::string GenerateLarge(int64_t rows, std::vector<int64_t>* record_lines = nullptr) {
  std::string s = "id,name,amount,flag,day,code,note\n";
  int64_t line = 2;
  uint64_t x = 12345;
  for (int64_t i = 0; i < rows; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    if (record_lines) record_lines->push_back(line);
    std::string name;
    switch (i % 7) {
      case 0:
        name = fmt::format("\"line one {}\nline, two \"\"quoted\"\"\nthree\"", i);
        line += 2;
        break;
      case 3:
        name = fmt::format("\"comma, {}\"", x % 1000);
        break;
      default:
        name = fmt::format("name{}", x % 100000);
    }
    const int64_t day = static_cast<int64_t>(x >> 40) % 20000;
    int y;
    unsigned m, d;
    CivilFromDays(static_cast<int32_t>(day), &y, &m, &d);
    std::string note = i % 11 == 0 ? "" : fmt::format("n{}", x % 977);
    const char* eol = i % 5 == 0 ? "\r\n" : "\n";
    s += fmt::format("{},{},{}.{:02d},{},{:04d}-{:02d}-{:02d},{:05d},{}{}", i, name,
                     static_cast<int64_t>(x % 100000) - 50000, (x >> 20) % 100,
                     (x >> 8) % 3 == 0 ? "true" : "false", y, m, d, (x >> 30) % 100000, note, eol);
    ++line;
    if (i % 1000 == 999) {
      s += "\n";  // an empty line
      ++line;
    }
  }
  return s;
}

void ExpectSameTables(const Table& a, const Table& b) {
  ASSERT_EQ(a.schema(), b.schema());
  ASSERT_EQ(a.num_rows(), b.num_rows());
  for (int c = 0; c < a.num_columns(); ++c) {
    const Column& x = *a.column(c);
    const Column& y = *b.column(c);
    EXPECT_TRUE(x.Validate().ok());
    EXPECT_TRUE(y.Validate().ok());
    EXPECT_EQ(x.null_count, y.null_count);
    for (int64_t r = 0; r < a.num_rows(); ++r) {
      ASSERT_EQ(x.IsNull(r), y.IsNull(r)) << "column " << c << " row " << r;
      ASSERT_EQ(FormatCell(x, r), FormatCell(y, r)) << "column " << c << " row " << r;
    }
  }
}

TEST(CsvParallelTest, ParallelParseEqualsSequentialParse) {
  const std::string csv = GenerateLarge(150000);
  ASSERT_GT(csv.size(), size_t{8} << 20);
  CsvOptions one;
  one.threads = 1;
  CsvOptions four;
  four.threads = 4;
  int64_t last_progress = 0;
  four.progress = [&](int64_t rows) { last_progress = rows; };
  Table a = Read(csv, one);
  Table b = Read(csv, four);
  EXPECT_EQ(last_progress, 150000);
  ASSERT_EQ(a.num_rows(), 150000);
  EXPECT_EQ(Types(a),
            (std::vector<TypeId>{TypeId::kInt64, TypeId::kUtf8, TypeId::kFloat64, TypeId::kBool,
                                 TypeId::kDate32, TypeId::kUtf8, TypeId::kUtf8}));
  ExpectSameTables(a, b);
  // Spot checks against the generator.
  for (int64_t r : {0, 7, 49994, 149996}) {
    EXPECT_EQ(b.column(0)->Int64(r), r);
    EXPECT_EQ(b.column(1)->String(r), fmt::format("line one {}\nline, two \"quoted\"\nthree", r));
  }
  EXPECT_TRUE(b.column(6)->IsNull(11 * 4000));
}

TEST(CsvParallelTest, ErrorsNameThePhysicalLineInAParallelParse) {
  std::vector<int64_t> lines;
  std::string csv = GenerateLarge(100000, &lines);
  // Drop the last field of record 90000.
  const std::string id = "\n90000,";
  const size_t at = csv.find(id);
  ASSERT_NE(at, std::string::npos);
  const size_t comma = csv.rfind(',', csv.find('\n', at + 1));
  csv.erase(comma, csv.find_first_of("\r\n", comma) - comma);
  CsvOptions o = Named("big.csv");
  o.threads = 4;
  EXPECT_EQ(ReadError(csv, o), fmt::format("big.csv:{}: expected 7 fields, found 6", lines[90000]));
  o.threads = 1;
  EXPECT_EQ(ReadError(csv, o), fmt::format("big.csv:{}: expected 7 fields, found 6", lines[90000]));
}

TEST(CsvParallelTest, UnterminatedQuoteInALargeFile) {
  std::string csv = GenerateLarge(60000);
  const int64_t line = 1 + std::count(csv.begin(), csv.end(), '\n');
  csv += "60000,\"never closed,1.00,true,2020-01-01,00001,x\n";
  CsvOptions o = Named("big.csv");
  o.threads = 4;
  EXPECT_EQ(ReadError(csv, o), fmt::format("big.csv:{}: unterminated quoted field", line));
}

TEST(CsvWriteTest, QuotesOnlyWhenNeeded) {
  ColumnBuilder s(TypeId::kUtf8), i(TypeId::kInt64);
  for (auto v : {"plain", "a,b", "say \"hi\"", "two\nlines", "cr\rx"}) s.AppendString(v);
  s.AppendNull();
  for (int64_t v : {1, -2, 3, 4, 5}) i.AppendInt64(v);
  i.AppendNull();
  Table t = *Table::Make(Schema{{{"text", TypeId::kUtf8}, {"n,um", TypeId::kInt64}}},
                         {s.Finish(), i.Finish()});
  std::ostringstream out;
  ASSERT_TRUE(WriteCsv(t, out).ok());
  EXPECT_EQ(out.str(),
            "text,\"n,um\"\n"
            "plain,1\n"
            "\"a,b\",-2\n"
            "\"say \"\"hi\"\"\",3\n"
            "\"two\nlines\",4\n"
            "\"cr\rx\",5\n"
            ",\n");
  std::ostringstream semi;
  ASSERT_TRUE(WriteCsv(t, semi, {.delimiter = ';', .header = false}).ok());
  EXPECT_EQ(semi.str().substr(0, 14), "plain;1\na,b;-2");
}

TEST(CsvWriteTest, RoundTripKeepsTypesAndValues) {
  ColumnBuilder i(TypeId::kInt64), f(TypeId::kFloat64), b(TypeId::kBool), s(TypeId::kUtf8),
      d(TypeId::kDate32), ts(TypeId::kTimestamp), code(TypeId::kUtf8);
  i.AppendInt64(std::numeric_limits<int64_t>::min());
  i.AppendNull();
  i.AppendInt64(42);
  f.AppendDouble(0.1);
  f.AppendDouble(-1e300);
  f.AppendNull();
  b.AppendBool(true);
  b.AppendNull();
  b.AppendBool(false);
  s.AppendString("x,\"y\"\r\nz");
  s.AppendString("\xC3\xA9t\xC3\xA9");
  s.AppendNull();
  d.AppendDate32(-719162);
  d.AppendDate32(19000);
  d.AppendNull();
  ts.AppendTimestamp(-1);
  ts.AppendNull();
  ts.AppendTimestamp(int64_t{1700000000} * 1000000 + 123456);
  code.AppendString("01");
  code.AppendString("2A");
  code.AppendNull();
  Schema schema{{{"i", TypeId::kInt64},
                 {"f", TypeId::kFloat64},
                 {"b", TypeId::kBool},
                 {"s", TypeId::kUtf8},
                 {"d", TypeId::kDate32},
                 {"ts", TypeId::kTimestamp},
                 {"code", TypeId::kUtf8}}};
  Table t = *Table::Make(schema, {i.Finish(), f.Finish(), b.Finish(), s.Finish(), d.Finish(),
                                  ts.Finish(), code.Finish()});
  std::ostringstream out;
  ASSERT_TRUE(WriteCsv(t, out).ok());
  Table back = Read(out.str());
  ExpectSameTables(t, back);
}

TEST(CsvWriteTest, OneColumnNullsAreNotReadBackAsEmptyLines) {
  ColumnBuilder s(TypeId::kUtf8);
  s.AppendString("a");
  s.AppendNull();
  s.AppendString("b");
  Table t = *Table::Make(Schema{{{"x", TypeId::kUtf8}}}, {s.Finish()});
  std::ostringstream out;
  ASSERT_TRUE(WriteCsv(t, out).ok());
  EXPECT_EQ(out.str(), "x\na\n\"\"\nb\n");
  EXPECT_EQ(Cells(Read(out.str()), 0), (Strings{"a", "<null>", "b"}));
}

// ---- French files: decimal comma, dd/mm/yyyy dates ---------------------------------------

TEST(CsvFrenchTest, DecimalCommaIsAFloatWithASemicolonDelimiter) {
  Table t = Read("id;score;code;mixed;n\n1;12,5;01,5;12,5;3\n2;-0,25;2,0;12.5;4\n3;7;3,1;1;5\n");
  EXPECT_EQ(Types(t), (std::vector<TypeId>{TypeId::kInt64, TypeId::kFloat64, TypeId::kUtf8,
                                           TypeId::kUtf8, TypeId::kInt64}));
  EXPECT_EQ(t.column(1)->Double(0), 12.5);
  EXPECT_EQ(t.column(1)->Double(1), -0.25);
  EXPECT_EQ(t.column(1)->Double(2), 7.0);
  // A leading zero keeps a code a string; mixing conventions keeps text.
  EXPECT_EQ(Cells(t, 2), (Strings{"01,5", "2,0", "3,1"}));
  EXPECT_EQ(Cells(t, 3), (Strings{"12,5", "12.5", "1"}));
}

TEST(CsvFrenchTest, DecimalCommaAlsoWithATabButNotWithAComma) {
  Table tab = Read("a\tb\n1,5\tx\n2,25\ty\n");
  EXPECT_EQ(Types(tab)[0], TypeId::kFloat64);
  EXPECT_EQ(tab.column(0)->Double(1), 2.25);
  // With ',' as delimiter "1,5" is two fields; with '|' a comma is not a decimal mark.
  Table pipe = Read("a|b\n1,5|x\n");
  EXPECT_EQ(Types(pipe)[0], TypeId::kUtf8);
}

TEST(CsvFrenchTest, ExplicitDecimalOverridesDetection) {
  CsvOptions comma;
  comma.delimiter = '|';
  comma.decimal = ',';
  Table t = Read("a|b|c\n1,5|2.5|3\n", comma);
  EXPECT_EQ(Types(t), (std::vector<TypeId>{TypeId::kFloat64, TypeId::kUtf8, TypeId::kInt64}));
  EXPECT_EQ(t.column(0)->Double(0), 1.5);
  CsvOptions point;
  point.decimal = '.';
  Table p = Read("a;b\n1,5;2.5\n", point);
  EXPECT_EQ(Types(p), (std::vector<TypeId>{TypeId::kUtf8, TypeId::kFloat64}));
  CsvOptions bad;
  bad.delimiter = ',';
  bad.decimal = ',';
  EXPECT_EQ(ReadError("a,b\n1,2\n", bad),
            "<csv>: a decimal comma needs another delimiter than ','");
}

TEST(CsvFrenchTest, SchemaFloatColumnReadsADecimalComma) {
  CsvOptions o = Named("s.csv");
  o.schema = {{"x", TypeId::kFloat64}};
  Table t = Read("x;y\n+1,5;a\n,5;b\n2;c\n", o);
  EXPECT_EQ(Cells(t, 0), (Strings{"1.5", "0.5", "2"}));
  EXPECT_EQ(ReadError("x;y\n1,5;a\n1,5,5;b\n", o),
            "s.csv:3: column 'x': cannot read \"1,5,5\" as float64");
}

TEST(CsvFrenchTest, DayFirstDatesAreInferredAsDates) {
  Table t = Read(
      "d;iso;mixed;bad;short\n"
      "31/01/2024;2024-01-31;31/01/2024;31/02/2024;1/2/2024\n"
      "29/02/2024;2024-02-29;2024-02-29;01/01/2024;12/11/2023\n");
  EXPECT_EQ(Types(t), (std::vector<TypeId>{TypeId::kDate32, TypeId::kDate32, TypeId::kUtf8,
                                           TypeId::kUtf8, TypeId::kDate32}));
  EXPECT_EQ(Cells(t, 0), (Strings{"2024-01-31", "2024-02-29"}));
  EXPECT_EQ(Cells(t, 4), (Strings{"2024-02-01", "2023-11-12"}));
  EXPECT_EQ(Cells(t, 0), Cells(t, 1));
}

TEST(CsvFrenchTest, ExplicitDateFormatReplacesTheDayFirstDefault) {
  CsvOptions us = Named("us.csv");
  us.date_format = "%m/%d/%Y";
  Table t = Read("d,e\n01/31/2024,31/01/2024\n", us);
  EXPECT_EQ(Types(t), (std::vector<TypeId>{TypeId::kDate32, TypeId::kUtf8}));
  EXPECT_EQ(Cells(t, 0), (Strings{"2024-01-31"}));
  CsvOptions stamp;
  stamp.date_format = "%d/%m/%Y %H:%M";
  Table s = Read("t\n31/01/2024 13:05\n", stamp);
  EXPECT_EQ(Types(s), (std::vector<TypeId>{TypeId::kTimestamp}));
  EXPECT_EQ(Cells(s, 0), (Strings{"2024-01-31T13:05:00Z"}));
  CsvOptions bad = Named("b.csv");
  bad.date_format = "%d/%m";
  EXPECT_EQ(ReadError("t\n1\n", bad), "b.csv: date format \"%d/%m\" must hold %d, %m and %Y");
  EXPECT_EQ(CheckDateFormat("%d.%m.%Y"), "");
  EXPECT_EQ(CheckDateFormat("%d %b %Y"),
            "unsupported directive '%b' (expected %d %m %Y %H %M %S %%)");
}

TEST(CsvFrenchTest, SchemaDateColumnWithItsOwnFormat) {
  CsvOptions o = Named("f.csv");
  o.schema = {{"d", TypeId::kDate32}, {"t", TypeId::kTimestamp}, {"fr", TypeId::kDate32}};
  o.date_formats = {{"d", "%Y%m%d"}};
  Table t = Read("d,t,fr\n20240131,05/03/2024,2024-03-05\n", o);
  EXPECT_EQ(Cells(t, 0), (Strings{"2024-01-31"}));
  EXPECT_EQ(Cells(t, 1), (Strings{"2024-03-05T00:00:00Z"}));
  EXPECT_EQ(Cells(t, 2), (Strings{"2024-03-05"}));
  EXPECT_EQ(ReadError("d,t,fr\n2024013,05/03/2024,2024-03-05\n", o),
            "f.csv:2: column 'd': cannot read \"2024013\" as date32 (expected ISO or %Y%m%d)");
  o.date_formats = {{"nope", "%Y%m%d"}};
  EXPECT_EQ(ReadError("d,t,fr\n1,2,3\n", o),
            "f.csv:1: date format column 'nope' is not in the file");
}

TEST(CsvFrenchTest, FrenchConventionsInAParallelParse) {
  std::string csv = "id;montant;jour\n";
  for (int i = 0; i < 300000; ++i)
    csv += fmt::format("{};{},{:02d};{:02d}/{:02d}/20{:02d}\n", i, i % 1000, i % 100, i % 28 + 1,
                       i % 12 + 1, i % 30);
  CsvOptions par;
  par.threads = 2;
  Table t = Read(csv, par);
  ASSERT_GT(csv.size(), size_t{4} << 20);
  EXPECT_EQ(Types(t), (std::vector<TypeId>{TypeId::kInt64, TypeId::kFloat64, TypeId::kDate32}));
  EXPECT_EQ(t.num_rows(), 300000);
  EXPECT_EQ(FormatCell(*t.column(1), 123457), "457.57");
  EXPECT_EQ(FormatCell(*t.column(2), 123457), "2007-02-06");
}

// ---- Line ends, null markers, delimiters, preambles, bad records, on_error ----------------

TEST(CsvLineEndTest, RunsOfCarriageReturnsBeforeALineFeedEndTheLine) {
  // Seen in exports that wrote CRLF through a text-mode layer: CR CR LF.
  Table t = Read("id,x,name\r\r\n1,1.5,\"a\"\r\r\n2,2.25,b\r\r\r\n\r\r\n3,-4,c\r\r");
  ASSERT_EQ(Types(t), (std::vector<TypeId>{TypeId::kInt64, TypeId::kFloat64, TypeId::kUtf8}));
  EXPECT_EQ(Names(t), (Strings{"id", "x", "name"}));
  EXPECT_EQ(Cells(t, 1), (Strings{"1.5", "2.25", "-4"}));
  EXPECT_EQ(Cells(t, 2), (Strings{"a", "b", "c"}));
  // A CR inside a value (not before a line end) is kept.
  EXPECT_EQ(Cells(Read("a,b\nx\ry,1\n"), 0), (Strings{"x\ry"}));
}

TEST(CsvNullMarkerTest, MarkersAreNullsInTypedColumnsAndTextInTextColumns) {
  Table t = Read(
      "n,f,d,b,s,only\n"
      "1,1.5,2024-01-02,true,NA,NA\n"
      "NA,N/A,NULL,null,x,NULL\n"
      "3,NaN,,false,NaN,\n");
  ASSERT_EQ(Types(t), (std::vector<TypeId>{TypeId::kInt64, TypeId::kFloat64, TypeId::kDate32,
                                           TypeId::kBool, TypeId::kUtf8, TypeId::kUtf8}));
  EXPECT_EQ(Cells(t, 0), (Strings{"1", "<null>", "3"}));
  EXPECT_EQ(Cells(t, 1), (Strings{"1.5", "<null>", "<null>"}));
  EXPECT_EQ(Cells(t, 2), (Strings{"2024-01-02", "<null>", "<null>"}));
  EXPECT_EQ(Cells(t, 3), (Strings{"true", "<null>", "false"}));
  EXPECT_EQ(t.column(1)->null_count, 2);
  // A text column keeps the markers as text; the empty cell stays null.
  EXPECT_EQ(Cells(t, 4), (Strings{"NA", "x", "NaN"}));
  EXPECT_EQ(Cells(t, 5), (Strings{"NA", "NULL", "<null>"}));
  for (int c = 0; c < 6; ++c) EXPECT_TRUE(t.column(c)->Validate().ok()) << c;
}

TEST(CsvNullMarkerTest, MarkersInASchemaColumnAndInAParallelParse) {
  CsvOptions o;
  o.schema = {Field{"v", TypeId::kFloat64, true}};
  Table t = Read("k,v\na,NA\nb,2\n", o);
  EXPECT_EQ(Cells(t, 1), (Strings{"<null>", "2"}));
  std::string big = "k,v\n";
  for (int i = 0; i < 400000; ++i) big += i % 7 ? fmt::format("k{},{}.5\n", i, i) : "kk,NA\n";
  CsvOptions par;
  par.threads = 4;
  Table p = Read(big, par);
  ASSERT_EQ(Types(p), (std::vector<TypeId>{TypeId::kUtf8, TypeId::kFloat64}));
  EXPECT_EQ(p.column(1)->null_count, (400000 + 6) / 7);
  EXPECT_TRUE(p.column(1)->Validate().ok());
}

TEST(CsvDelimiterTest, SpaceAndConsistencyOverTheFirstLines) {
  // Space-separated (R's write.table default).
  Table t = Read("x y z\n1 2 3\n4 5 6\n");
  EXPECT_EQ(Names(t), (Strings{"x", "y", "z"}));
  EXPECT_EQ(Types(t)[2], TypeId::kInt64);
  // The header holds more ',' than ';' but only ';' is consistent on the next lines.
  t = Read("a,b,c;d\n1;2\n3;4\n");
  EXPECT_EQ(Names(t), (Strings{"a,b,c", "d"}));
  // A comma appears in every line, but the tab holds more fields on each.
  t = Read("a\tb\tc,d\n1\t2\t3,4\n");
  EXPECT_EQ(Names(t), (Strings{"a", "b", "c,d"}));
  // With spaces in text and commas as the delimiter, the comma wins.
  t = Read("first name,last name\nJean Paul,Dupont\n");
  EXPECT_EQ(Names(t), (Strings{"first name", "last name"}));
}

TEST(CsvDelimiterTest, OneColumnWhoseLinesHoldAnotherDelimiterIsAWarning) {
  CsvReport report;
  CsvOptions o = Named("data/x.csv");
  o.report = &report;
  o.delimiter = ',';
  Table t = Read("id;name\n1;a\n2;b\n", o);
  EXPECT_EQ(t.num_columns(), 1);
  ASSERT_EQ(report.warnings.size(), 1u);
  EXPECT_NE(report.warnings[0].find("data/x.csv: read as a single column"), std::string::npos);
  EXPECT_NE(report.warnings[0].find("delimiter: \";\""), std::string::npos) << report.warnings[0];
  // A genuine one-column file gets none.
  CsvReport none;
  CsvOptions q;
  q.report = &none;
  Read("name\nAnne Marie\nBob\n", q);
  EXPECT_TRUE(none.warnings.empty());
}

TEST(CsvPreambleTest, SkipRowsAndCommentLines) {
  CsvOptions o;
  o.skip_rows = 2;
  o.comment = "#";
  Table t =
      Read("Exported by X, 2024\nunits: \"cm\n# a comment, with a comma\na,b\n1,2\n#3,4\n5,6\n", o);
  EXPECT_EQ(Names(t), (Strings{"a", "b"}));
  EXPECT_EQ(Cells(t, 0), (Strings{"1", "5"}));
  // Lines in errors are still the file's physical lines.
  o.skip_rows = 1;
  EXPECT_EQ(ReadError("pre\na,b\n#c\n1,2,3\n", o), "<csv>:4: expected 2 fields, found 3");
}

TEST(CsvRaggedTest, FillPadsShortRecordsButLongOnesAreStillErrors) {
  CsvOptions o;
  o.fill = true;
  Table t = Read("a,b,c\n1,2,3\n4\n5,6\n", o);
  EXPECT_EQ(Cells(t, 0), (Strings{"1", "4", "5"}));
  EXPECT_EQ(Cells(t, 1), (Strings{"2", "<null>", "6"}));
  EXPECT_EQ(Cells(t, 2), (Strings{"3", "<null>", "<null>"}));
  EXPECT_EQ(Types(t)[2], TypeId::kInt64);
  EXPECT_EQ(ReadError("a,b\n1\n1,2,3\n", o), "<csv>:3: expected 2 fields, found 3");
}

TEST(CsvRaggedTest, MaxBadRowsSkipsRecordsToTheRejects) {
  CsvReport report;
  CsvOptions o;
  o.max_bad_rows = 2;
  o.report = &report;
  Table t = Read("a,b\n1,x\n2\n3,y\n4,z,extra\r\n5,w\n", o);
  EXPECT_EQ(Cells(t, 0), (Strings{"1", "3", "5"}));
  EXPECT_EQ(Cells(t, 1), (Strings{"x", "y", "w"}));
  EXPECT_EQ(Types(t)[0], TypeId::kInt64);
  ASSERT_EQ(report.rejects.size(), 2u);
  EXPECT_EQ(report.bad_rows, 2);
  EXPECT_EQ(report.rejects[0].line, 3);
  EXPECT_EQ(report.rejects[0].text, "2");
  EXPECT_EQ(report.rejects[0].reason, "expected 2 fields, found 1");
  EXPECT_EQ(report.rejects[1].line, 5);
  EXPECT_EQ(report.rejects[1].text, "4,z,extra");
  // One more than allowed: an error naming the first record past the limit.
  o.max_bad_rows = 1;
  EXPECT_EQ(ReadError("a,b\n1,x\n2\n3,y\n4,z,extra\n", o),
            "<csv>:5: expected 2 fields, found 3 (more than max_bad_rows: 1)");
}

TEST(CsvRaggedTest, MaxBadRowsInAParallelParse) {
  std::string big = "a,b\n";
  for (int i = 0; i < 300000; ++i) big += i % 1000 == 999 ? "bad\n" : fmt::format("{},x\n", i);
  CsvReport report;
  CsvOptions o;
  o.threads = 4;
  o.max_bad_rows = 300;
  o.report = &report;
  Table t = Read(big, o);
  EXPECT_EQ(t.num_rows(), 300000 - 300);
  ASSERT_EQ(report.rejects.size(), 300u);
  EXPECT_EQ(report.rejects[0].line, 1001);
  EXPECT_EQ(report.rejects[299].line, 300001);
  o.max_bad_rows = 299;
  EXPECT_EQ(ReadError(big, o),
            "<csv>:300001: expected 2 fields, found 1 (more than max_bad_rows: 299)");
}

TEST(CsvOnErrorTest, UnknownDatesUnderEachPolicy) {
  // Real registers: unknown day or month written as 00.
  const std::string csv =
      "id;born\n1;12/03/1950\n2;00/00/1952\n3;00/05/1960\n4;13/00/1957\n5;01/02/1970\n";
  CsvOptions o;
  o.schema = {Field{"born", TypeId::kDate32, true}};
  EXPECT_EQ(ReadError(csv, o), "<csv>:3: column 'born': cannot read \"00/00/1952\" as date32");

  CsvReport nulls;
  o.on_error["born"] = CsvOnError::kNull;
  o.report = &nulls;
  Table t = Read(csv, o);
  EXPECT_EQ(Cells(t, 1), (Strings{"1950-03-12", "<null>", "<null>", "<null>", "1970-02-01"}));
  EXPECT_EQ(t.column(1)->null_count, 3);
  EXPECT_TRUE(t.column(1)->Validate().ok());
  EXPECT_EQ(nulls.nulled.at("born"), 3);

  CsvReport dropped;
  o.on_error["born"] = CsvOnError::kDrop;
  o.report = &dropped;
  t = Read(csv, o);
  EXPECT_EQ(Cells(t, 0), (Strings{"1", "5"}));
  EXPECT_EQ(Cells(t, 1), (Strings{"1950-03-12", "1970-02-01"}));
  EXPECT_EQ(t.column(1)->null_count, 0);
  EXPECT_EQ(dropped.dropped.at("born"), 3);
  EXPECT_TRUE(dropped.rejects.empty());

  CsvReport rejected;
  o.on_error["born"] = CsvOnError::kReject;
  o.report = &rejected;
  t = Read(csv, o);
  EXPECT_EQ(Cells(t, 0), (Strings{"1", "5"}));
  ASSERT_EQ(rejected.rejects.size(), 3u);
  EXPECT_EQ(rejected.rejects[0].line, 3);
  EXPECT_EQ(rejected.rejects[0].text, "2;00/00/1952");
  EXPECT_EQ(rejected.rejects[0].reason, "column 'born': cannot read \"00/00/1952\" as date32");
  EXPECT_EQ(rejected.rejects[2].line, 5);
  EXPECT_EQ(rejected.rejected.at("born"), 3);
}

TEST(CsvTypeDriftTest, AColumnWhoseTypeChangedNamesTheFirstOffendingLine) {
  CsvReport report;
  CsvOptions o = Named("data/m.csv");
  o.report = &report;
  o.previous_types = {{"n", TypeId::kInt64}, {"x", TypeId::kFloat64}, {"d", TypeId::kDate32}};
  Table t = Read("n,x,d\n1,1.5,2024-01-01\n2,NA,2024-01-02\n3,\"2,5\",2024-01-03\n", o);
  EXPECT_EQ(Types(t), (std::vector<TypeId>{TypeId::kInt64, TypeId::kUtf8, TypeId::kDate32}));
  ASSERT_EQ(report.warnings.size(), 1u);
  EXPECT_EQ(report.warnings[0],
            "data/m.csv: column 'x' is utf8 now but was float64 in the previous version: line 4 "
            "holds \"2,5\" (give its type in schema to keep it)");
  // The same types: no warning; a schema column: no warning.
  CsvReport same;
  o.report = &same;
  Read("n,x,d\n1,1.5,2024-01-01\n", o);
  EXPECT_TRUE(same.warnings.empty());
}

}  // namespace
}  // namespace alambic::csv_test
