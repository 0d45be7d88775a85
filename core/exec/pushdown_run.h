// Which engine runs a recipe, and running it inside PostgreSQL (push-down).
//
// With a PostgreSQL store (core/store/pg_store.h), a recipe whose kind has an
// SQL translation (core/recipe/pushdown.h) runs as CREATE TABLE <staged> AS
// SELECT ... over its inputs' tables; any other recipe runs in the local
// engine, its inputs read from the database with COPY and its outputs written
// back with COPY ("local, data moved"). With a file store every recipe runs in
// the local engine. `plan --explain` shows the choice and its reason.
#pragma once

#include <string>
#include <vector>

#include "core/flow/flow.h"
#include "core/recipe/recipe.h"
#include "core/store/store.h"

namespace alambic {

enum class Engine { kLocal, kPushdown, kLocalMoved };

struct EngineChoice {
  Engine engine = Engine::kLocal;
  std::string why;  // "" for a file store
};

// "local", "postgres push-down" or "local, data moved".
const char* EngineName(Engine e);

// The engine of `recipe` in an environment with `store` (pure: no database access).
EngineChoice ChooseEngine(const DatasetStore& store, const RecipeRegistry& kinds,
                          const RecipeSpec& recipe);

// The output a pushed-down recipe staged.
struct PushedOutput {
  DatasetStore::Staged staged;
  int64_t rows = 0;
  Schema schema;
};

// Runs `recipe` inside the store's database (ChooseEngine said kPushdown).
// An error when the translation or the database refused it: the caller then
// runs the recipe in the local engine.
Result<PushedOutput> RunPushdown(const DatasetStore& store, const RecipeRegistry& kinds,
                                 const RecipeSpec& recipe,
                                 const std::vector<std::string>& input_versions,
                                 const std::string& output_version);

}  // namespace alambic
