/*
 * sandbox.h: the walls around a worker process (docs/sandbox.md).
 *
 * A worker runs a function unit's code as the gateway's user, which on a
 * server is often root. kumo__sandbox_enter() is called by the worker
 * itself, after the unit is loaded and before the first invocation, and
 * narrows what that code can do, in this order:
 *
 *   1. limits: a memory cgroup of its own (else RLIMIT_AS), RLIMIT_NOFILE,
 *      RLIMIT_CORE 0, and a CPU backstop (SIGXCPU) behind the gateway's
 *      deadline kill (the cgroup is joined first, while /sys/fs/cgroup is
 *      still writable);
 *   2. namespaces: mount (/ read-only, the data dir and a private /tmp
 *      writable, secrets masked), ipc, and net (with the egress rules'
 *      /etc/hosts when a store lives on a server, egress.h);
 *   3. no_new_privs: PR_SET_NO_NEW_PRIVS, non-dumpable, and every
 *      capability dropped;
 *   4. seccomp: a syscall allow-list; fork, exec and listening sockets fail
 *      with EPERM, and ptrace, mount, bpf and the like kill the process;
 *      under egress rules, socket() for TCP and every connect() go to the
 *      fork server's supervisor (worker/egress_supervisor.c).
 *
 * It changes nothing but the process it runs in, so a spawned worker, a
 * forked one or a test can call it. sandbox.c holds the spawner's side
 * (describe, OOM check, release) and links without libseccomp;
 * sandbox_enter.c holds kumo__sandbox_enter and needs it.
 */
#ifndef KUMO_SANDBOX_H
#define KUMO_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"

enum kumo__sandbox_layer {
    KUMO__SANDBOX_SECCOMP = 1u << 0,
    KUMO__SANDBOX_NAMESPACES = 1u << 1,
    KUMO__SANDBOX_LIMITS = 1u << 2,
    KUMO__SANDBOX_NO_NEW_PRIVS = 1u << 3,
    KUMO__SANDBOX_ALL = 0xfu,
};

struct kumo__egress_rules; /* sandbox/egress.h */

typedef struct kumo__sandbox_config {
    unsigned layers;         /* KUMO__SANDBOX_* bits; 0: no sandbox */
    size_t memory;           /* bytes; 0: no memory limit */
    unsigned cpu_seconds;    /* CPU backstop; 0: none (see kumo__sandbox_cpu_seconds) */
    unsigned open_files;     /* RLIMIT_NOFILE; 0: 256 */
    int net;                 /* 1: keep the network (a remote store needs it) */
    const char *project_dir; /* made read-only in the mount namespace; NULL: none */
    const char *data_dir;    /* stays writable (the SQLite store); NULL: none */
    int pid_ns;              /* 1: the worker was forked into a pid namespace (the fork
                                server's, see forkserver.c); /proc is mounted anew for it */
    pid_t host_pid;          /* the worker's pid outside that namespace, which names its
                                cgroup; 0: getpid() */
    int debug;               /* 1: kumo dev --debug: the worker stays dumpable and lets any process
                                of its user trace it (PR_SET_PTRACER), for a debugger */
    int core_dumps;          /* 1: a crash may leave a core (kumo up --core-dumps): RLIMIT_CORE
                                at its hard limit and the process stays dumpable */
    /* With net: the destinations the stores name (sandbox/egress.h). Set,
     * the worker gets an empty net namespace all the same, and its socket
     * and connect calls go to the fork server's supervisor through a
     * seccomp listener, put in *egress_listener (-1: none, the report says
     * why). NULL: the worker keeps the host's network, unchecked, and
     * egress_skipped says why in the report. */
    const struct kumo__egress_rules *egress;
    const char *egress_skipped;
    int *egress_listener;
} kumo__sandbox_config;

/* Parses "seccomp,namespaces,limits,no_new_privs" or "none" (or "all")
 * into KUMO__SANDBOX_* bits: 0 and *layers set, or -EINVAL for an unknown
 * word. */
int kumo__sandbox_parse_layers(const char *list, unsigned *layers);

/* The CPU backstop for an invocation timeout: the timeout rounded up to
 * whole seconds, plus one second of margin. */
unsigned kumo__sandbox_cpu_seconds(unsigned timeout_ms);

/* Enters the sandbox in the calling process; cannot be undone. Returns 0
 * with `report` (may be NULL) describing the active layers and any that
 * were skipped and why ("sandbox: seccomp, ... ; skipped: ..."). Returns
 * a negative errno with `err` saying which step failed when a layer that
 * should work did not; the caller must then not run untrusted code. A
 * layer that cannot work here (no cgroup, no privilege for namespaces) is
 * skipped and named in the report, not an error. */
int kumo__sandbox_enter(const kumo__sandbox_config *c, char *report, size_t report_len, kumo__error *err);

/* Describes what kumo__sandbox_enter would apply, without entering it,
 * for the gateway's start-up line. Does not probe the machine beyond
 * checking which cgroup version is writable. */
void kumo__sandbox_describe(const kumo__sandbox_config *c, char *out, size_t len);

/* For the process that spawned worker `pid` (its memory cgroup is a child
 * of the spawner's own, named kumo-worker-<pid>): 1 when the kernel's OOM
 * killer killed a process in it, 0 when not or when it has none, negative
 * errno when it cannot be read. Call before kumo__sandbox_release. */
int kumo__sandbox_oom_killed(pid_t pid);

/* Spares (forkserver.c): a child forked ahead of demand enters the parts of
 * the sandbox that do not depend on the unit while it waits — the memory
 * cgroup (with a provisional limit), namespaces, limits, no_new_privs,
 * seccomp — with the CPU backstop armed from its first CPU second. When it
 * is assigned a unit, the fork server sets the unit's memory limit on its
 * cgroup (kumo__sandbox_set_memory) and the spare takes the unit's CPU
 * budget (kumo__sandbox_assign, which makes no system call). */
int kumo__sandbox_enter_spare(const kumo__sandbox_config *c, char *report, size_t report_len, kumo__error *err);
void kumo__sandbox_assign(const kumo__sandbox_config *c);

/* Removes the memory cgroups (kumo-worker-<pid> beside the caller's own
 * children) of processes that are gone: a crashed gateway's, or those of a
 * fork server's spares and workers killed with it. The fork server sweeps
 * when it starts (its workers, in a pid namespace, cannot tell which are
 * gone), and the spawner after a fork server died. kumo__sandbox_sweep_dir
 * does it in `base`, sparing `self`'s. */
void kumo__sandbox_sweep(void);
void kumo__sandbox_sweep_dir(const char *base, pid_t self);
/* Sets the memory limit of worker `pid`'s cgroup: 0, or -errno (-ENOENT
 * when it has none). */
int kumo__sandbox_set_memory(pid_t pid, size_t bytes);

/* Removes worker `pid`'s memory cgroup once the worker has been reaped.
 * Harmless when it has none. */
void kumo__sandbox_release(pid_t pid);

/* ---- shared by sandbox.c and sandbox_enter.c ---- */

#define KUMO__SANDBOX_OPEN_FILES 256 /* RLIMIT_NOFILE when the config says 0 */

/* AddressSanitizer reserves terabytes of address space: RLIMIT_AS cannot
 * bound such a process, and LeakSanitizer's exit check needs ptrace. */
#if defined(__SANITIZE_ADDRESS__)
#define KUMO__SANDBOX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KUMO__SANDBOX_ASAN 1
#endif
#endif
#ifndef KUMO__SANDBOX_ASAN
#define KUMO__SANDBOX_ASAN 0
#endif

#define KUMO__SANDBOX_CGROUP_PREFIX "kumo-worker-"

/* The directory of the calling process's own memory cgroup: 1 (v1) or 2
 * (v2, with the memory controller delegated to children), or 0 with `why`
 * when there is none it could use. */
int kumo__sandbox_memory_cgroup(char *dir, size_t len, char *why, size_t whylen);
/* Appends printf-style to a NUL-terminated buffer, truncating. */
void kumo__sandbox_append(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Whole small files: 0 or negative errno. */
int kumo__sandbox_write_file(const char *path, const char *text);
int kumo__sandbox_read_file(const char *path, char *buf, size_t len);
/* Appends "limits (memory 64 MiB via <how>, cpu N s, files N, no core)". */
void kumo__sandbox_describe_limits(const kumo__sandbox_config *c, const char *memory_how, char *out, size_t len);

#endif
