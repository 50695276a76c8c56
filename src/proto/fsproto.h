/*
 * forkserver.h: the protocol between a gateway loop and its fork server.
 *
 * A fork server is `kumo-worker --fork-server`: started once per event
 * loop, it dlopens every function unit up front and keeps a few spare
 * children forked ahead of demand. When the loop needs a worker it sends
 * SPAWN with the worker's end of a fresh socketpair; the fork server hands
 * the socket to a spare (or forks one), which enters the unit's sandbox,
 * says hello on the socket and serves. A cold start is then a message and
 * a sandbox, not an exec of a runtime. The fork server reaps its children
 * and reports each exit (EXITED), so the loop learns why a worker died.
 *
 * Messages are fixed-size structs over a SOCK_SEQPACKET socketpair (the
 * fork server's fd 3); SPAWN and ASSIGN carry one fd (SCM_RIGHTS).
 */
#ifndef KUMO_FORKSERVER_H
#define KUMO_FORKSERVER_H

#include <stdint.h>
#include <sys/types.h>

/* How the fork server's environment carries each unit's own variables
 * (kumo.yaml's env:): KUMO__UNIT<index>_NAME=value. A worker keeps its
 * unit's as NAME=value and drops every other one before it runs the
 * unit's code. */
#define KUMO__UNIT_ENV_PREFIX "KUMO__UNIT"

enum kumo__fs_op {
    KUMO__FS_SPAWN = 1,    /* loop -> fork server: tag, unit; fd attached */
    KUMO__FS_SPAWNED = 2,  /* fork server -> loop: tag, pid (or err) */
    KUMO__FS_EXITED = 3,   /* fork server -> loop: pid, status (as waitpid gives it) */
    KUMO__FS_ASSIGN = 4,   /* fork server -> a spare: unit; fd attached */
    KUMO__FS_LISTENER = 5, /* a spare or worker -> fork server: its seccomp notification fd
                              (egress rules, worker/egress_supervisor.h) attached, or none */
    KUMO__FS_PRIME = 6,    /* loop -> fork server: tag; fd attached. A spare takes the socket now
                              (ASSIGN with unit -1) and waits on it for a KUMO__FRAME_ASSIGN naming
                              its unit: a later cold start needs the fork server no more. Answered
                              with SPAWNED: the tag, the pid, and in status the units (bit i: unit i,
                              below 32) such a spare may become; err EAGAIN when no spare could be
                              forked, EOPNOTSUPP when this fork server does not prime (egress rules,
                              no spares) */
};

typedef struct kumo__fs_msg {
    uint32_t op;
    uint32_t tag;
    int32_t unit;
    int32_t pid;
    int32_t status;
    int32_t err; /* SPAWNED: positive errno when it failed; EXITED: 1 when out of memory */
} kumo__fs_msg;

/* Sends a message with an optional fd (-1: none). 0 or -errno. */
int kumo__fs_send(int sock, const kumo__fs_msg *m, int fd);
/* Receives one message and the fd it carries (*fd = -1 when none).
 * 1: got one; 0: the peer closed; -EAGAIN: nothing (non-blocking socket);
 * other -errno on error. */
int kumo__fs_recv(int sock, kumo__fs_msg *m, int *fd);

#endif
