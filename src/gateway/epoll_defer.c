/*
 * epoll_defer.c: h2o's event loop without two epoll_ctl calls per
 * keep-alive request (issue 19, the warm path).
 *
 * h2o 2.2's HTTP/1 stops reading a connection when a request is complete
 * and starts again when its response is written. Its epoll backend turns
 * "no events wanted" into EPOLL_CTL_DEL and "reading again" into
 * EPOLL_CTL_ADD, each at the next turn of the loop, and kumo's answers
 * come from a worker, a turn or more later: so every request cost two
 * system calls (and a free and allocation of the kernel's epitem) that
 * change nothing in the end. Under load they were 2 of the gateway's
 * 4.6 system calls per request.
 *
 * The kumo executable defines epoll_ctl, epoll_wait, epoll_pwait and
 * close, and exports them, so that libh2o's calls (through its PLT) come
 * here. They behave as the kernel's own do, seen from the caller, with
 * one difference in what reaches the kernel: a DEL of a descriptor this
 * file saw registered is *deferred*. The descriptor stays registered in
 * the kernel, as it was; the caller is told it is gone.
 *   - An ADD of the same descriptor on the same epoll, with the same
 *     events and data, is then answered at once: the kernel already has
 *     exactly that. With anything else it is a MOD (or an ADD, if the
 *     kernel lost it).
 *   - An event the kernel reports for a deferred descriptor (the client
 *     sent something, or closed, while its request was at a worker) is
 *     not handed to the caller, who no longer waits for it: the DEL is
 *     made then, and the event dropped (level-triggered: it comes back
 *     once the caller adds the descriptor again).
 *   - close() of a deferred descriptor makes the DEL first. Without it,
 *     the kernel would keep the registration while any other process
 *     holds the file (a child between fork and exec), and report events
 *     with a pointer h2o has freed.
 *   - MOD or DEL of a deferred descriptor fail with ENOENT, as the
 *     kernel's would.
 * Deferring starts with kumo__epoll_defer_enable (kumo up's loops); until
 * then, and for anything this file does not know, every call goes
 * straight to the kernel.
 *
 * State: one entry per descriptor number, in chunks allocated on first
 * use and never freed (descriptors are dense). An entry is changed by the
 * thread that owns its epoll (h2o: the loop's thread), or by close on the
 * thread that closes the descriptor, which owns it. Each epoll also keeps
 * the list of what it has deferred, which its waits check events
 * against; a list entry is trusted only if the descriptor's entry still
 * says so.
 */
#include "gateway/epoll_defer.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The chunks are mapped, not malloc'd, so LeakSanitizer does not scan
 * them: registered as roots, the lists they point to are not leaks. */
#if defined(__SANITIZE_ADDRESS__)
#define LSAN_ROOTS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LSAN_ROOTS 1
#endif
#endif
#ifdef LSAN_ROOTS
#include <sanitizer/lsan_interface.h>
#endif

#define CHUNK_BITS 12
#define CHUNK (1u << CHUNK_BITS)
#define CHUNKS 1024 /* descriptors below 4M */

enum { UNKNOWN = 0, REGISTERED, DEFERRED };

typedef struct deferred_list {
    int *fd;
    size_t n, cap;
} deferred_list;

typedef struct entry {
    _Atomic int state;
    int epfd;        /* REGISTERED, DEFERRED: on which epoll */
    uint32_t events; /* what the kernel has */
    uint64_t data;
    deferred_list *list; /* for an epoll descriptor: what it deferred */
} entry;

/* Exported from the executable (ENABLE_EXPORTS; every other object is
 * built hidden), so that they come before libc's in libh2o's lookups. */
#define INTERPOSED __attribute__((visibility("default")))

static _Atomic(entry *) chunks[CHUNKS];
static pthread_mutex_t grow_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int enabled;

void kumo__epoll_defer_enable(void)
{
    atomic_store(&enabled, 1);
}

static entry *slot(int fd, int create)
{
    if (fd < 0 || (unsigned)fd >= CHUNK * CHUNKS)
        return NULL;
    unsigned c = (unsigned)fd >> CHUNK_BITS;
    entry *e = atomic_load_explicit(&chunks[c], memory_order_acquire);
    if (e == NULL && create) {
        pthread_mutex_lock(&grow_lock);
        if ((e = atomic_load(&chunks[c])) == NULL) {
            /* Mapped, not calloc'd: 128 KiB from the heap would be zeroed
             * (32 page faults at the first epoll_ctl); fresh pages are
             * zero already and are touched only where descriptors are. */
            void *m = mmap(NULL, CHUNK * sizeof(*e), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            e = m == MAP_FAILED ? NULL : m;
#ifdef LSAN_ROOTS
            if (e != NULL)
                __lsan_register_root_region(e, CHUNK * sizeof(*e));
#endif
            if (e != NULL)
                atomic_store_explicit(&chunks[c], e, memory_order_release);
        }
        pthread_mutex_unlock(&grow_lock);
    }
    return e ? &e[fd & (CHUNK - 1)] : NULL;
}

static int sys_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    return (int)syscall(SYS_epoll_ctl, epfd, op, fd, ev);
}

/* Makes the deferred DEL of fd, now. */
static void settle(int fd, entry *e)
{
    sys_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
    atomic_store(&e->state, UNKNOWN);
}

static int remember(entry *ep, int fd)
{
    deferred_list *l = ep->list;
    if (l == NULL && (l = ep->list = calloc(1, sizeof(*l))) == NULL)
        return -1;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        int *nf = realloc(l->fd, cap * sizeof(*nf));
        if (nf == NULL)
            return -1;
        l->fd = nf;
        l->cap = cap;
    }
    l->fd[l->n++] = fd;
    return 0;
}

INTERPOSED int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    if (!atomic_load_explicit(&enabled, memory_order_relaxed))
        return sys_ctl(epfd, op, fd, ev);
    entry *e = slot(fd, op == EPOLL_CTL_ADD);
    int state = e ? atomic_load(&e->state) : UNKNOWN;
    if (state != UNKNOWN && e->epfd != epfd) {
        /* on another epoll: not ours to shortcut */
        if (state == DEFERRED)
            settle(fd, e);
        atomic_store(&e->state, UNKNOWN);
        return sys_ctl(epfd, op, fd, ev);
    }
    switch (op) {
    case EPOLL_CTL_ADD:
        if (state == DEFERRED) {
            if (ev && ev->events == e->events && ev->data.u64 == e->data) {
                atomic_store(&e->state, REGISTERED);
                return 0;
            }
            int rc = sys_ctl(epfd, EPOLL_CTL_MOD, fd, ev);
            if (rc != 0 && errno == ENOENT)
                rc = sys_ctl(epfd, EPOLL_CTL_ADD, fd, ev);
            if (rc != 0) {
                atomic_store(&e->state, UNKNOWN);
                return rc;
            }
        } else if (sys_ctl(epfd, op, fd, ev) != 0) {
            return -1;
        }
        if (e && ev) {
            e->epfd = epfd;
            e->events = ev->events;
            e->data = ev->data.u64;
            atomic_store(&e->state, REGISTERED);
        }
        return 0;
    case EPOLL_CTL_MOD:
        if (state == DEFERRED) {
            errno = ENOENT;
            return -1;
        }
        if (sys_ctl(epfd, op, fd, ev) != 0)
            return -1;
        if (state == REGISTERED && ev) {
            e->events = ev->events;
            e->data = ev->data.u64;
        }
        return 0;
    case EPOLL_CTL_DEL:
        if (state == DEFERRED) {
            errno = ENOENT;
            return -1;
        }
        /* level-triggered only: an edge-triggered or one-shot registration
         * kept in the kernel is not the same as one added again */
        if (state == REGISTERED && (e->events & (EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE)) == 0) {
            entry *ep = slot(epfd, 1);
            if (ep && remember(ep, fd) == 0) {
                atomic_store(&e->state, DEFERRED);
                return 0;
            }
        }
        if (e)
            atomic_store(&e->state, UNKNOWN);
        return sys_ctl(epfd, op, fd, ev);
    default: return sys_ctl(epfd, op, fd, ev);
    }
}

/* Drops the events of deferred descriptors (making their DEL), and
 * forgets list entries that are no longer deferred here. */
static int filter(int epfd, struct epoll_event *events, int n)
{
    entry *ep = slot(epfd, 0);
    deferred_list *l = ep ? ep->list : NULL;
    if (l == NULL || l->n == 0 || n <= 0)
        return n;
    size_t keep = 0;
    for (size_t i = 0; i < l->n; i++) {
        entry *e = slot(l->fd[i], 0);
        if (e && atomic_load(&e->state) == DEFERRED && e->epfd == epfd)
            l->fd[keep++] = l->fd[i];
    }
    l->n = keep;
    int out = 0;
    for (int i = 0; i < n; i++) {
        int dropped = 0;
        for (size_t j = 0; j < l->n; j++) {
            entry *e = slot(l->fd[j], 0);
            if (e->data == events[i].data.u64 && atomic_load(&e->state) == DEFERRED) {
                settle(l->fd[j], e);
                l->fd[j] = l->fd[--l->n];
                dropped = 1;
                break;
            }
        }
        if (!dropped)
            events[out++] = events[i];
    }
    return out;
}

INTERPOSED int epoll_pwait(int epfd, struct epoll_event *events, int maxevents, int timeout, const sigset_t *sigmask)
{
    for (;;) {
        int n = (int)syscall(SYS_epoll_pwait, epfd, events, maxevents, timeout, sigmask, _NSIG / 8);
        int out = filter(epfd, events, n);
        /* Everything reported was dropped. A bounded wait answers as a
         * timeout would (its caller looks at its timers and waits again);
         * an unbounded one waits on. */
        if (n <= 0 || out > 0 || timeout >= 0)
            return out;
    }
}

INTERPOSED int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
    return epoll_pwait(epfd, events, maxevents, timeout, NULL);
}

INTERPOSED int close(int fd)
{
    entry *e = slot(fd, 0);
    if (e) {
        if (atomic_load(&e->state) == DEFERRED)
            settle(fd, e);
        atomic_store(&e->state, UNKNOWN);
        if (e->list)
            e->list->n = 0; /* an epoll descriptor closing: nothing is registered on it */
    }
    return (int)syscall(SYS_close, fd);
}
