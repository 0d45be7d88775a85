#include "ui/common/text_table.h"

#include <algorithm>

#include <fmt/format.h>

namespace alambic {

namespace {

// Cuts UTF-8 text to at most `width` code points, ending with "…" when cut.
std::string Shorten(const std::string& s, size_t width) {
  if (DisplayWidth(s) <= width) return s;
  size_t points = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (points == width - 1) break;
      ++points;
    }
  }
  return s.substr(0, i) + "…";
}

}  // namespace

size_t DisplayWidth(std::string_view s) {
  size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

std::string Printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    auto c = static_cast<unsigned char>(ch);
    const auto next = i + 1 < s.size() ? static_cast<unsigned char>(s[i + 1]) : 0;
    if (c == 0xC2 && next >= 0x80 && next <= 0x9F) {
      // A C1 control (U+0080..U+009F) in UTF-8: U+009B is a CSI to some terminals.
      out += fmt::format("\\u{:04x}", next);
      ++i;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += ch;
    }
  }
  return out;
}

TextTable::TextTable(std::vector<std::string> header, size_t max_cell_width)
    : header_(std::move(header)), right_(header_.size(), false), max_width_(max_cell_width) {
  // Headers are untrusted too (column names come from data files).
  for (auto& h : header_) h = Shorten(Printable(h), max_width_);
}

void TextTable::AlignRight(size_t i) {
  if (i < right_.size()) right_[i] = true;
}

void TextTable::AddRow(std::vector<std::string> cells) {
  cells.resize(header_.size());
  for (auto& c : cells) c = Shorten(Printable(c), max_width_);
  rows_.push_back(std::move(cells));
}

std::string TextTable::Render() const {
  std::vector<size_t> width(header_.size(), 0);
  for (size_t i = 0; i < header_.size(); ++i) width[i] = DisplayWidth(header_[i]);
  for (const auto& r : rows_)
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], DisplayWidth(r[i]));
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t i = 0; i < cells.size(); ++i) {
      const size_t pad = width[i] - DisplayWidth(cells[i]);
      const bool last = i + 1 == cells.size();
      if (right_[i]) l += std::string(pad, ' ');
      l += cells[i];
      if (!right_[i] && !last) l += std::string(pad, ' ');
      if (!last) l += "  ";
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  };
  line(header_);
  for (const auto& r : rows_) line(r);
  return out;
}

std::string PrintableLines(std::string_view s, std::string_view indent) {
  std::string out;
  size_t pos = 0;
  for (;;) {
    const size_t nl = s.find('\n', pos);
    std::string line(
        s.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string expanded;
    for (char c : line) expanded += c == '\t' ? std::string(4, ' ') : std::string(1, c);
    if (pos > 0) out += indent;
    out += Printable(expanded);
    if (nl == std::string_view::npos) break;
    out += '\n';
    pos = nl + 1;
  }
  return out;
}

}  // namespace alambic
