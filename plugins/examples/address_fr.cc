// Example plugin `address_fr`: normalises French postal addresses.
//
// kind address_fr: reads the address text in `column` and adds
//   <prefix>street    upper case, accents stripped, punctuation removed,
//                     abbreviations expanded (BD -> BOULEVARD, AV -> AVENUE, R -> RUE, ...)
//   <prefix>postcode  the first five-digit group (null when none)
//   <prefix>commune   what follows the postcode (null when none)
// Deterministic; nulls stay null.
#include <cctype>
#include <map>
#include <string>
#include <vector>

#include "alambic_plugin_helpers.h"

namespace {

using alambic_plugin::InputTable;
using alambic_plugin::TableBuilder;

// U+00C0..U+00FF without their accents ('?' : no plain letter).
constexpr char kLatin1Plain[] =
    "AAAAAAACEEEEIIII"
    "DNOOOOO?OUUUUYTS"
    "AAAAAAACEEEEIIII"
    "DNOOOOO?OUUUUYTY";

// Upper case, ASCII letters and digits only; anything else becomes a space.
std::string Fold(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    const auto next = i + 1 < s.size() ? static_cast<unsigned char>(s[i + 1]) : 0;
    if (c < 0x80) {
      out += std::isalnum(c) ? static_cast<char>(std::toupper(c)) : ' ';
      continue;
    }
    if (c == 0xC3 && (next & 0xC0) == 0x80) {  // U+00C0..U+00FF
      const unsigned cp = 0xC0 + (next & 0x3F);
      if (cp == 0xC6 || cp == 0xE6)
        out += "AE";
      else
        out += kLatin1Plain[cp - 0xC0] == '?' ? ' ' : kLatin1Plain[cp - 0xC0];
    } else if (c == 0xC5 && (next == 0x92 || next == 0x93)) {
      out += "OE";  // Œ œ
    } else {
      out += ' ';
    }
    while (i + 1 < s.size() && (static_cast<unsigned char>(s[i + 1]) & 0xC0) == 0x80) ++i;
  }
  return out;
}

const std::map<std::string, std::string>& Abbreviations() {
  static const std::map<std::string, std::string> k = {
      {"ALL", "ALLEE"},      {"AV", "AVENUE"},   {"AVE", "AVENUE"},      {"BD", "BOULEVARD"},
      {"BLVD", "BOULEVARD"}, {"CHE", "CHEMIN"},  {"CH", "CHEMIN"},       {"CRS", "COURS"},
      {"FBG", "FAUBOURG"},   {"IMP", "IMPASSE"}, {"LOT", "LOTISSEMENT"}, {"PL", "PLACE"},
      {"QU", "QUAI"},        {"R", "RUE"},       {"RTE", "ROUTE"},       {"SQ", "SQUARE"},
      {"ST", "SAINT"},       {"STE", "SAINTE"},  {"BIS", "BIS"},         {"PASS", "PASSAGE"}};
  return k;
}

struct Address {
  std::string street, postcode, commune;
};

Address Normalise(std::string_view text) {
  std::vector<std::string> words;
  std::string cur;
  for (char c : Fold(text) + " ") {
    if (c == ' ') {
      if (!cur.empty()) words.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  Address a;
  size_t post = words.size();
  for (size_t i = 0; i < words.size(); ++i)
    if (words[i].size() == 5 && words[i].find_first_not_of("0123456789") == std::string::npos &&
        i > 0) {
      post = i;
      break;
    }
  for (size_t i = 0; i < post; ++i) {
    auto it = Abbreviations().find(words[i]);
    // A one-letter abbreviation only counts right after the street number.
    const bool expand =
        it != Abbreviations().end() &&
        (words[i].size() > 1 ||
         (i > 0 && std::isdigit(static_cast<unsigned char>(words[i - 1][0]))) || i == 0);
    a.street += (a.street.empty() ? "" : " ") + (expand ? it->second : words[i]);
  }
  if (post < words.size()) {
    a.postcode = words[post];
    for (size_t i = post + 1; i < words.size(); ++i)
      a.commune += (a.commune.empty() ? "" : " ") + words[i];
  }
  return a;
}

int32_t RunAddress(const AlambicRecipeCall* call, ArrowSchema* out_schemas, ArrowArray* out_arrays,
                   char* error, size_t error_size) {
  const InputTable in(call->input_schemas[0], call->input_arrays[0]);
  const std::string column = alambic_plugin::ParamString(call->params_json, "column");
  const std::string prefix = alambic_plugin::ParamString(call->params_json, "prefix", "adr_");
  const int64_t ac = in.find(column);
  if (ac < 0) return alambic_plugin::Fail(error, error_size, "no column '" + column + "'");
  if (in.format(ac) != "u")
    return alambic_plugin::Fail(error, error_size, "column '" + column + "' must be utf8");
  TableBuilder out;
  std::vector<int> copies;
  for (int64_t c = 0; c < in.columns(); ++c)
    copies.push_back(out.add_column(in.name(c), alambic_plugin::CopyFormat(in, c)));
  const int os = out.add_column(prefix + "street", "u"),
            op = out.add_column(prefix + "postcode", "u"),
            oc = out.add_column(prefix + "commune", "u");
  for (int64_t r = 0; r < in.rows(); ++r) {
    for (int64_t c = 0; c < in.columns(); ++c)
      in.copy_to(out, copies[static_cast<size_t>(c)], c, r);
    if (in.is_null(ac, r)) {
      out.append_null(os);
      out.append_null(op);
      out.append_null(oc);
      continue;
    }
    const Address a = Normalise(in.utf8(ac, r));
    out.append_utf8(os, a.street);
    a.postcode.empty() ? out.append_null(op) : out.append_utf8(op, a.postcode);
    a.commune.empty() ? out.append_null(oc) : out.append_utf8(oc, a.commune);
    if (call->host && call->host->progress && r % 100000 == 0)
      call->host->progress(call->host->host_data, r);
  }
  out.finish(&out_schemas[0], &out_arrays[0]);
  return 0;
}

const AlambicParam kParams[] = {
    {"column", ALAMBIC_PARAM_STRING, 1, nullptr, "utf8 column holding the address"},
    {"prefix", ALAMBIC_PARAM_STRING, 0, "\"adr_\"", "prefix of the added columns"},
};
const char* const kInputs[] = {"addresses"};
const char* const kOutputs[] = {"normalised"};
const AlambicKind kKinds[] = {{"address_fr", "normalise French postal addresses", kParams, 2,
                               kInputs, 1, kOutputs, 1, RunAddress}};
const AlambicPlugin kPlugin = {ALAMBIC_PLUGIN_HEADER, "address_fr", "1.0.0", kKinds, 1};

}  // namespace

extern "C" ALAMBIC_PLUGIN_EXPORT const AlambicPlugin* alambic_plugin_entry(void) {
  return &kPlugin;
}
