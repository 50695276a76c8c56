/*
 * main.c: kumo-worker, the process that hosts one function unit.
 *
 *     kumo-worker UNIT.so FUNCTION      (the gateway's socket on fd 3)
 *     kumo-worker --fork-server ...     (forkserver.c: workers forked from it)
 *
 * It loads the unit, says hello (its pid, or why the load failed), then
 * serves invocations through the local adapter until the gateway closes the
 * socket. kumo-worker exports libkumo's public symbols, which the unit
 * resolves at dlopen time.
 */
#include <dlfcn.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "base/log.h"
#include "worker/worker.h"
#include "proto/fsproto.h"
#include "proto/frame.h"
#include "sandbox/sandbox.h"
#include "sdk/sdk.h"

#define WORKER_FD 3

#if KUMO__SANDBOX_ASAN
/* AddressSanitizer's defaults for this program (ASAN_OPTIONS in its
 * environment, which reaches the fork server and its workers, still wins
 * for the keys it sets).
 * Freed memory waits in a quarantine of 256 MB by default, so that a use
 * after free finds it poisoned. Under the sandbox's memory limit (128 MiB
 * by default) a sanitized worker reached the limit after a few thousand
 * requests and the cgroup's OOM killer stopped it in the middle of one (27
 * times in 30 s of POST /todos on examples/todo, RSS 130 MiB and more; a
 * release build's stays at 6.7 MiB). 16 MB of quarantine still catches a
 * use soon after the free, and keeps the worker near its real size (35
 * MiB, no OOM kill, in the same load). Exported: the runtime, a shared
 * library, looks it up in the executable. */
__attribute__((visibility("default"))) const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "quarantine_size_mb=16";
}
#endif

static int hello(const char *error)
{
    return kumo__frame_send_hello(WORKER_FD, (uint32_t)getpid(), error);
}

static void usage(void)
{
    fprintf(stderr, "usage: kumo-worker UNIT.so FUNCTION [--sandbox LAYERS|none] [--memory BYTES] "
                    "[--timeout-ms MS] [--project DIR] [--data DIR] [--core-dir DIR] [--net] [--debug]\n"
                    "(started by kumo, with its socket on fd 3)\n");
}

static int parse_number(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && s[0] != '-' ? 0 : -EINVAL;
}

/* --core-dir: where a crash leaves its core dump (crash.c); NULL: none. */
static const char *core_dir;

/* 0 and *c filled, or -EINVAL after printing what was wrong. */
static int parse_options(int argc, char **argv, kumo__sandbox_config *c)
{
    memset(c, 0, sizeof(*c));
    c->layers = KUMO__SANDBOX_ALL;
    for (int i = 3; i < argc; i++) {
        const char *opt = argv[i];
        unsigned long long n;
        if (strcmp(opt, "--debug") == 0) {
            c->debug = 1;
            continue;
        }
        if (strcmp(opt, "--net") == 0) {
            c->net = 1;
            /* the egress rules' supervisor is a fork server's (forkserver.c) */
            c->egress_skipped = "a worker started on its own, not by a fork server, has no supervisor";
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "kumo-worker: %s needs a value\n", opt);
            return -EINVAL;
        }
        const char *v = argv[++i];
        if (strcmp(opt, "--sandbox") == 0) {
            /* Fails safe: a list it cannot read means every layer. */
            if (kumo__sandbox_parse_layers(v, &c->layers) != 0) {
                fprintf(stderr,
                        "kumo-worker: --sandbox '%s': expected seccomp,namespaces,limits,no_new_privs or "
                        "none; applying every layer\n",
                        v);
                c->layers = KUMO__SANDBOX_ALL;
            }
        } else if (strcmp(opt, "--memory") == 0 && parse_number(v, &n) == 0) {
            c->memory = (size_t)n;
        } else if (strcmp(opt, "--timeout-ms") == 0 && parse_number(v, &n) == 0 && n <= 0xffffffffull) {
            c->cpu_seconds = kumo__sandbox_cpu_seconds((unsigned)n);
        } else if (strcmp(opt, "--project") == 0) {
            c->project_dir = v;
        } else if (strcmp(opt, "--data") == 0) {
            c->data_dir = v;
        } else if (strcmp(opt, "--core-dir") == 0) {
            c->core_dumps = 1;
            core_dir = v;
        } else {
            fprintf(stderr, "kumo-worker: unknown option or bad value: %s %s\n", opt, v);
            return -EINVAL;
        }
    }
    return 0;
}

/* One JSON line on stderr, as the gateway's own log lines are. */
/* One log line (base/log.h) about this worker. */
static void log_line(const char *level, const char *msg)
{
    kumo__logline l;
    kumo__logline_begin(&l, level, msg, strlen(msg));
    kumo__logline_int(&l, "worker_pid", getpid());
    kumo__logline_write(&l, 2);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--fork-server") == 0)
        return kumo__forkserver_main(argc, argv);
    kumo__sandbox_config sandbox;
    if (argc < 3 || parse_options(argc, argv, &sandbox) != 0) {
        usage();
        return 2;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        return 1;
    signal(SIGPIPE, SIG_IGN);

    void *unit = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (unit == NULL) {
        const char *why = dlerror();
        hello(why ? why : "dlopen failed");
        return 1;
    }
    kumo__crash_prepare();
    kumo__crash_arm(WORKER_FD, core_dir);
    char report[1536], msg[2200];
    kumo__error err = {0};
    if (kumo__sandbox_enter(&sandbox, report, sizeof(report), &err) != 0) {
        snprintf(msg, sizeof(msg), "the worker could not enter its sandbox: %s", err.msg);
        log_line("error", msg);
        hello(msg);
        return 1;
    }
    log_line("info", report);
    if (hello(NULL) != 0)
        return 1;
    int rc = kumo__local_serve(WORKER_FD, unit, argv[2]);
    kumo__stores_close_all();
    if (KUMO__SANDBOX_ASAN && (sandbox.layers & KUMO__SANDBOX_SECCOMP)) {
        /* LeakSanitizer's exit check stops the world with a tracer process
         * (clone without CLONE_THREAD, then ptrace), which the filter
         * refuses; it would print a fatal error instead of a report. So a
         * sandboxed worker in a sanitizer build ends without it. */
        fflush(NULL);
        _exit(rc == 0 ? 0 : 1);
    }
    return rc == 0 ? 0 : 1;
}
