// JSON and NDJSON reading: flattening by path, arrays as text, type inference
// consistent with CSV, errors naming the line; Python's json module as oracle.
#include "core/table/json_read.h"

#include <cstdlib>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/csv_corpus.h"
#include "tests/test_util.h"

namespace alambic::json_read_test {
namespace {

using testing::ReadFile;
using testing::TableToJson;
using testing::TempDir;
using testing::WriteFile;
using json = nlohmann::json;

json Read(std::string_view data, bool lines) {
  JsonReadOptions o;
  o.lines = lines;
  o.source_name = lines ? "x.ndjson" : "x.json";
  auto t = ReadJsonBuffer(data, o);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? TableToJson(*t) : json();
}

std::string Error(std::string_view data, bool lines) {
  JsonReadOptions o;
  o.lines = lines;
  o.source_name = lines ? "x.ndjson" : "x.json";
  auto t = ReadJsonBuffer(data, o);
  EXPECT_FALSE(t.ok());
  return t.ok() ? "(no error)" : t.status().message();
}

TEST(JsonReadTest, ArrayOfObjectsFlattensNestedObjectsAndKeepsArraysAsText) {
  json t = Read(R"([
    {"id": 1, "name": "Zoé", "address": {"city": "Lyon", "geo": {"lat": 45.76}}, "tags": ["a", "b"]},
    {"id": 2, "address": {"city": "Évry"}, "tags": [], "extra": {}}
  ])",
                false);
  EXPECT_EQ(t["columns"], json::parse(R"([["id","int64"],["name","utf8"],["address.city","utf8"],
      ["address.geo.lat","float64"],["tags","utf8"],["extra","utf8"]])"));
  EXPECT_EQ(t["rows"], json::parse(R"([[1,"Zoé","Lyon",45.76,"[\"a\",\"b\"]",null],
      [2,null,"Évry",null,"[]","{}"]])"));
}

TEST(JsonReadTest, TypesAreInferredAsForCsv) {
  json t = Read(
      "{\"i\": 1, \"f\": 1, \"b\": true, \"code\": \"01\", \"d\": \"2024-01-31\", "
      "\"ts\": \"2024-01-31\", \"mixed\": 1, \"nul\": null, \"big\": 1}\n"
      "\n"
      "{\"i\": -2, \"f\": 2.5, \"b\": false, \"code\": \"2A\", \"d\": \"2024-02-29\", "
      "\"ts\": \"2024-01-31T10:00:00Z\", \"mixed\": \"x\", \"nul\": null, "
      "\"big\": 18446744073709551615}\r\n",
      true);
  EXPECT_EQ(t["columns"], json::parse(R"([["i","int64"],["f","float64"],["b","bool"],
      ["code","utf8"],["d","date32"],["ts","timestamp"],["mixed","utf8"],["nul","utf8"],
      ["big","float64"]])"));
  EXPECT_EQ(t["rows"][0], json::parse(R"([1,1.0,true,"01","2024-01-31","2024-01-31T00:00:00Z",
      "1",null,1.0])"));
  EXPECT_EQ(t["rows"][1][5], "2024-01-31T10:00:00Z");
  EXPECT_EQ(t["rows"][1][6], "x");
}

// The column is that of the character where the parser stopped (1-based).
TEST(JsonReadTest, MalformedInputNamesTheLine) {
  EXPECT_EQ(Error("{\"a\": 1}\n{\"a\": 2}\n{\"a\": 3,}\n", true),
            "x.ndjson:3: invalid JSON at column 9: syntax error while parsing object key - "
            "unexpected '}'; expected string literal");
  EXPECT_EQ(Error("{\"a\": 1}\n[1, 2]\n", true),
            "x.ndjson:2: expected a JSON object, got an array");
  EXPECT_EQ(Error("[\n {\"a\": 1},\n {\"a\": 2\n]\n", false),
            "x.json:4: invalid JSON at column 1: syntax error while parsing object - unexpected "
            "']'; expected '}'");
  EXPECT_EQ(Error("[{\"a\": 1}, 7]", false),
            "x.json: item 2: expected a JSON object, got a number");
  EXPECT_EQ(Error("{\"a\": 1}", false),
            "x.json: expected an array of objects, got an object (one object per line is format "
            "ndjson)");
  EXPECT_EQ(Error(" \n", false), "x.json: the file is empty");
  EXPECT_EQ(Error("{\"a\": {\"b\": 1}, \"a.b\": 2}\n", true),
            "x.ndjson:1: column 'a.b' appears twice in the object (a key with a '.' beside a "
            "nested object?)");
  // Latin-1 in a UTF-8 file; the bytes the parser quotes are escaped (the message stays UTF-8).
  EXPECT_EQ(Error("{\"a\": \"\xE9t\xE9\"}\n", true),
            "x.ndjson:1: invalid JSON at column 9: syntax error while parsing value - invalid "
            "string: ill-formed UTF-8 byte; last read: '\"\\xE9t'");
}

// A hostile file nested 30,000 deep (objects) or 100,000 deep (arrays) used to
// overflow the stack while flattening or serialising; now refused by line.
TEST(JsonReadTest, DeepNestingIsRefusedWithTheLine) {
  std::string objects = "[\n";
  for (int i = 0; i < 30000; ++i) objects += "{\"a\":";
  objects += "1";
  for (int i = 0; i < 30000; ++i) objects += "}";
  objects += "\n]\n";
  std::string msg = Error(objects, false);
  EXPECT_NE(msg.find("x.json:2:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("nested deeper than"), std::string::npos) << msg;

  std::string arrays = "{\"ok\": 1}\n{\"ok\": 2, \"deep\": ";
  arrays += std::string(100000, '[') + std::string(100000, ']') + "}\n";
  msg = Error(arrays, true);
  EXPECT_NE(msg.find("x.ndjson:2:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("nested deeper than"), std::string::npos) << msg;

  // Nesting within the limit still reads, and brackets inside strings do not count.
  std::string fine = "[{\"s\": \"" + std::string(1000, '[') + "\", \"deep\": ";
  fine += std::string(100, '[') + std::string(100, ']') + "}]";
  const json t = Read(fine, false);
  ASSERT_EQ(t["rows"].size(), 1u);
  EXPECT_EQ(t["rows"][0][0], std::string(1000, '['));
  EXPECT_EQ(t["rows"][0][1], std::string(100, '[') + std::string(100, ']'));
}

// Found by the json fuzz target (fuzz/regressions/json): a number beyond a double's range
// made nlohmann throw out_of_range, which nothing caught (the process aborted).
TEST(JsonReadTest, ANumberOutOfRangeIsAnErrorWithTheLine) {
  std::string msg = Error("[{\"a\": 1},\n {\"a\": -1e344073709551616}]", false);
  EXPECT_NE(msg.find("x.json:2: invalid JSON"), std::string::npos) << msg;
  EXPECT_NE(msg.find("-1e344073709551616"), std::string::npos) << msg;
  msg = Error("{\"a\": 1}\n{\"a\": 1e400}\n", true);
  EXPECT_NE(msg.find("x.ndjson:2: invalid JSON"), std::string::npos) << msg;
  // Large but finite numbers still read.
  const json t = Read("[{\"a\": 1e308}]", false);
  ASSERT_EQ(t["rows"].size(), 1u);
}

// What the parser meets in files written by other tools: a key twice in an object
// (the last value wins, at the place of the first, as in Python), integers beyond 64
// bits (read as doubles), -0 (an integer), underflow (0), a byte-order mark before
// an array, escapes and surrogate pairs, arrays of numbers kept as JSON text. The
// expected values are Python's json module's (the same document, by hand).
TEST(JsonReadTest, AwkwardValuesReadAsPythonReadsThem) {
  json t = Read(
      "\xEF\xBB\xBF[{\"a\": 1, \"b\": {\"x\": 1, \"y\": 2}, \"a\": 3, \"b\": {\"z\": "
      "\"\\u00e9\"}},\n"
      " {\"a\": -0, \"big\": 123456789012345678901234567890, \"tiny\": 1e-400,\n"
      "  \"s\": \"\\ud83d\\ude00 \\\"q\\\" \\t\\u0001\", \"arr\": [0.1, 1e100, -0, 1.0, "
      "\"\\u00e9\"]}]",
      false);
  EXPECT_EQ(t["columns"], json::parse(R"([["a","int64"],["b.z","utf8"],["big","float64"],
      ["tiny","float64"],["s","utf8"],["arr","utf8"]])"));
  EXPECT_EQ(t["rows"], json::parse(R"([[3,"é",null,null,null,null],
      [0,null,1.2345678901234568e+29,0.0,"😀 \"q\" \t\u0001","[0.1,1e+100,0,1.0,\"é\"]"]])"));

  // The same keys twice on one NDJSON line, nested: only the last object counts.
  t = Read("{\"a\": {\"b\": 1}, \"a\": {\"c\": 2}}\n{\"a\": {\"b\": 5}}\n", true);
  EXPECT_EQ(t["columns"], json::parse(R"([["a.c","int64"],["a.b","int64"]])"));
  EXPECT_EQ(t["rows"], json::parse(R"([[2,null],[null,5]])"));

  // A line starting with a byte-order mark (files concatenated), and trailing text.
  t = Read("{\"a\": 1}\n\xEF\xBB\xBF{\"a\": 2}\n", true);
  EXPECT_EQ(t["rows"], json::parse(R"([[1],[2]])"));
  EXPECT_EQ(Error("{\"a\": 1}\n{\"a\": 2} {\"a\": 3}\n", true),
            "x.ndjson:2: invalid JSON at column 10: syntax error while parsing value - "
            "unexpected '{'; expected end of input");
  // A column mixing kinds holds each value's JSON text.
  t = Read(
      "{\"m\": 1.5}\n{\"m\": \"x\"}\n{\"m\": 1e100}\n{\"m\": true}\n{\"m\": "
      "18446744073709551615}\n",
      true);
  EXPECT_EQ(t["rows"],
            json::parse(R"([["1.5"],["x"],["1e+100"],["true"],["18446744073709551615"]])"));
}

// The depth limit is exact: 256 arrays and objects inside one another read, 257 do not.
TEST(JsonReadTest, DepthLimitIsExact) {
  const json t = Read("[{\"a\": " + std::string(254, '[') + std::string(254, ']') + "}]", false);
  ASSERT_EQ(t["rows"].size(), 1u);
  const std::string msg =
      Error("[{\"a\": " + std::string(255, '[') + std::string(255, ']') + "}]", false);
  EXPECT_NE(msg.find("x.json:1: JSON nested deeper than 256 levels at column 262"),
            std::string::npos)
      << msg;
}

TEST(JsonReadTest, ReadFileNamesAMissingFile) {
  TempDir dir;
  auto t = ReadJsonFile(dir.path() / "nope.json", {});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
}

// Python's json module reads the same NDJSON, flattens it the documented way and
// must find exactly our columns (in first-seen order) and values.
TEST(JsonReadTest, AgreesWithPythonsJsonModule) {
  TempDir dir;
  std::string data;
  for (int i = 0; i < 3000; ++i) {
    data += fmt::format(R"({{"exam_id": {}, "candidate": {{"id": "K{:09d}", "commune": "{}"}},)", i,
                        i * 7919 % 1000000007, i % 3 ? "Besançon" : R"(Évry \"centre\")");
    data += fmt::format(R"( "score": {}, "passed": {}, "date": "2025-{:02d}-{:02d}",)",
                        i % 4 ? fmt::format("{}.5", i % 31) : std::to_string(i % 31),
                        i % 2 ? "true" : "false", i % 12 + 1, i % 28 + 1);
    data += fmt::format(R"( "codes": [{}, "x"])", i % 5);
    if (i % 10 == 0) data += R"(, "note": "late column")";
    data += "}\n";
    if (i % 100 == 0) data += "\n";
  }
  WriteFile(dir.path() / "exams.ndjson", data);
  WriteFile(dir.path() / "oracle.py", R"(import json, sys
cols, rows = [], []
def flat(obj, prefix, row):
    for k, v in obj.items():
        name = prefix + "." + k if prefix else k
        if isinstance(v, dict) and v:
            flat(v, name, row)
        else:
            if name not in cols:
                cols.append(name)
            row[name] = json.dumps(v, ensure_ascii=False, separators=(",", ":")) if isinstance(v, (list, dict)) else v
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        if line.strip():
            row = {}
            flat(json.loads(line), "", row)
            rows.append(row)
json.dump({"columns": cols, "rows": [[r.get(c) for c in cols] for r in rows]},
          open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
)");
  const std::string cmd =
      fmt::format("python3 {} {} {}", (dir.path() / "oracle.py").string(),
                  (dir.path() / "exams.ndjson").string(), (dir.path() / "python.json").string());
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const json py = json::parse(ReadFile(dir.path() / "python.json"));

  JsonReadOptions o;
  o.lines = true;
  auto t = ReadJsonFile(dir.path() / "exams.ndjson", o);
  ASSERT_TRUE(t.ok()) << t.status().message();
  const json ours = TableToJson(*t);
  ASSERT_EQ(ours["columns"].size(), py["columns"].size());
  for (size_t c = 0; c < py["columns"].size(); ++c)
    EXPECT_EQ(ours["columns"][c][0], py["columns"][c]);
  EXPECT_EQ(ours["columns"][3], json::array({"score", "float64"}));
  EXPECT_EQ(ours["columns"][5], json::array({"date", "date32"}));
  ASSERT_EQ(ours["rows"].size(), py["rows"].size());
  ASSERT_EQ(ours["rows"].size(), 3000u);
  for (size_t r = 0; r < py["rows"].size(); ++r)
    ASSERT_EQ(ours["rows"][r], py["rows"][r]) << "row " << r;
}

}  // namespace
}  // namespace alambic::json_read_test
