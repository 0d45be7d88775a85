#include "core/recipe/recipe.h"

#include <fmt/format.h>

#include "core/base/hash.h"
#include "core/flow/flow.h"
#include "core/recipe/pushdown.h"

namespace alambic {

const char* ParamTypeName(ParamType t) {
  switch (t) {
    case ParamType::kString:
      return "a string";
    case ParamType::kInt:
      return "an integer";
    case ParamType::kNumber:
      return "a number";
    case ParamType::kBool:
      return "a boolean";
    case ParamType::kStringList:
      return "a list of strings";
    case ParamType::kMap:
      return "a mapping";
    case ParamType::kList:
      return "a list";
    case ParamType::kAny:
      return "any value";
  }
  return "?";
}

namespace {
bool IsWithin(const std::filesystem::path& p, const std::filesystem::path& root) {
  auto pi = p.begin();
  for (auto ri = root.begin(); ri != root.end(); ++ri, ++pi) {
    if (ri->empty()) continue;  // trailing slash
    if (pi == p.end() || *pi != *ri) return false;
  }
  return true;
}
}  // namespace

Result<std::filesystem::path> RecipeContext::ResolvePath(const std::string& p) const {
  namespace fs = std::filesystem;
  if (p.empty()) return Status::Invalid(fmt::format("recipe {}: empty path", recipe));
  fs::path candidate = fs::path(p).is_absolute() ? fs::path(p) : workspace / p;
  std::error_code ec;
  fs::path resolved = fs::weakly_canonical(candidate, ec);
  if (ec)
    return Status::IoError(
        fmt::format("recipe {}: cannot resolve path '{}': {}", recipe, p, ec.message()));
  fs::path ws = fs::weakly_canonical(workspace, ec);
  if (IsWithin(resolved, ws)) return resolved;
  for (const auto& root : data_roots) {
    fs::path r = fs::weakly_canonical(root, ec);
    if (!ec && IsWithin(resolved, r)) return resolved;
  }
  return Status::Invalid(fmt::format(
      "recipe {}: path '{}' is outside the workspace and the configured data roots", recipe, p));
}

const WorkspaceConfig& RecipeContext::Config() const {
  static const WorkspaceConfig kNone;
  return config ? *config : kNone;
}

Result<std::string> RecipeContext::HashFile(const std::filesystem::path& p) const {
  if (hash_file) return hash_file(p);
  return Sha256File(p);
}

Result<std::string> RecipeKind::SourceFingerprint(const RecipeContext& ctx) const {
  return Status::Internal(fmt::format("recipe {}: kind {} is not a source", ctx.recipe, name()));
}

RecipeRegistry::RecipeRegistry() = default;
RecipeRegistry::~RecipeRegistry() = default;
RecipeRegistry::RecipeRegistry(RecipeRegistry&&) noexcept = default;
RecipeRegistry& RecipeRegistry::operator=(RecipeRegistry&&) noexcept = default;
void RecipeRegistry::SetPushdown(std::unique_ptr<SqlPushdown> p) { pushdown_ = std::move(p); }

Status RecipeRegistry::Register(std::unique_ptr<RecipeKind> kind) {
  std::string n = kind->name();
  if (kinds_.count(n))
    return Status::Invalid(fmt::format("recipe kind '{}' is already registered", n));
  kinds_.emplace(std::move(n), std::move(kind));
  return Status::Ok();
}

const RecipeKind* RecipeRegistry::Find(const std::string& name) const {
  auto it = kinds_.find(name);
  return it == kinds_.end() ? nullptr : it->second.get();
}

std::vector<std::string> RecipeRegistry::Names() const {
  std::vector<std::string> out;
  for (const auto& [n, k] : kinds_) out.push_back(n);
  return out;
}

}  // namespace alambic
