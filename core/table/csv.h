// CSV reading and writing (RFC 4180) on columnar tables.
//
// Reading: quoted fields may hold delimiters, doubled quotes and newlines; CRLF
// or LF; a last line with or without a newline; empty lines are skipped. A quote
// opens a quoted field only at the start of a field; elsewhere it is an ordinary
// character, and characters after a closing quote are kept as text (`"ab"c` is
// `abc`). Input in UTF-8 (a BOM is skipped; invalid bytes are an error) or
// Latin-1 / Windows-1252 (converted to UTF-8; the five bytes Windows-1252 leaves
// undefined, 0x81 0x8D 0x8F 0x90 0x9D, become the C1 controls of the same value,
// as browsers do).
//
// Header: empty names become c<position> (1-based) and repeated names get a
// suffix _2, _3, ... so that every column has a distinct, non-empty name.
// Without a header, columns are named c1, c2, ...
//
// Types are inferred over every row: int64, then float64, bool (true/false, any
// case), date32 (YYYY-MM-DD), timestamp (YYYY-MM-DD[T ]HH:MM:SS[.f][Z|±HH:MM],
// stored as UTC microseconds, digits past the microsecond dropped; a column
// mixing dates and timestamps is a timestamp column), else utf8. French files:
// a column whose every value is a decimal-comma number ("12,5", "-0,25") is
// float64 when the delimiter is ';' or a tab (or `decimal` is ','); a column
// whose every value is a dd/mm/yyyy date (or matches `date_format`) is date32.
// A column mixing the conventions ("12,5" and "12.5", "2024-01-31" and
// "31/01/2024") is utf8. A value with a
// leading zero or a '+' ("01", "007", "+33") is not a number, so codes stay
// strings; "0", "0.5", "-3", "1e5", "NaN" and "inf" are. An integer too large for int64 makes the
// column float64. Cells equal to one of `null_values` are null and do not take part in inference; a
// column with no other value is utf8. Columns given in `schema` are converted to that type instead,
// more leniently ("+5" and "007" are int64, "1" and "0" are bool, a date is a timestamp at
// midnight); a cell that does not convert is an error naming the column and the value.
//
// Inputs over 4 MiB are parsed in parallel (`threads`) in chunks cut at record
// boundaries; the result does not depend on the number of threads. Errors name
// the source and the physical line (1-based, the header is line 1; for a
// record spanning lines, the line where the offending record or field starts).
// When a file holds several errors, the one nearest the start is reported.
//
// Thread-safety: the functions are reentrant; `progress` is called only from the
// calling thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/cancel.h"
#include "core/base/status.h"
#include "core/table/table.h"

namespace alambic {

// What a cell of a `schema` column that does not convert does: fail the read, become null,
// drop its record, or drop it to the rejects (CsvReport::rejects).
enum class CsvOnError { kFail, kNull, kDrop, kReject };

struct CsvRejectedRow {
  int64_t line = 0;    // physical line where the record starts (1-based)
  std::string reason;  // "expected 3 fields, found 4", "column 'd': cannot read ..."
  std::string text;    // the record as it is in the file (line ends removed)
};

struct CsvReport {
  std::vector<CsvRejectedRow> rejects;  // in file order
  std::vector<std::string> warnings;
  // Per column: cells nulled / records dropped / records rejected by its on_error policy.
  std::map<std::string, int64_t> nulled, dropped, rejected;
  int64_t bad_rows = 0;  // records with the wrong number of fields, skipped
};

struct CsvOptions {
  char delimiter = 0;  // 0: detect among , ; \t | and space (first lines)
  bool header = true;  // false: columns are named c1, c2, ...
  char quote = '"';    // 0: no quoting
  // utf-8, latin-1 (iso-8859-1), windows-1252 (cp1252), or any encoding iconv knows (decoded
  // first, see core/table/decode.h); "" detects it (collect's default).
  std::string encoding = "utf-8";
  std::vector<Field> schema;  // explicit types for some or all columns, by name
  // Decimal mark of float64 cells: 0 detects (a comma is accepted when the delimiter is ';' or
  // a tab), '.' only a point, ',' only a comma ("12.5" is then text).
  char decimal = 0;
  // Dates in this format (strftime-like: %d %m %Y %H %M %S) are inferred and read as well as
  // ISO ones; "" means "%d/%m/%Y". %d %m %H %M %S take 1 or 2 digits, but their full 2 when
  // next to another field with no separator ("%Y%m%d"). A format with %H gives timestamps.
  std::string date_format;
  // Column -> its own date format (instead of date_format), e.g. from a schema entry.
  std::map<std::string, std::string> date_formats;
  std::vector<std::string> null_values = {""};
  // Nulls only in a column that is not text (numbers, dates, booleans: the column keeps its
  // type); in a text column they stay text. As pandas, "NaN" is missing, not a float NaN.
  std::vector<std::string> typed_null_values = {"NA", "N/A", "NULL", "null", "NaN", "nan"};
  int64_t skip_rows = 0;  // physical lines skipped before the header (a preamble)
  std::string comment;    // lines starting with this prefix are skipped ("" none)
  bool fill = false;      // a short record is padded with empty (null) cells
  // Records with the wrong number of fields skipped (to report->rejects) before it is an error.
  int64_t max_bad_rows = 0;
  // Schema column -> what a cell that does not convert does (default kFail).
  std::map<std::string, CsvOnError> on_error;
  // Column -> its type in the previous version: a column inferred otherwise is a warning in
  // report (type drift), naming the first line whose value is not of the previous type.
  std::map<std::string, TypeId> previous_types;
  // Filled when set: rejected records, warnings, per-column counts of the on_error policies.
  CsvReport* report = nullptr;
  std::string source_name;  // used in error messages (ReadCsvFile: the path by default)
  int threads = 0;          // 0: hardware concurrency
  // Called now and then with the number of rows parsed so far. May be empty.
  std::function<void(int64_t)> progress;
};

// Normalised encoding name ("utf-8", "latin-1", "windows-1252"), else iconv's upper-case name
// ("GB18030"), or "" if unknown (CanonicalEncoding of decode.h). For the first three, case,
// '-', '_' and spaces are ignored: utf8, UTF-8, utf-8-sig, ascii, latin1, iso-8859-1, l1,
// cp1252, windows-1252, win1252 are all accepted.
std::string NormaliseEncoding(std::string_view name);

// ISO values as the reader infers them: a date "YYYY-MM-DD" (days since the epoch), a
// timestamp "YYYY-MM-DD[T ]HH:MM:SS[.f][Z|±HH:MM]" or, with `date_ok`, a bare date (UTC
// microseconds).
bool ParseIsoDate(std::string_view v, int32_t* days);
bool ParseIsoTimestamp(std::string_view v, bool date_ok, int64_t* micros);

// "" when `spec` is a date format the reader understands (%d, %m and %Y, optionally %H %M %S,
// %% and literal characters), else what is wrong with it.
std::string CheckDateFormat(std::string_view spec);

// A missing file is NotFound; a cancelled read returns the token's status. A plain
// file is memory-mapped (it must not be truncated while it is read); a compressed one
// (.gz .bz2 .xz .zst, a one-file .zip) is decompressed first (core/table/decode.h).
Result<Table> ReadCsvFile(const std::filesystem::path& path, const CsvOptions& opts,
                          const CancelToken* cancel = nullptr);
Result<Table> ReadCsvBuffer(std::string_view data, const CsvOptions& opts,
                            const CancelToken* cancel = nullptr);

struct CsvWriteOptions {
  char delimiter = ',';
  bool header = true;
};

// Writes RFC 4180 CSV with LF line ends: cells from FormatCell, null as empty,
// quoted when they hold the delimiter, a quote, CR or LF. In a one-column table
// an empty cell is written as "" so that the line is not read back as empty.
Status WriteCsv(const Table& t, std::ostream& out, const CsvWriteOptions& opts = {});

}  // namespace alambic
