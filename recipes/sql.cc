// Placeholder until the sql kind lands.
#include "recipes/recipe.h"
namespace alambic {
void RegisterSqlKind(RecipeRegistry&) {}
}  // namespace alambic
