/*
 * loop.c: each event loop's thread and what it runs for every generation:
 * its pools (one per unit; a pool's sockets belong to its loop, so pools
 * are made, ticked and freed on their loop's thread) and the fork server
 * that spawns their workers, started with the generation's environment.
 *
 * After each wait a loop follows the current generation: it makes its
 * pools for a new one and sends new requests there, and the old pools
 * retire once nothing is pending on them (their workers get EOF, then are
 * reaped over the following ticks; the loop never waits for them).
 * Loop 0 also fires the schedule events (scheduler.c): its wait is cut
 * short when one is due.
 *
 * The periodic work (deadlines, idle workers, reaping, reloads) runs every
 * TICK_MS while there is some to do. A loop with nothing to tick waits
 * for its next event, up to IDLE_WAIT_MS (loop_wait): an idle kumo up
 * wakes about once a second per loop, not fifty times. What makes work
 * while it waits wakes it: a connection, a worker's frame or EOF, the
 * spawner's news, an h2o timer, and (through its outlet) a new
 * generation, a stop signal, other threads' finished work.
 */
#include "gateway/gateway_internal.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "gateway/access_log.h"

#define TICK_MS 20
#define IDLE_WAIT_MS 1000

/* Loop i's share of a unit's `total` workers over n loops; at least one
 * for max, so that every loop can serve every function. */
static int share(int total, int n, int i)
{
    return total / n + (i < total % n);
}

static void on_spawned(void *data, uint32_t tag, pid_t pid, int err)
{
    loop_gen *lg = data;
    for (size_t u = 0; lg->pools && u < lg->gen->project->nunits; u++)
        if (lg->pools[u])
            kumo__pool_on_spawned(lg->pools[u], tag, pid, err);
}

static void on_exited(void *data, pid_t pid)
{
    loop_gen *lg = data;
    for (size_t u = 0; lg->pools && u < lg->gen->project->nunits; u++)
        if (lg->pools[u])
            kumo__pool_on_exit(lg->pools[u], pid);
}

/* The spawner of generation g on loop t: its fork server preloads g's units
 * (their links), so each generation has its own (without one, the spawner
 * execs each worker). NULL when out of memory, or when there is no unit to
 * run (kumo mock's spec-only project): no fork server then. */
static kumo__spawner *start_spawner(loop_thread *t, generation *g, loop_gen *lg)
{
    const kumo__project *p = g->project;
    if (p->nunits == 0 && p->nevents == 0)
        return NULL;
    kumo__spawner_unit *units = calloc(p->nunits ? p->nunits : 1, sizeof(*units));
    char(*layers)[96] = calloc(p->nunits ? p->nunits : 1, sizeof(*layers));
    kumo__spawner *s = NULL;
    kumo__error err = {0};
    if (units == NULL || layers == NULL)
        goto out;
    for (size_t u = 0; u < p->nunits; u++) {
        const kumo__unit *unit = &p->units[u];
        kumo__tuning_layers(&unit->tuning, layers[u], sizeof(layers[u]));
        units[u] = (kumo__spawner_unit){.name = unit->name,
                                        .so_path = g->so_links[u] ? g->so_links[u] : unit->so_path,
                                        .layers = layers[u],
                                        .memory = unit->tuning.memory,
                                        .timeout_ms = (unsigned)(unit->tuning.timeout_s * 1000.0),
                                        .env = g->unit_env ? g->unit_env[u] : NULL};
    }
    char cores[sizeof(g->data_dir) + 16];
    int dumps = t->gw->cfg.core_dumps && g->data_dir[0] &&
                snprintf(cores, sizeof(cores), "%s/cores", g->data_dir) < (int)sizeof(cores);
    if (dumps && mkdir(cores, 0700) != 0 && errno != EEXIST) {
        kumo__log_event("warn", "cannot make %s for core dumps: %s; crashes leave no core", cores, strerror(errno));
        dumps = 0;
    }
    kumo__spawner_config sc = {.units = units,
                               .nunits = p->nunits,
                               .project_dir = p->dir,
                               .data_dir = g->data_dir,
                               .spares = 1,
                               .net = kumo__store_plan_needs_net(&g->stores),
                               .envp = g->envp,
                               .core_dir = dumps ? cores : NULL,
                               .debug_unit = kumo__gw_debug_unit(g)};
    if ((s = kumo__spawner_start(t->loop, &sc, &err)) == NULL)
        kumo__log_event("error", "loop %d: %s", t->index, err.msg);
    else
        kumo__spawner_set_callbacks(s, on_spawned, on_exited, lg);
out:
    free(units);
    free(layers);
    return s;
}

/* Pools for generation g on loop t (made on t's thread: a pool's sockets
 * belong to its loop). Takes over the caller's reference to g. */
static loop_gen *loop_gen_create(loop_thread *t, generation *g)
{
    gateway *gw = t->gw;
    const kumo__project *p = g->project;
    loop_gen *lg = calloc(1, sizeof(*lg));
    if (lg == NULL)
        return NULL;
    if ((lg->pools = calloc(p->nunits ? p->nunits : 1, sizeof(*lg->pools))) == NULL) {
        free(lg);
        return NULL;
    }
    lg->gen = g; /* the callbacks read it; the caller's reference until we succeed */
    lg->thread = t;
    lg->spawner = start_spawner(t, g, lg);
    for (size_t u = 0; u < p->nunits; u++) {
        const kumo__unit *unit = &p->units[u];
        kumo__pool_config pc = {.unit_name = unit->name,
                                .tuning = &unit->tuning,
                                .min = share(unit->tuning.min, gw->nthreads, t->index),
                                .max = share(unit->tuning.max, gw->nthreads, t->index),
                                .spawner = lg->spawner,
                                .unit_index = (int)u,
                                .on_ready = kumo__gw_on_worker_ready,
                                .ready_ctx = t,
                                .on_http_call = kumo__gw_egress_call,
                                .http_ctx = lg,
                                .on_crash = kumo__gw_on_crash,
                                .crash_ctx = lg};
        if ((lg->pools[u] = kumo__pool_create(t->loop, &pc)) == NULL) {
            for (size_t k = 0; k < u; k++)
                kumo__pool_destroy(lg->pools[k], 0);
            free(lg->pools);
            kumo__spawner_stop(lg->spawner);
            free(lg);
            return NULL;
        }
    }
    return lg;
}

/* Stops the pools' workers (EOF, then SIGKILL after grace_ms) and drops the
 * generation; the loop_gen itself stays (requests may still point at it
 * until they are disposed): loop_gen_free. */
static void loop_gen_stop(loop_gen *lg, int grace_ms)
{
    for (size_t u = 0; lg->pools && u < lg->gen->project->nunits; u++) {
        kumo__pool_destroy(lg->pools[u], grace_ms);
        lg->pools[u] = NULL;
    }
    free(lg->pools);
    lg->pools = NULL;
    kumo__spawner_stop(lg->spawner);
    lg->spawner = NULL;
    kumo__gw_generation_release(lg->gen);
    lg->gen = NULL;
}

void kumo__gw_loop_gen_free_list(loop_gen *lg)
{
    while (lg) {
        loop_gen *next = lg->next;
        if (lg->gen)
            loop_gen_stop(lg, 0);
        free(lg);
        lg = next;
    }
}

/* After each wait: when a newer generation is live, make this loop's pools
 * for it and send new requests there; the old pools join the retired list. */
static void follow_current(loop_thread *t, uint64_t now)
{
    gateway *gw = t->gw;
    unsigned long want = atomic_load_explicit(&gw->current_number, memory_order_acquire);
    if (t->live && t->live->gen->number == want)
        return;
    if (t->switch_failed_ms && now - t->switch_failed_ms < 1000)
        return;
    pthread_mutex_lock(&gw->lock);
    generation *g = gw->current;
    atomic_fetch_add(&g->refs, 1);
    pthread_mutex_unlock(&gw->lock);
    loop_gen *lg = loop_gen_create(t, g);
    if (lg == NULL) {
        kumo__log_event("error", "loop %d: cannot make the pools of generation %lu (out of memory); retrying in 1 s",
                        t->index, g->number);
        kumo__gw_generation_release(g);
        t->switch_failed_ms = now ? now : 1;
        return;
    }
    t->switch_failed_ms = 0;
    /* A function warm on the old generation gets a worker now, while its
     * next call has not come yet (a reload keeps a warm function warm). */
    for (size_t u = 0; t->live && u < g->project->nunits; u++) {
        const kumo__project *old = t->live->gen->project;
        for (size_t k = 0; k < old->nunits; k++)
            if (strcmp(old->units[k].name, g->project->units[u].name) == 0 && kumo__pool_workers(t->live->pools[k]) > 0)
                kumo__pool_prewarm(lg->pools[u]);
    }
    pthread_mutex_lock(&gw->lock);
    if (t->live) {
        t->live->next = t->retired;
        t->retired = t->live;
    }
    t->live = lg;
    pthread_mutex_unlock(&gw->lock);
}

/* Periodic pool work; an old generation's pools go once nothing uses them. */
static void tick_pools(loop_thread *t, uint64_t now)
{
    gateway *gw = t->gw;
    for (size_t u = 0; t->live && u < t->live->gen->project->nunits; u++)
        kumo__pool_tick(t->live->pools[u], now);
    loop_gen **pp = &t->retired;
    while (*pp) {
        loop_gen *lg = *pp;
        size_t pending = 0;
        for (size_t u = 0; u < lg->gen->project->nunits; u++) {
            kumo__pool_tick(lg->pools[u], now);
            pending += kumo__pool_pending(lg->pools[u]);
        }
        if (lg->users > 0 || pending > 0) {
            pp = &lg->next;
            continue;
        }
        /* Drained: its workers get EOF now and are reaped over the next
         * ticks; the loop never waits for them. */
        if (lg->retiring_since == 0) {
            lg->retiring_since = now ? now : 1;
            for (size_t u = 0; u < lg->gen->project->nunits; u++)
                kumo__pool_retire(lg->pools[u]);
        }
        int gone = 1, force = now - lg->retiring_since >= RETIRE_GRACE_MS;
        for (size_t u = 0; u < lg->gen->project->nunits; u++)
            gone &= kumo__pool_retired(lg->pools[u], force, now);
        if (!gone) {
            pp = &lg->next;
            continue;
        }
        pthread_mutex_lock(&gw->lock);
        *pp = lg->next;
        pthread_mutex_unlock(&gw->lock);
        unsigned long number = lg->gen->number;
        if (lg->spawner && t->nexiting < EXITING_MAX) {
            pid_t pid = kumo__spawner_stop_nowait(lg->spawner);
            lg->spawner = NULL;
            if (pid > 0) {
                t->exiting[t->nexiting] = pid;
                t->exiting_since[t->nexiting++] = now;
            }
        }
        loop_gen_stop(lg, 0); /* nothing left to wait for */
        free(lg);
        kumo__log_event("info", "loop %d: generation %lu drained; its workers are stopped", t->index, number);
    }
    for (int i = 0; i < t->nexiting;) {
        if (kumo__spawner_reap(t->exiting[i], now - t->exiting_since[i] >= RETIRE_GRACE_MS)) {
            t->exiting[i] = t->exiting[--t->nexiting];
            t->exiting_since[i] = t->exiting_since[t->nexiting];
        } else {
            i++;
        }
    }
}

/* SIGTERM or SIGINT: this loop stops accepting and ends its connections
 * gracefully (kumo__h2o_drain), and goes on serving what they still send
 * until every call is answered and every connection closed. Only then do
 * its workers stop (after the loops' barrier), so no request that was read
 * is failed for the stop. */
static int drained(loop_thread *t, uint64_t now)
{
    if (t->drain_since == 0) {
        t->drain_since = now ? now : 1;
        kumo__h2o_drain(&t->ctx, DRAIN_IDLE_MS);
        kumo__listener_stop(t->listener);
    }
    size_t conns = kumo__listener_connections(t->listener);
    if (t->inflight == 0 && conns == 0)
        return 1;
    double longest = 0;
    for (size_t u = 0; t->live && u < t->live->gen->project->nunits; u++)
        if (t->live->gen->project->units[u].tuning.timeout_s > longest)
            longest = t->live->gen->project->units[u].tuning.timeout_s;
    if (now - t->drain_since < (uint64_t)(longest * 1000) + DRAIN_SLACK_MS)
        return 0;
    kumo__log_event("warn",
                    "loop %d: stopping with %zu calls in flight and %zu connections still open %.0f s after "
                    "the signal",
                    t->index, t->inflight, conns, (double)(now - t->drain_since) / 1000);
    return 1;
}

/* How long this loop may wait for its next event after a turn at `now`
 * (ms): TICK_MS while anything but its pools needs the periodic work; else
 * until the pools' soonest need (an idle worker's idle time), no sooner
 * than the next tick may run and no later than IDLE_WAIT_MS. */
static int loop_wait(loop_thread *t, uint64_t now, uint64_t last_tick)
{
    gateway *gw = t->gw;
    if (t->live == NULL || t->outlet == NULL || t->retired || t->nexiting > 0 || t->switch_failed_ms ||
        t->inflight > 0 || atomic_load(&gw->draining) || !kumo__gw_consumers_idle(t))
        return TICK_MS; /* without an outlet nothing wakes it for a new generation or the drain */
    if (t->index == 0 && (t->reload_waits || kumo__gw_reload_queued(gw)))
        return TICK_MS;
    uint64_t soonest = IDLE_WAIT_MS;
    for (size_t u = 0; u < t->live->gen->project->nunits; u++) {
        uint64_t in = kumo__pool_next_tick_ms(t->live->pools[u], now);
        if (in < soonest)
            soonest = in;
    }
    uint64_t gate = last_tick + TICK_MS > now ? last_tick + TICK_MS - now : 0;
    return (int)(soonest > gate ? soonest : gate);
}

void *kumo__gw_thread_main(void *arg)
{
    loop_thread *t = arg;
    gateway *gw = t->gw;
    uint64_t last_tick = 0;

    /* Before the first fork server is started from this thread: it, and
     * every worker it forks, inherit the CPU (a request then passes from
     * loop to worker and back on one CPU, without waking another). */
    if (t->cpu >= 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(t->cpu, &one);
        if (pthread_setaffinity_np(pthread_self(), sizeof(one), &one) != 0)
            kumo__log_event("warn", "loop %d: cannot run on CPU %d only; it runs on any", t->index, t->cpu);
    }
    if (kumo__gw_outlet_open(t) != 0)
        kumo__log_event("error",
                        "loop %d: cannot watch what other threads hand back; its functions' outbound calls fail "
                        "and its requests that need a password hashed get 503",
                        t->index);
    follow_current(t, kumo__mono_ms());
    int wait = TICK_MS;
    while (1) {
        h2o_evloop_run(t->loop, wait);
        kumo__access_log_flush();
        uint64_t now = kumo__mono_ms();
        follow_current(t, now);
        /* Loop 0 fires the schedule ticks that are due, and waits no longer
         * than until the next one; none is fired once the stop is signalled
         * (a running one is a call in flight: the drain waits for it). */
        int sched_wait = IDLE_WAIT_MS;
        if (t->index == 0 && !atomic_load(&gw->draining))
            sched_wait = kumo__gw_sched_run(t, IDLE_WAIT_MS);
        if (t->index == 0)
            kumo__gw_consumers_run(t);
        else
            kumo__gw_consumers_serve(t);
        if (now - last_tick >= TICK_MS) {
            last_tick = now;
            tick_pools(t, now);
            kumo__gw_answer_reload_waits(t, 0);
        }
        wait = loop_wait(t, now, last_tick);
        if (sched_wait < wait)
            wait = sched_wait;
        if (atomic_load(&gw->draining) && drained(t, now))
            break;
    }
    kumo__listener_close(t->listener);
    t->listener = NULL;
    if (t->index != 0)
        kumo__gw_consumers_close(t); /* before the stop barrier: loop 0 frees the outlets after it */
    /* Let the last responses flush; close the admin listener; then wait
     * for every loop, since /status reads all loops' pools. */
    kumo__gw_answer_reload_waits(t, 1);
    for (int i = 0; i < 5; i++)
        h2o_evloop_run(t->loop, 10);
    if (t->admin_listener) {
        kumo__listener_close(t->admin_listener);
        t->admin_listener = NULL;
    }
    h2o_evloop_run(t->loop, 0);
    pthread_mutex_lock(&gw->stop_lock);
    gw->nstopped++;
    pthread_cond_broadcast(&gw->stop_cond);
    while (gw->nstopped < gw->nstarted)
        pthread_cond_wait(&gw->stop_cond, &gw->stop_lock);
    pthread_mutex_unlock(&gw->stop_lock);
    /* Stop every generation's workers. The loop_gen records stay until
     * gateway_free: a request still writing to a slow client holds one and
     * releases it when disposed, which may happen in the runs below. */
    pthread_mutex_lock(&gw->lock);
    loop_gen *all = t->live;
    if (all)
        all->next = t->retired;
    else
        all = t->retired;
    t->live = t->retired = NULL;
    pthread_mutex_unlock(&gw->lock);
    for (loop_gen *lg = all; lg; lg = lg->next)
        loop_gen_stop(lg, 2000);
    t->spent = all;
    kumo__gw_outlet_close(t); /* after the pools: their workers wait for no answer any more */
    kumo__gw_sched_free(t);   /* after the pools answered every tick still in flight */
    kumo__gw_consumers_free(t);
    /* Fork servers of generations retired earlier, still exiting. */
    uint64_t until = kumo__mono_ms() + RETIRE_GRACE_MS;
    while (t->nexiting > 0) {
        if (kumo__spawner_reap(t->exiting[t->nexiting - 1], kumo__mono_ms() >= until)) {
            t->nexiting--;
        } else {
            struct timespec ts = {0, 5 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    for (int i = 0; i < 2; i++)
        h2o_evloop_run(t->loop, 0);
    /* The h2o context and loop are not disposed: connections a client keeps
     * open (keep-alive) still hold timers, which h2o_context_dispose
     * asserts against, and the process exits next anyway. */
    kumo__access_log_flush();
    return NULL;
}
