/*
 * outlet.c: a loop's inbox for work finished on other threads (see
 * gateway_internal.h, "outlet"). The egress thread's outbound calls and
 * the slow-work threads' parked requests (slow_work.c) come back this way.
 *
 * A locked list and an eventfd the loop's h2o loop watches: posting links
 * the item and writes the eventfd (once per wake-up: a second write while
 * the loop has not read yet changes nothing); the loop takes the whole list
 * and delivers each item, oldest first. Once the loop closes its outlet
 * (its pools are stopped), items still posted are kept and freed, without
 * delivery, by kumo__gw_outlet_free after every thread that posts is gone.
 */
#include "gateway/gateway_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct kumo__gw_outlet {
    pthread_mutex_t lock;
    kumo__gw_posted *head; /* newest first */
    int efd;
    int closed;
    h2o_socket_t *sock;
};

void kumo__gw_outlet_post(struct kumo__gw_outlet *o, kumo__gw_posted *p)
{
    pthread_mutex_lock(&o->lock);
    int wake = o->head == NULL && !o->closed;
    p->next_posted = o->head;
    o->head = p;
    if (wake) {
        uint64_t one = 1;
        ssize_t n = write(o->efd, &one, sizeof(one)); /* EAGAIN: the loop is awake already */
        (void)n;
    }
    pthread_mutex_unlock(&o->lock);
}

void kumo__gw_outlet_wake(struct kumo__gw_outlet *o)
{
    pthread_mutex_lock(&o->lock);
    if (!o->closed) {
        uint64_t one = 1;
        ssize_t n = write(o->efd, &one, sizeof(one)); /* EAGAIN: awake already */
        (void)n;
    }
    pthread_mutex_unlock(&o->lock);
}

/* The list taken, oldest first. */
static kumo__gw_posted *take(struct kumo__gw_outlet *o)
{
    pthread_mutex_lock(&o->lock);
    kumo__gw_posted *l = o->head, *rev = NULL;
    o->head = NULL;
    pthread_mutex_unlock(&o->lock);
    while (l) {
        kumo__gw_posted *next = l->next_posted;
        l->next_posted = rev;
        rev = l;
        l = next;
    }
    return rev;
}

static void deliver_all(kumo__gw_posted *l, int live)
{
    while (l) {
        kumo__gw_posted *p = l;
        l = l->next_posted;
        p->deliver(p, live);
    }
}

static void on_wake(h2o_socket_t *sock, const char *err)
{
    struct kumo__gw_outlet *o = sock->data;
    if (err != NULL)
        return;
    h2o_buffer_consume(&sock->input, sock->input->size);
    deliver_all(take(o), 1);
}

int kumo__gw_outlet_open(loop_thread *t)
{
    struct kumo__gw_outlet *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return -ENOMEM;
    pthread_mutex_init(&o->lock, NULL);
    if ((o->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        int rc = -errno;
        pthread_mutex_destroy(&o->lock);
        free(o);
        return rc;
    }
    if ((o->sock = h2o_evloop_socket_create(t->loop, o->efd, 0)) == NULL) {
        close(o->efd);
        pthread_mutex_destroy(&o->lock);
        free(o);
        return -ENOMEM;
    }
    o->sock->data = o;
    h2o_socket_read_start(o->sock, on_wake);
    __atomic_store_n(&t->outlet, o, __ATOMIC_RELEASE); /* kumo__gw_wake_loops reads it from other threads */
    return 0;
}

void kumo__gw_wake_loops(gateway *gw)
{
    for (int i = 0; i < gw->nthreads; i++) {
        struct kumo__gw_outlet *o = __atomic_load_n(&gw->threads[i].outlet, __ATOMIC_ACQUIRE);
        if (o != NULL) /* else not open yet: the loop's first wait is a tick's */
            kumo__gw_outlet_wake(o);
    }
}

void kumo__gw_outlet_close(loop_thread *t)
{
    struct kumo__gw_outlet *o = t->outlet;
    if (o == NULL)
        return;
    pthread_mutex_lock(&o->lock);
    o->closed = 1;
    pthread_mutex_unlock(&o->lock);
    deliver_all(take(o), 0); /* the pools are stopped: nobody to answer */
    h2o_socket_read_stop(o->sock);
    h2o_socket_close(o->sock); /* closes the eventfd; items still out land in the list until kumo__gw_outlet_free */
    o->sock = NULL;
    o->efd = -1;
}

void kumo__gw_outlet_free(loop_thread *t)
{
    struct kumo__gw_outlet *o = t->outlet;
    if (o == NULL)
        return;
    deliver_all(take(o), 0);
    if (o->sock == NULL && o->efd >= 0)
        close(o->efd);
    pthread_mutex_destroy(&o->lock);
    free(o);
    t->outlet = NULL;
}
