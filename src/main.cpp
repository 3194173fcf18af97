// The only main(): everything else is in run_cli (so tests can call it in-process).
#include "cli.h"

int main(int argc, char** argv) { return gpt::run_cli(argc, argv); }
