// The only main(): everything else is in run_cli (so tests can call it in-process).
//
// OpenMP settings the binary gives itself: libgomp's default is to spin ~300,000
// iterations at every barrier before sleeping. On a 2-core machine with anything else
// running, the spinning threads take the cores from the threads doing work: sampling a
// 6-layer model went from 1.1 to 27 ms/token under a load of 3. A bounded spin
// (GOMP_SPINCOUNT=10000) keeps barriers cheap on an idle machine and yields under load.
// libgomp reads its environment once, before main() runs, so when the user has set
// neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT, main() sets GOMP_SPINCOUNT and re-executes
// itself once (about a millisecond). Set either variable to choose your own policy.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cli.h"

int main(int argc, char** argv) {
  if (!std::getenv("OMP_WAIT_POLICY") && !std::getenv("GOMP_SPINCOUNT")) {
    setenv("GOMP_SPINCOUNT", "10000", 1);
    execv("/proc/self/exe", argv);  // returns only on failure: then run as we are
  }
  // The re-executed process is named "exe" (its path's last part) in ps, top and
  // `pkill -x`; it takes its own name back, so `ps -C gpt` and `pkill -x gpt` find it.
  if (argc > 0 && argv[0]) {
    const char* slash = std::strrchr(argv[0], '/');
    ::prctl(PR_SET_NAME, slash ? slash + 1 : argv[0], 0, 0, 0);  // (the kernel keeps its first 15 bytes)
  }
  // A file size limit (ulimit -f) makes write() fail with EFBIG, which the writers
  // report naming the file, instead of killing the process silently.
  signal(SIGXFSZ, SIG_IGN);
  const int rc = gpt::run_cli(argc, argv);
  // Output that could not be written (stdout on a full disk, /dev/full) is an error, not
  // a silent exit 0 with the samples, tables or ids lost.
  errno = 0;
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    int e = errno;
    // A write that failed earlier left no errno here: a full file system is told as such.
    struct statvfs fs {};
    if (!e && ::fstatvfs(STDOUT_FILENO, &fs) == 0 && fs.f_bavail == 0) e = ENOSPC;
    // /dev/full (which tests use for a full disk) sits on a file system with room.
    struct stat st {};
    if (!e && ::fstat(STDOUT_FILENO, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 7)
      e = ENOSPC;
    // A file at the size limit (ulimit -f; helper-44: "a write failed").
    struct rlimit lim {};
    if (!e && S_ISREG(st.st_mode) && ::getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
        uint64_t(st.st_size) >= uint64_t(lim.rlim_cur))
      e = EFBIG;
    std::fprintf(stderr, "error: cannot write to standard output (%s); what was printed is incomplete\n",
                 e ? std::strerror(e) : "a write failed");
    return rc ? rc : 1;
  }
  return rc;
}
