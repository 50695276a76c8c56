/*
 * egress_supervisor.h: the fork server's supervisor of its workers'
 * socket() and connect() calls under the egress rules
 * (egress_supervisor.c says how it works; sandbox/egress.h what is
 * allowed). Single-threaded: the fork server's poll loop drives it.
 */
#ifndef KUMO_WORKER_EGRESS_SUPERVISOR_H
#define KUMO_WORKER_EGRESS_SUPERVISOR_H

#include <poll.h>
#include <stddef.h>
#include <sys/types.h>

#include "sandbox/egress.h"

typedef struct kumo__egress_supervisor kumo__egress_supervisor;

/* 1 when this process can read its workers' calls (CAP_SYS_PTRACE, and
 * Yama allows ptrace at all); else 0 with `why`. */
int kumo__egress_can_supervise(char *why, size_t len);

/* A supervisor applying `rules` (borrowed: they must outlive it); NULL
 * when out of memory. _free closes every listener it holds. */
kumo__egress_supervisor *kumo__egress_supervisor_new(const kumo__egress_rules *rules);
void kumo__egress_supervisor_free(kumo__egress_supervisor *s);

/* Supervises worker `pid` through `listener` (its seccomp notification
 * fd; taken over, closed on failure too). `unit` (borrowed; NULL for a
 * spare until kumo__egress_supervisor_assign) names it in the warn lines.
 * 0 or -errno. */
int kumo__egress_supervisor_add(kumo__egress_supervisor *s, pid_t pid, int listener, const char *unit);
void kumo__egress_supervisor_assign(kumo__egress_supervisor *s, pid_t pid, const char *unit);
/* Forgets a worker that has been reaped. */
void kumo__egress_supervisor_forget(kumo__egress_supervisor *s, pid_t pid);

/* How many descriptors _pollfds gives now (0 for a NULL supervisor). */
size_t kumo__egress_supervisor_nfds(const kumo__egress_supervisor *s);
/* The descriptors to poll (listeners, connects in progress) into pfd (at
 * most max); then _handle with the same array once poll has filled
 * revents. */
size_t kumo__egress_supervisor_pollfds(const kumo__egress_supervisor *s, struct pollfd *pfd, size_t max);
void kumo__egress_supervisor_handle(kumo__egress_supervisor *s, const struct pollfd *pfd, size_t n);

#endif
