/*
 * pool.c: the worker processes of one function unit on one event loop.
 *
 * Admission: a call goes to a worker with room (fewer in flight than the
 * unit's concurrency), else to a new worker while the pool is under its
 * max, else into a bounded FIFO; a full queue is refused (503), and a unit
 * with no queue at its limit is refused at once (429). Calls sent to a
 * worker that is still starting wait in its socket and are served in
 * order: a cold start drops nothing.
 *
 * Scaling: out at once when demand exceeds capacity (bounded by max); in,
 * one worker at a time, when a worker has been idle for the unit's `idle`
 * time, down to `min` (0: no process at all). `min` workers are started
 * ahead of demand by the tick.
 *
 * Faults: a worker that closes its socket has died: its calls fail with
 * the reason (the signal, once its exit status is known), and the next call
 * gets a fresh worker. A unit whose workers keep crashing backs off: it
 * answers 503 (with the last crash's reason) for a while that doubles each
 * time, until a worker answers again. A call past its deadline gets its
 * worker killed.
 *
 * Several calls may be in flight on one worker (concurrency > 1): the
 * worker runs them one after another, in order, so they are pipelined
 * rather than parallel. Frames carry an id so an answer is matched to its
 * call. Exited processes are reaped by pid (never waitpid(-1): other loops
 * have children too) on each tick.
 */
#include "runtime/runtime.h"

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WRITE_MAX 64          /* frames queued for one write to a worker */
#define DYING_WAIT_MS 2000    /* how long an exiting worker may take */
#define CRASH_WINDOW_MS 10000 /* crashes counted for backoff within this window */
#define CRASH_LIMIT 5         /* this many crashes in the window start a backoff */
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 10000
/* A worker's crash report (KUMO__FRAME_CRASH) larger than this is not kept. */
#define CRASH_REPORT_MAX (64u << 10)
#define HIST_BUCKETS KUMO__HIST_BUCKETS /* 4 per octave of microseconds, up to ~2^26 us */
#define HIST_SECONDS 60
/* Sending ahead: at its max, a pool of a fast unit hands waiting calls to
 * busy workers, behind their current call, instead of keeping them until
 * one answers; the worker then finds its next request already there and
 * does not sleep between the two. Only for units whose calls take less
 * than AHEAD_FAST_US (where the wakeup costs as much as the call), and
 * only as many as AHEAD_WAIT_US of expected waiting. */
#define AHEAD_FAST_US 1000
#define AHEAD_WAIT_US 2000
/* Packing: below its max too, a call of a unit whose calls take less
 * than PACK_FAST_US goes to a worker that is already running calls (up to
 * AHEAD_WAIT_US of expected waiting) rather than wake an idle one or
 * start another. Waking a process costs about what such a call does, and
 * more processes than cores only take turns: so a busy fast unit runs on
 * few workers, each kept awake, and the others stay asleep (and stop
 * after `idle`). Waiting behind one such call costs less than the wakeup
 * it saves. */
#define PACK_FAST_US 200
/* ...and only onto a worker whose current call began less than this ago:
 * a unit fast on average may have a slow operation, and calls packed
 * behind it would wait for all of it. Not tighter: on a busy machine a
 * fast call's process waits for a core about that long (at 0.4 ms, calls
 * went to idle workers again and woke them). */
#define PACK_AGE_US AHEAD_WAIT_US

typedef struct iov_list {
    h2o_iovec_t v[WRITE_MAX];
    void *own[WRITE_MAX]; /* NULL: a call's frame (borrowed); else an HTTP result, freed once written */
    size_t n;
} iov_list;

typedef struct worker {
    uint64_t serial; /* unique in the pool: outbound calls' answers find their worker by it */
    pid_t pid;       /* 0 until the fork server says which */
    uint32_t tag;    /* the fork server's request tag */
    h2o_socket_t *sock;
    int ready;               /* hello received */
    int assigning;           /* a primed spare, ready at once, that has not answered yet: its calls are cold */
    int held_here;           /* kept on the loop's CPU until its first answer (hold_on_this_cpu) */
    int killed_timeout;      /* we SIGKILLed it for a deadline */
    int retiring;            /* it asked to be stopped: no new calls */
    int dead;                /* lost: out of the pool, freed at the end of the turn */
    kumo__call *head, *tail; /* in flight, in the order sent */
    int ninflight;
    uint64_t last_used_ms;
    uint64_t head_since_us;    /* when its oldest call in flight began to run */
    uint64_t spawned_us;       /* when it was asked for (faas_init_duration) */
    iov_list pending, writing; /* frames to write; frames being written */
    /* its KUMO__FRAME_CRASH payload, until it is lost; NULL: none */
    char *crash;
    size_t crash_len;
    kumo__pool *pool;
    struct worker *next; /* the pool's workers, or its dead ones */
} worker;

/* A worker that is gone from the pool but not yet waited for. Its calls
 * are answered once the exit status is known (so the client learns which
 * signal killed it), or after DYING_WAIT_MS at the latest. */
typedef struct dying {
    pid_t pid;
    int oom; /* known from the fork server */
    kumo__call *calls;
    enum kumo__call_result result;
    char why[200]; /* "" when the exit status says it all */
    uint64_t since_ms;
    char *crash_report; /* the worker's KUMO__FRAME_CRASH payload, or NULL */
    size_t crash_len;
    int killed, crash, quiet;
    struct dying *next;
} dying;

/* What an outbound HTTP call holds while the gateway's egress runs it:
 * the pool may be gone by the time the answer comes (pool NULL). */
struct kumo__pool_anchor {
    kumo__pool *pool;
    unsigned refs; /* the pool's, and one per call in flight; loop thread only */
};

struct kumo__pool {
    h2o_evloop_t *loop;
    kumo__pool_anchor *anchor;
    uint64_t next_serial;
    /* Frames for workers are written once per turn of the loop, after
     * every request that turn brought is dispatched: a worker sent several
     * calls gets them with one write and one wakeup. */
    h2o_timeout_t flush_timeout; /* 0 ms: runs at the end of this turn */
    h2o_timeout_entry_t flush_entry;
    kumo__pool_config cfg;
    kumo__tuning tuning;
    char *unit_name;
    worker *workers;
    worker *dead;                              /* lost this turn: a caller up the stack may still hold one */
    int nworkers, nstarting, nbusy, ninflight; /* counts kept for status readers */
    kumo__call *qhead, *qtail;
    int queued;
    dying *dying;
    uint32_t next_id;
    uint32_t service_us;           /* moving average of a call's run time (0: none yet) */
    uint64_t crashes[CRASH_LIMIT]; /* ring of the last crash times */
    int crash_next;
    uint64_t backoff_until;
    int backoff_level;
    char last_crash[300];
    uint64_t oldest_running_us; /* when the oldest running call began (monotonic us) at the last tick; 0: none */
    /* status figures: written here, read by the admin loop (relaxed) */
    unsigned long long n_invocations, n_errors, n_crashes, n_timeouts, n_cold, n_rejected;
    cpu_set_t home; /* the loop thread's CPUs, read at the first cold start (home_known) */
    int home_known;
    uint32_t hist[HIST_SECONDS][HIST_BUCKETS];
    uint64_t hist_second[HIST_SECONDS];
};

#define STAT_ADD(field) __atomic_fetch_add(&(field), 1, __ATOMIC_RELAXED)
#define STAT_GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

static void describe_status(int status, char *buf, size_t len)
{
    if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else
        snprintf(buf, len, "stopped");
}

static void flush(struct worker *w);

/* Frees the workers lost since the last call. A worker is lost from inside
 * its own callbacks (a frame handler, a call's callback), which must still
 * be able to read its `dead` flag: so it is freed here, once nothing up
 * the stack holds it. */
static void bury_dead(kumo__pool *p)
{
    while (p->dead) {
        worker *w = p->dead;
        p->dead = w->next;
        free(w->crash);
        free(w);
    }
}

/* The end of the loop's turn: what was sent to each worker goes out, and
 * the workers lost during the turn are freed. */
static void on_flush_due(h2o_timeout_entry_t *entry)
{
    kumo__pool *p = H2O_STRUCT_FROM_MEMBER(kumo__pool, flush_entry, entry);
    for (worker *w = p->workers; w; w = w->next)
        if (w->pending.n > 0)
            flush(w);
    bury_dead(p);
}

/* on_flush_due runs at the end of this turn of the loop. */
static void flush_soon(kumo__pool *p)
{
    if (!h2o_timeout_is_linked(&p->flush_entry))
        h2o_timeout_link(p->loop, &p->flush_timeout, &p->flush_entry);
}

kumo__pool *kumo__pool_create(struct st_h2o_evloop_t *loop, const kumo__pool_config *cfg)
{
    if (cfg->spawner == NULL)
        return NULL;
    kumo__pool *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->loop = loop;
    h2o_timeout_init(loop, &p->flush_timeout, 0);
    p->flush_entry.cb = on_flush_due;
    p->cfg = *cfg;
    p->tuning = *cfg->tuning;
    p->cfg.tuning = &p->tuning;
    p->unit_name = strdup(cfg->unit_name);
    if (p->unit_name == NULL) {
        kumo__pool_destroy(p, 0);
        return NULL;
    }
    p->cfg.unit_name = p->unit_name;
    if (p->cfg.frame_max == 0)
        p->cfg.frame_max = KUMO__FRAME_MAX;
    if (p->cfg.max < 1)
        p->cfg.max = 1;
    if (p->cfg.min > p->cfg.max)
        p->cfg.min = p->cfg.max;
    return p;
}

static void finish(kumo__call *call, enum kumo__call_result result, const char *payload, size_t len)
{
    call->next = NULL;
    call->cb(call, result, payload, len);
}

static void finish_all(kumo__call *calls, enum kumo__call_result result, const char *why)
{
    while (calls) {
        kumo__call *next = calls->next;
        finish(calls, result, why, strlen(why));
        calls = next;
    }
}

static void dispatch(kumo__pool *p);

/* The request id in a call's frame (KF_REQUEST_ID); "" when it has none. */
static void request_id_of(const kumo__call *call, char *out, size_t len)
{
    kumo__frame_reader r;
    kumo__frame_field f;
    out[0] = '\0';
    if (call->frame.len < KUMO__FRAME_HEADER_SIZE)
        return;
    kumo__frame_reader_init(&r, call->frame.buf + KUMO__FRAME_HEADER_SIZE, call->frame.len - KUMO__FRAME_HEADER_SIZE);
    while (kumo__frame_next(&r, &f) > 0)
        if (f.tag == KF_REQUEST_ID) {
            snprintf(out, len, "%.*s", (int)f.len, f.data);
            return;
        }
}

/* Logs how a worker ended and answers the calls it had. The spawner
 * said whether the kernel killed it for memory (d->oom). */
static void settle(kumo__pool *p, dying *d, const int *status)
{
    char reason[300], how[100] = "";
    if (status)
        describe_status(*status, how, sizeof(how));
    if (status && WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL && d->oom)
        snprintf(how, sizeof(how), "ran out of memory (limit %zu MiB; killed by signal 9)", p->tuning.memory >> 20);
    if (d->why[0] && how[0])
        snprintf(reason, sizeof(reason), "%s (%s)", d->why, how);
    else
        snprintf(reason, sizeof(reason), "%s", d->why[0] ? d->why : how[0] ? how : "closed its connection");
    int clean = status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0 && d->calls == NULL;
    /* A worker the pool stopped on purpose (idle, a reload, shutdown) is
     * routine however it ended (one slow to exit is killed): info. */
    if (!(clean && d->quiet))
        kumo__log_event(clean || (d->quiet && d->calls == NULL) ? "info" : "error", "worker %d of function '%s' %s%s",
                        (int)d->pid, p->unit_name, reason, d->calls ? " during an invocation" : "");
    if (d->crash)
        snprintf(p->last_crash, sizeof(p->last_crash), "%s", reason);
    if (d->crash_report && status && p->cfg.on_crash) {
        char rid[128] = "";
        if (d->calls)
            request_id_of(d->calls, rid, sizeof(rid));
        kumo__crash c = {.unit_name = p->unit_name,
                         .pid = d->pid,
                         .status = *status,
                         .request_id = rid,
                         .payload = d->crash_report,
                         .len = d->crash_len};
        p->cfg.on_crash(p->cfg.crash_ctx, &c);
    }
    if (d->calls) {
        char detail[400];
        snprintf(detail, sizeof(detail), "the worker of function '%s' %s", p->unit_name, reason);
        kumo__call *calls = d->calls;
        d->calls = NULL;
        finish_all(calls, d->result, detail);
    }
}

/* One pass over the dying workers: those that exited are settled and
 * freed; with `force`, or once they overstay, the others are killed. A
 * worker whose pid never became known has no status to wait for. */
static void reap(kumo__pool *p, int force, uint64_t now_ms)
{
    dying **link = &p->dying;
    while (*link) {
        dying *d = *link;
        int status;
        /* 1: exited (status); 0: not yet; < 0: its status is lost */
        int got = d->pid > 0 ? kumo__spawner_exit_status(p->cfg.spawner, d->pid, &status, &d->oom) : -ECHILD;
        if (got == 0 && (force || now_ms - d->since_ms >= DYING_WAIT_MS) && !d->killed) {
            kill(d->pid, SIGKILL);
            d->killed = 1;
        }
        if (got == 0 && force && now_ms - d->since_ms >= DYING_WAIT_MS) {
            kumo__spawner_release(p->cfg.spawner, d->pid); /* killed and still not reported: give up on it */
            got = -ECHILD;
        }
        if (got != 0) {
            *link = d->next;
            settle(p, d, got == 1 ? &status : NULL);
            free(d->crash_report);
            free(d);
            continue;
        }
        link = &d->next;
    }
}

/* The frames in a write list are the calls' own (borrowed: a call keeps
 * its frame until it is answered, so that one a lost worker never began
 * can be sent again). A call is answered only after its frame was wholly
 * written (the worker read it) or once the worker's socket is closed
 * (nothing is written any more), so no write outlives its frame. */
static void drop_iovs(iov_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->own[i]);
        l->own[i] = NULL;
    }
    l->n = 0;
}

/* Counts a crash; CRASH_LIMIT of them within CRASH_WINDOW_MS start (or
 * lengthen) a backoff, during which the unit answers 503. */
static void count_crash(kumo__pool *p, uint64_t now)
{
    STAT_ADD(p->n_crashes);
    p->crashes[p->crash_next] = now;
    p->crash_next = (p->crash_next + 1) % CRASH_LIMIT;
    uint64_t oldest = p->crashes[p->crash_next]; /* the one CRASH_LIMIT crashes ago */
    if (oldest == 0 || now - oldest > CRASH_WINDOW_MS)
        return;
    uint64_t wait = (uint64_t)BACKOFF_MIN_MS << (p->backoff_level < 6 ? p->backoff_level : 6);
    if (wait > BACKOFF_MAX_MS)
        wait = BACKOFF_MAX_MS;
    p->backoff_until = now + wait;
    p->backoff_level++;
    kumo__log_event("error", "function '%s' keeps crashing; answering 503 for %llu ms", p->unit_name,
                    (unsigned long long)wait);
}

static int backing_off(kumo__pool *p, uint64_t now)
{
    return p->backoff_until > now;
}

/* Puts calls a lost worker never started back at the head of the queue,
 * in order (they were admitted already: the queue's limit does not
 * apply), or fails them while the unit backs off. */
static void requeue(kumo__pool *p, kumo__call *calls, uint64_t now)
{
    if (backing_off(p, now)) {
        char why[400];
        snprintf(why, sizeof(why), "function '%s' is recovering from repeated crashes; last: %s", p->unit_name,
                 p->last_crash[0] ? p->last_crash : "its worker died");
        finish_all(calls, KUMO__CALL_NO_WORKER, why);
        return;
    }
    kumo__call *last = calls;
    int n = 1;
    while (last->next) {
        last = last->next;
        n++;
    }
    last->next = p->qhead;
    if (p->qhead == NULL)
        p->qtail = last;
    p->qhead = calls;
    p->queued += n;
}

/* Why a worker leaves its pool. */
enum lost_reason {
    LOST_DIED,       /* it closed its socket or failed to start: a crash */
    LOST_MISBEHAVED, /* it broke the protocol and may still run: killed, a crash */
    LOST_STOPPED,    /* the pool stopped it on purpose (idle, retiring, reload): not a crash */
};

/* Forgets a worker: closes its socket and moves it, with its calls, to the
 * dying list. `why` (NULL: its exit status says why) is what went wrong.
 * `w` stays readable, with w->dead set, until the end of the loop's turn
 * (bury_dead), so a caller up the stack can tell it is gone. */
static void worker_lost(worker *w, const char *why, enum lost_reason reason)
{
    kumo__pool *p = w->pool;
    int kill_it = reason == LOST_MISBEHAVED, retired = reason == LOST_STOPPED;
    uint64_t now = kumo__mono_ms();
    for (worker **link = &p->workers; *link; link = &(*link)->next)
        if (*link == w) {
            *link = w->next;
            break;
        }
    p->nworkers--;
    if (!w->ready)
        p->nstarting--;
    if (w->ninflight > 0)
        p->nbusy--;
    p->ninflight -= w->ninflight;

    enum kumo__call_result result = w->killed_timeout ? KUMO__CALL_TIMEOUT : KUMO__CALL_CRASHED;
    if (!w->ready && !w->killed_timeout)
        result = KUMO__CALL_NO_WORKER;
    int crash = !retired && !w->killed_timeout;
    pid_t pid = w->pid;
    kumo__call *calls = w->head;
    /* A worker runs its calls one after another and writes each answer
     * before it starts the next: of those still unanswered only the oldest
     * has begun. The others go back to the front of the queue, for another
     * worker, unless the pool stops this one on purpose or it never became
     * ready (then they fail with it). */
    kumo__call *unstarted = NULL;
    if (calls && w->ready && !retired) {
        unstarted = calls->next;
        calls->next = NULL;
    }
    h2o_socket_close(w->sock);
    w->sock = NULL;
    drop_iovs(&w->pending);
    drop_iovs(&w->writing);
    w->head = w->tail = NULL;
    w->ninflight = 0;
    w->dead = 1;
    w->next = p->dead;
    p->dead = w;
    flush_soon(p);
    if (kill_it && pid > 0)
        kill(pid, SIGKILL);
    if (crash)
        count_crash(p, now);

    dying *d = calloc(1, sizeof(*d));
    if (d == NULL) { /* out of memory: answer now */
        if (pid > 0)
            kill(pid, SIGKILL);
        finish_all(calls, result, "the worker died");
    } else {
        d->pid = pid;
        d->calls = calls;
        d->result = result;
        d->since_ms = now;
        d->killed = kill_it || result == KUMO__CALL_TIMEOUT;
        d->crash = crash;
        d->quiet = retired;
        snprintf(d->why, sizeof(d->why), "%s", why ? why : "");
        d->crash_report = w->crash;
        d->crash_len = w->crash_len;
        w->crash = NULL;
        d->next = p->dying;
        p->dying = d;
        /* Usually the process is a zombie already: its exit closed the
         * socket. Otherwise a later tick settles it. */
        reap(p, 0, now);
    }
    if (unstarted)
        requeue(p, unstarted, now);
    dispatch(p);
}

static void on_written(h2o_socket_t *sock, const char *err)
{
    worker *w = sock->data;
    drop_iovs(&w->writing);
    if (err == NULL)
        flush(w);
    /* A write error shows up as EOF on the read side too; handled there. */
}

static void flush(worker *w)
{
    if (w->writing.n > 0 || w->pending.n == 0)
        return;
    w->writing = w->pending;
    w->pending.n = 0;
    h2o_socket_write(w->sock, w->writing.v, w->writing.n, on_written);
}

/* Hands a call to a worker: its frame (id stamped) joins the worker's
 * writes, the call its in-flight list. */
static void send_call(worker *w, kumo__call *call)
{
    kumo__pool *p = w->pool;
    call->id = ++p->next_id;
    call->worker_pid = w->pid;
    call->next = NULL;
    call->dispatched_us = kumo__mono_us();
    if (!w->ready || w->assigning)
        call->cold = 1;
    kumo__frame_set_id(call->frame.buf, call->frame.len, call->id);
    if (w->tail)
        w->tail->next = call;
    else
        w->head = call;
    w->tail = call;
    if (w->ninflight++ == 0) {
        p->nbusy++;
        w->head_since_us = kumo__mono_us();
    }
    p->ninflight++;
    if (w->pending.n == WRITE_MAX) /* cannot happen while concurrency <= WRITE_MAX */
        flush(w);
    w->pending.own[w->pending.n] = NULL;
    w->pending.v[w->pending.n++] = h2o_iovec_init(call->frame.buf, call->frame.len);
    flush_soon(p);
}

void kumo__pool_anchor_release(kumo__pool_anchor *a)
{
    if (a && --a->refs == 0) {
        if (a->pool)
            a->pool->anchor = NULL;
        free(a);
    }
}

/* Hands the frame to the worker's writes; 0, or -1 (it is gone, or has
 * more frames queued than a well-behaved worker could cause). */
static int queue_owned(worker *w, const void *frame, size_t len)
{
    if (w->dead || w->sock == NULL || w->pending.n == WRITE_MAX)
        return -1;
    char *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, frame, len);
    w->pending.own[w->pending.n] = copy;
    w->pending.v[w->pending.n++] = h2o_iovec_init(copy, len);
    flush_soon(w->pool);
    return 0;
}

void kumo__pool_http_answer(kumo__pool_anchor *a, uint64_t worker_serial, const void *frame, size_t len)
{
    if (a == NULL || a->pool == NULL)
        return;
    for (worker *w = a->pool->workers; w; w = w->next)
        if (w->serial == worker_serial) {
            queue_owned(w, frame, len);
            return;
        }
}

/* A worker's outbound HTTP call: to the gateway's egress, or refused at
 * once when the pool has none. */
static void on_http_call(worker *w, const kumo__frame_header *h, const char *payload, size_t len)
{
    kumo__pool *p = w->pool;
    if (w->ninflight == 0) {
        worker_lost(w, "sent an HTTP call with no invocation running", LOST_MISBEHAVED);
        return;
    }
    if (p->cfg.on_http_call == NULL) {
        kumo__frame_writer fw = {0};
        kumo__frame_begin(&fw, 0, KUMO__FRAME_HTTP_RESULT, h->id);
        kumo__frame_put_u32(&fw, KF_ERRCODE, 1008); /* KUMO_EDENIED */
        kumo__frame_put_str(&fw, KF_ERROR,
                            "this runtime makes no outbound calls; declare the service in kumo.yaml "
                            "services:");
        if (kumo__frame_end(&fw) == 0)
            queue_owned(w, fw.buf, fw.len);
        kumo__frame_writer_free(&fw);
        return;
    }
    if (p->anchor == NULL) {
        if ((p->anchor = calloc(1, sizeof(*p->anchor))) == NULL)
            return; /* the worker's own wait gives up at its deadline */
        p->anchor->pool = p;
        p->anchor->refs = 1;
    }
    p->anchor->refs++;
    p->cfg.on_http_call(p->cfg.http_ctx, p->anchor, w->serial, h->id, payload, len);
}

/* A worker from the fork server learns its pid after its first calls
 * were sent: they are stamped too, for the access log. */
static void set_pid(worker *w, pid_t pid)
{
    w->pid = pid;
    for (kumo__call *c = w->head; c; c = c->next)
        c->worker_pid = pid;
}

static void on_frame(worker *w, const kumo__frame_header *h, const char *payload, size_t len)
{
    kumo__pool *p = w->pool;
    kumo__frame_reader r;
    kumo__frame_field f;

    if (h->type == KUMO__FRAME_HTTP_CALL) {
        on_http_call(w, h, payload, len);
        return;
    }
    if (h->type == KUMO__FRAME_CRASH) { /* it dies next: kept for settle */
        if (w->crash == NULL && len <= CRASH_REPORT_MAX && (w->crash = malloc(len ? len : 1)) != NULL) {
            memcpy(w->crash, payload, len);
            w->crash_len = len;
        }
        return;
    }
    if (h->type == KUMO__FRAME_HELLO) {
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
            snprintf(msg, sizeof(msg), "could not load: %.*s", (int)elen, error);
            worker_lost(w, msg, LOST_DIED);
            return;
        }
        uint32_t pid = 0;
        kumo__frame_reader_init(&r, payload, len);
        while (kumo__frame_next(&r, &f) > 0)
            if (f.tag == KF_PID)
                kumo__frame_u32(&f, &pid);
        if (w->pid == 0 && pid > 0)
            set_pid(w, (pid_t)pid);
        if (!w->ready) {
            w->ready = 1;
            p->nstarting--;
            if (p->cfg.on_ready)
                p->cfg.on_ready(p->cfg.ready_ctx, p->unit_name, w->pid, kumo__mono_us() - w->spawned_us);
        }
        return;
    }
    kumo__call **link = &w->head, *prev = NULL;
    while (*link && (*link)->id != h->id) {
        prev = *link;
        link = &(*link)->next;
    }
    if (h->type != KUMO__FRAME_RESPONSE || *link == NULL) {
        worker_lost(w, "sent a frame out of turn", LOST_MISBEHAVED);
        return;
    }
    kumo__call *call = *link;
    w->assigning = 0;
    *link = call->next;
    if (w->tail == call)
        w->tail = prev;
    if (w->ready && !call->cold) {
        /* The worker runs its calls one after another: this one began
         * when it was sent to an idle worker or when the one before it
         * was answered. */
        uint64_t t = kumo__mono_us(), ran = t - w->head_since_us;
        if (ran > UINT32_MAX)
            ran = UINT32_MAX;
        if (ran == 0)
            ran = 1;
        /* stored whole: the monitor reads it (kumo__pool_oldest_us) */
        __atomic_store_n(&p->service_us,
                         p->service_us == 0 ? (uint32_t)ran : p->service_us - p->service_us / 8 + (uint32_t)ran / 8,
                         __ATOMIC_RELAXED);
        w->head_since_us = t;
    } else {
        w->head_since_us = kumo__mono_us();
    }
    if (--w->ninflight == 0)
        p->nbusy--;
    p->ninflight--;
    w->last_used_ms = kumo__mono_ms();
    p->backoff_level = 0;
    enum kumo__call_result result = KUMO__CALL_OK;
    int expired = 0;
    const char *fields = payload;
    size_t fields_len = len;
    kumo__frame_reader_init(&r, fields, fields_len);
    while (kumo__frame_next(&r, &f) > 0) {
        if (f.tag == KF_RETIRE)
            w->retiring = 1;
        if (f.tag == KF_EXPIRED)
            expired = 1;
        if (f.tag == KF_ERROR && result == KUMO__CALL_OK) {
            result = KUMO__CALL_FAILED;
            payload = f.data;
            len = f.len;
        }
    }
    if (expired && result == KUMO__CALL_FAILED) {
        result = KUMO__CALL_TIMEOUT;
        STAT_ADD(p->n_timeouts);
    }
    finish(call, result, payload, len);
    if (w->held_here) { /* its first answer is out: it may run anywhere the loop may */
        sched_setaffinity(w->pid, sizeof(p->home), &p->home);
        w->held_here = 0;
    }
    /* A worker that asked to go goes once its last call is answered (EOF:
     * it exits on its own); the next call gets a fresh one. */
    if (w->retiring && w->ninflight == 0 && !w->dead)
        worker_lost(w, "stopped at its own request (it leaks file descriptors)", LOST_STOPPED);
}

/* The socket closed with frames still unread: the last may be the crash
 * report the worker wrote as it died (the same read can bring the report
 * and the end). */
static void keep_crash_report(worker *w, h2o_buffer_t *in)
{
    size_t at = 0;
    kumo__frame_header h;
    while (w->crash == NULL &&
           kumo__frame_header_decode(in->bytes + at, in->size - at, w->pool->cfg.frame_max, &h) == 0 &&
           in->size - at >= KUMO__FRAME_HEADER_SIZE + (size_t)h.length) {
        if (h.type == KUMO__FRAME_CRASH)
            on_frame(w, &h, in->bytes + at + KUMO__FRAME_HEADER_SIZE, h.length);
        at += KUMO__FRAME_HEADER_SIZE + (size_t)h.length;
    }
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    worker *w = sock->data;
    kumo__pool *p = w->pool;
    if (err != NULL) {
        keep_crash_report(w, sock->input);
        worker_lost(w, NULL, LOST_DIED);
        return;
    }
    for (;;) {
        h2o_buffer_t *in = sock->input;
        kumo__frame_header h;
        int rc = kumo__frame_header_decode(in->bytes, in->size, p->cfg.frame_max, &h);
        if (rc == -EAGAIN)
            break;
        if (rc != 0) {
            worker_lost(w, rc == -EMSGSIZE ? "sent a frame over the size limit" : "sent a malformed frame",
                        LOST_MISBEHAVED);
            return;
        }
        if (in->size < KUMO__FRAME_HEADER_SIZE + (size_t)h.length)
            break;
        on_frame(w, &h, in->bytes + KUMO__FRAME_HEADER_SIZE, h.length);
        if (w->dead) /* a frame handler or a call's callback lost it */
            return;
        h2o_buffer_consume(&sock->input, KUMO__FRAME_HEADER_SIZE + (size_t)h.length);
    }
    dispatch(p);
}

void kumo__tuning_layers(const kumo__tuning *t, char *out, size_t len)
{
    snprintf(out, len, "%s%s%s%s", t->sandbox_seccomp ? "seccomp," : "", t->sandbox_namespaces ? "namespaces," : "",
             t->sandbox_limits ? "limits," : "", t->sandbox_no_new_privs ? "no_new_privs," : "");
    size_t n = strlen(out);
    if (n > 0)
        out[n - 1] = '\0';
    else
        snprintf(out, len, "none");
}

/* A primed spare said HELLO as soon as it had its socket, and the loop
 * read it into the socket's input before the spare was taken: handled
 * now, the worker is ready without a turn of the loop. Anything else
 * there (a hello with an error, part of a frame) waits for on_read, which
 * runs when the worker next writes. */
static void take_hello(worker *w)
{
    h2o_buffer_t *in = w->sock->input;
    kumo__frame_header h;
    if (kumo__frame_header_decode(in->bytes, in->size, w->pool->cfg.frame_max, &h) != 0 ||
        h.type != KUMO__FRAME_HELLO || in->size < KUMO__FRAME_HEADER_SIZE + (size_t)h.length)
        return;
    const char *payload = in->bytes + KUMO__FRAME_HEADER_SIZE;
    kumo__frame_reader r;
    kumo__frame_field f;
    kumo__frame_reader_init(&r, payload, h.length);
    while (kumo__frame_next(&r, &f) > 0)
        if (f.tag == KF_ERROR)
            return; /* on_read's to handle: it loses the worker */
    on_frame(w, &h, payload, h.length);
    h2o_buffer_consume(&w->sock->input, KUMO__FRAME_HEADER_SIZE + (size_t)h.length);
}

/* A primed spare woken for a cold start runs first on the CPU this loop
 * is on, which is awake: the loop writes its frame and goes to wait, and
 * the spare takes the CPU. Left to the scheduler, it often woke on the
 * other CPU, idle, and a virtual machine's idle CPU is slow to wake
 * (bench/coldstart.py 300, cold minus peer, three rounds: 0.078, 0.084
 * and 0.083 ms before, 0.045, 0.057 and 0.062 after). Its first answer
 * gives it back the loop's CPUs. Not for a loop on one CPU
 * (--cpu-affinity): its fork server and workers are there already. 1 when
 * the spare was held here. */
static int hold_on_this_cpu(kumo__pool *p, pid_t pid)
{
    if (!p->home_known) {
        p->home_known = 1;
        if (sched_getaffinity(0, sizeof(p->home), &p->home) != 0)
            CPU_ZERO(&p->home);
    }
    int cpu = sched_getcpu();
    if (pid <= 0 || cpu < 0 || CPU_COUNT(&p->home) < 2 || !CPU_ISSET(cpu, &p->home))
        return 0;
    cpu_set_t here;
    CPU_ZERO(&here);
    CPU_SET(cpu, &here);
    return sched_setaffinity(pid, sizeof(here), &here) == 0;
}

/* A new worker, starting: its socket is watched from now on, and calls may
 * be sent to it at once (they wait in the socket until it has loaded). */
static worker *spawn_worker(kumo__pool *p, char *why, size_t whylen)
{
    int sv[2] = {-1, -1};
    worker *w = NULL;
    pid_t pid = 0;
    uint32_t tag = 0;
    kumo__error err = {0};
    uint64_t spawn_start = kumo__mono_us();

    if ((w = calloc(1, sizeof(*w))) == NULL) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    /* A primed spare first: started, connected and on the loop already, it
     * only needs its unit's name, the first frame on its socket. */
    char assign[64];
    size_t assign_len = 0;
    h2o_socket_t *primed_sock = NULL;
    if (kumo__spawner_take_primed(p->cfg.spawner, p->cfg.unit_index, &primed_sock, &pid) == 0) {
        kumo__frame_writer fw = {0};
        kumo__frame_begin(&fw, sizeof(assign), KUMO__FRAME_ASSIGN, 0);
        kumo__frame_put_u32(&fw, KF_UNIT, (uint32_t)p->cfg.unit_index);
        if (kumo__frame_end(&fw) == 0 && fw.len <= sizeof(assign)) {
            memcpy(assign, fw.buf, fw.len);
            assign_len = fw.len;
        }
        kumo__frame_writer_free(&fw);
        if (assign_len == 0) { /* out of memory: the spare is let go (EOF), a fresh one is asked */
            h2o_socket_close(primed_sock);
            primed_sock = NULL;
            pid = 0;
        }
    }
    int primed = primed_sock != NULL;
    int held = primed && hold_on_this_cpu(p, pid);
    if (!primed && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        snprintf(why, whylen, "socketpair: %s", strerror(errno));
        free(w);
        return NULL;
    }
    if (!primed && kumo__spawner_spawn(p->cfg.spawner, p->cfg.unit_index, sv[1], &tag, &pid, &err) != 0) {
        snprintf(why, whylen, "%s", err.msg);
        close(sv[0]);
        close(sv[1]);
        free(w);
        return NULL;
    }
    if (sv[1] >= 0)
        close(sv[1]); /* the worker has its own copy now */
    w->pid = pid;
    w->tag = tag;
    w->pool = p;
    w->serial = ++p->next_serial;
    w->spawned_us = spawn_start;
    w->last_used_ms = kumo__mono_ms();
    if (primed) {
        w->sock = primed_sock;
    } else {
        fcntl(sv[0], F_SETFL, O_NONBLOCK);
        w->sock = h2o_evloop_socket_create(p->loop, sv[0], 0);
    }
    w->sock->data = w;
    h2o_socket_read_start(w->sock, on_read);
    if (assign_len > 0 && queue_owned(w, assign, assign_len) != 0) {
        /* out of memory: without its unit the spare only waits; it goes
         * with the socket, and the pool sees this worker lost */
        h2o_socket_close(w->sock);
        free(w);
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    w->next = p->workers;
    p->workers = w;
    p->nworkers++;
    p->nstarting++;
    STAT_ADD(p->n_cold);
    if (primed) {
        w->assigning = 1;
        w->held_here = held;
        take_hello(w);
    }
    return w;
}

/* The worker with the most room, preferring ready ones; NULL when all are
 * at the unit's concurrency. */
static worker *pick(kumo__pool *p)
{
    worker *best = NULL;
    int limit = p->tuning.concurrency > WRITE_MAX ? WRITE_MAX : p->tuning.concurrency;
    if (p->service_us > 0 && p->service_us < PACK_FAST_US) {
        /* a very fast unit: a worker already awake, while its calls stay
         * under AHEAD_WAIT_US of expected waiting */
        int deep = AHEAD_WAIT_US / p->service_us;
        if (deep > WRITE_MAX)
            deep = WRITE_MAX;
        uint64_t now = kumo__mono_us();
        for (worker *w = p->workers; w; w = w->next)
            if (w->ready && w->ninflight > 0 && w->ninflight < deep && now - w->head_since_us < PACK_AGE_US &&
                !w->killed_timeout && !w->retiring && (best == NULL || w->ninflight < best->ninflight))
                best = w;
        if (best)
            return best;
    }
    for (worker *w = p->workers; w; w = w->next) {
        if (w->ninflight >= limit || w->killed_timeout || w->retiring)
            continue;
        if (best == NULL || (w->ready && !best->ready) || (w->ready == best->ready && w->ninflight < best->ninflight))
            best = w;
    }
    return best;
}

/* At the pool's max, for a fast unit: the ready worker with the fewest
 * calls, if it has fewer than its concurrency plus what AHEAD_WAIT_US of
 * expected waiting allows. */
static worker *pick_ahead(kumo__pool *p)
{
    if (p->service_us == 0 || p->service_us >= AHEAD_FAST_US || p->nworkers < p->cfg.max)
        return NULL;
    int extra = AHEAD_WAIT_US / p->service_us;
    int limit = p->tuning.concurrency + extra;
    if (limit > WRITE_MAX)
        limit = WRITE_MAX;
    worker *best = NULL;
    for (worker *w = p->workers; w; w = w->next) {
        if (!w->ready || w->ninflight >= limit || w->killed_timeout || w->retiring)
            continue;
        if (best == NULL || w->ninflight < best->ninflight)
            best = w;
    }
    return best;
}

/* Moves queued calls to workers with room, scaling out while calls wait.
 * When no worker can be started the queue is failed, except `keep` (the
 * call being submitted, whose caller answers it): -1 when `keep` was
 * among them and taken out of the queue. */
static int dispatch_except(kumo__pool *p, kumo__call *keep, char *why, size_t why_len)
{
    while (p->qhead != NULL) {
        worker *w = pick(p);
        if (w == NULL && (w = pick_ahead(p)) == NULL) {
            if (p->nworkers >= p->cfg.max || backing_off(p, kumo__mono_ms()))
                return 0;
            if ((w = spawn_worker(p, why, why_len)) == NULL) {
                kumo__call *calls = p->qhead, *failed = NULL, **tail = &failed;
                int kept = 0;
                p->qhead = p->qtail = NULL;
                p->queued = 0;
                kumo__log_event("error", "function '%s': %s", p->unit_name, why);
                while (calls) {
                    kumo__call *next = calls->next;
                    calls->next = NULL;
                    if (calls == keep) {
                        kept = 1;
                    } else {
                        *tail = calls;
                        tail = &calls->next;
                    }
                    calls = next;
                }
                finish_all(failed, KUMO__CALL_NO_WORKER, why);
                return kept ? -1 : 0;
            }
        }
        kumo__call *call = p->qhead;
        p->qhead = call->next;
        if (p->qhead == NULL)
            p->qtail = NULL;
        p->queued--;
        send_call(w, call);
    }
    return 0;
}

static void dispatch(kumo__pool *p)
{
    char why[300];
    dispatch_except(p, NULL, why, sizeof(why));
}

int kumo__pool_submit(kumo__pool *p, kumo__call *call, char *why, size_t why_len)
{
    uint64_t now = kumo__mono_ms();
    call->submitted_ms = now;
    call->next = NULL;
    if (backing_off(p, now)) {
        STAT_ADD(p->n_rejected);
        snprintf(why, why_len, "function '%s' is recovering from repeated crashes; last: %s", p->unit_name,
                 p->last_crash);
        return -ECONNREFUSED;
    }
    if (p->qhead == NULL) { /* FIFO: only an empty queue may be bypassed */
        worker *w = pick(p);
        if (w == NULL && p->nworkers < p->cfg.max) {
            char reason[300];
            if ((w = spawn_worker(p, reason, sizeof(reason))) == NULL) {
                /* Refused here, not through the callback: the caller has
                 * not finished admitting the call yet. */
                kumo__log_event("error", "function '%s': %s", p->unit_name, reason);
                STAT_ADD(p->n_rejected);
                snprintf(why, why_len, "function '%s' cannot start a worker: %s", p->unit_name, reason);
                return -ECONNREFUSED;
            }
        }
        if (w != NULL) {
            send_call(w, call);
            return 0;
        }
    }
    if (p->tuning.queue == 0) {
        STAT_ADD(p->n_rejected);
        snprintf(why, why_len, "function '%s' is at its concurrency limit (%d workers x %d) and has no queue",
                 p->unit_name, p->cfg.max, p->tuning.concurrency);
        return -EBUSY;
    }
    if (p->queued >= p->tuning.queue) {
        STAT_ADD(p->n_rejected);
        snprintf(why, why_len, "function '%s' has %d invocations waiting, its queue's limit", p->unit_name, p->queued);
        return -EAGAIN;
    }
    if (p->qtail)
        p->qtail->next = call;
    else
        p->qhead = call;
    p->qtail = call;
    p->queued++;
    char reason[300];
    if (dispatch_except(p, call, reason, sizeof(reason)) < 0) {
        STAT_ADD(p->n_rejected);
        snprintf(why, why_len, "function '%s' cannot start a worker: %s", p->unit_name, reason);
        return -ECONNREFUSED;
    }
    return 0;
}

void kumo__pool_tick(kumo__pool *p, uint64_t now_ms)
{
    /* A running call past its deadline: kill the worker. Only a worker's
     * oldest call runs; one behind it that passes its deadline is answered
     * by the worker without running it (KF_EXPIRED) once its turn comes. */
    uint64_t oldest = 0;
    for (worker *w = p->workers; w; w = w->next) {
        kumo__call *c = w->head;
        if (c && w->head_since_us && (oldest == 0 || w->head_since_us < oldest))
            oldest = w->head_since_us;
        if (c && !w->killed_timeout) {
            if (c->deadline_ms && now_ms >= c->deadline_ms) {
                w->killed_timeout = 1;
                STAT_ADD(p->n_timeouts);
                kumo__log_event("warn", "invocation on worker %d of function '%s' passed its deadline; killing it",
                                (int)w->pid, p->unit_name);
                if (w->pid > 0)
                    kill(w->pid, SIGKILL);
                else
                    shutdown(h2o_socket_get_fd(w->sock), SHUT_RDWR); /* not yet known: cut it off */
            }
        }
    }
    __atomic_store_n(&p->oldest_running_us, oldest, __ATOMIC_RELAXED);
    /* Calls whose deadline passed while queued are answered now. */
    kumo__call **link = &p->qhead, *prev = NULL;
    while (*link) {
        kumo__call *c = *link;
        if (c->deadline_ms && now_ms >= c->deadline_ms) {
            *link = c->next;
            if (p->qtail == c)
                p->qtail = prev;
            p->queued--;
            STAT_ADD(p->n_timeouts);
            const char *why = "the invocation waited for a worker past its deadline";
            finish(c, KUMO__CALL_TIMEOUT, why, strlen(why));
            continue;
        }
        prev = c;
        link = &c->next;
    }
    /* Scale in: one idle worker per tick, down to min. */
    uint64_t idle_ms = (uint64_t)llround(p->tuning.idle_s * 1000.0);
    if (p->tuning.idle_s > 0 && p->nworkers > p->cfg.min) {
        for (worker *w = p->workers; w; w = w->next) {
            if (w->ready && w->ninflight == 0 && w->pending.n == 0 && w->writing.n == 0 &&
                now_ms - w->last_used_ms >= idle_ms) {
                worker_lost(w, "stopped after its idle time", LOST_STOPPED);
                break;
            }
        }
    }
    /* Keep min warm. */
    while (p->nworkers < p->cfg.min && !backing_off(p, now_ms)) {
        char why[300];
        if (spawn_worker(p, why, sizeof(why)) == NULL) {
            kumo__log_event("error", "function '%s': %s", p->unit_name, why);
            break;
        }
    }
    reap(p, 0, now_ms);
    if (p->qhead && !backing_off(p, now_ms))
        dispatch(p);
}

uint64_t kumo__pool_next_tick_ms(const kumo__pool *p, uint64_t now_ms)
{
    if (p->qhead || p->dying || p->nstarting > 0 || p->nworkers < p->cfg.min ||
        __atomic_load_n(&p->oldest_running_us, __ATOMIC_RELAXED) != 0) /* the next tick says none runs any more */
        return 0;
    int scale_in = p->tuning.idle_s > 0 && p->nworkers > p->cfg.min;
    uint64_t idle_ms = (uint64_t)llround(p->tuning.idle_s * 1000.0), soonest = UINT64_MAX;
    for (const worker *w = p->workers; w; w = w->next) {
        if (!w->ready || w->head || w->ninflight || w->pending.n || w->writing.n)
            return 0;
        if (scale_in) {
            uint64_t at = w->last_used_ms + idle_ms;
            uint64_t in = at > now_ms ? at - now_ms : 0;
            if (in < soonest)
                soonest = in;
        }
    }
    return soonest;
}

void kumo__pool_on_spawned(kumo__pool *p, uint32_t tag, pid_t pid, int err)
{
    for (worker *w = p->workers; w; w = w->next) {
        if (w->tag != tag || w->pid != 0)
            continue;
        if (pid > 0) {
            set_pid(w, pid);
        } else {
            char why[160];
            snprintf(why, sizeof(why), "could not be forked: %s", strerror(err ? err : EAGAIN));
            worker_lost(w, why, LOST_DIED);
        }
        return;
    }
}

void kumo__pool_on_exit(kumo__pool *p, pid_t pid)
{
    for (dying *d = p->dying; d; d = d->next)
        if (d->pid == pid) {
            reap(p, 0, kumo__mono_ms());
            return;
        }
}

size_t kumo__pool_pending(const kumo__pool *p)
{
    size_t n = (size_t)p->queued;
    for (const worker *w = p->workers; w; w = w->next)
        n += (size_t)w->ninflight;
    for (const dying *d = p->dying; d; d = d->next)
        for (const kumo__call *c = d->calls; c; c = c->next)
            n++;
    return n;
}

void kumo__pool_record(kumo__pool *p, uint64_t duration_us, int error, uint64_t now_ms)
{
    STAT_ADD(p->n_invocations);
    if (error)
        STAT_ADD(p->n_errors);
    uint64_t sec = now_ms / 1000;
    size_t slot = sec % HIST_SECONDS;
    if (p->hist_second[slot] != sec) {
        memset(p->hist[slot], 0, sizeof(p->hist[slot]));
        __atomic_store_n(&p->hist_second[slot], sec, __ATOMIC_RELAXED);
    }
    int k = duration_us <= 1 ? 0 : (int)(4.0 * log2((double)duration_us));
    if (k >= HIST_BUCKETS)
        k = HIST_BUCKETS - 1;
    __atomic_fetch_add(&p->hist[slot][k], 1, __ATOMIC_RELAXED);
}

uint64_t kumo__pool_oldest_us(const kumo__pool *p, uint64_t *usual_us)
{
    uint64_t at = __atomic_load_n(&p->oldest_running_us, __ATOMIC_RELAXED), now = kumo__mono_us();
    if (usual_us)
        *usual_us = __atomic_load_n(&p->service_us, __ATOMIC_RELAXED);
    return at && now > at ? now - at : 0;
}

void kumo__pool_stats_add(const kumo__pool *p, kumo__pool_stats *out, uint64_t now_ms)
{
    out->invocations += STAT_GET(p->n_invocations);
    out->errors += STAT_GET(p->n_errors);
    out->crashes += STAT_GET(p->n_crashes);
    out->timeouts += STAT_GET(p->n_timeouts);
    out->cold_starts += STAT_GET(p->n_cold);
    out->rejected += STAT_GET(p->n_rejected);
    /* The worker list is the owner's: only counts are read here. */
    out->workers += __atomic_load_n(&p->nworkers, __ATOMIC_RELAXED);
    out->starting += __atomic_load_n(&p->nstarting, __ATOMIC_RELAXED);
    out->queued += __atomic_load_n(&p->queued, __ATOMIC_RELAXED);
    out->busy += __atomic_load_n(&p->nbusy, __ATOMIC_RELAXED);
    out->inflight += __atomic_load_n(&p->ninflight, __ATOMIC_RELAXED);
    uint64_t sec = now_ms / 1000;
    for (size_t s = 0; s < HIST_SECONDS; s++) {
        uint64_t at = __atomic_load_n(&p->hist_second[s], __ATOMIC_RELAXED);
        if (at + HIST_SECONDS <= sec || at > sec)
            continue;
        for (size_t k = 0; k < HIST_BUCKETS; k++)
            out->hist[k] += __atomic_load_n(&p->hist[s][k], __ATOMIC_RELAXED);
    }
}

/* Answers what is queued with `why` and closes every worker's socket
 * (EOF: each exits on its own); no worker is started any more. */
static void stop_all(kumo__pool *p, const char *why, const char *worker_why)
{
    kumo__call *queued = p->qhead;
    p->qhead = p->qtail = NULL;
    p->queued = 0;
    finish_all(queued, KUMO__CALL_NO_WORKER, why);
    p->cfg.min = 0;
    while (p->workers)
        worker_lost(p->workers, worker_why, LOST_STOPPED);
}

int kumo__pool_workers(const kumo__pool *p)
{
    return p ? p->nworkers : 0;
}

void kumo__pool_prewarm(kumo__pool *p)
{
    if (p == NULL || p->nworkers > 0 || p->cfg.max == 0 || backing_off(p, kumo__mono_ms()))
        return;
    char why[300];
    if (spawn_worker(p, why, sizeof(why)) == NULL)
        kumo__log_event("warn", "function '%s': cannot start a worker ahead of its first call: %s", p->unit_name, why);
}

void kumo__pool_retire(kumo__pool *p)
{
    if (p == NULL)
        return;
    stop_all(p, "a reload replaced the function", "stopped: a reload replaced its generation");
}

int kumo__pool_retired(kumo__pool *p, int force, uint64_t now_ms)
{
    if (p == NULL)
        return 1;
    if (p->dying)
        reap(p, force, now_ms);
    return p->workers == NULL && p->dying == NULL;
}

void kumo__pool_destroy(kumo__pool *p, int grace_ms)
{
    if (p == NULL)
        return;
    stop_all(p, "the gateway is shutting down", "stopped: the gateway is shutting down");
    uint64_t until = kumo__mono_ms() + (uint64_t)grace_ms;
    while (p->dying) {
        uint64_t now = kumo__mono_ms();
        reap(p, now >= until, now);
        if (p->dying)
            kumo__spawner_poll(p->cfg.spawner, 2);
    }
    bury_dead(p);
    if (h2o_timeout_is_linked(&p->flush_entry))
        h2o_timeout_unlink(&p->flush_entry);
    h2o_timeout_dispose(p->loop, &p->flush_timeout);
    if (p->anchor) { /* calls still out answer to nobody */
        p->anchor->pool = NULL;
        kumo__pool_anchor_release(p->anchor);
    }
    free(p->unit_name);
    free(p);
}
