/*
 * forkserver.c: `kumo-worker --fork-server`, one per gateway event loop.
 *
 *     kumo-worker --fork-server [--spares N] [--project DIR] [--data DIR] [--net]
 *                 [--core-dir DIR] [--debug-unit NAME]
 *                 --unit NAME SO LAYERS MEMORY TIMEOUT_MS [--unit ...]
 *     (the loop's SOCK_SEQPACKET control socket on fd 3)
 *
 * Start-up pays once what every worker used to pay: the exec, the dynamic
 * linking of libkumo and its libraries, and the dlopen of every unit. Then
 * the fork server keeps N spare children forked (default 1): a spare blocks
 * on its own socket until it is assigned a unit and a worker socket, enters
 * that unit's sandbox, says hello and serves. So a cold start costs a
 * message and a sandbox; a fork (milliseconds on some virtual machines)
 * happens ahead of demand, when the spare is replaced. Without a spare at
 * hand the fork server forks on demand.
 *
 * Where a unit's sandbox has namespaces and the fork server may create
 * one (CAP_SYS_ADMIN), it first unshares a pid namespace and forks that
 * namespace's PID 1 (kumo-pid1, which only reaps): every spare and worker
 * after it lives in that namespace, sees only it in /proc, and reports its
 * pid on the machine (NSpid) to the gateway.
 *
 * It reaps every child and reports exits to the loop (spares that die
 * unassigned are replaced quietly), removing each one's memory cgroup. It
 * exits when the loop closes the control socket, killing and reaping its
 * spares and any worker left (the loop closes them first when it drains),
 * so that no cgroup outlives its process; at start it sweeps those a
 * killed fork server left.
 */
#include "proto/fsproto.h"

#include <dlfcn.h>
#include <link.h>
#include <sched.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "sandbox/egress.h"
#include "worker/egress_supervisor.h"
#include "worker/worker.h"
#include "proto/frame.h"
#include "sandbox/sandbox.h"
#include "sdk/sdk.h"

#define CONTROL_FD 3
#define WORKER_FD 3
#define EGRESS_FD 4           /* a worker forked on demand: where it sends its seccomp listener */
#define LISTENER_WAIT_MS 5000 /* at most, for a spare still entering its sandbox at assignment */
#define MAX_UNITS 256
#define MAX_SPARES 16

typedef struct fs_unit {
    const char *name, *so;
    void *handle; /* NULL: the load failed (load_error says why) */
    char load_error[256];
    kumo__sandbox_config sandbox;
} fs_unit;

typedef struct spare {
    pid_t pid;
    int sock;         /* our end; the spare reads its assignment here */
    int listener_due; /* egress rules: its seccomp listener is still to come on sock */
} spare;

/* Egress rules: a worker forked on demand whose seccomp listener is still
 * to come on `sock` (the spares' come on their own socket). */
typedef struct awaiting {
    pid_t pid;
    int sock;
    const char *unit;
} awaiting;

typedef struct fork_server {
    fs_unit units[MAX_UNITS];
    int nunits;
    /* Spares enter the unit-independent part of the sandbox ahead of time
     * (sandbox.h); they can take any unit whose layers and network match
     * spare_sandbox, others are forked on demand. */
    kumo__sandbox_config spare_sandbox;
    int spare_failures; /* spares that died unassigned, in a row */
    spare spares[MAX_SPARES];
    int nspares, want_spares;
    int sigfd;
    pid_t init_pid; /* PID 1 of the workers' pid namespace; 0: none */
    /* Workers (assigned spares and forks) not yet reaped: killed, reaped
     * and their cgroups removed when the fork server exits. */
    pid_t *workers;
    size_t nworkers, capworkers;
    /* Egress rules (a store lives on a server, and this process can
     * supervise): the rules every unit's workers get, and the supervisor
     * of their socket and connect calls. NULL: none. */
    kumo__egress_rules *rules;
    kumo__egress_supervisor *sup;
    awaiting *await;
    size_t nawait, capawait;
} fork_server;

/* Remembers a live worker; out of memory it is only not tracked (it still
 * dies with the fork server, by its parent-death signal). */
static void track_worker(fork_server *fs, pid_t pid)
{
    if (fs->nworkers == fs->capworkers) {
        size_t cap = fs->capworkers ? 2 * fs->capworkers : 64;
        pid_t *w = realloc(fs->workers, cap * sizeof(*w));
        if (w == NULL)
            return;
        fs->workers = w;
        fs->capworkers = cap;
    }
    fs->workers[fs->nworkers++] = pid;
}

static void forget_worker(fork_server *fs, pid_t pid)
{
    for (size_t i = 0; i < fs->nworkers; i++)
        if (fs->workers[i] == pid) {
            fs->workers[i] = fs->workers[--fs->nworkers];
            return;
        }
}

/* A child's pid as the gateway knows it. In the pid namespace getpid()
 * says the namespace's number; /proc (the host's, until the sandbox mounts
 * the namespace's own) has both in its NSpid line, the outer one first. */
static pid_t outer_pid(void)
{
    pid_t pid = getpid();
    FILE *f = fopen("/proc/self/status", "re");
    if (f == NULL)
        return pid;
    char line[256];
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "NSpid:", 6) == 0) {
            long v = strtol(line + 6, NULL, 10);
            if (v > 0)
                pid = (pid_t)v;
            break;
        }
    fclose(f);
    return pid;
}

static int hello(pid_t self, const char *error)
{
    return kumo__frame_send_hello(WORKER_FD, (uint32_t)self, error);
}

#define REPLENISH_DELAY_MS 5

/* --core-dir: where crashing workers leave their core dumps (crash.c);
 * NULL: core dumps are off. */
static const char *core_dir;

/* The fork server's own pid (its children's lines name theirs). */
static pid_t fs_pid;

/* One log line (base/log.h) from a worker about itself (`worker_pid`), or
 * from the fork server (`forkserver_pid`). */
static void log_line(pid_t self, const char *level, const char *msg)
{
    kumo__logline l;
    kumo__logline_begin(&l, level, msg, strlen(msg));
    kumo__logline_int(&l, self == fs_pid ? "forkserver_pid" : "worker_pid", self);
    kumo__logline_write(&l, 2);
}

/* ---- the units' own variables (env: in kumo.yaml) ------------------------ */

/* One KUMO__UNIT<i>_NAME=value of this process's environment. */
typedef struct unit_var {
    int unit;
    char *var;    /* "KUMO__UNIT<i>_NAME", to unset */
    char *assign; /* "NAME=value", the worker's (putenv keeps it: never freed) */
} unit_var;

static unit_var *unit_vars;
static size_t n_unit_vars;

/* Reads the units' variables from the environment this process was
 * started with (as egress_start does: not through `environ`). */
static void load_unit_vars(void)
{
    static const char prefix[] = KUMO__UNIT_ENV_PREFIX;
    size_t cap = 4u << 20, len = 0, n = 0;
    char *env = malloc(cap + 1);
    FILE *f = env ? fopen("/proc/self/environ", "re") : NULL;
    if (f != NULL) {
        len = fread(env, 1, cap, f);
        fclose(f);
    }
    if (env == NULL)
        return;
    env[len] = '\0';
    for (size_t at = 0; at < len; at += strlen(env + at) + 1)
        n += strncmp(env + at, prefix, sizeof(prefix) - 1) == 0;
    if (n && (unit_vars = calloc(n, sizeof(*unit_vars))) != NULL)
        for (size_t at = 0; at < len && n_unit_vars < n; at += strlen(env + at) + 1) {
            char *e = env + at, *end;
            if (strncmp(e, prefix, sizeof(prefix) - 1) != 0)
                continue;
            long unit = strtol(e + sizeof(prefix) - 1, &end, 10);
            char *eq = strchr(e, '=');
            if (end == e + sizeof(prefix) - 1 || *end != '_' || eq == NULL || eq < end)
                continue;
            unit_var *v = &unit_vars[n_unit_vars];
            v->unit = (int)unit;
            if ((v->var = strndup(e, (size_t)(eq - e))) == NULL || (v->assign = strdup(end + 1)) == NULL) {
                free(v->var);
                continue;
            }
            n_unit_vars++;
        }
    memset(env, 0, len);
    free(env);
}

/* In a child, before the unit's code runs: the other units' variables go,
 * and `unit`'s come in under their own names. */
static void apply_unit_vars(int unit)
{
    for (size_t i = 0; i < n_unit_vars; i++)
        unsetenv(unit_vars[i].var);
    for (size_t i = 0; i < n_unit_vars; i++)
        if (unit_vars[i].unit == unit)
            putenv(unit_vars[i].assign);
}

/* In a child: `fd` becomes fd 3, everything else of the fork server's is
 * closed, signals are as a fresh process has them; then the unit's
 * sandbox, hello, and the serve loop. Never returns. */
static void become_worker(fork_server *fs, int unit, int fd, int chan)
{
    pid_t self = outer_pid();
    if (fd != WORKER_FD) {
        if (dup2(fd, WORKER_FD) < 0)
            _exit(1);
        close(fd);
    }
    if (chan >= 0 && chan != EGRESS_FD) {
        if (dup2(chan, EGRESS_FD) < 0)
            _exit(1);
        close(chan);
    }
    close_range(chan >= 0 ? EGRESS_FD + 1 : WORKER_FD + 1, ~0u, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGCHLD, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);

    fs_unit *u = unit >= 0 && unit < fs->nunits ? &fs->units[unit] : NULL;
    char comm[16];
    snprintf(comm, sizeof(comm), "kumo:%s", u ? u->name : "?");
    prctl(PR_SET_NAME, comm); /* ps and /proc/PID/comm say which function */
    apply_unit_vars(unit);
    if (u == NULL || u->handle == NULL) {
        hello(self, u ? u->load_error : "the fork server has no such unit");
        _exit(1);
    }
    char report[1536], msg[2200];
    kumo__error err = {0};
    kumo__sandbox_config sc = u->sandbox;
    int listener = -1;
    sc.host_pid = self;
    sc.egress_listener = &listener;
    kumo__crash_arm(WORKER_FD, core_dir);
    if (kumo__sandbox_enter(&sc, report, sizeof(report), &err) != 0) {
        snprintf(msg, sizeof(msg), "the worker could not enter its sandbox: %s", err.msg);
        log_line(self, "error", msg);
        hello(self, msg);
        _exit(1);
    }
    if (chan >= 0) {
        kumo__fs_msg m = {.op = KUMO__FS_LISTENER};
        kumo__fs_send(EGRESS_FD, &m, listener);
        close(EGRESS_FD);
    }
    if (listener >= 0)
        close(listener); /* the supervisor's alone now: a copy here could answer its own calls */
    log_line(self, "info", report);
    if (hello(self, NULL) != 0)
        _exit(1);
    int rc = kumo__local_serve(WORKER_FD, u->handle, u->name);
    kumo__stores_close_all();
    fflush(NULL);
    /* _exit: the fork server's atexit handlers and (in sanitizer builds)
     * LeakSanitizer's exit check, which the seccomp filter refuses, are not
     * the worker's to run. */
    _exit(rc == 0 ? 0 : 1);
}

/* A fork leaves the spare's writable memory shared with the fork server,
 * copy-on-write: the first write to each page faults. And a fork copies
 * no page table entries for the code of kumo-worker, its libraries and
 * the units: the first run of each page faults too. On some virtual
 * machines a fault costs tens of microseconds (here four faults of code
 * were about 150 us of a first request). The spare pays both while it
 * waits: it writes every page of its private writable mappings (up to 64
 * MiB each; never under AddressSanitizer, whose shadow mappings are
 * terabytes) with MADV_POPULATE_WRITE, one call per mapping that breaks
 * each page's sharing without a fault per page (a write per page was 2 to
 * 3 ms of a spare's start, and the faults' trips through the hypervisor
 * delayed requests served meanwhile: the cold start's p99 fell from 1.6-3.8
 * to 0.9-1.4 ms), and maps its code and its files' read-only data (symbol
 * tables, constants, relocated pointers) with MADV_POPULATE_READ (Linux
 * 5.14; an older kernel says EINVAL and they fault in as they are used).
 * Those pages are the page cache's, shared: they show in the spare's RSS,
 * not in the memory it holds.
 *
 * Mapped is not yet touched. On this project's VM the first access to
 * each page after that still costs a trip through the hypervisor, which
 * the guest never sees as a fault (about 1 us a page of code, 3 us a page
 * of private memory, and more when the caches are cold): a spare's first
 * request spent 90 to 130 us more than a warm worker's between reading
 * its frame and writing its answer, with no fault and no system call. So
 * the spare also reads, while it waits, a byte of each page kumo-worker
 * and the units it may become have loaded (the SDK's and the handlers'
 * code, names and constants, their .data; 169 pages for bench/coldstart's
 * two units, 0.35 ms), and rehearses a request (kumo__local_rehearse),
 * which touches what the SDK's path uses of libc, jansson, the heap, the
 * stack and the .bss. That first request then spends 36 us there (a warm
 * one 15), for 0.4 to 0.5 ms more of the spare's start. Touching every mapping instead
 * gains no more and costs 1.4 ms a spare (libc, libm and SQLite are 900
 * pages; kumo-worker's .bss is mostly the crash handler's buffers). */
typedef struct own_ranges {
    const fork_server *fs;
    long page;
} own_ranges;

/* dl_iterate_phdr: reads a byte of each page of kumo-worker (the program,
 * named "") and of each unit's loaded segments. */
static int touch_own(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    const own_ranges *o = data;
    int own = info->dlpi_name == NULL || info->dlpi_name[0] == '\0';
    for (int i = 0; !own && i < o->fs->nunits; i++)
        own = o->fs->units[i].handle != NULL && strcmp(info->dlpi_name, o->fs->units[i].so) == 0;
    if (!own)
        return 0;
    unsigned long mask = (unsigned long)o->page - 1;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || ph->p_memsz == 0)
            continue;
        unsigned long start = (info->dlpi_addr + ph->p_vaddr) & ~mask;
        /* a writable segment's file part (.data, the GOT): its .bss is
         * mostly the crash handler's buffers, and what the SDK's path
         * uses of it the rehearsal touches */
        unsigned long end = info->dlpi_addr + ph->p_vaddr + ((ph->p_flags & PF_W) ? ph->p_filesz : ph->p_memsz);
        for (unsigned long a = start; a < end; a += (unsigned long)o->page)
            (void)*(volatile const char *)a;
    }
    return 0;
}

static void prefault(const fork_server *fs)
{
    if (KUMO__SANDBOX_ASAN)
        return;
    FILE *maps = fopen("/proc/self/maps", "re");
    if (maps == NULL)
        return;
    char line[512];
    long page = sysconf(_SC_PAGESIZE);
    while (fgets(line, sizeof(line), maps)) {
        unsigned long start, end;
        char perms[5];
        int path_at = 0;
        if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %n", &start, &end, perms, &path_at) < 3 || end - start > (64ul << 20))
            continue;
        if (strcmp(perms, "rw-p") == 0) {
            /* one call (Linux 5.14): the kernel breaks each page's sharing
             * without a fault per page; page by page on an older kernel */
            if (madvise((void *)start, end - start, MADV_POPULATE_WRITE) != 0 && errno == EINVAL)
                for (unsigned long a = start; a < end; a += (unsigned long)page) {
                    volatile char *p = (volatile char *)a;
                    *p = *p;
                }
        } else if ((strcmp(perms, "r-xp") == 0 || strcmp(perms, "r--p") == 0) && path_at > 0 && line[path_at] == '/') {
            madvise((void *)start, end - start, MADV_POPULATE_READ);
        }
    }
    fclose(maps);
    own_ranges o = {.fs = fs, .page = page};
    dl_iterate_phdr(touch_own, &o);
}

/* A primed spare's pid, for a hello with an error. */
static pid_t spare_self;

/* A primed spare becomes the worker of the unit its ASSIGN named
 * (kumo__local_assign_fn): its name, its variables, its CPU budget. */
static int become_assigned(void *ctx, int unit, void **handle, const char **name)
{
    fork_server *fs = ctx;
    fs_unit *u = unit < fs->nunits ? &fs->units[unit] : NULL;
    char comm[16];
    snprintf(comm, sizeof(comm), "kumo:%s", u ? u->name : "?");
    prctl(PR_SET_NAME, comm);
    if (u == NULL || u->handle == NULL) {
        hello(spare_self, u ? u->load_error : "the fork server has no such unit");
        return -ENOENT;
    }
    apply_unit_vars(unit);
    kumo__sandbox_assign(&u->sandbox);
    *handle = u->handle;
    *name = u->name;
    return 0;
}

/* A spare waits for its assignment, then becomes a worker. */
static void spare_main(fork_server *fs, int sock)
{
    pid_t self = outer_pid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_NAME, "kumo-spare");
    close(CONTROL_FD);
    close(fs->sigfd);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGCHLD, SIG_DFL);
    char report[1536], msg[2200];
    kumo__error err = {0};
    kumo__sandbox_config sc = fs->spare_sandbox;
    int listener = -1;
    sc.host_pid = self;
    sc.egress_listener = &listener;
    if (kumo__sandbox_enter_spare(&sc, report, sizeof(report), &err) != 0) {
        snprintf(msg, sizeof(msg), "a spare could not enter its sandbox: %s", err.msg);
        log_line(self, "error", msg);
        _exit(1);
    }
    if (fs->sup != NULL) {
        kumo__fs_msg lm = {.op = KUMO__FS_LISTENER};
        if (kumo__fs_send(sock, &lm, listener) != 0)
            _exit(1);
    }
    if (listener >= 0)
        close(listener); /* the supervisor's alone now */
    prefault(fs);
    (void)kumo__local_rehearse(); /* also under AddressSanitizer, so that its tests run it */
    /* The report goes out now, while nobody waits for this process: at
     * assignment a request does. */
    log_line(self, "info", report);
    fflush(stderr);
    kumo__fs_msg m;
    int fd;
    int rc = kumo__fs_recv(sock, &m, &fd);
    if (rc != 1 || m.op != KUMO__FS_ASSIGN || fd < 0)
        _exit(0); /* the fork server went away or let us go */
    close(sock);
    if (fd != WORKER_FD) {
        if (dup2(fd, WORKER_FD) < 0)
            _exit(1);
        close(fd);
    }
    /* Primed (KUMO__FS_PRIME): the loop holds the other end, and names the
     * unit when it needs a worker (become_assigned). What does not depend
     * on the unit is done now, while nobody waits: the crash handler, and
     * the hello. This process is sandboxed and every unit it may become is
     * loaded (a unit that did not load is never named to a primed spare),
     * so the loop reads the hello before it takes this spare; sent after
     * the assignment, it would wake the loop once more on the cold start's
     * path, and have the worker wait for it. The assignment is read with
     * the requests behind it, in one recv. */
    if (m.unit == -1) {
        kumo__crash_arm(WORKER_FD, core_dir);
        spare_self = self;
        if (hello(self, NULL) != 0)
            _exit(0);
        int served = kumo__local_serve_primed(WORKER_FD, become_assigned, fs);
        kumo__stores_close_all();
        fflush(NULL);
        _exit(served == 0 ? 0 : 1); /* EOF before any assignment: the loop let us go (a reload, a stop) */
    }
    fs_unit *u = m.unit >= 0 && m.unit < fs->nunits ? &fs->units[m.unit] : NULL;
    char comm[16];
    snprintf(comm, sizeof(comm), "kumo:%s", u ? u->name : "?");
    prctl(PR_SET_NAME, comm);
    apply_unit_vars(m.unit);
    if (u == NULL || u->handle == NULL) {
        hello(self, u ? u->load_error : "the fork server has no such unit");
        _exit(1);
    }
    kumo__sandbox_assign(&u->sandbox);
    kumo__crash_arm(WORKER_FD, core_dir);
    if (hello(self, NULL) != 0)
        _exit(1);
    int served = kumo__local_serve(WORKER_FD, u->handle, u->name);
    kumo__stores_close_all();
    fflush(NULL);
    _exit(served == 0 ? 0 : 1);
}

/* Whether a pre-sandboxed spare can serve `unit`. */
static int spare_fits(const fork_server *fs, int unit)
{
    if (unit < 0 || unit >= fs->nunits)
        return 0;
    const kumo__sandbox_config *c = &fs->units[unit].sandbox;
    return c->layers == fs->spare_sandbox.layers && c->net == fs->spare_sandbox.net && !c->debug;
}

/* Forks one more spare; 0 or -errno. */
static int add_spare(fork_server *fs)
{
    int sv[2];
    if (fs->nspares >= MAX_SPARES)
        return -ENOSPC;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return -e;
    }
    if (pid == 0) {
        close(sv[0]);
        spare_main(fs, sv[1]);
        _exit(0);
    }
    close(sv[1]);
    fs->spares[fs->nspares++] = (spare){pid, sv[0], fs->sup != NULL};
    return 0;
}

static void forget_spare(fork_server *fs, int i)
{
    close(fs->spares[i].sock);
    fs->spares[i] = fs->spares[--fs->nspares];
}

/* Egress rules: takes the LISTENER message of `pid` from `sock` (waiting
 * up to `wait_ms`) and hands its listener to the supervisor. 0 (also when
 * the worker had none to give: its report says why), or -1 when the
 * process is gone or said something else. */
static int take_listener(fork_server *fs, int sock, pid_t pid, const char *unit, int wait_ms)
{
    struct pollfd p = {sock, POLLIN, 0};
    if (wait_ms > 0 && poll(&p, 1, wait_ms) != 1)
        return -1;
    kumo__fs_msg m;
    int fd = -1;
    if (kumo__fs_recv(sock, &m, &fd) != 1 || m.op != KUMO__FS_LISTENER) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (fd >= 0 && kumo__egress_supervisor_add(fs->sup, pid, fd, unit) != 0)
        log_line(fs_pid, "error", "egress rules: cannot supervise a worker (out of memory, or it is gone)");
    return 0;
}

static void forget_awaiting(fork_server *fs, size_t i)
{
    close(fs->await[i].sock);
    fs->await[i] = fs->await[--fs->nawait];
}

/* The units a primed spare may become: those a spare fits whose memory
 * limit is the spare's own (the fork server is not there to rewrite it),
 * and that loaded. Bit i: unit i, for the first 32. */
static uint32_t primable_units(const fork_server *fs)
{
    uint32_t mask = 0;
    for (int i = 0; i < fs->nunits && i < 32; i++) {
        const kumo__sandbox_config *c = &fs->units[i].sandbox;
        int memory_differs = (c->layers & KUMO__SANDBOX_LIMITS) && c->memory && c->memory != fs->spare_sandbox.memory;
        if (spare_fits(fs, i) && !memory_differs && fs->units[i].handle != NULL)
            mask |= 1u << i;
    }
    return mask;
}

/* Serves one PRIME: a spare takes the socket now, and waits on it for its
 * unit; with none ready, one is forked for it (the loop primes after a
 * cold start, not during one; and a PRIME refused would be asked again,
 * each time restarting the quiet REPLENISH_DELAY_MS waits for). Not with
 * egress rules, where a worker's listener must reach the supervisor as it
 * is assigned. */
static void prime(fork_server *fs, int control, const kumo__fs_msg *req, int fd)
{
    kumo__fs_msg reply = {.op = KUMO__FS_SPAWNED, .tag = req->tag, .unit = -1, .err = EAGAIN};
    uint32_t mask = primable_units(fs);
    if (fs->sup != NULL || mask == 0 || fs->want_spares == 0)
        reply.err = EOPNOTSUPP; /* want_spares 0: --spares 0, or spares kept failing */
    else if (fs->nspares == 0)
        add_spare(fs); /* failing, the answer is EAGAIN */
    while (reply.err == EAGAIN && fs->nspares > 0) {
        spare s = fs->spares[fs->nspares - 1];
        kumo__fs_msg assign = {.op = KUMO__FS_ASSIGN, .unit = -1};
        if (kumo__fs_send(s.sock, &assign, fd) == 0) {
            close(s.sock);
            fs->nspares--;
            fs->spare_failures = 0;
            reply.pid = s.pid;
            reply.status = (int32_t)mask;
            reply.err = 0;
            track_worker(fs, s.pid);
            break;
        }
        forget_spare(fs, fs->nspares - 1); /* a dead spare: try the next */
    }
    close(fd);
    kumo__fs_send(control, &reply, -1);
}

/* Serves one SPAWN: a spare takes the socket, or a fresh fork does. */
static void spawn(fork_server *fs, int control, const kumo__fs_msg *req, int fd)
{
    kumo__fs_msg reply = {.op = KUMO__FS_SPAWNED, .tag = req->tag, .unit = req->unit};
    int chan[2] = {-1, -1};
    while (fs->nspares > 0 && spare_fits(fs, req->unit)) {
        spare s = fs->spares[fs->nspares - 1];
        if (s.listener_due && take_listener(fs, s.sock, s.pid, NULL, LISTENER_WAIT_MS) != 0) {
            kill(s.pid, SIGKILL); /* reaped as a spare */
            forget_spare(fs, fs->nspares - 1);
            continue;
        }
        fs->spares[fs->nspares - 1].listener_due = 0;
        const kumo__sandbox_config *c = &fs->units[req->unit].sandbox;
        /* The spare's cgroup holds the provisional limit: rewrite it only
         * when this unit's differs (a cgroup write costs on the cold path). */
        if ((c->layers & KUMO__SANDBOX_LIMITS) && c->memory && c->memory != fs->spare_sandbox.memory)
            kumo__sandbox_set_memory(s.pid, c->memory);
        kumo__fs_msg assign = {.op = KUMO__FS_ASSIGN, .unit = req->unit};
        if (kumo__fs_send(s.sock, &assign, fd) == 0) {
            close(s.sock);
            fs->nspares--;
            reply.pid = s.pid;
            if (fs->sup)
                kumo__egress_supervisor_assign(fs->sup, s.pid, fs->units[req->unit].name);
            fs->spare_failures = 0;
            goto out;
        }
        forget_spare(fs, fs->nspares - 1); /* a dead spare: try the next */
    }
    /* Egress rules: the worker sends its listener on a channel of its own. */
    if (fs->sup && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, chan) != 0) {
        reply.err = errno;
        goto out;
    }
    pid_t pid = fork();
    if (pid == 0)
        become_worker(fs, req->unit, fd, chan[1]);
    if (pid < 0)
        reply.err = errno;
    reply.pid = pid > 0 ? pid : 0;
    if (pid > 0 && chan[0] >= 0) {
        if (fs->nawait == fs->capawait) {
            size_t cap = fs->capawait ? 2 * fs->capawait : 16;
            awaiting *a = realloc(fs->await, cap * sizeof(*a));
            if (a != NULL) {
                fs->await = a;
                fs->capawait = cap;
            }
        }
        if (fs->nawait < fs->capawait) {
            const char *unit = req->unit >= 0 && req->unit < fs->nunits ? fs->units[req->unit].name : NULL;
            fs->await[fs->nawait++] = (awaiting){pid, chan[0], unit};
            chan[0] = -1;
        } else {
            kill(pid, SIGKILL); /* unsupervised it could not connect: better reported dead */
        }
    }
out:
    for (int i = 0; i < 2; i++)
        if (chan[i] >= 0)
            close(chan[i]);
    if (reply.pid > 0)
        track_worker(fs, reply.pid);
    close(fd);
    kumo__fs_send(control, &reply, -1);
}

static void reap(fork_server *fs, int control)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        if (pid == fs->init_pid) {
            /* Someone killed it: the kernel killed every process in the
             * namespace with it, and no more can be forked into it. */
            fs->init_pid = 0;
            log_line(fs_pid, "error", "the workers' pid namespace lost its init process; no worker can be started");
            continue;
        }
        int was_spare = 0;
        for (int i = 0; i < fs->nspares; i++)
            if (fs->spares[i].pid == pid) {
                forget_spare(fs, i);
                was_spare = 1;
                /* A spare that cannot even enter its sandbox would be
                 * replaced forever: after three in a row, stop keeping any. */
                if (++fs->spare_failures >= 3 && fs->want_spares > 0) {
                    fs->want_spares = 0;
                    log_line(fs_pid, "error", "spares keep failing; workers are forked on demand from now on");
                }
                break;
            }
        /* The worker's memory cgroup: whether the kernel killed it for
         * memory, then away with it. Done here, since removing a memory
         * cgroup can take long, and the loop must not wait for it. */
        int oom = kumo__sandbox_oom_killed(pid) == 1;
        kumo__sandbox_release(pid);
        if (fs->sup) {
            kumo__egress_supervisor_forget(fs->sup, pid);
            for (size_t i = 0; i < fs->nawait; i++)
                if (fs->await[i].pid == pid) {
                    forget_awaiting(fs, i);
                    break;
                }
        }
        if (!was_spare) {
            forget_worker(fs, pid);
            kumo__fs_msg m = {.op = KUMO__FS_EXITED, .pid = pid, .status = status, .err = oom};
            kumo__fs_send(control, &m, -1);
        }
    }
}

static int parse_count(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && s[0] != '-' && *out <= max ? 0 : -1;
}

static int parse_args(fork_server *fs, int argc, char **argv)
{
    const char *project = NULL, *data = NULL, *debug_unit = NULL;
    int net = 0;
    unsigned long long n;
    fs->want_spares = 1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--net") == 0) {
            net = 1;
        } else if (strcmp(a, "--spares") == 0 && i + 1 < argc && parse_count(argv[i + 1], MAX_SPARES, &n) == 0) {
            fs->want_spares = (int)n;
            i++;
        } else if (strcmp(a, "--project") == 0 && i + 1 < argc) {
            project = argv[++i];
        } else if (strcmp(a, "--data") == 0 && i + 1 < argc) {
            data = argv[++i];
        } else if (strcmp(a, "--core-dir") == 0 && i + 1 < argc) {
            core_dir = argv[++i];
        } else if (strcmp(a, "--debug-unit") == 0 && i + 1 < argc) {
            debug_unit = argv[++i];
        } else if (strcmp(a, "--unit") == 0 && i + 5 < argc && fs->nunits < MAX_UNITS) {
            fs_unit *u = &fs->units[fs->nunits++];
            u->name = argv[i + 1];
            u->so = argv[i + 2];
            kumo__sandbox_config *c = &u->sandbox;
            if (kumo__sandbox_parse_layers(argv[i + 3], &c->layers) != 0)
                c->layers = KUMO__SANDBOX_ALL; /* fails safe */
            if (parse_count(argv[i + 4], ~0ull, &n) != 0)
                return -1;
            c->memory = (size_t)n;
            if (parse_count(argv[i + 5], 0xffffffffull, &n) != 0)
                return -1;
            c->cpu_seconds = kumo__sandbox_cpu_seconds((unsigned)n);
            i += 5;
        } else {
            fprintf(stderr, "kumo-worker --fork-server: bad argument '%s'\n", a);
            return -1;
        }
    }
    for (int i = 0; i < fs->nunits; i++) {
        fs->units[i].sandbox.project_dir = project;
        fs->units[i].sandbox.data_dir = data;
        fs->units[i].sandbox.net = net;
        fs->units[i].sandbox.core_dumps = core_dir != NULL;
        fs->units[i].sandbox.debug = debug_unit && strcmp(debug_unit, fs->units[i].name) == 0;
    }
    /* Spares take the first unit's layers with the largest memory limit
     * and CPU budget as provisional values (set per unit at assignment). */
    if (fs->nunits > 0) {
        fs->spare_sandbox = fs->units[0].sandbox;
        fs->spare_sandbox.debug = 0; /* a debugged unit's workers are forked for it (spare_fits) */
        for (int i = 1; i < fs->nunits; i++) {
            const kumo__sandbox_config *c = &fs->units[i].sandbox;
            if (c->memory > fs->spare_sandbox.memory)
                fs->spare_sandbox.memory = c->memory;
            if (c->cpu_seconds > fs->spare_sandbox.cpu_seconds)
                fs->spare_sandbox.cpu_seconds = c->cpu_seconds;
        }
    }
    return 0;
}

/* Egress rules (sandbox/egress.h): with the network, the destinations the
 * stores' URLs name (this process's environment is the workers':
 * KUMO_STORE_<NAME>=URL), resolved now, and the supervisor that enforces
 * them; or, when this process cannot supervise, the reason every worker's
 * report gives for keeping the host's network. Never fatal. */
static void egress_start(fork_server *fs)
{
    static char skipped[300];
    if (fs->nunits == 0 || !fs->units[0].sandbox.net)
        return;
    if (!kumo__egress_can_supervise(skipped, sizeof(skipped)))
        goto out;
    if ((fs->rules = calloc(1, sizeof(*fs->rules))) == NULL) {
        snprintf(skipped, sizeof(skipped), "out of memory");
        goto out;
    }
    const char *region = getenv("AWS_REGION");
    if (region == NULL || *region == '\0')
        region = getenv("AWS_DEFAULT_REGION");
    /* The environment this process was started with (reading `environ`
     * would export it from kumo-worker, whose dynamic symbols are the
     * SDK's alone): NUL-separated, with a ceiling. */
    size_t cap = 1u << 20, len = 0;
    char *env = malloc(cap + 1);
    FILE *f = env ? fopen("/proc/self/environ", "re") : NULL;
    if (f != NULL) {
        len = fread(env, 1, cap, f);
        fclose(f);
    }
    if (env != NULL)
        env[len] = '\0';
    for (size_t at = 0; env != NULL && at < len; at += strlen(env + at) + 1) {
        static const char prefix[] = "KUMO_STORE_";
        const char *e = env + at, *eq = strchr(e, '=');
        if (strncmp(e, prefix, sizeof(prefix) - 1) != 0 || eq == NULL || eq[1] == '\0')
            continue;
        char name[64], msg[600];
        snprintf(name, sizeof(name), "%.*s", (int)(eq - e), e); /* the variable names the store in messages */
        kumo__error err = {0};
        if (kumo__egress_rules_add_url(fs->rules, name, eq + 1, region, &err) != 0) {
            snprintf(msg, sizeof(msg), "egress rules: %s; its workers may not connect there", err.msg);
            log_line(fs_pid, "warn", msg);
        }
    }
    free(env);
    char unresolved[1024], msg[1200];
    kumo__egress_rules_resolve(fs->rules, unresolved, sizeof(unresolved));
    if (*unresolved) {
        snprintf(msg, sizeof(msg), "egress rules: cannot resolve %s; the workers may not connect there", unresolved);
        log_line(fs_pid, "warn", msg);
    }
    if ((fs->sup = kumo__egress_supervisor_new(fs->rules)) == NULL) {
        snprintf(skipped, sizeof(skipped), "out of memory");
        free(fs->rules);
        fs->rules = NULL;
        goto out;
    }
out:
    for (int i = 0; i < fs->nunits; i++) {
        fs->units[i].sandbox.egress = fs->rules;
        fs->units[i].sandbox.egress_skipped = skipped;
    }
    fs->spare_sandbox.egress = fs->rules;
    fs->spare_sandbox.egress_skipped = skipped;
}

/* PID 1 of the workers' namespace: it only reaps what is handed to it
 * (nothing, while the fork server lives: workers are the fork server's
 * children). Should it end, the kernel ends every worker of the namespace;
 * it ends with the fork server (parent-death signal). */
static void on_sigchld(int sig)
{
    (void)sig;
}

static void pid_init_main(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_NAME, "kumo-pid1");
    close_range(3, ~0u, 0);
    signal(SIGCHLD, on_sigchld);
    sigset_t chld, none;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    sigemptyset(&none);
    for (;;) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        sigsuspend(&none);
    }
}

/* Workers forked from now on go into a pid namespace of their own (the
 * loop's), whose PID 1 is pid_init_main: a worker sees in /proc only that
 * namespace, and cannot name another process to signal or trace. Needs
 * CAP_SYS_ADMIN; without it the workers say so in their sandbox report. */
static int start_pid_namespace(fork_server *fs)
{
    /* (the stale cgroups, which the workers could not tell from live ones,
     * were swept at start) */
    if (unshare(CLONE_NEWPID) != 0)
        return 0;
    pid_t pid = fork();
    if (pid < 0) {
        /* The next child would be PID 1: no worker may be. */
        log_line(fs_pid, "error", "cannot fork the init process of the workers' pid namespace");
        return -1;
    }
    if (pid == 0)
        pid_init_main();
    fs->init_pid = pid;
    for (int i = 0; i < fs->nunits; i++)
        fs->units[i].sandbox.pid_ns = 1;
    fs->spare_sandbox.pid_ns = 1;
    return 0;
}

int kumo__forkserver_main(int argc, char **argv)
{
    fs_pid = getpid();
    fork_server *fs = calloc(1, sizeof(*fs));
    if (fs == NULL)
        return 1;
    if (parse_args(fs, argc, argv) != 0) {
        free(fs);
        fprintf(stderr, "usage: kumo-worker --fork-server [--spares N] [--project DIR] [--data DIR] [--net] "
                        "[--core-dir DIR] [--debug-unit NAME] "
                        "--unit NAME SO LAYERS MEMORY TIMEOUT_MS ... (started by kumo, control socket on fd 3)\n");
        return 2;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_NAME, "kumo-forkserver");
    if (getppid() == 1) {
        free(fs);
        return 1;
    }
    /* Only fds 0-3 are ours: any other the gateway let through (one not
     * close-on-exec) would live on in every spare and worker, and a copy
     * of another fork server's control socket would keep that one from
     * seeing the loop close it. */
    close_range(CONTROL_FD + 1, ~0u, 0);
    /* Spares and workers of a fork server that was killed died by their
     * parent-death signal, with nobody to remove their cgroups. */
    kumo__sandbox_sweep();
    signal(SIGPIPE, SIG_IGN);
    load_unit_vars();
    for (int i = 0; i < fs->nunits; i++) {
        fs_unit *u = &fs->units[i];
        if ((u->handle = dlopen(u->so, RTLD_NOW | RTLD_LOCAL)) == NULL) {
            const char *why = dlerror();
            snprintf(u->load_error, sizeof(u->load_error), "%s", why ? why : "dlopen failed");
        } else {
            kumo__local_preload(u->handle); /* failing, workers look their handlers up with dlsym */
        }
    }
    /* after the units: their paths and addresses are in the table */
    kumo__crash_prepare();
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    if ((fs->sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
        perror("kumo-worker --fork-server: signalfd");
        free(fs);
        return 1;
    }
    /* jansson seeds its hash function from /dev/urandom on first use:
     * once here, so that no worker pays it on its first request. */
    json_object_seed(0);
    egress_start(fs);
    int namespaces = 0;
    for (int i = 0; i < fs->nunits; i++)
        namespaces |= (fs->units[i].sandbox.layers & KUMO__SANDBOX_NAMESPACES) != 0;
    if (namespaces && start_pid_namespace(fs) != 0) {
        close(fs->sigfd);
        free(fs);
        return 1;
    }
    while (fs->nspares < fs->want_spares && add_spare(fs) == 0)
        ;
    int replenish = 0;
    struct pollfd *pfd = NULL;
    size_t cappfd = 0;
    for (;;) {
        /* control, signals, then (egress rules) the spares' and workers'
         * listeners still to come, and the supervisor's descriptors */
        size_t want = 2 + (size_t)fs->nspares + fs->nawait + kumo__egress_supervisor_nfds(fs->sup);
        if (want > cappfd) {
            struct pollfd *grown = realloc(pfd, want * sizeof(*pfd));
            if (grown == NULL)
                break;
            pfd = grown;
            cappfd = want;
        }
        size_t npfd = 2, spares_at = 2, await_at, sup_at;
        pfd[0] = (struct pollfd){CONTROL_FD, POLLIN, 0};
        pfd[1] = (struct pollfd){fs->sigfd, POLLIN, 0};
        for (int i = 0; i < fs->nspares; i++)
            pfd[npfd++] = (struct pollfd){fs->spares[i].listener_due ? fs->spares[i].sock : -1, POLLIN, 0};
        await_at = npfd;
        for (size_t i = 0; i < fs->nawait; i++)
            pfd[npfd++] = (struct pollfd){fs->await[i].sock, POLLIN, 0};
        sup_at = npfd;
        if (fs->sup)
            npfd += kumo__egress_supervisor_pollfds(fs->sup, pfd + npfd, cappfd - npfd);
        /* A spare taken is replaced once the loop has been quiet for
         * REPLENISH_DELAY_MS: forking, sandboxing and prefaulting the next
         * one would otherwise compete for the CPU with the worker serving
         * its first request. A burst keeps the loop busy, and its spawns
         * fork on demand meanwhile. */
        int n = poll(pfd, (nfds_t)npfd, replenish ? REPLENISH_DELAY_MS : -1);
        if (n == 0) {
            replenish = 0;
            while (fs->nspares < fs->want_spares && add_spare(fs) == 0)
                ;
            continue;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        /* The supervisor first: a worker may be waiting in connect(). */
        if (fs->sup)
            kumo__egress_supervisor_handle(fs->sup, pfd + sup_at, npfd - sup_at);
        for (size_t i = spares_at; i < await_at; i++) {
            int k = (int)(i - spares_at);
            if (pfd[i].revents == 0 || k >= fs->nspares || fs->spares[k].sock != pfd[i].fd)
                continue;
            if (take_listener(fs, fs->spares[k].sock, fs->spares[k].pid, NULL, 0) != 0)
                kill(fs->spares[k].pid, SIGKILL); /* reaped as a spare */
            fs->spares[k].listener_due = 0;
        }
        for (size_t i = sup_at; i-- > await_at;) {
            size_t k = i - await_at;
            if (pfd[i].revents == 0 || k >= fs->nawait || fs->await[k].sock != pfd[i].fd)
                continue;
            take_listener(fs, fs->await[k].sock, fs->await[k].pid, fs->await[k].unit, 0);
            forget_awaiting(fs, k); /* given, or the worker is gone: reaped as usual */
        }
        if (pfd[1].revents) {
            struct signalfd_siginfo si;
            while (read(fs->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                ;
            reap(fs, CONTROL_FD);
        }
        if (pfd[0].revents) {
            kumo__fs_msg m;
            int fd;
            int rc = kumo__fs_recv(CONTROL_FD, &m, &fd);
            if (rc == 0 || (rc < 0 && rc != -EAGAIN && rc != -EPROTO))
                break; /* the loop went away */
            if (rc == 1 && m.op == KUMO__FS_SPAWN && fd >= 0)
                spawn(fs, CONTROL_FD, &m, fd);
            else if (rc == 1 && m.op == KUMO__FS_PRIME && fd >= 0)
                prime(fs, CONTROL_FD, &m, fd);
            else if (fd >= 0)
                close(fd);
        }
        replenish = fs->nspares < fs->want_spares;
    }
    /* Every child goes with us, and so does every memory cgroup a spare or
     * a worker made: left to their parent-death signal, they would die
     * with nobody to remove their cgroups. The loop has closed the
     * workers' sockets already when it drains, so normally none is left. */
    for (int i = fs->nspares - 1; i >= 0; i--) {
        kill(fs->spares[i].pid, SIGKILL);
        forget_spare(fs, i);
    }
    for (size_t i = 0; i < fs->nworkers; i++)
        kill(fs->workers[i], SIGKILL);
    if (fs->init_pid > 0) /* it takes what is left of the namespace along */
        kill(fs->init_pid, SIGKILL);
    for (;;) {
        pid_t pid = waitpid(-1, NULL, 0);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0)
            break; /* ECHILD: none left */
        if (pid != fs->init_pid)
            kumo__sandbox_release(pid);
    }
    close(fs->sigfd);
    free(pfd);
    kumo__egress_supervisor_free(fs->sup);
    while (fs->nawait > 0)
        forget_awaiting(fs, fs->nawait - 1);
    free(fs->await);
    free(fs->rules);
    free(fs->workers);
    free(fs);
    return 0;
}
