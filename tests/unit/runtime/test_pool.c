/*
 * test_pool.c: pool.c against a fake spawner, with the test playing the
 * workers over their socketpairs: admission, the 429 and 503 refusals,
 * requeueing the calls a crashed worker had not started, the backoff after
 * crashes, and sending calls ahead to a busy worker of a fast unit.
 *
 * The pool's clock is the test's (kumo__mono_ms/us are renamed before
 * pool.c is included), so backoff windows and service times are set, not
 * waited for. The loop is a real h2o evloop: frames travel over real
 * sockets, and each wait for one is bounded by a count of loop turns.
 */
#define kumo__mono_ms test_mono_ms
#define kumo__mono_us test_mono_us
#include "runtime/pool.c"
#undef kumo__mono_ms
#undef kumo__mono_us

#include <poll.h>

#include "check.h"

static uint64_t now_us = 1000ull * 1000 * 1000; /* the pool's clock: starts at 1000 s */

uint64_t test_mono_ms(void)
{
    return now_us / 1000;
}

uint64_t test_mono_us(void)
{
    return now_us;
}

/* ---- the fake spawner ------------------------------------------------------ */

#define FAKES_MAX 32
/* Far above any pid_max (at most 2^22): kill() on one finds no process. */
#define FAKE_PID_BASE 2000000000

typedef struct peer {
    int fd; /* the worker's end, played by the test (non-blocking) */
    char buf[1 << 16];
    size_t len;
    int exited, status; /* what exit_status reports once exited */
} peer;

typedef struct fake_spawner {
    kumo__spawner super;
    int fail; /* refuse spawns */
    int nspawned, releases;
    int last_unit;
    peer peers[FAKES_MAX];
} fake_spawner;

static fake_spawner fake;

static int fake_spawn(kumo__spawner *s, int unit, int fd, uint32_t *tag, pid_t *pid, kumo__error *err)
{
    fake_spawner *f = (fake_spawner *)s;
    if (f->fail || f->nspawned == FAKES_MAX) {
        kumo__error_set(err, -EAGAIN, "the fake spawner refuses");
        return -EAGAIN;
    }
    peer *pr = &f->peers[f->nspawned];
    pr->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0); /* the pool closes its copy of the worker's end */
    fcntl(pr->fd, F_SETFL, O_NONBLOCK);
    *tag = 0;
    *pid = FAKE_PID_BASE + f->nspawned++;
    f->last_unit = unit;
    return 0;
}

static int fake_exit_status(kumo__spawner *s, pid_t pid, int *status, int *oom)
{
    fake_spawner *f = (fake_spawner *)s;
    int k = pid - FAKE_PID_BASE;
    if (k < 0 || k >= f->nspawned)
        return -ECHILD;
    if (!f->peers[k].exited)
        return 0;
    *status = f->peers[k].status;
    *oom = 0;
    return 1;
}

static void fake_release(kumo__spawner *s, pid_t pid)
{
    ((fake_spawner *)s)->releases++;
}

/* Time passes while the pool waits for its workers to exit. */
static void fake_poll(kumo__spawner *s, int timeout_ms)
{
    now_us += (uint64_t)timeout_ms * 1000;
}

static const kumo__spawner_methods fake_methods = {
    .version = KUMO__SPAWNER_VERSION,
    .spawn = fake_spawn,
    .exit_status = fake_exit_status,
    .release = fake_release,
    .poll = fake_poll,
};

/* ---- the loop, the pool, the calls --------------------------------------- */

static h2o_evloop_t *loop;
static kumo__tuning tuning;

static kumo__pool *make_pool(int max, int concurrency, int queue)
{
    for (int i = 0; i < fake.nspawned; i++)
        if (fake.peers[i].fd > 0)
            close(fake.peers[i].fd);
    memset(&fake, 0, sizeof(fake));
    fake.super.methods = &fake_methods;
    fake.last_unit = -1;
    tuning = (kumo__tuning){.timeout_s = 10, .max = max, .concurrency = concurrency, .queue = queue};
    kumo__pool_config c = {.unit_name = "fn", .tuning = &tuning, .max = max, .spawner = &fake.super, .unit_index = 3};
    return kumo__pool_create(loop, &c);
}

/* Every fake worker has exited cleanly; the pool goes. */
static void end_pool(kumo__pool *p)
{
    for (int i = 0; i < fake.nspawned; i++)
        fake.peers[i].exited = 1;
    kumo__pool_destroy(p, 0);
    for (int i = 0; i < 4; i++)
        h2o_evloop_run(loop, 0);
}

typedef struct tcall {
    kumo__call call;
    const char *name;
    int done;
    enum kumo__call_result result;
    char payload[512];
} tcall;

static void on_done(kumo__call *c, enum kumo__call_result result, const char *payload, size_t len)
{
    tcall *t = (tcall *)c;
    t->done++;
    t->result = result;
    snprintf(t->payload, sizeof(t->payload), "%.*s", (int)len, payload);
}

static void tcall_init(tcall *t, const char *name)
{
    memset(t, 0, sizeof(*t));
    t->name = name;
    t->call.cb = on_done;
    kumo__frame_begin(&t->call.frame, 0, KUMO__FRAME_REQUEST, 0);
    kumo__frame_put_str(&t->call.frame, KF_REQUEST_ID, name);
    kumo__frame_end(&t->call.frame);
}

static void tcall_free(tcall *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kumo__frame_writer_free(&t[i].call.frame);
}

static int submit(kumo__pool *p, tcall *t, char *why, size_t whylen)
{
    why[0] = '\0';
    return kumo__pool_submit(p, &t->call, why, whylen);
}

/* One turn of the loop, waiting up to 10 ms for I/O. */
static void turn(void)
{
    h2o_evloop_run(loop, 10);
}

/* Turns the loop until the call is answered (or a bounded number of turns:
 * a failed check then says so). */
static int wait_done(tcall *t)
{
    for (int i = 0; i < 500 && !t->done; i++)
        turn();
    return t->done;
}

/* ---- the test's side of a worker ------------------------------------------ */

static void peer_write_frame(peer *pr, uint8_t type, uint32_t id, void (*fill)(kumo__frame_writer *, void *), void *arg)
{
    kumo__frame_writer w = {0};
    kumo__frame_begin(&w, 0, type, id);
    if (fill)
        fill(&w, arg);
    kumo__frame_end(&w);
    CHECK(write(pr->fd, w.buf, w.len) == (ssize_t)w.len);
    kumo__frame_writer_free(&w);
}

static void hello(int k)
{
    peer_write_frame(&fake.peers[k], KUMO__FRAME_HELLO, 0, NULL, NULL);
}

static void fill_response(kumo__frame_writer *w, void *arg)
{
    kumo__frame_put_u32(w, KF_STATUS, 200);
    if (arg)
        kumo__frame_put(w, (uint16_t)(uintptr_t)arg, "", 0);
}

static void respond(int k, uint32_t id)
{
    peer_write_frame(&fake.peers[k], KUMO__FRAME_RESPONSE, id, fill_response, NULL);
}

/* The next request frame worker k received: 1 with its header id and
 * KF_REQUEST_ID, or 0 when none came within a bounded number of turns. */
static int next_request(int k, uint32_t *id, char *name, size_t namelen)
{
    peer *pr = &fake.peers[k];
    for (int i = 0; i < 500; i++) {
        kumo__frame_header h;
        if (kumo__frame_header_decode(pr->buf, pr->len, 0, &h) == 0 &&
            pr->len >= KUMO__FRAME_HEADER_SIZE + (size_t)h.length) {
            kumo__frame_reader r;
            kumo__frame_field f;
            *id = h.id;
            name[0] = '\0';
            kumo__frame_reader_init(&r, pr->buf + KUMO__FRAME_HEADER_SIZE, h.length);
            while (kumo__frame_next(&r, &f) > 0)
                if (f.tag == KF_REQUEST_ID)
                    snprintf(name, namelen, "%.*s", (int)f.len, f.data);
            size_t used = KUMO__FRAME_HEADER_SIZE + (size_t)h.length;
            memmove(pr->buf, pr->buf + used, pr->len - used);
            pr->len -= used;
            return h.type == KUMO__FRAME_REQUEST;
        }
        ssize_t n = read(pr->fd, pr->buf + pr->len, sizeof(pr->buf) - pr->len);
        if (n > 0) {
            pr->len += (size_t)n;
            continue;
        }
        if (n == 0)
            return 0; /* the pool closed it */
        turn();
    }
    return 0;
}

/* Worker k receives `t` next (its header id is the one the pool gave it). */
static void expect_request(int k, tcall *t)
{
    uint32_t id = 0;
    char name[64];
    CHECK(next_request(k, &id, name, sizeof(name)));
    CHECK_INT(id, t->call.id);
    CHECK_STR(name, t->name);
}

/* Worker k dies: killed by `sig`, its socket closed. */
static void crash(int k, int sig)
{
    fake.peers[k].exited = 1;
    fake.peers[k].status = sig; /* as waitpid reports a death by signal */
    close(fake.peers[k].fd);
    fake.peers[k].fd = -1;
}

/* ---- the tests ------------------------------------------------------------ */

static void test_admission(void)
{
    kumo__pool *p = make_pool(2, 1, 2);
    tcall t[5];
    char why[300];
    const char *names[5] = {"A", "B", "C", "D", "E"};
    for (int i = 0; i < 5; i++)
        tcall_init(&t[i], names[i]);

    /* A and B each start a worker (concurrency 1, max 2); C and D wait. */
    CHECK_INT(submit(p, &t[0], why, sizeof(why)), 0);
    CHECK_INT(fake.nspawned, 1);
    CHECK_INT(fake.last_unit, 3);
    CHECK_INT(submit(p, &t[1], why, sizeof(why)), 0);
    CHECK_INT(fake.nspawned, 2);
    CHECK_INT(p->nstarting, 2);
    CHECK_INT(submit(p, &t[2], why, sizeof(why)), 0);
    CHECK_INT(submit(p, &t[3], why, sizeof(why)), 0);
    CHECK_INT(fake.nspawned, 2);
    CHECK_INT(p->queued, 2);
    /* E finds the queue full: 503, and no callback ever. */
    CHECK_INT(submit(p, &t[4], why, sizeof(why)), -EAGAIN);
    CHECK(strstr(why, "queue") != NULL);
    CHECK_INT(p->n_rejected, 1);
    CHECK_INT(kumo__pool_pending(p), 4);

    /* Sent to a worker still starting: they wait in its socket. */
    CHECK(t[0].call.cold && t[1].call.cold);
    hello(0);
    hello(1);
    expect_request(0, &t[0]);
    expect_request(1, &t[1]);
    respond(0, t[0].call.id);
    CHECK(wait_done(&t[0]));
    CHECK_INT(t[0].result, KUMO__CALL_OK);
    CHECK_INT(t[0].call.worker_pid, FAKE_PID_BASE + 0);
    CHECK_INT(p->nstarting, 0);
    /* A's worker is free: the queue's head, C, goes to it, in order. */
    expect_request(0, &t[2]);
    CHECK_INT(p->queued, 1);
    respond(1, t[1].call.id);
    CHECK(wait_done(&t[1]));
    expect_request(1, &t[3]);
    CHECK_INT(p->queued, 0);
    respond(0, t[2].call.id);
    respond(1, t[3].call.id);
    CHECK(wait_done(&t[2]) && wait_done(&t[3]));
    CHECK_INT(t[2].result, KUMO__CALL_OK);
    CHECK_INT(t[3].result, KUMO__CALL_OK);
    CHECK_INT(t[3].call.worker_pid, FAKE_PID_BASE + 1);
    CHECK(!t[2].call.cold);
    CHECK_INT(t[4].done, 0);
    CHECK_INT(kumo__pool_pending(p), 0);
    CHECK_INT(fake.nspawned, 2);
    end_pool(p);
    tcall_free(t, 5);
}

static void test_refusals(void)
{
    tcall t[3];
    char why[300];
    tcall_init(&t[0], "A");
    tcall_init(&t[1], "B");
    tcall_init(&t[2], "C");

    /* No queue, at its limit: 429 at once. */
    kumo__pool *p = make_pool(1, 1, 0);
    CHECK_INT(submit(p, &t[0], why, sizeof(why)), 0);
    CHECK_INT(submit(p, &t[1], why, sizeof(why)), -EBUSY);
    CHECK(strstr(why, "concurrency limit (1 workers x 1)") != NULL);
    CHECK_INT(t[1].done, 0);
    end_pool(p);
    CHECK_INT(t[0].done, 1); /* answered when the pool went */
    CHECK_INT(t[0].result, KUMO__CALL_NO_WORKER);

    /* No worker can start: 503 with the spawner's reason. */
    p = make_pool(2, 1, 4);
    fake.fail = 1;
    CHECK_INT(submit(p, &t[2], why, sizeof(why)), -ECONNREFUSED);
    CHECK(strstr(why, "cannot start a worker: the fake spawner refuses") != NULL);
    CHECK_INT(t[2].done, 0);
    CHECK_INT(p->nworkers, 0);
    end_pool(p);
    tcall_free(t, 3);
}

/* Makes the pool's one worker (fake 0) ready and measures its service
 * time as `us` (a warm call answered `us` after it was sent). */
static void warm_up(kumo__pool *p, uint64_t us)
{
    tcall t[2];
    char why[300];
    tcall_init(&t[0], "cold");
    tcall_init(&t[1], "warm");
    CHECK_INT(submit(p, &t[0], why, sizeof(why)), 0);
    hello(0);
    expect_request(0, &t[0]);
    respond(0, t[0].call.id);
    CHECK(wait_done(&t[0]));
    CHECK_INT(submit(p, &t[1], why, sizeof(why)), 0);
    expect_request(0, &t[1]);
    now_us += us;
    respond(0, t[1].call.id);
    CHECK(wait_done(&t[1]));
    CHECK_INT(p->service_us, us);
    tcall_free(t, 2);
}

static void test_ahead_and_requeue(void)
{
    kumo__pool *p = make_pool(1, 1, 8);
    tcall t[3];
    char why[300];
    tcall_init(&t[0], "C");
    tcall_init(&t[1], "D");
    tcall_init(&t[2], "E");
    warm_up(p, 100); /* a fast unit: 100 us a call */

    /* C runs; D and E are sent ahead, behind it, rather than queued. */
    CHECK_INT(submit(p, &t[0], why, sizeof(why)), 0);
    CHECK_INT(submit(p, &t[1], why, sizeof(why)), 0);
    CHECK_INT(submit(p, &t[2], why, sizeof(why)), 0);
    CHECK_INT(p->queued, 0);
    CHECK_INT(p->workers->ninflight, 3);
    expect_request(0, &t[0]);
    expect_request(0, &t[1]);
    expect_request(0, &t[2]);

    /* The worker dies running C: C fails with how it died; D and E never
     * began, so they go back to the queue and a fresh worker serves them. */
    crash(0, SIGSEGV);
    CHECK(wait_done(&t[0]));
    CHECK_INT(t[0].result, KUMO__CALL_CRASHED);
    CHECK(strstr(t[0].payload, "killed by signal 11") != NULL);
    CHECK_INT(t[1].done + t[2].done, 0);
    CHECK_INT(fake.nspawned, 2);
    CHECK_INT(p->n_crashes, 1);
    CHECK_INT(p->queued, 1); /* E: nothing is sent ahead to a worker still starting */
    hello(1);
    expect_request(1, &t[1]);
    expect_request(1, &t[2]); /* sent ahead once the worker is ready */
    CHECK_INT(p->queued, 0);
    respond(1, t[1].call.id);
    respond(1, t[2].call.id);
    CHECK(wait_done(&t[1]) && wait_done(&t[2]));
    CHECK_INT(t[1].result, KUMO__CALL_OK);
    CHECK_INT(t[2].result, KUMO__CALL_OK);
    CHECK_INT(t[1].call.worker_pid, FAKE_PID_BASE + 1);
    CHECK_INT(t[2].call.worker_pid, FAKE_PID_BASE + 1);
    CHECK_INT(kumo__pool_pending(p), 0);
    end_pool(p);
    tcall_free(t, 3);
}

/* Below its max, a very fast unit's second call goes behind the first on
 * the worker already awake, not to a new worker; a merely fast one (500
 * us) still starts a second. */
static void test_packing(void)
{
    tcall t[3];
    char why[300];
    tcall_init(&t[0], "A");
    tcall_init(&t[1], "B");
    tcall_init(&t[2], "C");
    kumo__pool *p = make_pool(3, 1, 8);
    warm_up(p, 50);
    CHECK_INT(fake.nspawned, 1);
    CHECK_INT(submit(p, &t[0], why, sizeof(why)), 0);
    CHECK_INT(submit(p, &t[1], why, sizeof(why)), 0);
    CHECK_INT(fake.nspawned, 1);
    CHECK_INT(p->workers->ninflight, 2);
    expect_request(0, &t[0]);
    expect_request(0, &t[1]);
    now_us += 50;
    respond(0, t[0].call.id);
    now_us += 50;
    respond(0, t[1].call.id);
    CHECK(wait_done(&t[0]) && wait_done(&t[1]));
    CHECK_INT(t[1].result, KUMO__CALL_OK);
    /* A call running long (5 ms, on a 50 us unit) is not packed behind:
     * the next call starts a worker of its own. */
    tcall l[2];
    tcall_init(&l[0], "long");
    tcall_init(&l[1], "next");
    CHECK_INT(submit(p, &l[0], why, sizeof(why)), 0);
    expect_request(0, &l[0]);
    now_us += 5000;
    CHECK_INT(submit(p, &l[1], why, sizeof(why)), 0);
    CHECK_INT(fake.nspawned, 2);
    end_pool(p);
    tcall_free(l, 2);

    p = make_pool(3, 1, 8);
    warm_up(p, 500);
    CHECK_INT(submit(p, &t[2], why, sizeof(why)), 0);
    tcall u;
    tcall_init(&u, "D");
    CHECK_INT(submit(p, &u, why, sizeof(why)), 0);
    CHECK_INT(fake.nspawned, 2);
    CHECK_INT(p->workers->ninflight, 1);
    end_pool(p);
    tcall_free(&u, 1);
    tcall_free(t, 3);
}

static void test_slow_unit_queues(void)
{
    kumo__pool *p = make_pool(1, 1, 8);
    tcall t[2];
    char why[300];
    tcall_init(&t[0], "C");
    tcall_init(&t[1], "D");
    warm_up(p, 5000); /* 5 ms a call: not worth sending ahead */
    CHECK_INT(submit(p, &t[0], why, sizeof(why)), 0);
    CHECK_INT(submit(p, &t[1], why, sizeof(why)), 0);
    CHECK_INT(p->queued, 1);
    CHECK_INT(p->workers->ninflight, 1);
    expect_request(0, &t[0]);
    respond(0, t[0].call.id);
    CHECK(wait_done(&t[0]));
    expect_request(0, &t[1]); /* its turn came */
    respond(0, t[1].call.id);
    CHECK(wait_done(&t[1]));
    CHECK_INT(t[1].result, KUMO__CALL_OK);
    end_pool(p);
    tcall_free(t, 2);
}

static void test_backoff(void)
{
    kumo__pool *p = make_pool(1, 1, 0);
    tcall t[CRASH_LIMIT + 2];
    char why[300];
    for (int i = 0; i < CRASH_LIMIT + 2; i++)
        tcall_init(&t[i], "X");

    /* Workers that die before saying hello, CRASH_LIMIT times in a row. */
    for (int i = 0; i < CRASH_LIMIT; i++) {
        CHECK_INT(submit(p, &t[i], why, sizeof(why)), 0);
        CHECK_INT(fake.nspawned, i + 1);
        crash(i, SIGABRT);
        CHECK(wait_done(&t[i]));
        CHECK_INT(t[i].result, KUMO__CALL_NO_WORKER);
        CHECK_INT(backing_off(p, test_mono_ms()), i == CRASH_LIMIT - 1);
    }
    /* Now the unit answers 503 with the last crash, and starts nothing. */
    CHECK_INT(submit(p, &t[CRASH_LIMIT], why, sizeof(why)), -ECONNREFUSED);
    CHECK(strstr(why, "recovering from repeated crashes") != NULL);
    CHECK(strstr(why, "killed by signal 6") != NULL);
    CHECK_INT(fake.nspawned, CRASH_LIMIT);
    kumo__pool_tick(p, test_mono_ms());
    CHECK_INT(fake.nspawned, CRASH_LIMIT);
    /* Once the backoff (BACKOFF_MIN_MS the first time) is over, it tries again. */
    now_us += (BACKOFF_MIN_MS + 1) * 1000ull;
    CHECK_INT(submit(p, &t[CRASH_LIMIT + 1], why, sizeof(why)), 0);
    CHECK_INT(fake.nspawned, CRASH_LIMIT + 1);
    hello(CRASH_LIMIT);
    expect_request(CRASH_LIMIT, &t[CRASH_LIMIT + 1]);
    respond(CRASH_LIMIT, t[CRASH_LIMIT + 1].call.id);
    CHECK(wait_done(&t[CRASH_LIMIT + 1]));
    CHECK_INT(t[CRASH_LIMIT + 1].result, KUMO__CALL_OK);
    CHECK_INT(p->backoff_level, 0); /* an answer ends the streak */
    end_pool(p);
    tcall_free(t, CRASH_LIMIT + 2);
}

static void fill_answer_then_junk(kumo__frame_writer *w, void *arg)
{
    kumo__frame_put_u32(w, KF_STATUS, 200);
}

/* A worker that answers and then breaks the protocol in the same read: the
 * answer is delivered, the worker is lost inside its own read callback, and
 * the callback stops there (the dead flag) without touching its socket. */
static void test_lost_in_its_own_read(void)
{
    kumo__pool *p = make_pool(1, 2, 0);
    tcall t[2];
    char why[300];
    tcall_init(&t[0], "A");
    tcall_init(&t[1], "B");
    CHECK_INT(submit(p, &t[0], why, sizeof(why)), 0);
    CHECK_INT(submit(p, &t[1], why, sizeof(why)), 0);
    hello(0);
    expect_request(0, &t[0]);
    expect_request(0, &t[1]);
    /* One write: A's answer, then an answer to a call never sent. The pool
     * kills the worker for it (here: it is reported killed at once). */
    fake.peers[0].exited = 1;
    fake.peers[0].status = SIGKILL;
    kumo__frame_writer w = {0};
    kumo__frame_begin(&w, 0, KUMO__FRAME_RESPONSE, t[0].call.id);
    fill_answer_then_junk(&w, NULL);
    kumo__frame_end(&w);
    kumo__frame_begin(&w, 0, KUMO__FRAME_RESPONSE, 999999);
    kumo__frame_end(&w);
    CHECK(write(fake.peers[0].fd, w.buf, w.len) == (ssize_t)w.len);
    kumo__frame_writer_free(&w);
    CHECK(wait_done(&t[0]) && wait_done(&t[1]));
    CHECK_INT(t[0].result, KUMO__CALL_OK);
    CHECK_INT(t[1].result, KUMO__CALL_CRASHED);
    CHECK(strstr(t[1].payload, "sent a frame out of turn") != NULL);
    CHECK(strstr(t[1].payload, "killed by signal 9") != NULL);
    CHECK_INT(p->nworkers, 0);
    CHECK_INT(p->n_crashes, 1);
    CHECK(p->dead == NULL); /* freed at the end of the turn it was lost in */
    end_pool(p);
    tcall_free(t, 2);
}

/* A worker that asks to go (KF_RETIRE) is stopped once its call is
 * answered; that is not a crash. */
static void test_retire_request(void)
{
    kumo__pool *p = make_pool(1, 1, 0);
    tcall t[1];
    char why[300];
    tcall_init(&t[0], "A");
    CHECK_INT(submit(p, &t[0], why, sizeof(why)), 0);
    hello(0);
    expect_request(0, &t[0]);
    peer_write_frame(&fake.peers[0], KUMO__FRAME_RESPONSE, t[0].call.id, fill_response, (void *)(uintptr_t)KF_RETIRE);
    CHECK(wait_done(&t[0]));
    CHECK_INT(t[0].result, KUMO__CALL_OK);
    CHECK_INT(p->nworkers, 0);
    CHECK_INT(p->n_crashes, 0);
    end_pool(p);
    tcall_free(t, 1);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    loop = h2o_evloop_create();
    test_admission();
    test_refusals();
    test_ahead_and_requeue();
    test_packing();
    test_slow_unit_queues();
    test_backoff();
    test_lost_in_its_own_read();
    test_retire_request();
    for (int i = 0; i < fake.nspawned; i++)
        if (fake.peers[i].fd > 0)
            close(fake.peers[i].fd);
    return check_report();
}
