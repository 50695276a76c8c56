/*
 * pool.c: the worker processes of one function unit on one event loop.
 *
 * For now a pool has at most one worker (concurrency 1, as Lambda) and a
 * bounded FIFO of calls waiting for it; scaling, fork servers and the
 * sandbox are the elastic runtime's work and will grow here behind the
 * same four calls (create, submit, tick, destroy).
 *
 * A worker is spawned on demand (posix_spawn of kumo-worker with the
 * socketpair's far end as fd 3). The request frame is written as soon as
 * the worker exists: the kernel buffers it while the worker loads. Frames
 * from the worker are read on the loop without blocking: a hello (loaded,
 * or why not), then one response per request. EOF means the worker died;
 * the call in flight is failed with the reason, and the next call spawns a
 * fresh worker. Exited processes are reaped by pid (never waitpid(-1): other
 * loops have children too) on each tick.
 */
#include "runtime/runtime.h"

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* A worker that is gone from the pool but not yet waited for. The call it
 * had in flight is answered once the exit status is known (so the client
 * learns which signal killed it), or after DYING_WAIT_MS at the latest. */
typedef struct dying {
    pid_t pid;
    kumo__call *call;
    enum kumo__call_result result;
    char why[200];           /* "" when the exit status says it all */
    uint64_t since_ms;
    int killed;
    struct dying *next;
} dying;

#define DYING_WAIT_MS 2000

typedef struct worker {
    pid_t pid;
    h2o_socket_t *sock;
    int ready;              /* hello received */
    int killed_timeout;     /* we SIGKILLed it for a deadline */
    kumo__call *current;    /* the call in flight, or NULL */
    char *wbuf;             /* the frame being written (owned here) */
    kumo__pool *pool;
} worker;

struct kumo__pool {
    h2o_evloop_t *loop;
    kumo__pool_config cfg;
    char *unit_name, *so_path;
    worker *w;              /* NULL: no worker process */
    kumo__call *head, *tail;
    size_t queued;
    dying *dying;
};

uint64_t kumo__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void kumo__log_event(const char *level, const char *fmt, ...)
{
    char msg[1024], line[2300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *s = json_string(msg);
    char *esc = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line),
                     "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"msg\":%s}\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level, esc ? esc : "\"\"");
    free(esc);
    json_decref(s);
    if (n > 0)
        (void)!write(2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void describe_status(int status, char *buf, size_t len)
{
    if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else
        snprintf(buf, len, "stopped");
}

kumo__pool *kumo__pool_create(struct st_h2o_evloop_t *loop, const kumo__pool_config *cfg)
{
    kumo__pool *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->loop = loop;
    p->cfg = *cfg;
    p->unit_name = strdup(cfg->unit_name);
    p->so_path = strdup(cfg->so_path);
    if (p->unit_name == NULL || p->so_path == NULL) {
        free(p->unit_name);
        free(p->so_path);
        free(p);
        return NULL;
    }
    p->cfg.unit_name = p->unit_name;
    p->cfg.so_path = p->so_path;
    if (p->cfg.frame_max == 0)
        p->cfg.frame_max = KUMO_FRAME_MAX;
    return p;
}

static void dispatch(kumo__pool *p);

static void finish(kumo__pool *p, kumo__call *call, enum kumo__call_result result, const char *payload, size_t len)
{
    (void)p;
    call->cb(call, result, payload, len);
}

/* Logs how a worker ended and answers the call it had, if any. */
static void settle(kumo__pool *p, dying *d, const int *status)
{
    char reason[300], how[100] = "";
    if (status)
        describe_status(*status, how, sizeof(how));
    if (d->why[0] && how[0])
        snprintf(reason, sizeof(reason), "%s (%s)", d->why, how);
    else
        snprintf(reason, sizeof(reason), "%s", d->why[0] ? d->why : how[0] ? how : "closed its connection");
    int clean = status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0 && d->call == NULL;
    kumo__log_event(clean ? "info" : "error", "worker %d of function '%s' %s%s", (int)d->pid, p->unit_name, reason,
                    d->call ? " during an invocation" : "");
    if (d->call) {
        char detail[400];
        snprintf(detail, sizeof(detail), "the worker of function '%s' %s", p->unit_name, reason);
        finish(p, d->call, d->result, detail, strlen(detail));
        d->call = NULL;
    }
}

/* One pass over the dying workers: those that exited are settled and
 * freed; with `force`, or once they overstay, the others are killed. */
static void reap(kumo__pool *p, int force, uint64_t now_ms)
{
    dying **link = &p->dying;
    while (*link) {
        dying *d = *link;
        int status;
        pid_t got = waitpid(d->pid, &status, WNOHANG);
        if (got == 0 && (force || now_ms - d->since_ms >= DYING_WAIT_MS) && !d->killed) {
            kill(d->pid, SIGKILL);
            d->killed = 1;
            if (force)
                got = waitpid(d->pid, &status, 0);
        }
        if (got == d->pid || (got < 0 && errno == ECHILD)) {
            settle(p, d, got == d->pid ? &status : NULL);
            *link = d->next;
            free(d);
            continue;
        }
        link = &d->next;
    }
}

/* Forgets a worker: closes its socket and moves it to the dying list with
 * its call. `why` (NULL: its exit status says why) is what went wrong;
 * `kill_it` for a worker that broke the protocol and may still run. */
static void worker_lost(worker *w, const char *why, int kill_it)
{
    kumo__pool *p = w->pool;
    dying *d = calloc(1, sizeof(*d));
    pid_t pid = w->pid;
    enum kumo__call_result result = w->killed_timeout ? KUMO_CALL_TIMEOUT : KUMO_CALL_CRASHED;
    if (!w->ready && !w->killed_timeout)
        result = KUMO_CALL_NO_WORKER;
    kumo__call *call = w->current;

    h2o_socket_close(w->sock);
    free(w->wbuf);
    free(w);
    p->w = NULL;
    if (kill_it)
        kill(pid, SIGKILL);
    if (d == NULL) { /* out of memory: answer now, reap blocking */
        int status;
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        if (call)
            finish(p, call, result, "the worker died", 15);
    } else {
        d->pid = pid;
        d->call = call;
        d->result = result;
        d->since_ms = kumo__now_ms();
        d->killed = kill_it || result == KUMO_CALL_TIMEOUT;
        snprintf(d->why, sizeof(d->why), "%s", why ? why : "");
        d->next = p->dying;
        p->dying = d;
        /* Usually the process is a zombie already: its exit closed the
         * socket. Otherwise a later tick settles it. */
        reap(p, 0, d->since_ms);
    }
    dispatch(p);
}

static void on_frame(worker *w, const kumo__frame_header *h, const char *payload, size_t len)
{
    kumo__pool *p = w->pool;
    kumo__frame_reader r;
    kumo__frame_field f;

    if (h->type == KUMO_FRAME_HELLO) {
        const char *error = NULL;
        size_t elen = 0;
        kumo__frame_reader_init(&r, payload, len);
        while (kumo__frame_next(&r, &f) > 0)
            if (f.tag == KF_ERROR) {
                error = f.data;
                elen = f.len;
            }
        if (error) {
            char msg[600];
            snprintf(msg, sizeof(msg), "cannot load function '%s': %.*s", p->unit_name, (int)elen, error);
            w->ready = 0;
            worker_lost(w, msg, 0);
            return;
        }
        w->ready = 1;
        return;
    }
    if (h->type != KUMO_FRAME_RESPONSE || w->current == NULL) {
        worker_lost(w, "sent a frame out of turn", 1);
        return;
    }
    kumo__call *call = w->current;
    w->current = NULL;
    enum kumo__call_result result = KUMO_CALL_OK;
    kumo__frame_reader_init(&r, payload, len);
    while (kumo__frame_next(&r, &f) > 0)
        if (f.tag == KF_ERROR) {
            result = KUMO_CALL_FAILED;
            payload = f.data;
            len = f.len;
            break;
        }
    finish(p, call, result, payload, len);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    worker *w = sock->data;
    if (err != NULL) {
        worker_lost(w, NULL, 0);
        return;
    }
    for (;;) {
        h2o_buffer_t *in = sock->input;
        kumo__frame_header h;
        int rc = kumo__frame_header_decode(in->bytes, in->size, w->pool->cfg.frame_max, &h);
        if (rc == -EAGAIN)
            return;
        if (rc != 0) {
            worker_lost(w, rc == -EMSGSIZE ? "sent a frame over the size limit" : "sent a malformed frame", 1);
            return;
        }
        if (in->size < KUMO_FRAME_HEADER_SIZE + (size_t)h.length)
            return;
        kumo__pool *p = w->pool;
        on_frame(w, &h, in->bytes + KUMO_FRAME_HEADER_SIZE, h.length);
        if (p->w != w)
            return; /* the worker was lost while handling the frame */
        h2o_buffer_consume(&sock->input, KUMO_FRAME_HEADER_SIZE + (size_t)h.length);
        if (w->current == NULL) {
            dispatch(p);
            if (p->w != w)
                return;
        }
    }
}

static void on_written(h2o_socket_t *sock, const char *err)
{
    worker *w = sock->data;
    free(w->wbuf);
    w->wbuf = NULL;
    /* A write error shows up as EOF on the read side too; handled there. */
}

static worker *spawn_worker(kumo__pool *p, char *why, size_t whylen)
{
    int sv[2] = {-1, -1};
    worker *w = NULL;
    posix_spawn_file_actions_t fa;
    int fa_ok = 0;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        snprintf(why, whylen, "socketpair: %s", strerror(errno));
        goto fail;
    }
    if (sv[1] == 3) { /* dup2(3, 3) would keep FD_CLOEXEC */
        int fd = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
        if (fd < 0) {
            snprintf(why, whylen, "fcntl: %s", strerror(errno));
            goto fail;
        }
        close(sv[1]);
        sv[1] = fd;
    }
    posix_spawn_file_actions_init(&fa);
    fa_ok = 1;
    posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
    char *argv[] = {"kumo-worker", p->so_path, p->unit_name, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, kumo__worker_path(), &fa, NULL, argv, environ);
    if (rc != 0) {
        snprintf(why, whylen, "cannot start %s: %s", kumo__worker_path(), strerror(rc));
        goto fail;
    }
    posix_spawn_file_actions_destroy(&fa);
    close(sv[1]);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);

    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        int status;
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        close(sv[0]);
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    w->pid = pid;
    w->pool = p;
    w->sock = h2o_evloop_socket_create(p->loop, sv[0], 0);
    w->sock->data = w;
    h2o_socket_read_start(w->sock, on_read);
    return w;
fail:
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    return NULL;
}

/* Sends the next queued call when the worker is free (spawning it first
 * when there is none). */
static void dispatch(kumo__pool *p)
{
    while (p->head != NULL) {
        if (p->w == NULL) {
            char why[300];
            p->w = spawn_worker(p, why, sizeof(why));
            if (p->w == NULL) {
                kumo__call *call = p->head;
                p->head = call->next;
                if (p->head == NULL)
                    p->tail = NULL;
                p->queued--;
                finish(p, call, KUMO_CALL_NO_WORKER, why, strlen(why));
                continue;
            }
        }
        worker *w = p->w;
        if (w->current != NULL || w->wbuf != NULL)
            return;
        kumo__call *call = p->head;
        p->head = call->next;
        if (p->head == NULL)
            p->tail = NULL;
        p->queued--;
        call->next = NULL;
        call->worker_pid = w->pid;
        w->current = call;
        /* Take the frame's buffer: the call may be finished (and freed)
         * before the write completes, if the worker dies. */
        w->wbuf = call->frame.buf;
        h2o_iovec_t buf = h2o_iovec_init(call->frame.buf, call->frame.len);
        call->frame.buf = NULL;
        call->frame.len = call->frame.cap = 0;
        h2o_socket_write(w->sock, &buf, 1, on_written);
        return;
    }
}

int kumo__pool_submit(kumo__pool *p, kumo__call *call)
{
    if (p->queued >= p->cfg.queue_max)
        return -EAGAIN;
    call->next = NULL;
    if (p->tail)
        p->tail->next = call;
    else
        p->head = call;
    p->tail = call;
    p->queued++;
    dispatch(p);
    return 0;
}

void kumo__pool_tick(kumo__pool *p, uint64_t now_ms)
{
    worker *w = p->w;
    if (w && w->current && w->current->deadline_ms && now_ms >= w->current->deadline_ms && !w->killed_timeout) {
        w->killed_timeout = 1;
        kumo__log_event("warn", "invocation on worker %d of function '%s' passed its deadline; killing it",
                        (int)w->pid, p->unit_name);
        kill(w->pid, SIGKILL);
    }
    /* Calls whose deadline passed while queued are answered now. */
    kumo__call **link = &p->head, *prev = NULL;
    while (*link) {
        kumo__call *c = *link;
        if (c->deadline_ms && now_ms >= c->deadline_ms) {
            *link = c->next;
            if (p->tail == c)
                p->tail = prev;
            p->queued--;
            const char *why = "the invocation waited for a worker past its deadline";
            finish(p, c, KUMO_CALL_TIMEOUT, why, strlen(why));
            continue;
        }
        prev = c;
        link = &c->next;
    }
    reap(p, 0, now_ms);
}

size_t kumo__pool_pending(const kumo__pool *p)
{
    return p->queued + (p->w && p->w->current ? 1 : 0);
}

void kumo__pool_destroy(kumo__pool *p, int grace_ms)
{
    if (p == NULL)
        return;
    const char *why = "the gateway is shutting down";
    while (p->head) {
        kumo__call *c = p->head;
        p->head = c->next;
        finish(p, c, KUMO_CALL_NO_WORKER, why, strlen(why));
    }
    p->tail = NULL;
    p->queued = 0;
    if (p->w) {
        worker *w = p->w;
        if (w->current)
            finish(p, w->current, KUMO_CALL_CRASHED, why, strlen(why));
        w->current = NULL;
        worker_lost(w, "stopped: the gateway is shutting down", 0); /* EOF: it exits on its own */
    }
    uint64_t until = kumo__now_ms() + (uint64_t)grace_ms;
    while (p->dying) {
        uint64_t now = kumo__now_ms();
        reap(p, now >= until, now);
        if (p->dying) {
            struct timespec ts = {0, 2 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    free(p->unit_name);
    free(p->so_path);
    free(p);
}
