// The clean recipe (recipes/clean/kind.cc). The pseudonymise step: keyed HMAC-SHA256 of each cell
// (core/base/hmac.h), the key read through ResolveEnvironmentKey() and never shown.
#include <openssl/crypto.h>

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
    ColumnBuilder b(TypeId::kUtf8);
    b.Reserve(src.length);
    std::string out, text;
    for (int64_t row = 0; row < src.length; ++row) {
      if (src.IsNull(row)) {
        b.AppendNull();
        continue;
      }
      if (src.type != TypeId::kUtf8) text = FormatCell(src, row);
      out.clear();
      if (!hmac.Hex(src.type == TypeId::kUtf8 ? src.String(row) : std::string_view(text), digits,
                    &out))
        return env.Error(s, "OpenSSL HMAC-SHA256 failed");
      b.AppendString(out);
      ++changed;
    }
    wc.col = b.Finish();
    wc.masked = true;
  }
  r["changed"] = changed;
  r["key_id"] = key_id;
  return Status::Ok();
}

}  // namespace alambic::clean
