// Prints, as JSON, what the collect kind reads from one case of the CSV corpus:
//
//   alambic_csv_tool CORPUS_DIR NAME
//
// (tests/csv_corpus.h gives the shape). Used by tests/interop/csv_oracle.py.
#include <cstdio>
#include <iostream>

#include "tests/csv_corpus.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR NAME\n", argv[0]);
    return 2;
  }
  std::cout << alambic::testing::ReadCorpusCase(argv[1], argv[2]).dump() << "\n";
  return 0;
}
