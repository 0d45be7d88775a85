// Placeholder until the CSV collect kind lands.
#include "recipes/recipe.h"
namespace alambic {
void RegisterCollectKind(RecipeRegistry&) {}
}  // namespace alambic
