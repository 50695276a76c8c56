/*
 * crash_report.c: the log line of a worker that crashed, with its
 * backtrace in words (docs/debugging.md).
 *
 * A worker dying of a fatal signal writes a KUMO__FRAME_CRASH first
 * (worker/crash.c): the signal, the faulting address and each frame as an
 * object path and an offset. Its pool keeps that until the exit status is
 * known, answers the invocation (502) at once, and hands the report here
 * (kumo__gw_on_crash, on the loop's thread). Symbolizing means running
 * addr2line on each object (units are built with -g), which takes tens of
 * milliseconds, so it is done on a thread of its own, detached, at most
 * THREADS_MAX at a time; past that the line is written at once with the
 * raw offsets. The line:
 *
 *   {"level":"error","msg":"worker 4242 of function 'faults' crashed:
 *    SIGSEGV (Segmentation fault) at address 0x0 in crash_now at
 *    functions/crash.c:12","request_id":"..","function":"faults",
 *    "worker_pid":4242,"signal":"SIGSEGV","backtrace":["#0 crash_now at
 *    functions/crash.c:12","#1 kumo__local_serve at ...",...],
 *    "core":"/proj/.kumo/data/cores/core.faults.4242"}
 *
 * File names under the project are shown relative to it. With core dumps
 * on (kumo up --core-dumps), the worker moved into a directory of its own
 * before dying (a relative core_pattern writes there); the core found in
 * it is renamed to core.<function>.<pid> beside it, and the line says
 * where it is, or why there is none.
 */
#include "gateway/gateway_internal.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "proto/frame.h"

#define THREADS_MAX 4
#define FRAMES_MAX 64
#define OUTPUT_MAX (256u << 10) /* addr2line's answer for one object */
#define LINE_MAX_ 400           /* one frame in words */
#define ADDR2LINE_MS 10000      /* at most, for one object */

typedef struct crash_frame {
    char *module; /* "" when the PC was in no known object */
    unsigned long long offset;
    int exact;
    char text[LINE_MAX_]; /* "crash_now at functions/crash.c:12"; "" until symbolized */
    char inlined[3][LINE_MAX_];
    int ninlined;
    int own[4]; /* text (0) or inlined[k] (k+1) is in a file of the project's own */
} crash_frame;

typedef struct crash_job {
    char *project_dir, *unit, *request_id, *core_dir, *worker_core_dir;
    pid_t pid;
    int status, sig;
    unsigned long long addr;
    crash_frame frames[FRAMES_MAX];
    int nframes;
} crash_job;

static atomic_int running;

static void job_free(crash_job *j)
{
    if (j == NULL)
        return;
    for (int i = 0; i < j->nframes; i++)
        free(j->frames[i].module);
    free(j->project_dir);
    free(j->unit);
    free(j->request_id);
    free(j->core_dir);
    free(j->worker_core_dir);
    free(j);
}

static uint64_t le(const char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | (unsigned char)p[i];
    return v;
}

/* ---- addr2line ------------------------------------------------------------ */

/* Runs addr2line on `module` for the frames of it; fills their text.
 * 0, or -errno when addr2line could not run. */
static int symbolize_module(crash_job *j, const char *module)
{
    char *argv[9 + FRAMES_MAX]; /* 8 words, the addresses, NULL */
    char addrs[FRAMES_MAX][24];
    int idx[FRAMES_MAX], n = 0, argc = 0;
    argv[argc++] = "addr2line";
    argv[argc++] = "-a";
    argv[argc++] = "-f";
    argv[argc++] = "-C";
    argv[argc++] = "-i";
    argv[argc++] = "-p";
    argv[argc++] = "-e";
    argv[argc++] = (char *)module;
    for (int i = 0; i < j->nframes; i++) {
        crash_frame *f = &j->frames[i];
        if (strcmp(f->module, module) != 0)
            continue;
        /* a return address points after the call: its line is the call's */
        snprintf(addrs[n], sizeof(addrs[n]), "0x%llx", f->offset - (f->exact || f->offset == 0 ? 0 : 1));
        argv[argc++] = addrs[n];
        idx[n++] = i;
    }
    argv[argc] = NULL;
    /* The paths come from the worker, which runs the handler's code: only
     * regular files are read (a FIFO it made would block addr2line). */
    struct stat st;
    if (stat(module, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return -errno;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    extern char **environ;
    int rc = posix_spawnp(&pid, "addr2line", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        return -rc;
    }
    char *out = malloc(OUTPUT_MAX + 1);
    size_t len = 0;
    uint64_t until = kumo__mono_ms() + ADDR2LINE_MS;
    for (;;) {
        uint64_t now = kumo__mono_ms();
        struct pollfd pfd = {pipefd[0], POLLIN, 0};
        int ready = now < until ? poll(&pfd, 1, (int)(until - now)) : 0;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0) { /* a file that keeps it busy: given up */
            kill(pid, SIGKILL);
            break;
        }
        ssize_t got = out ? read(pipefd[0], out + len, OUTPUT_MAX - len) : -1;
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0 || (len += (size_t)got) == OUTPUT_MAX)
            break;
    }
    close(pipefd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (out == NULL)
        return -ENOMEM;
    out[len] = '\0';
    /* -a: each address's answer starts with "0x...: "; -i adds lines
     * " (inlined by) caller at file:line" after it. */
    int k = -1;
    size_t plen = strlen(j->project_dir);
    for (char *line = out, *next; *line && k < n; line = next) {
        next = line + strcspn(line, "\n");
        if (*next)
            *next++ = '\0';
        const char *text = line;
        int inlined = 0;
        if (strncmp(line, "0x", 2) == 0 && strstr(line, ": ") != NULL) {
            k++;
            text = strstr(line, ": ") + 2;
        } else if (strncmp(line, " (inlined by) ", 14) == 0) {
            text = line + 14;
            inlined = 1;
        } else {
            continue;
        }
        if (k < 0 || k >= n)
            continue;
        crash_frame *f = &j->frames[idx[k]];
        /* "?? at ??:0" or "func at ??:?": nothing known, or no line */
        if (strncmp(text, "?? ", 3) == 0)
            continue;
        char shown[LINE_MAX_];
        const char *at = strstr(text, " at ");
        int own = at && plen && strncmp(at + 4, j->project_dir, plen) == 0 && at[4 + plen] == '/';
        if (own)
            snprintf(shown, sizeof(shown), "%.*s at %s", (int)(at - text), text, at + 4 + plen + 1);
        else
            snprintf(shown, sizeof(shown), "%s", text);
        if (!inlined) {
            snprintf(f->text, sizeof(f->text), "%s", shown);
            f->own[0] = own;
        } else if (f->ninlined < 3) {
            f->own[f->ninlined + 1] = own;
            snprintf(f->inlined[f->ninlined++], sizeof(f->inlined[0]), "%s", shown);
        }
    }
    free(out);
    return 0;
}

/* ---- the core ------------------------------------------------------------- */

/* Moves the core the kernel wrote into the worker's directory to
 * core.<function>.<pid> beside it; `where` says where it is, or why
 * there is none. */
static void place_core(crash_job *j, char *where, size_t len)
{
    char pattern[256] = "";
    FILE *f = fopen("/proc/sys/kernel/core_pattern", "re");
    if (f) {
        if (fgets(pattern, sizeof(pattern), f) == NULL)
            pattern[0] = '\0';
        fclose(f);
        pattern[strcspn(pattern, "\n")] = '\0';
    }
    /* The directory's name comes from the worker (its pid in its own
     * namespace): only core_dir/pid-DIGITS is looked into, and only a
     * regular file in it is moved. */
    size_t clen = strlen(j->core_dir);
    const char *w = j->worker_core_dir;
    int valid = w && strncmp(w, j->core_dir, clen) == 0 && strncmp(w + clen, "/pid-", 5) == 0 && w[clen + 5] &&
                strspn(w + clen + 5, "0123456789") == strlen(w + clen + 5);
    if (!valid) {
        snprintf(where, len, "none: the worker could not make its core directory under %s", j->core_dir);
        return;
    }
    DIR *d = opendir(j->worker_core_dir);
    struct dirent *e;
    char found[PATH_MAX] = "";
    struct stat st;
    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && found[0] == '\0' &&
            snprintf(found, sizeof(found), "%s/%s", j->worker_core_dir, e->d_name) < (int)sizeof(found) &&
            (lstat(found, &st) != 0 || !S_ISREG(st.st_mode)))
            found[0] = '\0';
    if (d)
        closedir(d);
    char dest[PATH_MAX];
    snprintf(dest, sizeof(dest), "%s/core.%s.%ld", j->core_dir, j->unit, (long)j->pid);
    if (found[0] && rename(found, dest) == 0)
        snprintf(where, len, "%s", dest);
    else if (found[0])
        snprintf(where, len, "%s (could not be renamed: %s)", found, strerror(errno));
    else if (pattern[0] == '|')
        snprintf(where, len, "handed to '%s' (this machine's kernel.core_pattern pipes cores to a program)",
                 pattern + 1);
    else if (WIFSIGNALED(j->status) && WCOREDUMP(j->status))
        snprintf(where, len, "written by the kernel.core_pattern '%s' (a path outside the worker's directory)",
                 pattern);
    else
        snprintf(where, len,
                 "none was written (kernel.core_pattern is '%s'; the core limit or the pattern's "
                 "directory may forbid it)",
                 pattern);
    rmdir(j->worker_core_dir);
}

/* ---- the line ------------------------------------------------------------- */

static void json_str(char *out, size_t cap, size_t *n, const char *s)
{
    if (*n + 2 >= cap)
        return;
    out[(*n)++] = '"';
    for (; *s && *n + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[(*n)++] = '\\';
            out[(*n)++] = (char)c;
        } else if (c < 0x20) {
            *n += (size_t)snprintf(out + *n, cap - *n, "\\u%04x", c);
        } else {
            out[(*n)++] = (char)c;
        }
    }
    out[(*n)++] = '"';
}

static void write_line(crash_job *j, int symbolized, const char *why_raw)
{
    char entries[FRAMES_MAX * 4][LINE_MAX_ + 16];
    int nentries = 0;
    const char *top = NULL;
    size_t plen = strlen(j->project_dir);
    for (int i = 0; i < j->nframes; i++) {
        crash_frame *f = &j->frames[i];
        char raw[LINE_MAX_];
        const char *mod = f->module[0] ? f->module : "?";
        if (plen && strncmp(mod, j->project_dir, plen) == 0 && mod[plen] == '/')
            mod += plen + 1;
        snprintf(raw, sizeof(raw), "?? in %s+0x%llx", mod, f->offset);
        /* -i lists the innermost (inlined) function first, then its callers */
        const char *texts[4];
        int nt = 0;
        texts[nt++] = f->text[0] ? f->text : raw;
        for (int k = 0; k < f->ninlined; k++)
            texts[nt++] = f->inlined[k];
        for (int k = 0; k < nt && nentries < FRAMES_MAX * 4; k++) {
            snprintf(entries[nentries], sizeof(entries[0]), "#%d %s", nentries, texts[k]);
            /* the first frame in the project's own sources names the crash */
            if (top == NULL && f->text[0] && f->own[k])
                top = texts[k];
            nentries++;
        }
    }
    if (top == NULL && nentries > 0)
        top = entries[0] + 3;
    char where[PATH_MAX + 200] = "";
    if (j->core_dir)
        place_core(j, where, sizeof(where));

    char signame[16] = "signal";
    const char *abbrev = sigabbrev_np(j->sig);
    if (abbrev)
        snprintf(signame, sizeof(signame), "SIG%s", abbrev);
    char addr[48] = "";
    if (j->sig == SIGSEGV || j->sig == SIGBUS)
        snprintf(addr, sizeof(addr), " at address 0x%llx", j->addr);
    char msg[1024];
    snprintf(msg, sizeof(msg), "worker %ld of function '%s' crashed: %s (%s)%s%s%s%s", (long)j->pid, j->unit, signame,
             strsignal(j->sig), addr, top ? " in " : "", top ? top : "", symbolized ? "" : why_raw);
    kumo__logline l;
    kumo__logline_begin(&l, "error", msg, strlen(msg));
    if (j->request_id[0])
        kumo__logline_cstr(&l, "request_id", j->request_id);
    kumo__logline_cstr(&l, "function", j->unit);
    kumo__logline_int(&l, "worker_pid", j->pid);
    kumo__logline_cstr(&l, "signal", signame);
    char arr[6144];
    size_t n = 0;
    arr[n++] = '[';
    for (int i = 0; i < nentries && n + LINE_MAX_ * 2 < sizeof(arr); i++) {
        if (i)
            arr[n++] = ',';
        json_str(arr, sizeof(arr), &n, entries[i]);
    }
    arr[n++] = ']';
    kumo__logline_json(&l, "backtrace", arr, n);
    if (where[0])
        kumo__logline_cstr(&l, "core", where);
    kumo__logline_write(&l, 2);
}

static void symbolize(crash_job *j)
{
    const char *why = "";
    for (int i = 0; i < j->nframes; i++) {
        crash_frame *f = &j->frames[i];
        int done = 0;
        for (int k = 0; k < i && !done; k++)
            done = strcmp(j->frames[k].module, f->module) == 0;
        if (done || f->module[0] == '\0')
            continue;
        int rc = symbolize_module(j, f->module);
        if (rc == -ENOENT) {
            why = " (no symbols: addr2line is not installed; install binutils)";
            break;
        }
    }
    write_line(j, why[0] == '\0', why);
}

static void *report_main(void *arg)
{
    crash_job *j = arg;
    symbolize(j);
    job_free(j);
    atomic_fetch_sub(&running, 1);
    return NULL;
}

/* The job from the pool's report: copies of everything (the pool's memory
 * is valid during the call only). NULL when out of memory. */
static crash_job *job_make(const generation *g, const kumo__crash *c, const char *core_dir)
{
    crash_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return NULL;
    j->pid = c->pid;
    j->status = c->status;
    j->sig = WIFSIGNALED(c->status) ? WTERMSIG(c->status) : 0;
    j->project_dir = strdup(g->project->dir);
    j->unit = strdup(c->unit_name);
    j->request_id = strdup(c->request_id ? c->request_id : "");
    j->core_dir = core_dir ? strdup(core_dir) : NULL;
    if (j->project_dir == NULL || j->unit == NULL || j->request_id == NULL || (core_dir && j->core_dir == NULL)) {
        job_free(j);
        return NULL;
    }
    kumo__frame_reader r;
    kumo__frame_field f;
    kumo__frame_reader_init(&r, c->payload, c->len);
    while (kumo__frame_next(&r, &f) > 0) {
        uint32_t u32;
        uint64_t u64;
        if (f.tag == KF_SIGNAL && kumo__frame_u32(&f, &u32) == 0 && u32 < 128)
            j->sig = (int)u32;
        else if (f.tag == KF_FAULT_ADDR && kumo__frame_u64(&f, &u64) == 0)
            j->addr = u64;
        else if (f.tag == KF_CORE_DIR && j->core_dir && j->worker_core_dir == NULL)
            j->worker_core_dir = strndup(f.data, f.len);
        else if (f.tag == KF_CRASH_PC && f.len >= 9 && j->nframes < FRAMES_MAX) {
            crash_frame *cf = &j->frames[j->nframes];
            if ((cf->module = strndup(f.data + 9, f.len - 9)) == NULL)
                continue;
            cf->offset = le(f.data, 8);
            cf->exact = f.data[8] != 0;
            j->nframes++;
        }
    }
    return j;
}

void kumo__gw_on_crash(void *ctx, const kumo__crash *c)
{
    loop_gen *lg = ctx;
    const generation *g = lg->gen;
    char cores[sizeof(g->data_dir) + 16];
    int dumps = g->gw->cfg.core_dumps;
    if (dumps)
        snprintf(cores, sizeof(cores), "%s/cores", g->data_dir);
    crash_job *j = job_make(g, c, dumps ? cores : NULL);
    if (j == NULL) {
        kumo__log_event("error", "worker %ld of function '%s' crashed; out of memory for its backtrace", (long)c->pid,
                        c->unit_name);
        return;
    }
    pthread_t tid;
    pthread_attr_t attr;
    int started = 0;
    if (atomic_fetch_add(&running, 1) < THREADS_MAX && pthread_attr_init(&attr) == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        started = pthread_create(&tid, &attr, report_main, j) == 0;
        pthread_attr_destroy(&attr);
    }
    if (!started) { /* too many at once: the offsets, unsymbolized, now */
        atomic_fetch_sub(&running, 1);
        write_line(j, 0, " (backtrace not symbolized: too many crashes at once)");
        job_free(j);
    }
}
