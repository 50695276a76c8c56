/*
 * fdlimit.h: how many connections a server may hold open, from the
 * process's limit of open files (fdlimit.c). Shared by kumo up's and
 * kumo-host's h2o listeners and kumo-http's own server.
 */
#ifndef KUMO_BASE_FDLIMIT_H
#define KUMO_BASE_FDLIMIT_H

#include <stddef.h>

/* The bound on one loop's open connections: `configured` when above 0
 * (kumo.yaml's http.max_connections), else the soft limit of open files
 * less `reserve` descriptors (workers, fork servers, stores, logs), shared
 * by `loops` loops; at least 16. */
size_t kumo__connection_bound(int configured, int loops, size_t reserve);
/* Raises this process's soft limit of open files to its hard limit (a
 * server holds one descriptor per connection; the common soft limit of
 * 1024 is far below what it is allowed). Returns the limit in force. */
unsigned long kumo__raise_open_files(void);

#endif
