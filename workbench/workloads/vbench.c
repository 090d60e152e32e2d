/* vbench: what virtualization changes, in lmbench's style (McVoy & Staelin, USENIX 1996),
 * as Barham et al. measured it in "Xen and the Art of Virtualization" (SOSP 2003, Table 3):
 * null syscall, fork, fork+exec, context switch, page fault and mmap latencies; plus memory
 * copy and triad bandwidth (STREAM's byte counting), memory latency by a pointer chase over
 * a random cycle, and a CPU-bound integer kernel.
 *
 * Built static (gcc -static -O2) so the same binary runs natively and inside a busybox
 * initramfs. Each benchmark sizes itself by time: the number of operations per batch doubles
 * until a batch takes at least BATCH_MS, then BATCHES batches run and the fastest is printed
 * (lmbench reports the minimum the same way). So a run takes a few seconds natively and stays
 * bounded under an emulator that is 10-100x slower. All processes are pinned to one CPU: a
 * guest here has one vCPU, and a pipe ping-pong across two CPUs is not a context switch.
 *
 * Output (read by workbench.readers.vbench), one line each:
 *     vbench 1 begin
 *     vbench: <name> <value> <unit> ops=<operations per batch> batches=<n>
 *     vbench 1 end <seconds the whole run took, by the clock the benchmarks used> s
 * <unit> is ns (per operation), MB/s (10^6 bytes per second) or ns/op for the CPU kernel.
 *
 * Usage: vbench [-q] [name...]      -q: quick (shorter batches, smaller arrays), for tests
 *        vbench --exec-child        (internal: the exec benchmark's child, exits at once)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double batch_ms = 20.0;
static int batches = 5;
static size_t array_bytes = 32u << 20;  /* per array: above the last-level cache of common CPUs */
static char self_path[4096];

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what) {
    printf("vbench: error %s: %s\n", what, strerror(errno));
    fflush(stdout);
    exit(2);
}

typedef void (*bench_fn)(long n);

/* Best seconds per operation of `fn` over `batches` batches of an auto-sized count. */
static double measure(bench_fn fn, long *ops_out) {
    long n = 1;
    for (;;) {
        double t0 = now();
        fn(n);
        double dt = now() - t0;
        if (dt * 1e3 >= batch_ms || n >= (1L << 40)) break;
        n *= (dt * 1e3 < batch_ms / 8) ? 4 : 2;
    }
    double best = 1e300;
    for (int b = 0; b < batches; b++) {
        double t0 = now();
        fn(n);
        double dt = (now() - t0) / n;
        if (dt < best) best = dt;
    }
    *ops_out = n;
    return best;
}

static void report(const char *name, double value, const char *unit, long ops) {
    printf("vbench: %s %.6g %s ops=%ld batches=%d\n", name, value, unit, ops, batches);
    fflush(stdout);
}

/* ------------------------------------------------------------------ the operations */

static void b_syscall(long n) {
    for (long i = 0; i < n; i++) syscall(SYS_getppid);  /* not cached by libc */
}

static void b_fork(long n) {
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) _exit(0);
        if (waitpid(pid, NULL, 0) < 0) die("waitpid");
    }
}

static void b_exec(long n) {
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            char *argv[] = {self_path, "--exec-child", NULL};
            char *envp[] = {NULL};
            execve(self_path, argv, envp);
            _exit(127);
        }
        int status;
        if (waitpid(pid, &status, 0) < 0) die("waitpid");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            errno = ENOEXEC;
            die("exec child");
        }
    }
}

static int ping[2], pong[2];

static void b_ctxsw(long n) {
    /* One byte back and forth between two processes on one CPU: two switches per round. */
    char c = 0;
    for (long i = 0; i < n; i++) {
        if (write(ping[1], &c, 1) != 1) die("pipe write");
        if (read(pong[0], &c, 1) != 1) die("pipe read");
    }
}

static long page;

static void b_pagefault(long n) {
    /* Anonymous memory, one write per page: each write is a fault that maps a zeroed page. */
    char *p = mmap(NULL, (size_t)n * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("mmap");
    for (long i = 0; i < n; i++) p[i * page] = 1;
    munmap(p, (size_t)n * page);
}

static void b_mmap(long n) {
    /* lmbench's lat_mmap: map 1 MiB, touch one word every 16 KiB, unmap. */
    const size_t size = 1u << 20;
    for (long i = 0; i < n; i++) {
        char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) die("mmap");
        for (size_t off = 0; off < size; off += 16384) p[off] = 1;
        munmap(p, size);
    }
}

static double *a, *b, *c;
static size_t elements;

static void b_copy(long n) {
    for (long r = 0; r < n; r++) {
        for (size_t j = 0; j < elements; j++) c[j] = a[j];
        __asm__ volatile("" ::: "memory");
    }
}

static void b_triad(long n) {
    const double s = 3.0;
    for (long r = 0; r < n; r++) {
        for (size_t j = 0; j < elements; j++) a[j] = b[j] + s * c[j];
        __asm__ volatile("" ::: "memory");
    }
}

static void **chain;
static volatile void *chain_sink;

static void b_chase(long n) {
    void **p = chain;
    for (long i = 0; i < n; i++) {
        p = (void **)*p;
        __asm__ volatile("" : "+r"(p));  /* each load depends on the last: no elision */
    }
    chain_sink = p;
}

static volatile uint64_t cpu_sink;

static void b_cpu(long n) {
    /* Collatz step counts: branchy integer code with a data-dependent loop (SPECint-like
     * in what it stresses: branches and integer ALU, no memory traffic). */
    uint64_t total = 0;
    for (long i = 1; i <= n; i++) {
        uint64_t x = (uint64_t)i + 1000003u;
        while (x != 1) {
            x = (x & 1) ? 3 * x + 1 : x >> 1;
            total++;
        }
    }
    cpu_sink = total;
}

/* ------------------------------------------------------------------ setup */

static void pin_to_one_cpu(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &set)) {
            CPU_ZERO(&set);
            CPU_SET(cpu, &set);
            sched_setaffinity(0, sizeof set, &set);
            return;
        }
    }
}

static void setup_arrays(void) {
    elements = array_bytes / sizeof(double);
    a = malloc(array_bytes);
    b = malloc(array_bytes);
    c = malloc(array_bytes);
    if (!a || !b || !c) die("malloc");
    for (size_t j = 0; j < elements; j++) {
        a[j] = 1.0;
        b[j] = 2.0;
        c[j] = 0.0;
    }
}

static void setup_chain(void) {
    /* One pointer per 64-byte line over array_bytes, linked in a random single cycle
     * (Sattolo's algorithm), so hardware prefetchers cannot follow it. */
    size_t stride = 64 / sizeof(void *), lines = array_bytes / 64;
    chain = malloc(array_bytes);
    size_t *order = malloc(lines * sizeof(size_t));
    if (!chain || !order) die("malloc");
    uint64_t state = 88172645463325252ull;
    for (size_t i = 0; i < lines; i++) order[i] = i;
    for (size_t i = lines - 1; i > 0; i--) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        size_t j = state % i;
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < lines; i++)
        chain[order[i] * stride] = &chain[order[(i + 1) % lines] * stride];
    chain = &chain[order[0] * stride];
    free(order);
}

static int wanted(int argc, char **argv, int first, const char *name) {
    if (first >= argc) return 1;
    for (int i = first; i < argc; i++)
        if (strcmp(argv[i], name) == 0) return 1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--exec-child") == 0) return 0;
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "-q") == 0) {
        batch_ms = 5.0;
        batches = 3;
        array_bytes = 4u << 20;
        first = 2;
    }
    ssize_t len = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (len <= 0) {
        strncpy(self_path, argv[0], sizeof self_path - 1);
    } else {
        self_path[len] = 0;
    }
    page = sysconf(_SC_PAGESIZE);
    pin_to_one_cpu();
    setvbuf(stdout, NULL, _IOLBF, 0);
    double started = now();
    printf("vbench 1 begin\n");
    long ops;
    double t;
    if (wanted(argc, argv, first, "syscall")) {
        t = measure(b_syscall, &ops);
        report("syscall", t * 1e9, "ns", ops);
    }
    if (wanted(argc, argv, first, "fork")) {
        t = measure(b_fork, &ops);
        report("fork", t * 1e9, "ns", ops);
    }
    if (wanted(argc, argv, first, "exec")) {
        t = measure(b_exec, &ops);
        report("exec", t * 1e9, "ns", ops);
    }
    if (wanted(argc, argv, first, "ctxsw")) {
        if (pipe(ping) != 0 || pipe(pong) != 0) die("pipe");
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            char ch;
            close(ping[1]);  /* else the child holds the pipe open and never sees its end */
            close(pong[0]);
            while (read(ping[0], &ch, 1) == 1)
                if (write(pong[1], &ch, 1) != 1) break;
            _exit(0);
        }
        t = measure(b_ctxsw, &ops);
        close(ping[1]);
        waitpid(pid, NULL, 0);
        close(ping[0]);
        close(pong[0]);
        close(pong[1]);
        report("ctxsw", t * 1e9 / 2, "ns", ops);
    }
    if (wanted(argc, argv, first, "pagefault")) {
        t = measure(b_pagefault, &ops);
        report("pagefault", t * 1e9, "ns", ops);
    }
    if (wanted(argc, argv, first, "mmap")) {
        t = measure(b_mmap, &ops);
        report("mmap", t * 1e9, "ns", ops);
    }
    if (wanted(argc, argv, first, "copy") || wanted(argc, argv, first, "triad")) {
        setup_arrays();
        if (wanted(argc, argv, first, "copy")) {
            t = measure(b_copy, &ops);
            report("copy", 2.0 * array_bytes / t / 1e6, "MB/s", ops);
        }
        if (wanted(argc, argv, first, "triad")) {
            t = measure(b_triad, &ops);
            report("triad", 3.0 * array_bytes / t / 1e6, "MB/s", ops);
        }
        free(a);
        free(b);
        free(c);
    }
    if (wanted(argc, argv, first, "chase")) {
        setup_chain();
        t = measure(b_chase, &ops);
        report("chase", t * 1e9, "ns", ops);
    }
    if (wanted(argc, argv, first, "cpu")) {
        t = measure(b_cpu, &ops);
        report("cpu", t * 1e9, "ns/op", ops);
    }
    /* The run's span by the clock the benchmarks used: a guest whose clock runs fast or
     * slow shows it against the host's measure of the same span. */
    printf("vbench 1 end %.6f s\n", now() - started);
    return 0;
}
