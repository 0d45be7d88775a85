// Secrets: keys and passwords that flows name but never hold.
//
// A flow refers to a secret as "secret:NAME"; the workspace's alambic.yaml says
// where its value lives, never the value itself:
//
//   secrets:
//     pseudo_key: {env: ALAMBIC_PSEUDO_KEY}        # an environment variable
//     db_password: {file: /etc/alambic/db_pass}    # a file kept outside git
//
// An environment may override a secret of the same name (its entry wins in
// that environment; "" or an environment without one: the top-level entry):
//
//   environments:
//     warehouse:
//       secrets: {pseudo_key: {env: ALAMBIC_WAREHOUSE_PSEUDO_KEY}}
//
// The workspace loader reads these entries once, with the rest of alambic.yaml,
// into a SecretsConfig; secrets resolve from it. A relative `file` is resolved
// against the secrets root (the workspace whose .alambic/ holds the state; by
// default the workspace root). A secret file must
// be private: one that grants any access to group or others, or that git tracks
// (in the index of the repository whose work tree holds it), is refused. One
// trailing line break of a file is dropped. An empty value is an error.
//
// Contract: error messages name the secret (and the variable or file it is read
// from) but never contain its value. Callers must not log a value, put it in
// metrics or in anything hashed into a version; KeyId() gives a fingerprint
// that may be shown and stored instead. All functions are reentrant.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "core/base/status.h"

namespace alambic {

inline constexpr std::string_view kSecretPrefix = "secret:";

// Whether a git repository tracks a file (core/vcs/git_paths.h's GitTracksPath
// in the engine; core/base does not call git itself). Secret files it says are
// tracked are refused; an empty function refuses every secret file.
using TrackedByGit = std::function<Result<bool>(const std::filesystem::path&)>;

// True when `s` has the form "secret:NAME" with a non-empty NAME.
bool IsSecretRef(std::string_view s);

// Where the value of one secret lives, as alambic.yaml declares it: exactly one
// of `env_var` and `file` is set, or `error` says why the entry is malformed
// and where ("alambic.yaml:12:7: secret 'k' must be {env: VARIABLE} or {file:
// PATH}"). A malformed entry is an error only when the secret is resolved.
struct SecretSource {
  std::string env_var;  // an environment variable, or
  std::string file;     // a file (relative: to the secrets root)
  std::string error;    // "": well formed
};

// The `secrets:` of alambic.yaml, filled by the workspace loader
// (core/flow/loader.h) from its one reading of the file, or built in memory.
struct SecretsConfig {
  std::map<std::string, SecretSource> secrets;  // top level, by name
  // Each environment's own `environments.<env>.secrets`, by environment then name.
  std::map<std::string, std::map<std::string, SecretSource>> environments;
};

// The value of the secret `ref` ("secret:NAME") declared in `config`, for
// `environment` ("": the top-level entry only). Relative files resolve against
// `secrets_root`. Invalid for a malformed reference, an undeclared secret, a
// malformed entry or a file readable by group or others or tracked by git (as
// `tracked_by_git` tells); NotFound for an unset variable or a missing file;
// IoError for an unreadable file.
Result<std::string> ResolveSecret(const SecretsConfig& config, const std::string& ref,
                                  const std::string& environment,
                                  const std::filesystem::path& secrets_root,
                                  const TrackedByGit& tracked_by_git);

// ResolveSecret() for a key each environment must hold on its own (a
// pseudonymisation key): in an environment other than `default_environment`
// (the workspace's), Invalid when the value is the one the default environment
// resolves for the same secret ("secret pseudo_key: the warehouse uses the
// datalab's key; give the warehouse its own key
// (environments.warehouse.secrets.pseudo_key)"). No check when the default
// environment's value cannot be resolved here. Values are compared through
// their KeyId()s and never shown.
Result<std::string> ResolveEnvironmentKey(const SecretsConfig& config, const std::string& ref,
                                          const std::string& environment,
                                          const std::string& default_environment,
                                          const std::filesystem::path& secrets_root,
                                          const TrackedByGit& tracked_by_git);

// A public fingerprint of a key: the first 16 hex digits of
// HMAC-SHA256(key, "alambic-key-id") (core/base/hmac.h). Changes when the key changes; does not
// reveal it.
std::string KeyId(std::string_view key);

}  // namespace alambic
