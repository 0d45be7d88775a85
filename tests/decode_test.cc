// Decompression and character decoding of text inputs (core/table/decode.h) and their
// use by collect: real files compressed with the command-line tools and real text
// converted with iconv, checked against python3 reading the same files.
#include "core/table/decode.h"

#include <cstdlib>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/recipe/recipe.h"
#include "core/table/csv.h"
#include "tests/test_util.h"

namespace alambic::decode_test {
namespace {

using testing::Python;
using testing::ReadFile;
using testing::ShellQuote;
using testing::TempDir;
using testing::WriteFile;

const std::filesystem::path kSklearnData = "/usr/lib/python3/dist-packages/sklearn/datasets/data";

void Sh(const std::string& cmd) { ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd; }

// The file decompressed by python3's own modules (zstd through the zstd tool, python has none).
std::string PythonDecompressed(const std::filesystem::path& p) {
  return Python(R"(
import bz2, gzip, lzma, subprocess, sys, zipfile
p = sys.argv[1]
if p.endswith('.gz'): data = gzip.open(p).read()
elif p.endswith('.bz2'): data = bz2.open(p).read()
elif p.endswith('.xz'): data = lzma.open(p).read()
elif p.endswith('.zst'): data = subprocess.run(['zstd', '-dc', p], check=True, capture_output=True).stdout
elif p.endswith('.zip'):
    z = zipfile.ZipFile(p); data = z.read(z.namelist()[0])
else: data = open(p, 'rb').read()
sys.stdout.buffer.write(data)
)",
                {p.string()});
}

// Rows, columns and per-column sums of a header-less numeric CSV as python's csv module reads
// it: "rows cols sum1 sum2 ...".
std::string PythonSums(const std::string& text, char delim) {
  TempDir d;
  WriteFile(d.path() / "t.csv", text);
  return Python(R"(
import csv, sys
rows = [r for r in csv.reader(open(sys.argv[1], newline=''), delimiter=sys.argv[2]) if r]
if sys.argv[2] == ' ': rows = [[c for c in r if c != ''] for r in rows]
sums = [sum(float(r[c]) for r in rows) for c in range(len(rows[0]))]
print(len(rows), len(rows[0]), ' '.join('%.6f' % s for s in sums))
)",
                {(d.path() / "t.csv").string(), std::string(1, delim)});
}

std::string OurSums(const Table& t) {
  std::string out = fmt::format("{} {}", t.num_rows(), t.num_columns());
  for (int c = 0; c < t.num_columns(); ++c) {
    const Column& col = *t.column(c);
    double s = 0;
    for (int64_t r = 0; r < t.num_rows(); ++r)
      s += col.type == TypeId::kInt64 ? static_cast<double>(col.Int64(r)) : col.Double(r);
    out += fmt::format("{}{:.6f}", c ? " " : " ", s);
  }
  return out + "\n";
}

std::string Csv(const Table& t) {
  std::ostringstream os;
  EXPECT_TRUE(WriteCsv(t, os).ok());
  return os.str();
}

// Copies of `plain` compressed with each tool, named like the tools name them.
std::vector<std::filesystem::path> CompressWithEveryTool(const std::filesystem::path& plain) {
  const std::string q = ShellQuote(plain.string());
  Sh(
      fmt::format("gzip -9 -k -c {0} > {0}.gz && bzip2 -k -c {0} > {0}.bz2 && xz -k -c {0} > "
                  "{0}.xz && zstd -q -k -c {0} > {0}.zst && (cd {1} && zip -q -j {0}.zip {0})",
                  q, ShellQuote(plain.parent_path().string())));
  std::vector<std::filesystem::path> out;
  for (const char* ext : {".gz", ".bz2", ".xz", ".zst", ".zip"})
    out.push_back(plain.string() + ext);
  return out;
}

TEST(DecodeTest, RecognisesCompressionByMagicBytesAndName) {
  EXPECT_EQ(CompressionFromMagic("\x1F\x8B\x08"), Compression::kGzip);
  EXPECT_EQ(CompressionFromMagic("BZh9"), Compression::kBzip2);
  EXPECT_EQ(CompressionFromMagic(std::string_view("\xFD"
                                                  "7zXZ\0",
                                                  6)),
            Compression::kXz);
  EXPECT_EQ(CompressionFromMagic("\x28\xB5\x2F\xFD"), Compression::kZstd);
  EXPECT_EQ(CompressionFromMagic("PK\x03\x04"), Compression::kZip);
  EXPECT_EQ(CompressionFromMagic("a,b\n"), Compression::kNone);
  EXPECT_EQ(CompressionFromName("data.CSV.GZ"), Compression::kGzip);
  EXPECT_EQ(CompressionFromName("x.zst"), Compression::kZstd);
  EXPECT_EQ(CompressionFromName("x.csv"), Compression::kNone);
}

// sklearn's digits.csv.gz (gzip made by its authors), then the same CSV recompressed with
// bzip2, xz, zstd and zip: every copy gives the table python's gzip + csv modules see.
TEST(DecodeTest, RealCompressedCsvReadsAsPythonReadsIt) {
  const auto digits = kSklearnData / "digits.csv.gz";
  if (!std::filesystem::exists(digits)) GTEST_SKIP() << "python3-sklearn is not installed";
  TempDir d;
  const std::string text = PythonDecompressed(digits);
  ASSERT_GT(text.size(), 100000u);
  const std::string oracle = PythonSums(text, ',');
  ASSERT_EQ(oracle.rfind("1797 65 ", 0), 0u) << oracle;
  CsvOptions o;
  o.header = false;
  auto real = ReadCsvFile(digits, o);
  ASSERT_TRUE(real.ok()) << real.status().message();
  EXPECT_EQ(OurSums(*real), oracle);
  // Recompressed: the first 300 rows (to keep the test fast).
  size_t cut = 0;
  for (int i = 0; i < 300; ++i) cut = text.find('\n', cut) + 1;
  const std::string head = text.substr(0, cut);
  const std::string head_oracle = PythonSums(head, ',');
  ASSERT_EQ(head_oracle.rfind("300 65 ", 0), 0u) << head_oracle;
  WriteFile(d.path() / "digits.csv", head);
  for (const auto& f : CompressWithEveryTool(d.path() / "digits.csv")) {
    SCOPED_TRACE(f.filename().string());
    EXPECT_EQ(PythonDecompressed(f), head);
    auto decoded = DecodeFile(f, {});
    ASSERT_TRUE(decoded.ok()) << decoded.status().message();
    EXPECT_EQ(decoded->text(), head);
    auto t = ReadCsvFile(f, o);
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_EQ(OurSums(*t), head_oracle);
  }
  // The diabetes data: space-separated, gzip from sklearn.
  const auto diabetes = kSklearnData / "diabetes_data_raw.csv.gz";
  o.delimiter = ' ';
  auto dt = ReadCsvFile(diabetes, o);
  ASSERT_TRUE(dt.ok()) << dt.status().message();
  EXPECT_EQ(OurSums(*dt), PythonSums(PythonDecompressed(diabetes), ' '));
}

// The CSVs of tests/data, compressed: each reads exactly as its plain file.
TEST(DecodeTest, CompressedCorpusFilesReadAsThePlainFiles) {
  TempDir d;
  const std::filesystem::path corpus = ALAMBIC_SOURCE_DIR "/tests/data/csv";
  int checked = 0;
  for (const char* name : {"quoting.csv", "newlines_in_fields.csv", "bom.csv",
                           "semicolon_decimal_comma.csv", "french_dates.csv"}) {
    SCOPED_TRACE(name);
    std::filesystem::copy_file(corpus / name, d.path() / name);
    auto plain = ReadCsvFile(d.path() / name, {});
    ASSERT_TRUE(plain.ok()) << plain.status().message();
    for (const auto& f : CompressWithEveryTool(d.path() / name)) {
      auto t = ReadCsvFile(f, {});
      ASSERT_TRUE(t.ok()) << f << ": " << t.status().message();
      EXPECT_EQ(Csv(*t), Csv(*plain)) << f;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 25);
}

// Text converted by iconv from UTF-8 into other encodings decodes back to the same UTF-8, as
// python decodes it; UTF-16 with a BOM and Windows-1252 are detected without `encoding`.
TEST(DecodeTest, IconvEncodingsDecodeAsPythonDecodes) {
  TempDir d;
  const std::string utf8 =
      "ville;prix;note\nSaint-Étienne;12,5 €;très « bon »\n北京;30;œuvre Ÿ\n"
      "Zürich;7;naïve\n";
  WriteFile(d.path() / "u.csv", utf8);
  const std::string u = ShellQuote((d.path() / "u.csv").string());
  struct Case {
    const char* iconv_name;  // iconv -t
    const char* file;
    const char* encoding;  // given to the decoder; "" detects
    const char* python;    // python codec
  };
  // ISO-8859-15 and Windows-1252 have no Chinese: their source drops that line.
  const std::string western =
      "ville;prix;note\nSaint-Étienne;12,5 €;très « bon »\nZürich;7;naïve\n";
  WriteFile(d.path() / "w.csv", western);
  const std::string w = ShellQuote((d.path() / "w.csv").string());
  Sh(fmt::format("iconv -f UTF-8 -t GB18030 {} > {}/gb.csv", u, ShellQuote(d.path().string())));
  Sh(fmt::format("iconv -f UTF-8 -t UTF-16BE {} > {}/be.csv", u, ShellQuote(d.path().string())));
  Sh(fmt::format("(printf '\\377\\376'; iconv -f UTF-8 -t UTF-16LE {}) > {}/le.csv", u,
                 ShellQuote(d.path().string())));
  Sh(fmt::format("iconv -f UTF-8 -t ISO-8859-15 {} > {}/l9.csv", w, ShellQuote(d.path().string())));
  Sh(fmt::format("iconv -f UTF-8 -t WINDOWS-1252 {} > {}/cp.csv", w,
                 ShellQuote(d.path().string())));
  const Case cases[] = {
      {"GB18030", "gb.csv", "gb18030", "gb18030"},
      {"UTF-16BE", "be.csv", "utf-16be", "utf-16-be"},
      {"UTF-16LE", "le.csv", "", "utf-16"},
      {"UTF-16LE", "le.csv", "UTF-16", "utf-16"},
      {"ISO-8859-15", "l9.csv", "iso-8859-15", "iso8859-15"},
      {"WINDOWS-1252", "cp.csv", "", "cp1252"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(fmt::format("{} as '{}'", c.file, c.encoding));
    const auto path = d.path() / c.file;
    const std::string py = Python(
        "import sys; sys.stdout.buffer.write(open(sys.argv[1], 'rb').read().decode(sys.argv[2])"
        ".encode('utf-8'))",
        {path.string(), c.python});
    EXPECT_EQ(py, c.iconv_name == std::string("ISO-8859-15") || c.file == std::string("cp.csv")
                      ? western
                      : utf8);
    DecodeOptions o;
    o.encoding = c.encoding;
    auto text = DecodeFile(path, o);
    ASSERT_TRUE(text.ok()) << text.status().message();
    EXPECT_EQ(text->text(), py);
    EXPECT_EQ(text->encoding(), "utf-8");
    // Through the CSV reader: the same cells.
    CsvOptions co;
    co.encoding = c.encoding;
    co.delimiter = ';';
    auto t = ReadCsvFile(path, co);
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_EQ(t->column(0)->String(0), "Saint-Étienne");
    EXPECT_EQ(t->column(1)->String(0), "12,5 €");
  }
  // Detection notes.
  auto le = DecodeFile(d.path() / "le.csv", {});
  ASSERT_TRUE(le.ok());
  ASSERT_FALSE(le->notes().empty());
  EXPECT_EQ(le->notes()[0], "encoding: detected utf-16le (byte-order mark)");
  DecodeOptions keep;
  keep.keep_single_byte = true;
  auto cp = DecodeFile(d.path() / "cp.csv", keep);
  ASSERT_TRUE(cp.ok());
  EXPECT_EQ(cp->encoding(), "windows-1252");  // left for the CSV reader to convert
  // "Saint-\xC9tienne": the É at byte 22 (from 0), on line 2.
  EXPECT_EQ(cp->notes()[0],
            "encoding: detected windows-1252 (invalid UTF-8 at byte 22, line 2); give `encoding` "
            "if it is another one");
}

TEST(DecodeTest, UndecodableTextNamesFileEncodingLineAndByte) {
  TempDir d;
  WriteFile(d.path() / "a.csv", "a,b\n1,2\n3,caf\xE9\n");
  DecodeOptions o;
  o.encoding = "ANSI_X3.4-1968";  // iconv's ASCII
  o.source_name = "data/a.csv";
  auto bad = DecodeFile(d.path() / "a.csv", o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "data/a.csv:3: cannot decode byte 13 (0xE9) as ANSI_X3.4-1968; give the file's "
            "encoding with the `encoding` parameter (e.g. windows-1252, iso-8859-15, utf-16le, "
            "gb18030)");
  // An odd number of bytes in UTF-16.
  WriteFile(d.path() / "odd.csv", std::string("a\0\n\0b", 5));
  o.encoding = "utf-16le";
  o.source_name = "";
  bad = DecodeFile(d.path() / "odd.csv", o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("odd.csv:2: the text ends inside a character (byte 4) "
                                        "decoding it as UTF-16LE"),
            std::string::npos)
      << bad.status().message();
  // JSON (no single-byte pass-through) with invalid UTF-8 when utf-8 is given.
  o.encoding = "utf-8";
  o.source_name = "a.csv";
  bad = DecodeFile(d.path() / "a.csv", o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind("a.csv:3: invalid UTF-8 at byte 13 (byte 0xE9); give "
                                         "the file's encoding with the `encoding` parameter",
                                         0),
            0u)
      << bad.status().message();
  EXPECT_EQ(CanonicalEncoding("no-such-encoding"), "");
  EXPECT_EQ(CanonicalEncoding("utf-8//TRANSLIT"), "");
  EXPECT_EQ(CanonicalEncoding("gb18030"), "GB18030");
  EXPECT_EQ(CanonicalEncoding("CP1252"), "windows-1252");
}

TEST(DecodeTest, DamagedArchivesAreErrorsNamingTheFile) {
  TempDir d;
  std::string rows = "id,name\n";
  for (int i = 0; i < 20000; ++i) rows += fmt::format("{},row number {}\n", i, i * 7919 % 10007);
  WriteFile(d.path() / "r.csv", rows);
  for (const auto& f : CompressWithEveryTool(d.path() / "r.csv")) {
    const std::string whole = ReadFile(f);
    const std::string ext = f.extension().string();
    SCOPED_TRACE(ext);
    // Truncated to half.
    const auto cut = d.path() / ("cut.csv" + ext);
    WriteFile(cut, whole.substr(0, whole.size() / 2));
    DecodeOptions o;
    o.source_name = "data/cut.csv" + ext;
    auto t = DecodeFile(cut, o);
    ASSERT_FALSE(t.ok());
    const std::string m = t.status().message();
    EXPECT_EQ(m.rfind("data/cut.csv" + ext + ": ", 0), 0u) << m;
    EXPECT_TRUE(m.find("truncated") != std::string::npos || m.find("damaged") != std::string::npos)
        << m;
    // Bytes flipped in the middle.
    std::string flipped = whole;
    for (size_t i = whole.size() / 2; i < whole.size() / 2 + 64; ++i) flipped[i] ^= 0x5A;
    const auto bad = d.path() / ("bad.csv" + ext);
    WriteFile(bad, flipped);
    auto b = DecodeFile(bad, {});
    ASSERT_FALSE(b.ok()) << ext;
    EXPECT_NE(b.status().message().find("bad.csv" + ext + ": "), std::string::npos);
  }
  // A plain file named .gz.
  WriteFile(d.path() / "plain.csv.gz", "a,b\n1,2\n");
  auto p = DecodeFile(d.path() / "plain.csv.gz", {});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(),
            (d.path() / "plain.csv.gz").string() +
                ": not gzip data (its first bytes are not the gzip signature): the file is "
                "damaged or misnamed");
}

TEST(DecodeTest, ZipMembersAndSizeLimit) {
  TempDir d;
  const std::string dq = ShellQuote(d.path().string());
  WriteFile(d.path() / "a.csv", "x\n1\n");
  WriteFile(d.path() / "b.csv", "x\n2\n");
  Sh(fmt::format("cd {} && zip -q two.zip a.csv b.csv", dq));
  auto two = DecodeFile(d.path() / "two.zip", DecodeOptions{.source_name = "two.zip"});
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.status().message(),
            "two.zip: the zip archive holds 2 files (a.csv, b.csv); name one with the member "
            "parameter");
  auto b = DecodeFile(d.path() / "two.zip", DecodeOptions{.member = "b.csv"});
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->text(), "x\n2\n");
  auto none = DecodeFile(d.path() / "two.zip", DecodeOptions{.member = "c.csv"});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("has no member 'c.csv' (it holds: a.csv, b.csv)"),
            std::string::npos);
  // 8 MB of zeros, some 64 KB compressed: refused past the limit, whatever the format.
  Sh(
      fmt::format("cd {} && head -c 8000000 /dev/zero > z.csv && gzip -k z.csv && xz -k -0 z.csv "
                  "&& zstd -q -k z.csv && bzip2 -k z.csv && zip -q z.zip z.csv && rm z.csv",
                  dq));
  for (const char* f : {"z.csv.gz", "z.csv.xz", "z.csv.zst", "z.csv.bz2", "z.zip"}) {
    SCOPED_TRACE(f);
    EXPECT_LT(std::filesystem::file_size(d.path() / f), 100000u);
    DecodeOptions o;
    o.max_bytes = 1 << 20;
    o.source_name = f;
    auto z = DecodeFile(d.path() / f, o);
    ASSERT_FALSE(z.ok());
    EXPECT_EQ(z.status().message(),
              fmt::format("{}: decompresses to more than 1048576 bytes, the limit (a damaged file "
                          "or a \"zip bomb\"?); raise it with the max_decompressed_bytes parameter "
                          "if the file is genuine",
                          f));
  }
}

struct Collected {
  Result<RecipeOutput> out = Status::Internal("not run");
  std::string log;
  Result<std::string> fingerprint = Status::Internal("not run");
};

Collected Collect(const std::filesystem::path& ws, const nlohmann::json& params) {
  const RecipeKind* kind = alambic::testing::BuiltinKinds().Find("collect");
  testing::CapturingLogger log;
  RecipeContext ctx;
  ctx.recipe = "raw";
  ctx.params = &params;
  ctx.outputs = {"out"};
  ctx.workspace = ws;
  ctx.log = &log;
  Collected c;
  c.fingerprint = kind->SourceFingerprint(ctx);
  c.out = kind->Run(ctx);
  c.log = log.text();
  return c;
}

// collect: a Windows-1252 file with no `encoding` reads (it was an error before), the decision
// is in the log, and `encoding` overrides it; compressed files and zip members read; JSON in
// UTF-16 too; the fingerprint follows the content.
TEST(DecodeTest, CollectDetectsEncodingAndReadsCompressedFiles) {
  TempDir d;
  const auto ws = d.path();
  WriteFile(ws / "cp.csv", "nom;prix\nCaf\xE9;3\n\x80uro;4\n");
  auto c = Collect(ws, {{"path", "cp.csv"}});
  ASSERT_TRUE(c.out.ok()) << c.out.status().message();
  EXPECT_EQ(c.out->tables[0].column(0)->String(0), "Café");
  EXPECT_EQ(c.out->tables[0].column(0)->String(1), "€uro");
  EXPECT_NE(c.log.find("cp.csv: encoding: detected windows-1252 (invalid UTF-8 at byte 12, line "
                       "2)"),
            std::string::npos)
      << c.log;
  auto latin = Collect(ws, {{"path", "cp.csv"}, {"encoding", "latin-1"}});
  ASSERT_TRUE(latin.out.ok()) << latin.out.status().message();
  EXPECT_EQ(latin.out->tables[0].column(0)->String(1), "\u0080uro");
  auto strict = Collect(ws, {{"path", "cp.csv"}, {"encoding", "utf-8"}});
  ASSERT_FALSE(strict.out.ok());
  EXPECT_EQ(strict.out.status().message().rfind("recipe raw: cp.csv:2: invalid UTF-8", 0), 0u)
      << strict.out.status().message();

  // Compressed: the same table; the fingerprint changes with the content.
  Sh(fmt::format("cd {} && gzip -k cp.csv && zstd -q -k cp.csv && zip -q two.zip cp.csv cp.csv.gz",
                 ShellQuote(ws.string())));
  auto gz = Collect(ws, {{"path", "cp.csv.gz"}});
  ASSERT_TRUE(gz.out.ok()) << gz.out.status().message();
  EXPECT_EQ(Csv(gz.out->tables[0]), Csv(c.out->tables[0]));
  EXPECT_NE(gz.log.find("cp.csv.gz: gzip: "), std::string::npos) << gz.log;
  auto member = Collect(ws, {{"path", "two.zip"}, {"member", "cp.csv"}});
  ASSERT_TRUE(member.out.ok()) << member.out.status().message();
  EXPECT_EQ(Csv(member.out->tables[0]), Csv(c.out->tables[0]));
  auto both = Collect(ws, {{"path", "two.zip"}});
  ASSERT_FALSE(both.out.ok());
  EXPECT_EQ(both.out.status().message(),
            "recipe raw: two.zip: the zip archive holds 2 files (cp.csv, cp.csv.gz); name one "
            "with the member parameter");
  ASSERT_TRUE(gz.fingerprint.ok());
  WriteFile(ws / "cp.csv", "nom;prix\nCaf\xE9;5\n");
  Sh(fmt::format("cd {} && gzip -f -k cp.csv", ShellQuote(ws.string())));
  auto gz2 = Collect(ws, {{"path", "cp.csv.gz"}});
  ASSERT_TRUE(gz2.fingerprint.ok());
  EXPECT_NE(*gz2.fingerprint, *gz.fingerprint);
  auto glob = Collect(ws, {{"path", "cp.csv.*"}});
  ASSERT_TRUE(glob.out.ok()) << glob.out.status().message();
  EXPECT_EQ(glob.out->tables[0].num_rows(), 3);  // the new .gz (1 row) and the .zst (2 rows)

  // NDJSON in UTF-16 with a BOM, gzip-compressed.
  WriteFile(ws / "p.ndjson",
            "{\"ville\": \"Zürich\", \"n\": 1}\n{\"ville\": \"北京\", \"n\": 2}\n");
  Sh(
      fmt::format("cd {} && (printf '\\377\\376'; iconv -f UTF-8 -t UTF-16LE p.ndjson) | gzip > "
                  "p16.ndjson.gz",
                  ShellQuote(ws.string())));
  auto js = Collect(ws, {{"path", "p16.ndjson.gz"}, {"format", "ndjson"}});
  ASSERT_TRUE(js.out.ok()) << js.out.status().message();
  EXPECT_EQ(js.out->tables[0].column(0)->String(1), "北京");
  EXPECT_NE(js.log.find("encoding: detected utf-16le"), std::string::npos) << js.log;

  // Params.
  const RecipeKind* kind = alambic::testing::BuiltinKinds().Find("collect");
  EXPECT_TRUE(kind->CheckParams({{"path", "a.csv"}, {"encoding", "GB18030"}}).ok());
  EXPECT_EQ(
      kind->CheckParams({{"path", "a.arrow"}, {"format", "arrow"}, {"member", "x"}}).message(),
      "param 'member': applies to csv, json and ndjson, not arrow");
  EXPECT_EQ(kind->CheckParams({{"path", "a.csv"}, {"max_decompressed_bytes", 0}}).message(),
            "param 'max_decompressed_bytes': must be a whole number of bytes above 0");
  auto bomb = Collect(ws, {{"path", "cp.csv.zst"}, {"max_decompressed_bytes", 10}});
  ASSERT_FALSE(bomb.out.ok());
  EXPECT_EQ(bomb.out.status().message().rfind(
                "recipe raw: cp.csv.zst: decompresses to more than 10 bytes", 0),
            0u);
}

}  // namespace
}  // namespace alambic::decode_test
