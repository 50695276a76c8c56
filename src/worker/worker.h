/*
 * worker.h: what the kumo-worker executable's files share: main.c (one
 * worker started on its own, or dispatch to the fork server) and
 * forkserver.c (the fork server, its spares and the workers they become).
 * sandbox_enter.c's entry points are in sandbox/sandbox.h.
 */
#ifndef KUMO_WORKER_H
#define KUMO_WORKER_H

/* kumo-worker's --fork-server mode (forkserver.c). */
int kumo__forkserver_main(int argc, char **argv);

#endif
