/*
 * epoll_defer.h: EPOLL_CTL_DEL deferred until it matters, for h2o's
 * loops (epoll_defer.c says how and why).
 */
#ifndef KUMO_GATEWAY_EPOLL_DEFER_H
#define KUMO_GATEWAY_EPOLL_DEFER_H

/* From now on, a DEL of a descriptor registered through epoll_ctl is
 * deferred. Process-wide; the executable must export epoll_ctl,
 * epoll_wait, epoll_pwait and close for libh2o's calls to reach them. */
void kumo__epoll_defer_enable(void);

#endif
