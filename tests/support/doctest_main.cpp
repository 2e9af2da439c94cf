// doctest's own main, for the tests that need nothing before their cases run.
#include <doctest/doctest.h>

int main(int argc, char** argv) { return doctest::Context(argc, argv).run(); }
