/*
 * emulate_internal.h: the state the files of `kumo emulate lambda` share
 * (see emulate.h for the tour): one emulator (kumo__emu), its connections
 * (kumo__emu_conn) on both listeners, and the functions each file gives
 * the others. Everything runs on one thread; nothing here locks.
 */
#ifndef KUMO_EMULATE_INTERNAL_H
#define KUMO_EMULATE_INTERNAL_H

#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "emulate/emulate.h"
#include "emulate/http1.h"

#define KUMO__EMU_CONNS_MAX 512
#define INIT_TIMEOUT_MS 10000
#define STOP_GRACE_MS 3000
#define RUNTIME_PREFIX "/2018-06-01/runtime"
#define INVOKE_PREFIX "/2015-03-31/functions/" /* the Lambda Invoke API: .../NAME/invocations */

enum { CONN_PUBLIC, CONN_RUNTIME };
enum { ST_READING, ST_WAITING, ST_WRITING };
enum { CHILD_NONE, CHILD_STARTING, CHILD_READY, CHILD_RUNNING, CHILD_BETWEEN };

/* One connection, on either listener. */
typedef struct kumo__emu_conn {
    struct kumo__emu_conn *next, *prev; /* every connection */
    struct kumo__emu_conn *queued;      /* the public FIFO */
    int fd, kind, state;
    char *in;
    size_t in_len, in_cap;
    kumo__http1_req req;
    int have_req;
    int sent_continue;
    char *out;
    size_t out_len, out_off;
    int close_after;
    char ip[INET6_ADDRSTRLEN];
    uint64_t started_ms; /* public: when the request was complete */
    int invoke;          /* public: a Lambda Invoke API call (its body is the event, as it is) */
} kumo__emu_conn;

/* The emulator: listeners, connections, the FIFO, the bootstrap and the
 * invocation in flight. */
typedef struct kumo__emu {
    const kumo__lambda_emulator_opts *o;
    char dir[PATH_MAX];
    char function[128], region[64], handler[256], memory[16], arn[300];
    int pub_fd, rt_fd, sig_fd;
    int pub_port, rt_port;
    kumo__emu_conn *conns;
    size_t nconns;
    kumo__emu_conn *q_head, *q_tail;
    /* the bootstrap */
    pid_t pid;
    int child;
    uint64_t child_started_ms;
    int child_answered;        /* its failure already answered a request */
    int doomed;                /* killed by us, not reaped yet: no events for it */
    kumo__emu_conn *next_conn; /* the runtime connection waiting in /next */
    char **envp;
    char **unit_env; /* the package's unit's env: variables, expanded (kumo__env_unit_block), or NULL */
    int printed;
    /* the invocation in flight */
    int busy;
    kumo__emu_conn *inflight; /* NULL when its client went away */
    char inflight_id[40];
    uint64_t deadline_ms;
    char method[16], path[512]; /* for the log line */
    int stopping;
} kumo__emu;

typedef struct kumo__emu_header {
    const char *name, *value;
} kumo__emu_header;

/* ---- emulate.c: small helpers */
void kumo__emu_uuid(char out[37]);
/* One line on stderr: the remembered method and path, the status, the time. */
void kumo__emu_log_request(kumo__emu *e, int status, uint64_t started);
/* Remembers c's method and path (no query) for the log line. */
void kumo__emu_remember(kumo__emu *e, kumo__emu_conn *c);

/* ---- conn.c: connections */
/* Closes c and frees it; every pointer the emulator had to it is cleared. */
void kumo__emu_conn_close(kumo__emu *e, kumo__emu_conn *c);
/* Writes what it can: 1 when all is out, 0 to wait, -1 on an error. */
int kumo__emu_send_some(kumo__emu_conn *c);
/* Queues a whole response on c (status line, headers, Content-Length,
 * body unless HEAD) and starts writing it. */
void kumo__emu_respond(kumo__emu *e, kumo__emu_conn *c, int status, const kumo__emu_header *hs, size_t nh,
                       const char *body, size_t len);
/* Takes `doc` (decref'd; NULL sends "{}"). */
void kumo__emu_respond_json(kumo__emu *e, kumo__emu_conn *c, int status, const char *type, json_t *doc,
                            const char *request_id);
/* An RFC 9457 problem document, as kumo answers its own errors. */
void kumo__emu_respond_problem(kumo__emu *e, kumo__emu_conn *c, int status, const char *detail, const char *request_id);
void kumo__emu_on_readable(kumo__emu *e, kumo__emu_conn *c);
void kumo__emu_on_writable(kumo__emu *e, kumo__emu_conn *c);
void kumo__emu_on_accept(kumo__emu *e, int lfd, int kind);
/* A listening socket on host:port (0: any free port, given in *bound). */
int kumo__emu_listen(const char *host, int port, int *bound, kumo__error *err);

/* ---- runtime_api.c: the queue and the Runtime API */
/* A whole request arrived on c: queued (public) or answered (runtime). */
void kumo__emu_on_request(kumo__emu *e, kumo__emu_conn *c);
/* Moves the FIFO along: starts the bootstrap when needed, hands out the
 * head when it is ready. */
void kumo__emu_pump(kumo__emu *e);
void kumo__emu_runtime_request(kumo__emu *e, kumo__emu_conn *c);

/* ---- apigw_event.c: events and answers */
/* The API Gateway proxy event (payload e->o->payload) for c's request;
 * new reference, NULL when out of memory. */
json_t *kumo__emu_event(kumo__emu *e, kumo__emu_conn *c, const char *id, uint64_t epoch_ms);
/* Sends the function's answer to c; returns the status sent. */
int kumo__emu_answer(kumo__emu *e, kumo__emu_conn *c, const char *json, size_t len);

/* ---- bootstrap.c: the child */
int kumo__emu_build_env(kumo__emu *e);
/* Starts ./bootstrap in the package's directory: 0, or -1 (fork failed). */
int kumo__emu_spawn(kumo__emu *e);
void kumo__emu_kill_child(kumo__emu *e, int sig);
/* Prints the "serving" line once. */
void kumo__emu_print_ready(kumo__emu *e);
/* Reaps children; the bootstrap's exit answers what it owed. */
void kumo__emu_reap(kumo__emu *e);
/* SIGTERM to the bootstrap's group, SIGKILL after STOP_GRACE_MS. */
void kumo__emu_stop_child(kumo__emu *e);

#endif
