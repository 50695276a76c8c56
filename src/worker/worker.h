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

/* crash.c: a crashing worker's report (KUMO__FRAME_CRASH). _prepare takes
 * the table of loaded objects and sets up the alternate signal stack, in
 * the process that loaded the units (the fork server, or a lone worker),
 * so that its children inherit both; _arm installs the fatal-signal
 * handlers in the worker, which report on `fd` and, when `core_dir` is
 * not NULL, move into a directory of their own under it before dying so
 * that the kernel's relative core_pattern writes the core there. */
void kumo__crash_prepare(void);
void kumo__crash_arm(int fd, const char *core_dir);

#endif
