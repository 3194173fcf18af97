// The command line: one table per subcommand (flags, defaults, help), a strict
// parser (unknown flag, missing or non-numeric value -> gpt::Error, exit 2) and
// the dispatcher main() calls. The subcommands themselves live in src/commands/.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gpt {

struct Flag {
  std::string name;     // without the leading "--"
  std::string metavar;  // "" for a switch (takes no value)
  std::string def;      // default as text; "" = none
  std::string help;     // says nothing of the default: --help adds "[default: def]"
  // A default that is no one value ("the run's --batch, else 8"): shown as [default: ...]
  // where def is "", never applied by the parser.
  std::string def_note = "";
};

struct Command {
  std::string name, summary, usage;
  std::vector<std::string> examples;
  std::vector<Flag> flags;
  std::string notes;  // free text after the flag list
};

const std::vector<Command>& all_commands();
const Command& find_command(const std::string& name);  // gpt::Error (2) if unknown
std::string help_text(const Command& cmd);
std::string main_help();

class Args {
 public:
  std::string command;
  std::map<std::string, std::string> given;  // flags present on the command line
  std::map<std::string, std::string> defaults;

  bool has(const std::string& name) const { return given.count(name) != 0; }
  std::string str(const std::string& name) const;  // given value or default
  // Strict numbers: the whole text must parse; otherwise gpt::Error (exit 2)
  // "--lr expects a number, got 'abc'".
  int integer(const std::string& name) const;
  double real(const std::string& name) const;
  // real() for a setting kept in single precision: one beyond its range (--lr 1e39, inf
  // in training) or below its smallest (5e-46, 0) is refused naming the flag.
  float single(const std::string& name) const;
  uint64_t u64(const std::string& name) const;
  std::string require(const std::string& name) const;  // gpt::Error (2) if missing
};

// argv excludes the program name and the subcommand. --help is reported via
// Args::given["help"].
Args parse_args(const Command& cmd, const std::vector<std::string>& argv);

// The whole CLI: dispatch, error printing, exit code. main() is just this.
int run_cli(int argc, char** argv);

// Subcommands (src/commands/*.cpp).
int cmd_prepare(const Args& a);
int cmd_train(const Args& a);
int cmd_sample(const Args& a);
int cmd_tokenize(const Args& a);
int cmd_gradcheck(const Args& a);
int cmd_attention(const Args& a);
int cmd_posenc(const Args& a);
int cmd_export(const Args& a);
int cmd_eval(const Args& a);
// `gpt --version`: commit and build options (baked in by the Makefile).
std::string version_text();

}  // namespace gpt
