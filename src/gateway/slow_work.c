/*
 * slow_work.c: the threads that do the loops' slow work (base/slowjob.h):
 * HTTP Basic's password hash (auth/basic.h) and kumo mock's calls to the
 * real service in record mode (mock_modes.c). A yescrypt or bcrypt check
 * costs tens of milliseconds by design, a service call up to its 30 s
 * deadline; on an event loop either would stall every connection the loop
 * serves. So the loop parks the request (api.c): the job comes here, runs
 * on one of these threads, and goes back to its loop's outlet, which
 * dispatches the request again with the job done.
 *
 * Threads start with the jobs (most projects never have one): another
 * one whenever a job arrives and none is idle, up to THREADS_MAX, so a
 * slow service call does not hold the password checks. Jobs start in
 * arrival order; at most WAIT_MAX wait, past which a loop answers 503 at
 * once: a flood of made-up passwords fills this queue, not the loops.
 * Requests with remembered credentials, other schemes and other
 * operations never wait here.
 */
#include "gateway/gateway_internal.h"

#include <errno.h>
#include <stdlib.h>

#define WAIT_MAX 256
#define THREADS_MAX 4

struct kumo__gw_slow_work {
    pthread_t tids[THREADS_MAX];
    int nthreads, idle;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    kumo__gw_auth_parked *head, *tail;
    size_t waiting;
    int stop;
};

static void *wait_main(void *arg)
{
    struct kumo__gw_slow_work *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        w->idle++;
        while (w->head == NULL && !w->stop)
            pthread_cond_wait(&w->cond, &w->lock);
        w->idle--;
        if (w->stop)
            break;
        kumo__gw_auth_parked *p = w->head;
        if ((w->head = p->next) == NULL)
            w->tail = NULL;
        w->waiting--;
        pthread_mutex_unlock(&w->lock);
        p->job->run(p->job);
        kumo__gw_outlet_post(p->outlet, &p->post);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* The pool, made on first use (its first thread starts with a job). */
static struct kumo__gw_slow_work *get(gateway *gw)
{
    struct kumo__gw_slow_work *w = atomic_load_explicit(&gw->slow_work, memory_order_acquire);
    if (w)
        return w;
    pthread_mutex_lock(&gw->lock);
    if ((w = atomic_load_explicit(&gw->slow_work, memory_order_relaxed)) == NULL && (w = calloc(1, sizeof(*w)))) {
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, NULL);
        atomic_store_explicit(&gw->slow_work, w, memory_order_release);
    }
    pthread_mutex_unlock(&gw->lock);
    return w;
}

int kumo__gw_slow_work_submit(gateway *gw, kumo__gw_auth_parked *p)
{
    struct kumo__gw_slow_work *w = get(gw);
    if (w == NULL)
        return -EAGAIN;
    pthread_mutex_lock(&w->lock);
    if (w->waiting >= WAIT_MAX || w->stop) {
        pthread_mutex_unlock(&w->lock);
        return -EBUSY;
    }
    if ((size_t)w->idle <= w->waiting && w->nthreads < THREADS_MAX &&
        pthread_create(&w->tids[w->nthreads], NULL, wait_main, w) == 0)
        w->nthreads++;
    if (w->nthreads == 0) {
        pthread_mutex_unlock(&w->lock);
        return -EAGAIN;
    }
    p->next = NULL;
    if (w->tail)
        w->tail->next = p;
    else
        w->head = p;
    w->tail = p;
    w->waiting++;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

void kumo__gw_slow_work_free(gateway *gw)
{
    struct kumo__gw_slow_work *w = atomic_load(&gw->slow_work);
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    for (int i = 0; i < w->nthreads; i++)
        pthread_join(w->tids[i], NULL);
    while (w->head) { /* never run: their loops are gone */
        kumo__gw_auth_parked *p = w->head;
        w->head = p->next;
        p->post.deliver(&p->post, 0);
    }
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
    atomic_store(&gw->slow_work, NULL);
}
