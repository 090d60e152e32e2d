/* LD_PRELOAD shim for Debian 12's User-mode Linux (6.1) on hosts with a large XSAVE area.
 *
 * UML saves and restores its processes' FPU/vector state with PTRACE_{GET,SET}REGSET
 * NT_X86_XSTATE and a buffer sized for x87/SSE/AVX (832 bytes). Host kernels accept
 * PTRACE_SETREGSET of that regset only with the host's whole XSAVE size
 * (arch/x86/kernel/fpu/regset.c: "count != fpu_user_cfg.max_size" gives EFAULT), which
 * AVX-512 (2.7 KiB) and AMX (11 KiB) make larger: UML's first process dies ("ptrace set
 * fp regs failed, errno = 14") and the guest panics. Falling back to the FXSAVE area is
 * no cure: each set then resets the AVX/AVX-512 registers, and a timer tick inside a
 * vectorized memcpy (glibc picks EVEX code on such CPUs) stores zeros.
 *
 * The shim completes UML's short buffers: a get reads the whole state (kept per host
 * process) and hands UML the part it asked for; a set writes UML's part over the whole
 * state last read from that process, and sets it whole. What UML never touches (the
 * upper AVX-512 state, AMX tiles) stays as the process left it. Nothing else changes.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

#define NT_X86_XSTATE 0x202
#define SLOTS 64
#define MAX_XSTATE 65536

typedef long (*ptrace_fn)(enum __ptrace_request, pid_t, void *, void *);

static struct { pid_t pid; size_t size; unsigned char *state; } slots[SLOTS];
static unsigned next_slot;

static ptrace_fn real_ptrace(void) {
    static ptrace_fn real;
    if (!real) real = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
    return real;
}

static int slot_of(pid_t pid) {
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].pid == pid && slots[i].state) return i;
    int i = next_slot++ % SLOTS;
    if (!slots[i].state) slots[i].state = malloc(MAX_XSTATE);
    slots[i].pid = pid;
    slots[i].size = 0;
    return slots[i].state ? i : -1;
}

static long read_whole(pid_t pid, int i) {
    struct iovec whole = {slots[i].state, MAX_XSTATE};
    long r = real_ptrace()(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &whole);
    slots[i].size = r == 0 ? whole.iov_len : 0;
    return r;
}

long ptrace(enum __ptrace_request request, ...) {
    va_list ap;
    va_start(ap, request);
    pid_t pid = va_arg(ap, pid_t);
    void *addr = va_arg(ap, void *);
    void *data = va_arg(ap, void *);
    va_end(ap);
    if ((request == PTRACE_GETREGSET || request == PTRACE_SETREGSET) && (long)addr == NT_X86_XSTATE && data) {
        struct iovec *iov = data;
        int i = slot_of(pid);
        if (i >= 0) {
            if (request == PTRACE_GETREGSET) {
                long r = read_whole(pid, i);
                if (r != 0) return r;
                size_t n = iov->iov_len < slots[i].size ? iov->iov_len : slots[i].size;
                memcpy(iov->iov_base, slots[i].state, n);
                iov->iov_len = n;
                return 0;
            }
            if (slots[i].size == 0 && read_whole(pid, i) != 0) return -1;
            if (iov->iov_len < slots[i].size) {
                memcpy(slots[i].state, iov->iov_base, iov->iov_len);
                struct iovec whole = {slots[i].state, slots[i].size};
                return real_ptrace()(PTRACE_SETREGSET, pid, addr, &whole);
            }
        }
    }
    return real_ptrace()(request, pid, addr, data);
}
