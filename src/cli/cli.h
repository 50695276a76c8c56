/*
 * cli.h: the kumo commands' functions. One file per subcommand; each takes
 * argc/argv after its name and returns an error through kumo__error, which
 * only main prints and turns into an exit status. help.c's table names
 * each one with what it takes (help.h).
 */
#ifndef KUMO_CLI_H
#define KUMO_CLI_H

#include <stdint.h>

#include "base/error.h"

/* A command's function: argv after its name (help.c's table names it). */
typedef int kumo__command_fn(int argc, char **argv, kumo__error *err);

int kumo__cmd_up(int argc, char **argv, kumo__error *err);
/* kumo up's work; `watch` set: kumo dev (--dev, and reload on a change).
 * `debug_op` (kumo dev --debug; NULL: none) and `debug_port` (0: none)
 * make that operation's worker debuggable (gateway/debug.c). */
int kumo__up_run(int argc, char **argv, int watch, const char *debug_op, int debug_port, kumo__error *err);
int kumo__cmd_dev(int argc, char **argv, kumo__error *err);
/* dev.c: --debug-port's needs (--debug, and gdbserver): 0 or a usage error. */
int kumo__dev_debug_check(const char *op, int port, kumo__error *err);
int kumo__cmd_mock(int argc, char **argv, kumo__error *err);
/* mock.c: --seed's value (kumo mock, kumo up --mock). */
int kumo__parse_seed(const char *s, uint64_t *out, kumo__error *err);
int kumo__cmd_schema(int argc, char **argv, kumo__error *err);
int kumo__cmd_lint(int argc, char **argv, kumo__error *err);
int kumo__cmd_status(int argc, char **argv, kumo__error *err);
int kumo__cmd_reload(int argc, char **argv, kumo__error *err);
int kumo__cmd_build(int argc, char **argv, kumo__error *err);
int kumo__cmd_deploy(int argc, char **argv, kumo__error *err);
int kumo__cmd_destroy(int argc, char **argv, kumo__error *err);
int kumo__cmd_emulate(int argc, char **argv, kumo__error *err);
int kumo__cmd_events(int argc, char **argv, kumo__error *err);
int kumo__cmd_invoke(int argc, char **argv, kumo__error *err);
int kumo__cmd_logs(int argc, char **argv, kumo__error *err);
int kumo__cmd_monitors(int argc, char **argv, kumo__error *err);
int kumo__cmd_test(int argc, char **argv, kumo__error *err);
int kumo__cmd_init(int argc, char **argv, kumo__error *err);

/* admin.c: one HTTP/1.0 request to a running kumo's admin port, with
 * `Authorization: Bearer TOKEN` when `token` is neither NULL nor empty;
 * *status, *retry_after (its Retry-After in seconds, or -1; may be NULL)
 * and *body (malloc'd, NUL-terminated, at most `max` bytes) on 0. */
int kumo__admin_request(const char *host, int port, const char *method, const char *path, const char *token,
                        int timeout_s, size_t max, int *status, int *retry_after, char **body, kumo__error *err);

/* One HTTP/1.0 request (the API port for `kumo invoke OPERATION`, the
 * admin port for the rest): `headers` is "Name: value\r\n" lines or NULL;
 * a Content-Length is always sent. */
typedef struct kumo__http_req {
    const char *method, *path, *headers;
    const void *body;
    size_t len;
} kumo__http_req;
/* The answer: status, the head (status line and headers, NUL-terminated,
 * each header line ending in CRLF) and the body (len bytes, NUL after);
 * free(head) frees both. */
typedef struct kumo__http_res {
    int status;
    char *head;
    char *body;
    size_t len;
} kumo__http_res;
/* 0 with *res filled (at most `max` bytes in all), or an error naming
 * `what` ("kumo's admin port", "kumo's API port"). */
int kumo__http_call(const char *host, int port, const char *what, const kumo__http_req *r, int timeout_s, size_t max,
                    kumo__http_res *res, kumo__error *err);
/* The value of the first header `name` (case-insensitive) in res's head,
 * *len bytes long, or NULL. */
const char *kumo__http_header(const kumo__http_res *res, const char *name, size_t *len);

/* Where `kumo status`, `kumo reload` and `kumo invoke` find kumo up's admin port. */
typedef struct kumo__admin_target {
    const char *host;       /* default 127.0.0.1 */
    int port;               /* default 8081 */
    const char *token_file; /* --admin-token-file, or NULL */
} kumo__admin_target;
/* Reads --admin-port N, --host ADDR or --admin-token-file FILE at argv[*i]
 * (advancing *i): 1 when it was one of them, 0 when not, negative (err
 * set) when malformed. */
int kumo__admin_option(int argc, char **argv, int *i, kumo__admin_target *to, kumo__error *err);

/* A request to the admin port with the token (when not empty) and a body
 * of `content_type` (NULL: none). */
int kumo__admin_call(const kumo__admin_target *to, const char *token, const char *method, const char *path,
                     const char *content_type, const void *body, size_t len, int timeout_s, size_t max,
                     kumo__http_res *res, kumo__error *err);

/* The admin token: read from `file` when not NULL (a regular file only its
 * owner may read or write; a trailing newline is dropped), else from
 * KUMO_ADMIN_TOKEN, else none (out is ""). A token is 16 to 1024 bytes of
 * printable ASCII without spaces; anything else is refused, never cut.
 * `out` holds at least KUMO__ADMIN_TOKEN_MAX + 1 bytes. */
#define KUMO__ADMIN_TOKEN_MIN 16
#define KUMO__ADMIN_TOKEN_MAX 1024
int kumo__admin_token(const char *file, char *out, size_t cap, kumo__error *err);

/* The flow of a command that shows one admin-port document (kumo status,
 * kumo monitors): reads [--admin-port N] [--host ADDR]
 * [--admin-token-file FILE] [--json] from argv, GETs path (at most max
 * bytes). With --json the document is printed as it came and 1 is
 * returned; else 0 and *doc (the caller's: json_decref). A negative code
 * with err set otherwise (what names the document in its messages). */
struct json_t;
int kumo__admin_show(int argc, char **argv, const char *path, size_t max, const char *what, struct json_t **doc,
                     kumo__error *err);

/* Exit status for usage errors: main prints the command's usage. */
#define KUMO__EUSAGE 1064

#endif
