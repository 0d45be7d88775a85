// The built-in kinds register themselves from recipes/ into a registry the
// caller owns; a duplicate kind name is an error, never ignored.
#include "recipes/builtin_kinds.h"

#include <gtest/gtest.h>

#include "core/recipe/recipe.h"

namespace alambic::builtin_kinds_test {
namespace {

class NamedKind final : public RecipeKind {
 public:
  explicit NamedKind(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  const std::vector<ParamSpec>& params() const override { return params_; }
  Result<RecipeOutput> Run(RecipeContext&) const override { return RecipeOutput{}; }

 private:
  std::string name_;
  std::vector<ParamSpec> params_;
};

TEST(RecipeRegistryTest, TheEngineHasNoDefaultKinds) {
  RecipeRegistry empty;
  EXPECT_TRUE(empty.Names().empty());
  EXPECT_EQ(empty.Find("sql"), nullptr);
  RecipeRegistry r;
  ASSERT_TRUE(RegisterBuiltinKinds(r).ok());
  EXPECT_EQ(r.Names(),
            (std::vector<std::string>{
                "check",   "clean",      "collect", "distinct", "evaluate", "export", "filter",
                "formula", "fuzzy_join", "group",   "join",     "lua",      "score",  "sort",
                "split",   "sql",        "stack",   "sync",     "top",      "train",  "window"}));
}

TEST(RecipeRegistryTest, ADuplicateKindNameStopsTheRegistration) {
  RecipeRegistry r;
  ASSERT_TRUE(r.Register(std::make_unique<NamedKind>("sql")).ok());
  Status st = RegisterBuiltinKinds(r);
  EXPECT_EQ(st.code(), StatusCode::kInvalid);
  EXPECT_EQ(st.message(), "recipe kind 'sql' is already registered");
  // The kind registered first stays.
  EXPECT_NE(dynamic_cast<const NamedKind*>(r.Find("sql")), nullptr);

  RecipeRegistry twice;
  ASSERT_TRUE(RegisterBuiltinKinds(twice).ok());
  EXPECT_EQ(RegisterBuiltinKinds(twice).message(), "recipe kind 'collect' is already registered");
  EXPECT_EQ(RegisterSortKinds(twice).message(), "recipe kind 'sort' is already registered");
}

}  // namespace
}  // namespace alambic::builtin_kinds_test
