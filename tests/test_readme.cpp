// Every command in README.md's code blocks runs as written after `make run`, on a
// tiny model. The one substitution, for time: each `bin/gpt train` gets the size
// flags of kTinyTrain (replacing the README's values where it gives them) and a
// hundredth of its --steps. The state `make run` leaves is made the same way: a
// short text as data/tinyshakespeare.txt, data/shakespeare_char prepared, and a run
// in the Makefile's RUN_DIR. Commands that need what no test machine has are listed
// in kUnavailable with the reason.
#include <fnmatch.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "fileio.h"
#include "rng.h"
#include "text/tokenizer.h"
#include "test_util.h"

namespace gpt::test {

namespace {

// Flag -> value forced on every `bin/gpt train` of the README (size only).
const std::vector<std::pair<std::string, std::string>> kTinyTrain = {
    {"--layers", "4"}, {"--heads", "4"}, {"--dim", "16"}, {"--context", "32"}, {"--batch", "2"},
    {"--eval-every", "5"}, {"--eval-batches", "2"}, {"--threads", "2"}};
constexpr int kStepsDivisor = 100;  // --steps N -> N / 100 (default 2500 -> 25)

// A substring of the command -> why it cannot run here.
const std::vector<std::pair<std::string, std::string>> kUnavailable = {
    {"gpt2_124M.bin", "GPT-2 124M weights from llm.c (a 500 MB download)"},
    {"--init gpt2/", "the Hugging Face hub's gpt2 directory (a download); `...` stands for the globs"},
    {"fineweb10B", "FineWeb shards from llm.c's scripts (gigabytes)"},
    {"tinyshakespeare/tiny_shakespeare", "llm.c's GPT-2-tokenized shards (made by llm.c's Python script)"},
    {"--tokenizer tokenizer.model", "a SentencePiece model of your own (e.g. llama2.c's tokenizer.model)"},
};

// Substrings of the commands that need SentencePiece (--tokenizer bpe/unigram and the data they
// make): skipped when this build has none. `make test` before `make run` on a fresh machine
// (install_deps not yet run) failed here while every other SentencePiece test skipped.
const std::vector<std::string> kNeedSentencePiece = {"--tokenizer bpe", "--tokenizer unigram",
                                                     "shakespeare_bpe", "shakespeare_uni"};

struct Commands {
  std::vector<std::string> run, not_runnable;  // not_runnable: `gpt ...` not as the shell finds it
};

// The commands of the fenced code blocks: lines starting with "bin/gpt " or "gpt "
// (a leading "$ " is a prompt), continuation lines joined, "  # comment" cut.
Commands readme_commands(const std::string& readme) {
  Commands c;
  std::istringstream in(readme);
  bool fenced = false;
  std::string line, cmd;
  while (std::getline(in, line)) {
    if (line.rfind("```", 0) == 0) {
      fenced = !fenced;
      continue;
    }
    if (!fenced) continue;
    if (!cmd.empty()) {
      cmd += " " + line.substr(line.find_first_not_of(' '));
    } else {
      if (line.rfind("$ ", 0) == 0) line = line.substr(2);
      if (line.rfind("bin/gpt ", 0) != 0 && line.rfind("gpt ", 0) != 0) continue;
      cmd = line;
    }
    if (!cmd.empty() && cmd.back() == '\\') {
      cmd.pop_back();
      continue;
    }
    const auto hash = cmd.find("  #");
    if (hash != std::string::npos) cmd.resize(hash);
    while (!cmd.empty() && cmd.back() == ' ') cmd.pop_back();
    (cmd.rfind("bin/gpt ", 0) == 0 ? c.run : c.not_runnable).push_back(cmd);
    cmd.clear();
  }
  return c;
}

// kTinyTrain and the step divisor applied to a `bin/gpt train` command line.
std::string tiny(std::string cmd) {
  if (cmd.rfind("bin/gpt train ", 0) != 0) return cmd;
  for (const auto& [flag, value] : kTinyTrain) {
    const std::regex given(" " + flag + " [^ ]+");
    if (std::regex_search(cmd, given)) cmd = std::regex_replace(cmd, given, " " + flag + " " + value);
    else cmd += " " + flag + " " + value;
  }
  std::smatch m;
  if (std::regex_search(cmd, m, std::regex(" --steps ([0-9]+)")))
    cmd = std::regex_replace(cmd, std::regex(" --steps [0-9]+"),
                             " --steps " + std::to_string(std::max(2, std::stoi(m[1]) / kStepsDivisor)));
  else if (cmd.find("--resume") == std::string::npos)
    cmd += " --steps " + std::to_string(2500 / kStepsDivisor);
  return cmd;
}

// A text with Tiny Shakespeare's shape and characters: names with colons, many distinct words (so
// SentencePiece can learn 2048 pieces) and the README's prompts.
std::string play_text() {
  SplitMix64 r(7);
  // Tiny Shakespeare's 65 characters, so char ids are the same as there ("20 43 50 50 53" is "Hello").
  std::string text = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n";
  const char* names[] = {"ROMEO:", "JULIET:", "MERCUTIO:", "First Citizen:"};
  while (text.size() < 150000) {
    text += names[r.below(4)];
    text += "\n";
    const int words = 5 + int(r.below(12));
    for (int w = 0; w < words; w++) {
      const int len = 1 + int(r.below(8));
      for (int k = 0; k < len; k++) text += char('a' + r.below(26));
      text += w + 1 < words ? (r.below(6) ? " " : ", ") : ".\n";
    }
    if (r.below(5) == 0) text += "But soft, what light through yonder window breaks? To be, or not to be.\n\n";
  }
  return text;
}

int shell(const std::string& dir, const std::string& cmd, std::string* log) {
  const std::string out = dir + "/.cmd.log";
  const int rc = std::system(("cd '" + dir + "' && ( " + cmd + " ) > '" + out + "' 2>&1").c_str());
  *log = read_file(out);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

}  // namespace

TEST(Readme, EveryCommandRunsAsWrittenAfterMakeRun) {
  const char* bin = std::getenv("GPT_BIN");
  if (!bin || !file_exists(bin)) GTEST_SKIP() << "GPT_BIN not set (make test sets it)";
  const std::string readme = repo_file("README.md"), makefile = repo_file("Makefile");
  ASSERT_FALSE(readme.empty() || makefile.empty());
  const Commands cmds = readme_commands(read_file(readme));
  for (const auto& c : cmds.not_runnable)
    ADD_FAILURE() << "README command not runnable as written after `make run` (no `gpt` on PATH; write bin/gpt): "
                  << c;

  // What `make run` leaves behind, in a scratch directory laid out like the repository.
  std::smatch m;
  const std::string mk = read_file(makefile);
  ASSERT_TRUE(std::regex_search(mk, m, std::regex("\nRUN_DIR \\?= ([^\\s]+)")));
  const std::string run_dir = m[1];
  const std::string dir = scratch_dir();
  std::string log;
  make_dirs(dir + "/bin");
  make_dirs(dir + "/data");
  ASSERT_EQ(shell(dir, std::string("ln -s '") + bin + "' bin/gpt && ln -s '" + repo_file("examples") +
                           "' examples && ln -s '" + repo_file("scripts") + "' scripts", &log), 0) << log;
  write_file_atomic(dir + "/data/tinyshakespeare.txt", play_text());
  write_file_atomic(dir + "/more.txt", "ROMEO: a few more lines to tokenize.\n");
  make_dirs(dir + "/notes/2026");  // your own text: a directory, and chapters a pattern matches
  write_file_atomic(dir + "/notes/ideas.md", play_text());
  write_file_atomic(dir + "/notes/2026/diary.txt", "Dear diary, today I trained a GPT.\n");
  make_dirs(dir + "/book");
  for (const char* c : {"chapter1.md", "chapter2.md"}) write_file_atomic(dir + "/book/" + c, play_text());
  for (const std::string& c : std::vector<std::string>{"bin/gpt prepare --input data/tinyshakespeare.txt --out data/shakespeare_char",
                              tiny("bin/gpt train --data data/shakespeare_char --out " + run_dir)})
    ASSERT_EQ(shell(dir, c, &log), 0) << c << "\n" << log;

  size_t ran = 0;
  std::vector<std::string> skipped_spm;
  std::vector<bool> used(kUnavailable.size(), false);
  for (const auto& c : cmds.run) {
    bool skip = false;
    for (size_t k = 0; k < kUnavailable.size(); k++)
      if (c.find(kUnavailable[k].first) != std::string::npos) skip = used[k] = true;
    if (skip) continue;
    if (!have_sentencepiece() &&
        std::any_of(kNeedSentencePiece.begin(), kNeedSentencePiece.end(),
                    [&](const std::string& s) { return c.find(s) != std::string::npos; })) {
      skipped_spm.push_back(c);
      continue;
    }
    const std::string t = tiny(c);
    EXPECT_EQ(shell(dir, t, &log), 0) << "README: " << c << "\nran: " << t << "\n" << log;
    ran++;
  }
  for (size_t k = 0; k < kUnavailable.size(); k++)
    EXPECT_TRUE(used[k]) << "kUnavailable lists '" << kUnavailable[k].first << "', which no README command has";
  EXPECT_GE(ran + skipped_spm.size(), 25u) << "too few README commands found";
  if (!skipped_spm.empty()) {
    EXPECT_GE(ran, 15u) << "too few README commands ran";
    std::printf("note: built without SentencePiece (scripts/install_deps.sh installs it): %zu README commands "
                "not run, e.g. %s\n", skipped_spm.size(), skipped_spm.front().c_str());
  }
  if (!HasFailure()) std::system(("rm -rf '" + dir + "'").c_str());
}

}  // namespace gpt::test

namespace gpt::test {

namespace {

// README.md's section on `gpt NAME`: from its heading "### gpt NAME — ..." to the next heading.
std::string command_section(const std::string& readme, const std::string& name) {
  const std::string head = "\n### gpt " + name + " ";
  const size_t at = readme.find(head);
  if (at == std::string::npos) return "";
  size_t end = at + 1;
  for (;;) {
    end = readme.find('\n', end);
    if (end == std::string::npos || readme.compare(end + 1, 3, "## ") == 0 || readme.compare(end + 1, 4, "### ") == 0)
      break;
    end++;
  }
  return readme.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1);
}

bool flag_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

// The --names a text mentions, whole ("--sample-*" gives "sample-").
std::vector<std::string> flags_named(const std::string& text) {
  std::vector<std::string> out;
  for (size_t i = text.find("--"); i != std::string::npos; i = text.find("--", i + 2)) {
    if ((i > 0 && flag_char(text[i - 1])) || i + 2 >= text.size() || !flag_char(text[i + 2]) || text[i + 2] == '-')
      continue;  // a word's dash, a table's |---|
    size_t j = i + 2;
    while (j < text.size() && flag_char(text[j])) j++;
    if (j > i + 2) out.push_back(text.substr(i + 2, j - i - 2));
  }
  return out;
}

}  // namespace

// Every flag of every command's table (cli.cpp, what --help lists) appears in that command's
// section of README.md, and every flag a section names exists. The sections had fallen
// behind the tables: sample lacked --threads, --device and --heads, eval --threads, --heads
// and --train-glob, gradcheck --seed and --device, train --zero, and export had no section.
TEST(Readme, EveryCommandSectionDocumentsItsFlags) {
  const std::string path = repo_file("README.md");
  ASSERT_FALSE(path.empty());
  const std::string readme = read_file(path);
  std::set<std::string> every = {"help", "version"};
  for (const Command& c : all_commands())
    for (const Flag& f : c.flags) every.insert(f.name);
  for (const Command& c : all_commands()) {
    const std::string sec = command_section(readme, c.name);
    if (sec.empty()) {
      ADD_FAILURE() << "README.md has no section \"### gpt " << c.name << " — ...\"";
      continue;
    }
    const std::vector<std::string> named = flags_named(sec);
    for (const Flag& f : c.flags)
      EXPECT_NE(std::find(named.begin(), named.end(), f.name), named.end())
          << "README.md's gpt " << c.name << " section does not mention --" << f.name << " (" << f.help << ")";
    for (const std::string& n : named)
      EXPECT_TRUE(every.count(n) || (n.back() == '-' && sec.find("--" + n + "*") != std::string::npos))
          << "README.md's gpt " << c.name << " section names --" << n << ", which no command has";
  }
}

// Every test the Map names (`Suite.Name`, with gtest's * and ?) selects at least one test
// of this binary: names are --gtest_filter patterns, so a reader can run what a row cites.
// Several did not: `Gradcheck.*`, `ModelGradcheck.*` and `Resume.*` lacked the prefix of
// their parameterized suites (Layers/, AllEncodings/, Sampling/).
TEST(Readme, EveryTestTheMapNamesExists) {
  const std::string path = repo_file("README.md");
  ASSERT_FALSE(path.empty());
  const std::string readme = read_file(path);
  const size_t from = readme.find("## Map: concept"), to = readme.find("\n## ", from + 1);
  ASSERT_NE(from, std::string::npos) << "README.md has no Map section";
  const std::string map = readme.substr(from, to - from);
  std::vector<std::string> tests;
  const ::testing::UnitTest& u = *::testing::UnitTest::GetInstance();
  for (int i = 0; i < u.total_test_suite_count(); i++) {
    const ::testing::TestSuite& s = *u.GetTestSuite(i);
    for (int j = 0; j < s.total_test_count(); j++) tests.push_back(std::string(s.name()) + "." + s.GetTestInfo(j)->name());
  }
  // The emulator's own tests live in the emulator's binary (gpt_tests_cuemu).
  const std::set<std::string> elsewhere = {"CudaEmulator"};
  const std::regex name("`([A-Z][A-Za-z0-9_/]*)\\.([A-Z*][A-Za-z0-9_*?/]*)`");
  int checked = 0;
  for (auto it = std::sregex_iterator(map.begin(), map.end(), name); it != std::sregex_iterator(); ++it) {
    const std::string suite = (*it)[1], pattern = suite + "." + (*it)[2].str();
    if (elsewhere.count(suite)) continue;
    checked++;
    const bool found = std::any_of(tests.begin(), tests.end(),
                                   [&](const std::string& t) { return fnmatch(pattern.c_str(), t.c_str(), 0) == 0; });
    EXPECT_TRUE(found) << "README.md's Map names " << pattern << ", which selects no test";
  }
  EXPECT_GT(checked, 50) << "the Map's test names were not found (did its format change?)";
}

// `gpt train --help` and README.md give the same val loss for the defaults (`make run`).
// The help said 1.70 where the README (and the measured 1.6945) say 1.69.
TEST(Readme, TrainHelpGivesTheReadmesValLossForTheDefaults) {
  const std::string readme = read_file(repo_file("README.md"));
  std::smatch in_readme, in_help;
  ASSERT_TRUE(std::regex_search(readme, in_readme, std::regex("trains in about\\s+two minutes[^`]*?val loss ([0-9]+\\.[0-9]+)")))
      << "README.md's train section no longer gives the defaults' val loss";
  const std::string help = help_text(find_command("train"));
  ASSERT_TRUE(std::regex_search(help, in_help, std::regex("val loss about ([0-9]+\\.[0-9]+)"))) << help;
  EXPECT_EQ(in_help[1].str(), in_readme[1].str());
}

}  // namespace gpt::test

namespace gpt::test {

// Plain `make` builds bin/gpt, as the README says. The version stamp's rule came first in
// the Makefile and so was make's default goal: `make` refreshed the stamp and built nothing
// (an edited source stayed unbuilt with no word said).
TEST(Makefile, PlainMakeBuildsTheBinary) {
  const std::string makefile = repo_file("Makefile");
  if (makefile.empty() || std::system("make --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no Makefile or make";
  const std::string dir = makefile.substr(0, makefile.size() - std::string("Makefile").size());
  // -p prints make's database (.DEFAULT_GOAL among it); -n runs no recipe.
  FILE* p = popen(("make -C '" + dir + "' -pn help 2>/dev/null").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("\\n\\.DEFAULT_GOAL := ([^\\n]*)"))) << "no .DEFAULT_GOAL in make -p";
  EXPECT_EQ(m[1].str(), "all");
  const std::string readme = read_file(join_path(dir, "README.md"));
  EXPECT_NE(readme.find("`make` (build `bin/gpt`)"), std::string::npos);
  EXPECT_NE(out.find("\nall: probe bin/gpt"), std::string::npos) << "all no longer builds bin/gpt";
}

// The project's scripts parse: `bash -n` on every scripts/*.sh and .ci/run, and Python's
// compile on every scripts/*.py. Several (scripts/gpu_check.sh above all) run only on
// machines the suite never sees, where a syntax error costs the whole run; one did not
// parse after an apostrophe inside ${VAR:-...}, which bash reads as a quote.
TEST(Scripts, EveryScriptParses) {
  const std::string root = repo_file("scripts");
  ASSERT_FALSE(root.empty()) << "scripts/ not found";
  const std::string dir = root.substr(0, root.size() - std::string("scripts").size());
  std::string out;
  const std::string cmd = "cd '" + dir + "' && for f in scripts/*.sh .ci/run; do bash -n \"$f\" 2>&1 || echo \"FAILED $f\"; done";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  EXPECT_EQ(out.find("FAILED"), std::string::npos) << out;
  const std::string py = python_with("py_compile");
  if (py.empty()) return;
  out.clear();
  const std::string pycmd = "cd '" + dir + "' && for f in scripts/*.py; do " + py +
                            " -c 'import ast,sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])' \"$f\" 2>&1 || "
                            "echo \"FAILED $f\"; done";
  p = popen(pycmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  while (fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  EXPECT_EQ(out.find("FAILED"), std::string::npos) << out;
}

}  // namespace gpt::test

namespace gpt::test {

// A build directory remembers the configuration its objects were compiled with
// (BUILD/config.stamp): changed flags, or SentencePiece/MPI installed after a first build,
// recompile the objects. Before, `make test` on a fresh machine and then `make run` (whose
// install_deps adds SentencePiece) linked the old objects: a binary built without
// SentencePiece under a probe line that said "SentencePiece yes". Checked with `make -q`
// on a scratch build directory and one object, so nothing is compiled.
TEST(Build, AChangedConfigurationRecompilesTheObjects) {
  const std::string makefile = repo_file("Makefile");
  ASSERT_FALSE(makefile.empty());
  const std::string repo = makefile.substr(0, makefile.size() - std::string("Makefile").size());
  const std::string dir = scratch_dir(), obj = dir + "/src/fileio.o";
  // The suite may run under make (make test): its MAKEFLAGS would pass its own variables on.
  const auto q = [&](const std::string& vars) {
    const std::string cmd = "cd '" + repo + "' && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -q BUILD='" + dir +
                            "' " + vars + " '" + obj + "' >/dev/null 2>&1";
    const int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  EXPECT_EQ(q(""), 1) << "no object yet: make -q must say it needs building";
  ASSERT_TRUE(file_exists(dir + "/config.stamp"));
  make_dirs(dir + "/src");
  write_file_atomic(obj, "");  // as if compiled just now, with the recorded configuration
  EXPECT_EQ(q(""), 0) << "the same configuration: up to date";
  EXPECT_EQ(q("CXXFLAGS=-O1"), 1) << "other flags: the object must be recompiled";
  write_file_atomic(obj, "");
  EXPECT_EQ(q("CXXFLAGS=-O1"), 0);
  EXPECT_EQ(q(""), 1) << "back to the defaults: recompiled again";
  if (!HasFailure()) std::system(("rm -rf '" + dir + "'").c_str());
}

}  // namespace gpt::test
