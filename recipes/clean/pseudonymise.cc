// The clean recipe (recipes/clean/kind.cc). The pseudonymise step: keyed HMAC-SHA256 of each cell
// (core/base/hmac.h), the key read through ResolveEnvironmentKey() and never shown.
#include <openssl/crypto.h>

#include <algorithm>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "core/base/hmac.h"
#include "core/base/secrets.h"
#include "core/flow/flow.h"
#include "core/vcs/git_paths.h"
#include "recipes/clean/step.h"

namespace alambic::clean {

namespace {

constexpr int kSha256HexDigits = 64;

constexpr int kMinPseudonymDigits = 8;

}  // namespace

Status CheckPseudonymise(const Step& s) {
  ALAMBIC_RETURN_IF_ERROR(Need(s, "key", &json::is_string, "a secret reference \"secret:NAME\""));
  // Never echo the value: it may be a literal key pasted by mistake.
  if (!IsSecretRef(s.Str("key")))
    return Status::Invalid(
        "option 'key' must be a secret reference \"secret:NAME\" declared in alambic.yaml, "
        "never a literal key");
  ALAMBIC_RETURN_IF_ERROR(Maybe(s, "length", &json::is_number_integer, "an integer"));
  int64_t len = s.Int("length", kSha256HexDigits);
  if (len < kMinPseudonymDigits || len > kSha256HexDigits)
    return Status::Invalid(fmt::format("option 'length' must be between {} and {} hex digits",
                                       kMinPseudonymDigits, kSha256HexDigits));
  return Status::Ok();
}

Status RunPseudonymise(const Step& s, const StepEnv& env, Work& w, Report& r) {
  const WorkspaceConfig& cfg = env.ctx.Config();
  auto key = ResolveEnvironmentKey(cfg.secrets, s.Str("key"), env.ctx.environment,
                                   cfg.default_environment, env.ctx.SecretsRoot(), GitTracksPath);
  if (!key.ok()) return env.Error(s, key.status().message());
  const std::string key_id = KeyId(*key);
  Hmac hmac(*key);
  OPENSSL_cleanse(key->data(), key->size());
  if (!hmac.ok()) return env.Error(s, "OpenSSL could not set up HMAC-SHA256");
  const size_t digits = static_cast<size_t>(s.Int("length", kSha256HexDigits));
  int64_t changed = 0;
  for (const auto& c : s.columns) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.Column(s, w, c));
    auto& wc = w.cols[static_cast<size_t>(i)];
    const Column& src = *wc.col;
    // Built in place rather than with a ColumnBuilder: every pseudonym has `digits`
    // characters, so the contents are reserved at once and never move.
    const auto n = static_cast<size_t>(src.length);
    auto col = std::make_shared<Column>();
    col->type = TypeId::kUtf8;
    col->length = src.length;
    col->offsets.reserve(n + 1);
    col->offsets.push_back(0);
    col->data.reserve(
        (n - static_cast<size_t>(std::clamp<int64_t>(src.null_count, 0, src.length))) * digits);
    std::string out, text;
    for (int64_t row = 0; row < src.length; ++row) {
      if (src.IsNull(row)) {
        if (col->validity.empty()) {  // the first null: every earlier row is valid
          col->validity.assign((n + 7) / 8, 0);
          for (int64_t k = 0; k < row; ++k)
            col->validity[static_cast<size_t>(k >> 3)] |= static_cast<uint8_t>(1u << (k & 7));
        }
        ++col->null_count;
        col->offsets.push_back(static_cast<int32_t>(col->data.size()));
        continue;
      }
      if (src.type != TypeId::kUtf8) text = FormatCell(src, row);
      out.clear();
      if (!hmac.Hex(src.type == TypeId::kUtf8 ? src.String(row) : std::string_view(text), digits,
                    &out))
        return env.Error(s, "OpenSSL HMAC-SHA256 failed");
      col->data.insert(col->data.end(), out.begin(), out.end());
      col->offsets.push_back(static_cast<int32_t>(col->data.size()));
      if (!col->validity.empty())
        col->validity[static_cast<size_t>(row >> 3)] |= static_cast<uint8_t>(1u << (row & 7));
      ++changed;
    }
    wc.col = std::move(col);
    wc.masked = true;
  }
  r["changed"] = changed;
  r["key_id"] = key_id;
  return Status::Ok();
}

}  // namespace alambic::clean
