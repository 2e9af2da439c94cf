// main returns the status given as its first argument (default 0): drun must exit with it.
#include <cstdlib>

#include <drust/runtime>

int main(int argc, char** argv) { return argc > 1 ? std::atoi(argv[1]) : 0; }
