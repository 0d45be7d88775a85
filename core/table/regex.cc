#include "core/table/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <fmt/format.h>

#include <algorithm>
#include <new>

namespace alambic {

namespace {

// The compile options every pattern gets (see regex.h).
constexpr uint32_t kCompileOptions =
    PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY;
constexpr size_t kJitStackStart = size_t{32} << 10;

std::string ErrorText(int code) {
  PCRE2_UCHAR buf[256];
  const int n = pcre2_get_error_message(code, buf, sizeof buf);
  if (n < 0) return fmt::format("PCRE2 error {}", code);
  return std::string(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

// Bytes of the UTF-8 sequence that starts with `lead` (1 for a stray byte).
size_t SequenceLength(unsigned char lead) {
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  if (lead >= 0xE0) return lead <= 0xEF ? 3 : 1;
  if (lead >= 0xC2) return 2;
  return 1;
}

}  // namespace

Result<std::shared_ptr<const Regex>> Regex::Compile(std::string_view pattern) {
  int code = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* compiled = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                       kCompileOptions, &code, &offset, nullptr);
  if (!compiled)
    return Status::Invalid(fmt::format("invalid regular expression '{}' at offset {}: {}", pattern,
                                       offset, ErrorText(code)));
  std::shared_ptr<Regex> re(new Regex());
  re->pattern_ = std::string(pattern);
  re->code_ = compiled;
  uint32_t groups = 0;
  pcre2_pattern_info(compiled, PCRE2_INFO_CAPTURECOUNT, &groups);
  re->groups_ = groups;
  // Without JIT support (or when the JIT cannot take the pattern) the
  // interpreter matches, under the same limits.
  re->jit_ = pcre2_jit_compile(compiled, PCRE2_JIT_COMPLETE) == 0;
  return std::shared_ptr<const Regex>(std::move(re));
}

Regex::~Regex() { pcre2_code_free(code_); }

struct Regex::Matcher::State {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* stack = nullptr;
  ~State() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
  }
};

Regex::Matcher::Matcher(const Regex& re) : re_(re), state_(std::make_unique<State>()) {
  state_->data = pcre2_match_data_create_from_pattern(re.code_, nullptr);
  state_->context = pcre2_match_context_create(nullptr);
  if (!state_->data || !state_->context) throw std::bad_alloc();
  pcre2_set_match_limit(state_->context, kMatchLimit);
  pcre2_set_depth_limit(state_->context, kDepthLimit);
  pcre2_set_heap_limit(state_->context, kHeapLimitKiB);
  if (re.jit_) {
    state_->stack = pcre2_jit_stack_create(kJitStackStart, kJitStackMax, nullptr);
    if (!state_->stack) throw std::bad_alloc();
    pcre2_jit_stack_assign(state_->context, nullptr, state_->stack);
  }
}

Regex::Matcher::~Matcher() = default;

Result<bool> Regex::Matcher::Match(std::string_view s, size_t start, uint32_t options) {
  const int rc = pcre2_match(re_.code_, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), start,
                             options, state_->data, state_->context);
  if (rc >= 0) return true;
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  std::string hint;
  if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT ||
      rc == PCRE2_ERROR_JIT_STACKLIMIT)
    hint =
        " (the pattern backtracks too much on this value: nested quantifiers such as (a+)+, or "
        "a repeated group over a very long value)";
  return Status::Invalid(
      fmt::format("the regular expression '{}': {}{}", re_.pattern_, ErrorText(rc), hint));
}

Result<bool> Regex::Matcher::Search(std::string_view s, size_t start) { return Match(s, start, 0); }

std::optional<std::string_view> Regex::Matcher::Group(std::string_view s, size_t k) const {
  if (k > re_.groups_) return std::nullopt;
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(state_->data);
  if (ov[2 * k] == PCRE2_UNSET) return std::nullopt;
  return s.substr(ov[2 * k], ov[2 * k + 1] - ov[2 * k]);
}

Status Regex::Matcher::ReplaceAll(std::string_view s, const RegexReplacement& with,
                                  std::string* out) {
  size_t copied = 0, pos = 0;
  uint32_t options = 0;
  while (pos <= s.size()) {
    ALAMBIC_ASSIGN_OR_RETURN(bool found, Match(s, pos, options));
    if (!found) {
      if (options == 0) break;
      // No non-empty match where the last empty one was: move one character on.
      if (pos == s.size()) break;
      pos += SequenceLength(static_cast<unsigned char>(s[pos]));
      options = 0;
      continue;
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(state_->data);
    const size_t begin = ov[0], end = ov[1];
    out->append(s.substr(copied, begin - copied));
    for (const auto& part : with.parts_) {
      if (part.group == RegexReplacement::kLiteral) {
        out->append(part.literal);
      } else if (part.group == RegexReplacement::kBefore) {
        out->append(s.substr(0, begin));
      } else if (part.group == RegexReplacement::kAfter) {
        out->append(s.substr(end));
      } else if (auto g = Group(s, static_cast<size_t>(part.group))) {
        out->append(*g);
      }
    }
    copied = pos = end;
    options = begin == end ? PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED : 0;
  }
  out->append(s.substr(copied));
  return Status::Ok();
}

Result<RegexReplacement> RegexReplacement::Parse(std::string_view with, const Regex& re) {
  RegexReplacement r;
  auto literal = [&](std::string_view text) {
    if (r.parts_.empty() || r.parts_.back().group != kLiteral) r.parts_.push_back({});
    r.parts_.back().literal.append(text);
  };
  auto group = [&](size_t g) -> Status {
    if (g > re.groups())
      return Status::Invalid(
          fmt::format("group {} does not exist: the pattern has {} group(s)", g, re.groups()));
    r.parts_.push_back({"", static_cast<int>(g)});
    return Status::Ok();
  };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  for (size_t i = 0; i < with.size(); ++i) {
    if (with[i] != '$' || i + 1 == with.size()) {
      literal(with.substr(i, 1));
      continue;
    }
    const char c = with[i + 1];
    if (c == '$') {
      literal("$");
      ++i;
    } else if (c == '&') {
      r.parts_.push_back({"", 0});
      ++i;
    } else if (c == '`' || c == '\'') {
      r.parts_.push_back({"", c == '`' ? kBefore : kAfter});
      ++i;
    } else if (digit(c)) {
      size_t g = static_cast<size_t>(c - '0'), used = 1;
      if (i + 2 < with.size() && digit(with[i + 2])) {
        const size_t two = g * 10 + static_cast<size_t>(with[i + 2] - '0');
        if (two <= re.groups()) g = two, used = 2;
      }
      ALAMBIC_RETURN_IF_ERROR(group(g));
      i += used;
    } else if (c == '{') {
      const size_t close = with.find('}', i + 2);
      const std::string_view inside =
          close == std::string_view::npos ? "" : with.substr(i + 2, close - i - 2);
      if (inside.empty() || inside.size() > 4 ||
          !std::all_of(inside.begin(), inside.end(), digit)) {
        literal("$");
        continue;
      }
      ALAMBIC_RETURN_IF_ERROR(group(std::stoul(std::string(inside))));
      i = close;
    } else {
      literal("$");
    }
  }
  return r;
}

}  // namespace alambic
