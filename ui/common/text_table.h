// Plain-text tables for the terminal: aligned columns, a header row, and cells
// made safe to print (control characters escaped, long cells shortened).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace alambic {

class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header, size_t max_cell_width = 60);
  // Right-aligns column `i` (numbers).
  void AlignRight(size_t i);
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  // Columns separated by two spaces; the last column is not padded.
  std::string Render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<bool> right_;
  size_t max_width_;
};

// Escapes control characters (\n, \t, ESC, ...) so untrusted text cannot move
// the cursor or recolour the terminal.
std::string Printable(std::string_view s);
// Printable, line by line, for multi-line text (a Lua traceback): the breaks
// are kept, each line after the first starts with `indent`, tabs become four
// spaces; other control characters are escaped as by Printable.
std::string PrintableLines(std::string_view s, std::string_view indent);
// Display width of UTF-8 text: code points, not bytes.
size_t DisplayWidth(std::string_view s);

}  // namespace alambic
