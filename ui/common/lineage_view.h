// Terminal and Graphviz renderings of a lineage graph (catalog/lineage.h).
#pragma once

#include <string>

#include "catalog/lineage.h"

namespace alambic {

// A tree from the start node, one node per line; a node reached twice is
// printed once, then referred to. Untrusted names are escaped.
std::string LineageText(const LineageGraph& g);
// Graphviz, data flowing left to right; labels quoted and escaped.
std::string LineageDot(const LineageGraph& g);

}  // namespace alambic
