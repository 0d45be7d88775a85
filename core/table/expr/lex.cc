// The lexer of the expression language: text -> tokens (internal.h).
#include <cctype>

#include <fmt/format.h>

#include "core/table/expr/internal.h"

namespace alambic::expr_internal {

Result<std::vector<Token>> Lex(std::string_view text) {
  std::vector<Token> out;
  size_t i = 0;
  auto is_ident_start = [](unsigned char c) { return std::isalpha(c) || c == '_' || c >= 0x80; };
  auto is_ident = [&](unsigned char c) { return is_ident_start(c) || std::isdigit(c); };
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (IsSpace(static_cast<char>(c))) {
      ++i;
      continue;
    }
    Token t;
    t.pos = i;
    if (is_ident_start(c)) {
      size_t j = i;
      while (j < text.size() && is_ident(static_cast<unsigned char>(text[j]))) ++j;
      t.kind = Tok::kIdent;
      t.text = std::string(text.substr(i, j - i));
      t.word = Lower(t.text);
      i = j;
    } else if (std::isdigit(c) || (c == '.' && i + 1 < text.size() &&
                                   std::isdigit(static_cast<unsigned char>(text[i + 1])))) {
      size_t j = i;
      bool is_float = false;
      while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
      if (j < text.size() && text[j] == '.') {
        is_float = true;
        ++j;
        while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
      }
      if (j < text.size() && (text[j] == 'e' || text[j] == 'E')) {
        size_t k = j + 1;
        if (k < text.size() && (text[k] == '+' || text[k] == '-')) ++k;
        if (k < text.size() && std::isdigit(static_cast<unsigned char>(text[k]))) {
          is_float = true;
          j = k;
          while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
        }
      }
      if (j < text.size() && is_ident(static_cast<unsigned char>(text[j])))
        return ErrorAt(text, j, fmt::format("unexpected character '{}' in a number", text[j]));
      t.kind = is_float ? Tok::kFloat : Tok::kInt;
      t.text = std::string(text.substr(i, j - i));
      i = j;
    } else if (c == '\'' || c == '"' || c == '`' || c == '[') {
      const char close = c == '[' ? ']' : static_cast<char>(c);
      size_t j = i + 1;
      std::string value;
      bool closed = false;
      while (j < text.size()) {
        if (text[j] == close) {
          if (close != ']' && j + 1 < text.size() && text[j + 1] == close) {
            value += close;
            j += 2;
            continue;
          }
          closed = true;
          ++j;
          break;
        }
        value += text[j++];
      }
      if (!closed)
        return ErrorAt(text, i,
                       c == '\'' || c == '"' ? "unterminated string" : "unterminated column name");
      t.kind = (c == '\'' || c == '"') ? Tok::kString : Tok::kQuotedIdent;
      if (t.kind == Tok::kQuotedIdent && value.empty())
        return ErrorAt(text, i, "empty column name");
      t.text = std::move(value);
      i = j;
    } else {
      static constexpr std::string_view kTwo[] = {"<=", ">=", "<>", "!=", "==", "||", "//"};
      std::string_view two = text.substr(i, 2);
      bool matched = false;
      for (auto op : kTwo)
        if (two == op) {
          t.text = std::string(op);
          matched = true;
        }
      if (!matched) {
        if (std::string_view("+-*/%=<>(),").find(static_cast<char>(c)) == std::string_view::npos) {
          size_t j = i + 1;
          while (j < text.size() && IsContinuation(static_cast<unsigned char>(text[j]))) ++j;
          return ErrorAt(text, i, fmt::format("unexpected character '{}'", text.substr(i, j - i)));
        }
        t.text = std::string(1, static_cast<char>(c));
      }
      t.kind = Tok::kOp;
      i += t.text.size();
    }
    out.push_back(std::move(t));
  }
  Token end;
  end.pos = text.size();
  out.push_back(end);
  return out;
}

}  // namespace alambic::expr_internal
