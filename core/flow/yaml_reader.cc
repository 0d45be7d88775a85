#include "core/flow/yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <memory>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "core/table/decode.h"

namespace alambic {

namespace {

// ---- The fast reader ------------------------------------------------------------

// Reads the YAML that flow files are made of, exactly as yaml-cpp 0.7 reads it:
//   - a root block mapping at column 1; block mappings and block sequences
//     (including "indentless" sequences under a key, and compact mappings in a
//     sequence item), with any consistent indentation;
//   - one-line flow mappings and sequences, nested;
//   - one-line plain, single-quoted and double-quoted scalars (simple escapes);
//   - comments and blank lines; empty values (null).
// Anything else (anchors, aliases, tags, block scalars, multi-line scalars or
// flow collections, directives, several documents, tabs, CR, control
// characters, invalid UTF-8, keys that are not simple) makes Parse() return -1,
// and the caller uses yaml-cpp, which also reports every syntax error. The
// reader never guesses: what it accepts, it reads the way yaml-cpp does
// (checked by differential tests against yaml-cpp).
class FastYamlReader {
 public:
  FastYamlReader(std::string_view text, YTree* tree) : s_(text), t_(tree) {}

  // The root's index, or -1 when the text is outside the subset.
  int Parse() {
    if (!CharactersAllowed()) return -1;
    t_->Reserve(s_.size() / 4 + 16);
    SkipBlank();
    if (failed_ || AtEnd() || Column() != 0) return -1;
    int root = BlockMap(0, 0);
    if (failed_ || root < 0) return -1;
    if (!AtEnd()) return -1;  // BlockMap(0) only stops at the end
    return root;
  }

 private:
  static constexpr int kMaxDepth = 64;
  static constexpr size_t kMaxKeyLength = 1000;  // yaml-cpp's simple keys are shorter than 1024

  // Bytes the subset allows: printable ASCII, space, newline, and valid UTF-8
  // that is neither a C1 control, a byte order mark nor a line/paragraph separator.
  bool CharactersAllowed() const {
    const auto* b = reinterpret_cast<const unsigned char*>(s_.data());
    const size_t n = s_.size();
    for (size_t i = 0; i < n;) {
      unsigned char c = b[i];
      if (c < 0x80) {
        if ((c < 0x20 && c != '\n') || c == 0x7f) return false;
        ++i;
        continue;
      }
      size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
      if (len == 0 || c > 0xf4 || i + len > n) return false;
      uint32_t cp = c & (0x3f >> (len - 1));
      for (size_t k = 1; k < len; ++k) {
        if ((b[i + k] & 0xc0) != 0x80) return false;
        cp = (cp << 6) | (b[i + k] & 0x3f);
      }
      if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
          (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f) || cp == 0xfeff ||
          cp == 0x2028 || cp == 0x2029)
        return false;
      i += len;
    }
    return true;
  }

  bool AtEnd() const { return p_ >= s_.size(); }
  char Peek(size_t k = 0) const { return p_ + k < s_.size() ? s_[p_ + k] : '\0'; }
  int Column() const { return static_cast<int>(p_ - line_start_); }  // 0-based
  // Whether the byte at p_ + k ends a token: a space, a line break or the end.
  bool BreakOrSpaceAt(size_t k) const {
    return p_ + k >= s_.size() || s_[p_ + k] == ' ' || s_[p_ + k] == '\n';
  }
  int Fail() {
    failed_ = true;
    return -1;
  }
  YNode Here(YNode::Type type) const {
    YNode n;
    n.type = type;
    n.line = line_;
    n.column = Column() + 1;
    return n;
  }
  // A null node marked where the next token starts (yaml-cpp marks an empty
  // value there).
  int NullHere() { return t_->Add(Here(YNode::Type::kNull)); }
  // The empty last value of the text, in a block collection at column `indent`:
  // yaml-cpp marks it with the token that closes that collection, made where
  // the last line's content ends when the collection is deeper than that (or
  // as deep, for a sequence), else at column 1.
  int NullAtEnd(int indent, bool in_sequence) {
    YNode n = Here(YNode::Type::kNull);
    const int end = Column();
    if (!(indent > end || (indent == end && in_sequence))) n.column = 1;
    return t_->Add(n);
  }

  void SkipSpaces() {
    while (p_ < s_.size() && s_[p_] == ' ') ++p_;
  }
  // At the end of the line's content: end of text, line break or a comment.
  bool AtLineEnd() const {
    return AtEnd() || s_[p_] == '\n' || (s_[p_] == '#' && (p_ == line_start_ || s_[p_ - 1] == ' '));
  }
  // Skips spaces, comments and line breaks up to the next token. A line that
  // starts with a document marker or a directive fails.
  void SkipBlank() {
    while (p_ < s_.size()) {
      char c = s_[p_];
      if (c == ' ') {
        ++p_;
      } else if (c == '\n') {
        ++p_;
        ++line_;
        line_start_ = p_;
      } else if (c == '#' && (p_ == line_start_ || s_[p_ - 1] == ' ')) {
        size_t eol = s_.find('\n', p_);
        p_ = eol == std::string_view::npos ? s_.size() : eol;
      } else {
        break;
      }
    }
    if (p_ == line_start_ && !AtEnd()) {
      std::string_view rest = s_.substr(p_, 3);
      if (rest == "---" || rest == "..." || Peek() == '%') failed_ = true;
    }
  }

  // Whether a plain scalar may start here ('-' only when glued to what follows).
  bool PlainStart(bool flow) const {
    char c = Peek();
    switch (c) {
      case '\0':
      case ' ':
      case '\n':
      case '?':
      case ':':
      case ',':
      case '[':
      case ']':
      case '{':
      case '}':
      case '#':
      case '&':
      case '*':
      case '!':
      case '|':
      case '>':
      case '\'':
      case '"':
      case '%':
      case '@':
      case '`':
        return false;
      case '-':
        if (BreakOrSpaceAt(1)) return false;
        if (flow && (Peek(1) == ',' || Peek(1) == ']' || Peek(1) == '}' || Peek(1) == '[' ||
                     Peek(1) == '{'))
          return false;
        return true;
      default:
        return true;
    }
  }
  bool AtSeqEntry() const { return Peek() == '-' && BreakOrSpaceAt(1); }

  enum class KeyScan { kKey, kNotKey, kUnsupported };
  // Whether the line from p_ is a simple key ("key:" followed by a space or the
  // end of line); on kKey, *colon is the position of its ':'.
  KeyScan ScanKey(size_t* colon) const {
    char c = Peek();
    if (c == '"' || c == '\'') {
      size_t q = p_ + 1;
      while (true) {
        if (q >= s_.size() || s_[q] == '\n') return KeyScan::kUnsupported;
        if (c == '"' && s_[q] == '\\') {
          q += 2;
          continue;
        }
        if (s_[q] == c) {
          if (c == '\'' && q + 1 < s_.size() && s_[q + 1] == '\'') {
            q += 2;
            continue;
          }
          break;
        }
        ++q;
      }
      ++q;
      while (q < s_.size() && s_[q] == ' ') ++q;
      if (q < s_.size() && s_[q] == ':') {
        if (q + 1 < s_.size() && s_[q + 1] != ' ' && s_[q + 1] != '\n')
          return KeyScan::kUnsupported;
        *colon = q;
        return KeyScan::kKey;
      }
      return KeyScan::kNotKey;
    }
    if (!PlainStart(false)) return KeyScan::kNotKey;
    bool inner_colon = false;
    for (size_t q = p_; q < s_.size(); ++q) {
      char x = s_[q];
      if (x == '\n') return KeyScan::kNotKey;
      if (x == '#' && s_[q - 1] == ' ') return KeyScan::kNotKey;
      if (x == ':') {
        if (q + 1 >= s_.size() || s_[q + 1] == ' ' || s_[q + 1] == '\n') {
          if (inner_colon || q - p_ > kMaxKeyLength) return KeyScan::kUnsupported;
          *colon = q;
          return KeyScan::kKey;
        }
        inner_colon = true;
      }
    }
    return KeyScan::kNotKey;
  }

  // A simple key and its ':'; the position is then just after the ':'.
  int Key() {
    size_t colon = 0;
    if (ScanKey(&colon) != KeyScan::kKey) return Fail();
    int key;
    if (Peek() == '"' || Peek() == '\'') {
      key = Quoted();
      if (key < 0) return -1;
    } else {
      YNode n = Here(YNode::Type::kScalar);
      std::string_view v = s_.substr(p_, colon - p_);
      while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
      if (v == "<<") return Fail();  // a merge key in other readers
      n.plain = true;
      n.scalar = v;
      if (IsNullScalar(v)) {
        n.type = YNode::Type::kNull;
        n.scalar = {};
      }
      key = t_->Add(n);
    }
    p_ = colon + 1;
    return key;
  }

  // A single- or double-quoted scalar on one line; the position is then after
  // the closing quote.
  int Quoted() {
    YNode n = Here(YNode::Type::kScalar);
    const char q = Peek();
    ++p_;
    const size_t start = p_;
    std::string buf;
    bool owned = false;
    while (true) {
      if (AtEnd() || s_[p_] == '\n') return Fail();
      char c = s_[p_];
      if (c == q) {
        if (q == '\'' && Peek(1) == '\'') {
          if (!owned) buf.assign(s_.substr(start, p_ - start));
          owned = true;
          buf += '\'';
          p_ += 2;
          continue;
        }
        break;
      }
      if (q == '"' && c == '\\') {
        char e = Peek(1);
        char out;
        switch (e) {
          case '\\':
            out = '\\';
            break;
          case '"':
            out = '"';
            break;
          case '/':
            out = '/';
            break;
          case 'n':
            out = '\n';
            break;
          case 't':
            out = '\t';
            break;
          case 'r':
            out = '\r';
            break;
          default:
            return Fail();  // other escapes are left to yaml-cpp
        }
        if (!owned) buf.assign(s_.substr(start, p_ - start));
        owned = true;
        buf += out;
        p_ += 2;
        continue;
      }
      if (owned) buf += c;
      ++p_;
    }
    n.scalar = owned ? t_->Own(std::move(buf)) : s_.substr(start, p_ - start);
    ++p_;  // the closing quote
    return t_->Add(n);
  }

  // A plain scalar in block context, up to the end of the line or a comment.
  int PlainBlock() {
    YNode n = Here(YNode::Type::kScalar);
    const size_t start = p_;
    while (!AtEnd()) {
      char c = s_[p_];
      if (c == '\n' || (c == '#' && s_[p_ - 1] == ' ')) break;
      if (c == ':' && BreakOrSpaceAt(1)) return Fail();  // a key or "a: b: c"
      ++p_;
    }
    std::string_view v = s_.substr(start, p_ - start);
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    n.plain = true;
    n.scalar = v;
    if (IsNullScalar(v)) {
      n.type = YNode::Type::kNull;
      n.scalar = {};
    }
    return t_->Add(n);
  }

  // A plain scalar in a flow collection. As a key it must end with ": ".
  int PlainFlow(bool key) {
    YNode n = Here(YNode::Type::kScalar);
    if (!PlainStart(true)) return Fail();
    const size_t start = p_;
    while (true) {
      if (AtEnd()) return Fail();
      char c = s_[p_];
      if (c == ',' || c == ']' || c == '}') break;
      if (c == ':') {
        if (key && Peek(1) == ' ') break;
        return Fail();
      }
      if (c == '\n' || c == '?' || c == '[' || c == '{' || (c == '#' && s_[p_ - 1] == ' '))
        return Fail();
      ++p_;
    }
    std::string_view v = s_.substr(start, p_ - start);
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    if (key && Peek() != ':') return Fail();
    n.plain = true;
    n.scalar = v;
    if (IsNullScalar(v)) {
      n.type = YNode::Type::kNull;
      n.scalar = {};
    }
    return t_->Add(n);
  }

  // A node inside a flow collection.
  int FlowNode(int depth) {
    char c = Peek();
    if (c == '{') return FlowMap(depth + 1);
    if (c == '[') return FlowSeq(depth + 1);
    if (c == '"' || c == '\'') return Quoted();
    return PlainFlow(false);
  }

  // "{k: v, ...}" on one line; the position is then after the '}'.
  int FlowMap(int depth) {
    if (depth > kMaxDepth) return Fail();
    int map = t_->Add(Here(YNode::Type::kMap));
    int last = -1;
    ++p_;
    SkipSpaces();
    if (Peek() == '}') {
      ++p_;
      return map;
    }
    while (true) {
      char c = Peek();
      int key = (c == '"' || c == '\'') ? Quoted() : PlainFlow(true);
      if (key < 0) return Fail();
      SkipSpaces();
      if (Peek() != ':' || Peek(1) != ' ') return Fail();
      ++p_;
      SkipSpaces();
      c = Peek();
      if (c == ',' || c == '}' || c == '\n' || AtEnd()) return Fail();  // empty value
      int value = FlowNode(depth);
      if (value < 0) return Fail();
      t_->Append(map, &last, key);
      t_->Append(map, &last, value);
      SkipSpaces();
      if (Peek() == ',') {
        ++p_;
        SkipSpaces();
        if (Peek() == '}') return Fail();  // a trailing comma
        continue;
      }
      if (Peek() == '}') {
        ++p_;
        return map;
      }
      return Fail();
    }
  }

  // "[a, b, ...]" on one line; the position is then after the ']'.
  int FlowSeq(int depth) {
    if (depth > kMaxDepth) return Fail();
    int seq = t_->Add(Here(YNode::Type::kSequence));
    int last = -1;
    ++p_;
    SkipSpaces();
    if (Peek() == ']') {
      ++p_;
      return seq;
    }
    while (true) {
      char c = Peek();
      if (c == ',' || c == ']' || c == '\n' || AtEnd()) return Fail();
      int item = FlowNode(depth);
      if (item < 0) return Fail();
      t_->Append(seq, &last, item);
      SkipSpaces();
      if (Peek() == ',') {
        ++p_;
        SkipSpaces();
        if (Peek() == ']') return Fail();  // a trailing comma
        continue;
      }
      if (Peek() == ']') {
        ++p_;
        return seq;
      }
      return Fail();
    }
  }

  // A node that starts on the current line (not a block collection); then the
  // rest of the line must be empty, and the position moves to the next token.
  int InlineNode(int depth) {
    char c = Peek();
    int n;
    if (c == '{') {
      n = FlowMap(depth + 1);
    } else if (c == '[') {
      n = FlowSeq(depth + 1);
    } else if (c == '"' || c == '\'') {
      n = Quoted();
    } else if (PlainStart(false)) {
      n = PlainBlock();
    } else {
      return Fail();
    }
    if (n < 0) return Fail();
    SkipSpaces();
    if (!AtLineEnd()) return Fail();
    SkipBlank();
    return n;
  }

  // The node on the lines after "key:" or "-" with nothing after it, at a
  // column greater than `indent` (or equal, for a sequence under a key).
  int NodeBelow(int indent, bool under_key, int depth) {
    SkipBlank();
    if (failed_) return -1;
    if (AtEnd()) return NullAtEnd(indent, !under_key);
    const int col = Column();
    if (col > indent || (under_key && col == indent && AtSeqEntry())) {
      if (AtSeqEntry()) return BlockSeq(col, depth + 1);
      return BlockMap(col, depth + 1);
    }
    return NullHere();
  }

  // A block mapping whose keys are at column `indent` (0-based); the position
  // is at its first key, and ends at the first token after it.
  int BlockMap(int indent, int depth) {
    if (depth > kMaxDepth) return Fail();
    int map = t_->Add(Here(YNode::Type::kMap));
    int last = -1;
    while (true) {
      int key = Key();
      if (key < 0) return Fail();
      SkipSpaces();
      int value = AtLineEnd() ? NodeBelow(indent, true, depth) : InlineNode(depth);
      if (value < 0 || failed_) return Fail();
      t_->Append(map, &last, key);
      t_->Append(map, &last, value);
      if (AtEnd()) return map;
      const int col = Column();
      if (col < indent) return map;
      if (col > indent) return Fail();
    }
  }

  // A block sequence whose '-' are at column `indent`; the position is at the
  // first '-', and ends at the first token after it.
  int BlockSeq(int indent, int depth) {
    if (depth > kMaxDepth) return Fail();
    int seq = t_->Add(Here(YNode::Type::kSequence));
    int last = -1;
    while (true) {
      ++p_;  // the '-'
      SkipSpaces();
      int item;
      if (AtLineEnd()) {
        item = NodeBelow(indent, false, depth);
      } else if (AtSeqEntry()) {
        return Fail();  // "- - a"
      } else {
        size_t colon = 0;
        KeyScan k = ScanKey(&colon);
        if (k == KeyScan::kUnsupported) return Fail();
        item = k == KeyScan::kKey ? BlockMap(Column(), depth + 1) : InlineNode(depth);
      }
      if (item < 0 || failed_) return Fail();
      t_->Append(seq, &last, item);
      if (AtEnd()) return seq;
      const int col = Column();
      if (col < indent) return seq;
      if (col > indent) return Fail();
      if (!AtSeqEntry()) return seq;  // a key after an indentless sequence
    }
  }

  std::string_view s_;
  YTree* t_;
  size_t p_ = 0;
  size_t line_start_ = 0;
  int line_ = 1;
  bool failed_ = false;
};

// ---- yaml-cpp to the tree ---------------------------------------------------------

// Converts yaml-cpp's node graph. Aliases are expanded; a graph that is too deep
// (an alias inside its own anchor) or too large (aliases of aliases) stops
// with `*too_big` set instead of recursing or allocating without end.
class YamlCppConverter {
 public:
  YamlCppConverter(YTree* t, size_t text_size) : t_(t), budget_(64 * text_size + 100000) {}
  bool too_big() const { return too_big_; }

  int Convert(const YAML::Node& n, int depth) {
    YNode y;
    const YAML::Mark m = n.Mark();
    if (!m.is_null()) {
      y.line = m.line + 1;
      y.column = m.column + 1;
    }
    if (depth > kMaxDepth || budget_ == 0) {
      too_big_ = true;
      return t_->Add(y);
    }
    --budget_;
    switch (n.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return t_->Add(y);
      case YAML::NodeType::Scalar:
        y.type = YNode::Type::kScalar;
        y.plain = n.Tag() == "?";
        y.scalar = t_->Own(n.Scalar());
        return t_->Add(y);
      case YAML::NodeType::Sequence: {
        y.type = YNode::Type::kSequence;
        int seq = t_->Add(y), last = -1;
        for (const auto& e : n) t_->Append(seq, &last, Convert(e, depth + 1));
        return seq;
      }
      case YAML::NodeType::Map: {
        y.type = YNode::Type::kMap;
        int map = t_->Add(y), last = -1;
        for (auto it = n.begin(); it != n.end(); ++it) {
          int k = Convert(it->first, depth + 1);
          int v = Convert(it->second, depth + 1);
          t_->Append(map, &last, k);
          t_->Append(map, &last, v);
        }
        return map;
      }
    }
    return t_->Add(y);
  }

 private:
  static constexpr int kMaxDepth = 2500;  // above yaml-cpp's own parsing limit
  YTree* t_;
  size_t budget_;
  bool too_big_ = false;
};

// After a YAML syntax error: the first block line indented at no level of the
// blocks around it (an indentation slip), as " (line N: 'key' is indented K
// spaces, but the keys around it are at A or B)", else "". Tabs, flow
// collections and block scalars are left to yaml-cpp's message.
std::string IndentationSlip(std::string_view text) {
  std::vector<int> levels;  // indents of the open blocks, increasing
  bool opens = true;        // the previous line opens a block (ends with ':' or is "- ")
  int line = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view l = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line;
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    const size_t first = l.find_first_not_of(' ');
    if (first == std::string_view::npos || l[first] == '#') continue;
    if (l[first] == '\t' || l.find('|') != std::string_view::npos ||
        l.find('>') != std::string_view::npos)
      return "";
    if (line == 1 && l.substr(0, 3) == "---") continue;
    // A flow collection over several lines: its lines have no block indentation.
    if (std::count(l.begin(), l.end(), '[') + std::count(l.begin(), l.end(), '{') !=
        std::count(l.begin(), l.end(), ']') + std::count(l.begin(), l.end(), '}'))
      return "";
    const int indent = static_cast<int>(first);
    std::string_view content = l.substr(first);
    if (const size_t hash = content.find(" #"); hash != std::string_view::npos)
      content = content.substr(0, hash);
    while (!content.empty() && content.back() == ' ') content.remove_suffix(1);
    std::string_view key = content;
    int key_indent = indent;
    while (key.substr(0, 2) == "- " || key == "-") {  // "- - a:" nests sequences
      key = key.size() > 2 ? key.substr(2) : std::string_view();
      key_indent += 2;
      while (!key.empty() && key[0] == ' ') key.remove_prefix(1), ++key_indent;
    }
    if (levels.empty() || indent > levels.back()) {
      if (!levels.empty() && !opens) {
        const std::string name(key.substr(0, key.find(':')));
        return fmt::format(
            " (line {}: '{}' is indented {} spaces, deeper than the line before, "
            "which opens no block)",
            line, name, indent);
      }
      levels.push_back(indent);
    } else {
      while (!levels.empty() && levels.back() > indent) levels.pop_back();
      if (levels.empty() || levels.back() != indent) {
        const std::string name(key.substr(0, key.find(':')));
        std::string around;
        if (!levels.empty()) around = std::to_string(levels.back());
        return fmt::format(
            " (line {}: '{}' is indented {} spaces, which matches no block around "
            "it{}{})",
            line, name, indent, around.empty() ? "" : "; the enclosing one is at ", around);
      }
    }
    if (key_indent != indent) levels.push_back(key_indent);
    opens = content.back() == ':' || content == "-";
  }
  return "";
}

void DumpNode(const YTree& t, int i, int depth, std::string* out) {
  const YNode& n = t[i];
  static constexpr const char* kTypes[] = {"null", "scalar", "seq", "map"};
  *out += fmt::format("{:{}}{}:{} {}", "", depth * 2, n.line, n.column,
                      kTypes[static_cast<int>(n.type)]);
  if (n.type == YNode::Type::kScalar)
    *out += fmt::format(" {} [{}]", n.plain ? "plain" : "tagged", n.scalar);
  *out += '\n';
  for (int c = n.first; c >= 0; c = t[c].next) DumpNode(t, c, depth + 1, out);
}

}  // namespace

int ReadYaml(const std::string& text, const std::string& file, YamlReader reader, YTree* tree,
             std::vector<Diagnostic>* diags) {
  if (auto not_utf8 = NotUtf8Diagnostic(text, file)) {
    diags->push_back(std::move(*not_utf8));
    return -1;
  }
  if (reader == YamlReader::kAuto) {
    int root = FastYamlReader(text, tree).Parse();
    if (root >= 0) return root;
    tree->Clear();
  }
  YAML::Node node;
  try {
    node = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    if (e.msg == YAML::ErrorMsg::BAD_FILE) {
      // yaml-cpp's depth guard (2000 levels) says "bad file", at a mark that
      // may be past the text: name the line that nests deepest instead.
      int line = 1, best_line = 1;
      size_t best = 0, opens = 0;
      for (size_t i = 0; i <= text.size(); ++i) {
        if (i == text.size() || text[i] == '\n') {
          if (opens > best) best = opens, best_line = line;
          opens = 0;
          ++line;
        } else if (text[i] == '[' || text[i] == '{' ||
                   (text[i] == '-' && i + 1 < text.size() && text[i + 1] == ' ')) {
          ++opens;
        }
      }
      diags->push_back({{file, best_line, 1}, "YAML nested too deeply (more than 2000 levels)"});
      return -1;
    }
    diags->push_back({{file, e.mark.line + 1, e.mark.column + 1}, e.msg + IndentationSlip(text)});
    return -1;
  }
  YamlCppConverter conv(tree, text.size());
  int root = conv.Convert(node, 0);
  if (conv.too_big())
    diags->push_back({{file, 1, 1}, "YAML too deeply nested or too large (an alias loop?)"});
  return root;
}

std::optional<std::string> DumpYamlTree(std::string_view text, YamlReader reader) {
  YTree tree;
  int root = -1;
  if (reader == YamlReader::kAuto) {
    root = FastYamlReader(text, &tree).Parse();
  } else {
    try {
      YAML::Node node = YAML::Load(std::string(text));
      YamlCppConverter conv(&tree, text.size());
      root = conv.Convert(node, 0);
    } catch (const YAML::Exception&) {
      root = -1;
    }
  }
  if (root < 0) return std::nullopt;
  std::string out;
  DumpNode(tree, root, 0, &out);
  return out;
}

}  // namespace alambic
