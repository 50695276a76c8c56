/*
 * crash.c: what a worker leaves behind when its handler crashes.
 *
 * A fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) runs
 * on_fatal on an alternate stack (a stack overflow has no stack left).
 * It may only do what is async-signal-safe, and what the seccomp filter
 * allows, so everything it needs is made beforehand:
 *
 *   kumo__crash_prepare  in the fork server (or a lone worker) once the
 *                        units are loaded: the table of loaded objects
 *                        (path, address range) from dl_iterate_phdr, the
 *                        alternate stack, and one warm-up walk so that
 *                        the unwinder has loaded what it needs (libgcc_s
 *                        mallocs the first time);
 *   kumo__crash_arm      in the worker, before the sandbox: the handlers,
 *                        the socket to report on, and where a core goes.
 *
 * The handler walks the stack (libgcc's _Unwind_Backtrace, which reads
 * the unwind tables and makes no system call), turns each PC into an
 * object path and an offset in it, and writes one KUMO__FRAME_CRASH frame
 * (proto/frame.h) on the worker's socket, built by hand in a static
 * buffer. The gateway symbolizes the offsets with addr2line, off its
 * event loops (gateway/crash_report.c). Then, when core dumps are on,
 * the handler makes a directory of its own under the core directory and
 * moves there (the kernel writes a relative core_pattern into the
 * process's working directory), restores the default action and raises
 * the signal again, so the process dies of it as it would have.
 */
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unwind.h>

#include "proto/frame.h"
#include "worker/worker.h"

#define MAX_MODULES 256
#define PATHS_BYTES (64u << 10)
#define MAX_PCS 64
#define ALT_STACK_BYTES (256u << 10) /* sanitizer runtimes use deep stacks */
#define OUT_BYTES (MAX_PCS * 600 + 4096)

typedef struct module {
    uintptr_t base;       /* dlpi_addr: the object's offsets are relative to it */
    uintptr_t start, end; /* its loaded segments */
    unsigned path_at;     /* offset of its path in paths[] */
    unsigned path_len;
} module;

static module modules[MAX_MODULES];
static int nmodules;
static char paths[PATHS_BYTES];
static unsigned paths_used;
static char alt_stack[ALT_STACK_BYTES] __attribute__((aligned(16)));

static int report_fd = -1;
static char core_dir[PATH_MAX];

static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

static int add_module(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    if (nmodules >= MAX_MODULES)
        return 1;
    char exe[PATH_MAX];
    const char *name = info->dlpi_name;
    if (name == NULL || name[0] == '\0') { /* the program itself (the first entry) */
        ssize_t n = nmodules == 0 ? readlink("/proc/self/exe", exe, sizeof(exe) - 1) : -1;
        if (n <= 0)
            return 0;
        exe[n] = '\0';
        name = exe;
    }
    if (name[0] != '/')
        return 0; /* the vDSO: no file to symbolize */
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        if (ph->p_vaddr < lo)
            lo = ph->p_vaddr;
        if (ph->p_vaddr + ph->p_memsz > hi)
            hi = ph->p_vaddr + ph->p_memsz;
    }
    size_t len = strlen(name);
    if (lo >= hi || len >= PATHS_BYTES - paths_used)
        return 0;
    memcpy(paths + paths_used, name, len);
    modules[nmodules++] = (module){.base = info->dlpi_addr,
                                   .start = info->dlpi_addr + lo,
                                   .end = info->dlpi_addr + hi,
                                   .path_at = paths_used,
                                   .path_len = (unsigned)len};
    paths_used += (unsigned)len;
    return 0;
}

/* ---- the walk ------------------------------------------------------------- */

/* The frames walked: MAX_PCS reported, after this handler's own and the
 * kernel's trampoline (WALK_EXTRA is room for those). */
#define WALK_EXTRA 8

typedef struct walk {
    uintptr_t pcs[MAX_PCS + WALK_EXTRA];
    unsigned char exact[MAX_PCS + WALK_EXTRA]; /* 1: the PC of the faulting instruction (a signal frame) */
    int n;
} walk;

static _Unwind_Reason_Code on_frame(struct _Unwind_Context *ctx, void *arg)
{
    walk *w = arg;
    int before = 0;
    uintptr_t pc = _Unwind_GetIPInfo(ctx, &before);
    if (pc == 0 || w->n >= MAX_PCS + WALK_EXTRA)
        return _URC_END_OF_STACK;
    w->pcs[w->n] = pc;
    w->exact[w->n] = (unsigned char)(before != 0);
    w->n++;
    return _URC_NO_REASON;
}

static walk crash_walk; /* static: the alternate stack is better kept for the unwinder */

/* ---- the frame, by hand ---------------------------------------------------- */

static char out[OUT_BYTES];
static size_t out_len;

static void put_le(uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        out[out_len++] = (char)(v >> (8 * i));
}

/* One field: tag, length, then `a` and `b` (either may be empty); left
 * out when it does not fit. */
static void put_field(uint16_t tag, const void *a, size_t alen, const void *b, size_t blen)
{
    if (out_len + 6 + alen + blen > sizeof(out))
        return;
    put_le(tag, 2);
    put_le(alen + blen, 4);
    if (alen)
        memcpy(out + out_len, a, alen);
    out_len += alen;
    if (blen)
        memcpy(out + out_len, b, blen);
    out_len += blen;
}

static void put_u64(uint16_t tag, uint64_t v)
{
    char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (char)(v >> (8 * i));
    put_field(tag, b, 8, NULL, 0);
}

static const module *find_module(uintptr_t pc)
{
    for (int i = 0; i < nmodules; i++)
        if (pc >= modules[i].start && pc < modules[i].end)
            return &modules[i];
    return NULL;
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/* "<dir>/pid-<n>" made and entered: a relative core_pattern lands there. */
static void enter_core_dir(void)
{
    char dir[PATH_MAX + 32];
    size_t n = strlen(core_dir);
    if (n == 0 || n + 32 > sizeof(dir))
        return;
    memcpy(dir, core_dir, n);
    memcpy(dir + n, "/pid-", 5);
    n += 5;
    char digits[24];
    int k = 0;
    for (unsigned long v = (unsigned long)getpid(); v || k == 0; v /= 10)
        digits[k++] = (char)('0' + v % 10);
    while (k > 0)
        dir[n++] = digits[--k];
    dir[n] = '\0';
    if ((mkdir(dir, 0700) == 0 || errno == EEXIST) && chdir(dir) == 0)
        put_field(KF_CORE_DIR, dir, n, NULL, 0);
}

static void on_fatal(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    int saved = errno;
    crash_walk.n = 0;
    _Unwind_Backtrace(on_frame, &crash_walk);
    /* The frames before the signal frame are this handler and the
     * kernel's trampoline: they are left out. */
    int from = 0;
    for (int i = 0; i < crash_walk.n; i++)
        if (crash_walk.exact[i]) {
            from = i;
            break;
        }
    out_len = KUMO__FRAME_HEADER_SIZE;
    char b4[4];
    for (int i = 0; i < 4; i++)
        b4[i] = (char)((uint32_t)sig >> (8 * i));
    put_field(KF_SIGNAL, b4, 4, NULL, 0);
    put_u64(KF_FAULT_ADDR, (uint64_t)(uintptr_t)(si ? si->si_addr : NULL));
    for (int i = from; i < crash_walk.n && i - from < MAX_PCS; i++) {
        uintptr_t pc = crash_walk.pcs[i];
        const module *m = find_module(pc);
        char head[9];
        uint64_t off = m ? pc - m->base : pc;
        for (int k = 0; k < 8; k++)
            head[k] = (char)(off >> (8 * k));
        head[8] = (char)crash_walk.exact[i];
        put_field(KF_CRASH_PC, head, 9, m ? paths + m->path_at : "", m ? m->path_len : 0);
    }
    if (core_dir[0])
        enter_core_dir();
    size_t payload = out_len - KUMO__FRAME_HEADER_SIZE;
    out[0] = 'K';
    out[1] = 'F';
    out[2] = KUMO__FRAME_VERSION;
    out[3] = KUMO__FRAME_CRASH;
    for (int i = 0; i < 4; i++) {
        out[4 + i] = (char)((uint32_t)payload >> (8 * i));
        out[8 + i] = 0;
    }
    if (report_fd >= 0)
        write_all(report_fd, out, out_len);
    /* Die of it: the default action (a core when the limit allows), on
     * return (a fault) or at once (a raised signal, pending until then). */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    raise(sig);
    errno = saved;
}

void kumo__crash_prepare(void)
{
    nmodules = 0;
    paths_used = 0;
    dl_iterate_phdr(add_module, NULL);
    stack_t ss = {.ss_sp = alt_stack, .ss_size = sizeof(alt_stack), .ss_flags = 0};
    sigaltstack(&ss, NULL);
    walk warm = {.n = 0};
    _Unwind_Backtrace(on_frame, &warm);
}

void kumo__crash_arm(int fd, const char *cores)
{
    report_fd = fd;
    core_dir[0] = '\0';
    if (cores && strlen(cores) < sizeof(core_dir))
        snprintf(core_dir, sizeof(core_dir), "%s", cores);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        sigaction(fatal[i], &sa, NULL);
}
