// The CSV reader (core/table/csv.h) with each encoding it reads itself, iconv encodings and
// compressed input (gzip, bzip2, xz, zstd detected by their magic, core/table/decode.h), and
// the options collect passes. Input: two option bytes, then the file.
#include "core/table/csv.h"
#include "core/table/decode.h"
#include "fuzz/fuzz_target.h"
#include "fuzz/table_check.h"

ALAMBIC_FUZZ_TARGET(csv) {
  using namespace alambic;
  fuzz::Input in(data, size);
  const uint8_t a = in.Byte(), b = in.Byte();
  const std::string file = in.Rest();
  static const char* const kEncodings[] = {"utf-8",    "latin-1", "windows-1252", "",
                                           "UTF-16LE", "GB18030", "utf-8",        "utf-8"};
  static const char kDelimiters[] = {0, ',', ';', '\t', '|', ' ', 0, 0};
  CsvOptions o;
  o.encoding = kEncodings[a & 7];
  o.delimiter = kDelimiters[(a >> 3) & 7];
  o.header = (a & 0x40) == 0;
  o.quote = (a & 0x80) ? 0 : '"';
  o.decimal = (b & 3) == 1 ? '.' : (b & 3) == 2 ? ',' : 0;
  o.fill = (b & 4) != 0;
  o.max_bad_rows = (b & 8) ? 3 : 0;
  o.skip_rows = (b >> 4) & 1;
  o.comment = (b & 0x20) ? "#" : "";
  if (b & 0x40) o.date_format = "%d.%m.%Y %H:%M";
  o.threads = (b & 0x80) ? 2 : 1;
  CsvReport report;
  o.report = &report;
  const bool decode_first =
      o.encoding.empty() || o.encoding == "UTF-16LE" || o.encoding == "GB18030";
  if (!decode_first) {
    auto t = ReadCsvBuffer(file, o);
    if (t.ok()) fuzz::CheckTable(*t);
    return 0;
  }
  // As ReadCsvFile does, with a decompressed-size limit that fits the fuzzer's memory.
  DecodeOptions d;
  d.encoding = o.encoding;
  d.keep_single_byte = true;
  d.max_bytes = 16 << 20;
  auto text = DecodeBuffer(file, d);
  if (!text.ok()) return 0;
  o.encoding = text->encoding();
  auto t = ReadCsvBuffer(text->text(), o);
  if (t.ok()) fuzz::CheckTable(*t);
  return 0;
}
