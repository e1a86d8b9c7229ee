/* The floor of any launcher: a static program with no C library whose
 * _start only execve's TARGET (a path compiled in with -DTARGET="...") with
 * its own argv and envp. bench/prepared_install.sh times it beside the
 * launcher: what one execve of a minimal image costs over running TARGET
 * directly. Build: cc -O2 -static -nostdlib -fno-pie -no-pie
 * -DTARGET='"/path"' -o min_exec min_exec.c (x86-64 Linux only). */
#ifndef TARGET
#error "define TARGET, the program to execve"
#endif

__attribute__((used)) const char min_exec_target[] = TARGET;

__attribute__((naked, noreturn)) void _start(void) {
    __asm__ volatile(
        "mov (%rsp), %rdi\n\t"             /* argc */
        "lea 8(%rsp), %rsi\n\t"            /* argv */
        "lea 8(%rsi,%rdi,8), %rdx\n\t"     /* envp: after argv's NULL */
        "lea min_exec_target(%rip), %rdi\n\t"
        "mov $59, %eax\n\t"                /* execve */
        "syscall\n\t"
        "mov $127, %edi\n\t"               /* it failed: exit 127 */
        "mov $60, %eax\n\t"
        "syscall\n\t");
}
