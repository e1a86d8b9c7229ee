/* The reference for the launcher's warm-cache path: a program that only
 * execve's a build at a fixed path. Its extra time over running the build
 * directly is the price of one more execve of a static binary.
 * Build: cc -O2 -static -DTARGET='"/path/to/build"' bare_exec.c */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv, char **envp) {
  (void)argc;
  execve(TARGET, argv, envp);
  perror("execve");
  return 126;
}
