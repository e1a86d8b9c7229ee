/* Interleaved start-up timer for bench/launcher_startup.sh.
 *
 * usage: timer RUNS WARMUP SAMPLES_FILE SPEC...
 *   SPEC: @NAME [prep=SHELL_CMD] [VAR=VALUE]... PROGRAM [ARG]...
 *
 * Each round starts every command once, round-robin (the starting command
 * rotates each round), so drift and noise hit all commands alike. A command's
 * time runs from just before posix_spawn to the return of waitpid: the whole
 * life of the process, exec chain included. prep= runs through /bin/sh -c
 * before the command, outside the timed span. Children get this process's
 * environment without MULTIARCH_* and XDG_CACHE_HOME, plus their VAR=VALUEs;
 * their stdout goes to /dev/null. A command that does not exit 0 aborts.
 * The first WARMUP rounds are not recorded. Every sample goes to SAMPLES_FILE
 * ("name<TAB>round<TAB>wall_ns<TAB>cpu_ns", cpu = the child's user + system
 * time from wait4, less disturbed by other load than wall time); stdout gets
 * one line per command:
 * "name<TAB>median_ms<TAB>p25_ms<TAB>p75_ms<TAB>n<TAB>cpu_median_ms".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct cmd {
  const char *name;
  const char *prep;
  char **argv;
  char **envp;
  long long *ns;
  long long *cpu;
  int n;
};

static void die(const char *what) {
  fprintf(stderr, "timer: %s\n", what);
  exit(2);
}

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Spawns argv with envp (stdout to devnull if >= 0), waits, dies unless exit
 * 0. Returns the child's user + system CPU time in ns. */
static long long run(const char *name, char **argv, char **envp, int devnull) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (devnull >= 0) posix_spawn_file_actions_adddup2(&fa, devnull, 1);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    fprintf(stderr, "timer: %s: cannot start %s: %s\n", name, argv[0], strerror(rc));
    exit(2);
  }
  int status;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) die("wait4 failed");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "timer: %s: %s ended with status 0x%x\n", name, argv[0], status);
    exit(2);
  }
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

static int cmp_ll(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return (x > y) - (x < y);
}

/* Quantile q of sorted v[0..n), linear interpolation (R type 7), in ms. */
static double quantile_ms(const long long *v, int n, double q) {
  double h = (n - 1) * q;
  int lo = (int)h;
  int hi = lo + 1 < n ? lo + 1 : lo;
  return (v[lo] + (h - lo) * (v[hi] - v[lo])) / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 5) die("usage: timer RUNS WARMUP SAMPLES_FILE @NAME [prep=CMD] [VAR=VAL]... PROG [ARG]...");
  int runs = atoi(argv[1]), warmup = atoi(argv[2]);
  if (runs < 1 || warmup < 0) die("RUNS must be >= 1 and WARMUP >= 0");
  FILE *samples = fopen(argv[3], "w");
  if (!samples) die("cannot open the samples file");

  /* The base environment: ours, minus what the commands set themselves. */
  int nbase = 0;
  for (char **e = environ; *e; e++) nbase++;
  char **base = calloc(nbase + 1, sizeof *base);
  nbase = 0;
  for (char **e = environ; *e; e++) {
    if (strncmp(*e, "MULTIARCH_", 10) == 0 || strncmp(*e, "XDG_CACHE_HOME=", 15) == 0) continue;
    base[nbase++] = *e;
  }

  struct cmd *cmds = calloc(argc, sizeof *cmds);
  int ncmd = 0;
  for (int i = 4; i < argc;) {
    if (argv[i][0] != '@') die("expected @NAME");
    struct cmd *c = &cmds[ncmd++];
    c->name = argv[i] + 1;
    c->envp = calloc(nbase + argc + 1, sizeof *c->envp);
    memcpy(c->envp, base, nbase * sizeof *base);
    int ne = nbase;
    i++;
    for (; i < argc && argv[i][0] != '@' && strchr(argv[i], '='); i++) {
      if (strncmp(argv[i], "prep=", 5) == 0) c->prep = argv[i] + 5;
      else c->envp[ne++] = argv[i];
    }
    if (i >= argc || argv[i][0] == '@') die("a command has no program");
    c->argv = calloc(argc + 1, sizeof *c->argv);
    int na = 0;
    for (; i < argc && argv[i][0] != '@'; i++) c->argv[na++] = argv[i];
    c->ns = calloc(runs, sizeof *c->ns);
    c->cpu = calloc(runs, sizeof *c->cpu);
  }

  int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devnull < 0) die("cannot open /dev/null");
  for (int r = 0; r < warmup + runs; r++) {
    for (int k = 0; k < ncmd; k++) {
      struct cmd *c = &cmds[(k + r) % ncmd];
      if (c->prep) {
        char *sh[] = {"/bin/sh", "-c", (char *)c->prep, NULL};
        (void)run(c->name, sh, environ, -1);
      }
      long long t0 = now_ns();
      long long cpu = run(c->name, c->argv, c->envp, devnull);
      long long t1 = now_ns();
      if (r >= warmup) {
        c->ns[c->n] = t1 - t0;
        c->cpu[c->n++] = cpu;
        fprintf(samples, "%s\t%d\t%lld\t%lld\n", c->name, r - warmup, t1 - t0, cpu);
      }
    }
  }
  fclose(samples);
  for (int k = 0; k < ncmd; k++) {
    struct cmd *c = &cmds[k];
    qsort(c->ns, c->n, sizeof *c->ns, cmp_ll);
    qsort(c->cpu, c->n, sizeof *c->cpu, cmp_ll);
    printf("%s\t%.3f\t%.3f\t%.3f\t%d\t%.3f\n", c->name, quantile_ms(c->ns, c->n, 0.5),
           quantile_ms(c->ns, c->n, 0.25), quantile_ms(c->ns, c->n, 0.75), c->n,
           quantile_ms(c->cpu, c->n, 0.5));
  }
  return 0;
}
