/* The reference for the launcher's memfd path: the least a program that
 * embeds a build can do to run it from memory. It embeds one build the way a
 * bundle does (in its read-only data), copies it into a memfd with one write
 * and fexecve's it: no level detection, no sealing, no sizing.
 * Build: cc -O2 -static -DBLOB_PATH='"/path/to/build"' bare_memfd.c */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x10U
#endif

extern const char blob_start[], blob_end[];
__asm__(".section .rodata\n"
        ".balign 4096\n"
        "blob_start:\n"
        ".incbin \"" BLOB_PATH "\"\n"
        "blob_end:\n"
        ".previous\n");

int main(int argc, char **argv, char **envp) {
  (void)argc;
  int fd = memfd_create("bare", MFD_CLOEXEC | MFD_EXEC);
  if (fd < 0 && errno == EINVAL) fd = memfd_create("bare", MFD_CLOEXEC);
  if (fd < 0) {
    perror("memfd_create");
    return 126;
  }
  const char *p = blob_start;
  size_t left = (size_t)(blob_end - blob_start);
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      perror("write");
      return 126;
    }
    p += w;
    left -= (size_t)w;
  }
  fexecve(fd, argv, envp);
  perror("fexecve");
  return 126;
}
