/*
 * lambda_emulator.c: `kumo emulate lambda` (see lambda_emulator.h).
 *
 * One thread, one poll(2) loop over: the public HTTP listener, the Runtime
 * API listener (127.0.0.1, a free port), their connections, and a
 * signalfd for SIGCHLD, SIGINT and SIGTERM. Both sides speak HTTP/1.1
 * through the small parser here (request line, headers, Content-Length
 * or chunked bodies, keep-alive, Expect: 100-continue), with ceilings set
 * up front: 64 KiB of head, Lambda's 6 MB of body.
 *
 * The bootstrap is one child in its own process group, in one of these
 * states: none (not running: started again by the next request),
 * starting (spawned, has not asked for an event yet; 10 s like Lambda's
 * init phase), ready (waiting in GET /next), running (an event handed out,
 * not answered), between (answered, not yet back in /next). Public
 * requests wait in a FIFO; the head is handed to the bootstrap when it is
 * ready. A bootstrap that exits or reports an init error costs the request
 * it was serving (or about to) a 502 problem+json; one that overruns the
 * timeout is killed and its request gets a 504. Either way it is started
 * again when a request needs it.
 *
 * Events follow API Gateway's proxy integrations: payload 1.0 (REST API,
 * stage "local", resource /{proxy+}, query parameters decoded, binary
 * bodies as base64 as with binaryMediaTypes set to any type) or 2.0 (HTTP API, stage
 * $default, cookies apart, repeated headers joined with ','). Unlike a
 * real HTTP API, rawPath is passed as the client sent it (still
 * percent-encoded); kumo's adapter accepts both.
 */
#include "deploy/lambda_emulator.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "deploy/zip.h"
#include "sdk/adapters/lambda.h"
#include "sdk/stores/aws.h"
#include "base/http.h"
#include "base/percent.h"

extern char **environ;

#define HEAD_MAX (64 * 1024)
#define BODY_MAX KUMO__LAMBDA_PAYLOAD_MAX
#define HEADERS_MAX 128
#define CONNS_MAX 512
#define INIT_TIMEOUT_MS 10000
#define STOP_GRACE_MS 3000
#define RUNTIME_PREFIX "/2018-06-01/runtime"

enum { CONN_PUBLIC, CONN_RUNTIME };
enum { ST_READING, ST_WAITING, ST_WRITING };
enum { CHILD_NONE, CHILD_STARTING, CHILD_READY, CHILD_RUNNING, CHILD_BETWEEN };

typedef struct http_req {
    char *head;                      /* malloc'd copy of the head, parsed in place */
    char *method, *target;
    int minor;                       /* HTTP/1.minor */
    struct {
        char *name, *value;
    } headers[HEADERS_MAX];
    size_t nheaders;
    char *body;                      /* malloc'd (NUL after body_len), NULL when none */
    size_t body_len;
    int keep_alive;
} http_req;

typedef struct conn {
    struct conn *next, *prev;        /* every connection */
    struct conn *queued;             /* the public FIFO */
    int fd, kind, state;
    char *in;
    size_t in_len, in_cap;
    http_req req;
    int have_req;
    int sent_continue;
    char *out;
    size_t out_len, out_off;
    int close_after;
    char ip[INET6_ADDRSTRLEN];
    uint64_t started_ms;             /* public: when the request was complete */
} conn;

typedef struct emu {
    const kumo__lambda_emulator_opts *o;
    char dir[PATH_MAX];
    char function[128], region[64], handler[256], memory[16], arn[300];
    int pub_fd, rt_fd, sig_fd;
    int pub_port, rt_port;
    conn *conns;
    size_t nconns;
    conn *q_head, *q_tail;
    /* the bootstrap */
    pid_t pid;
    int child;
    uint64_t child_started_ms;
    int child_answered;              /* its failure already answered a request */
    int doomed;                      /* killed by us, not reaped yet: no events for it */
    conn *next_conn;                 /* the runtime connection waiting in /next */
    char **envp;
    int printed;
    /* the invocation in flight */
    int busy;
    conn *inflight;                  /* NULL when its client went away */
    char inflight_id[40];
    uint64_t deadline_ms;
    char method[16], path[512];      /* for the log line */
    int stopping;
} emu;

/* ---- small helpers ---------------------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void new_uuid(char out[37])
{
    unsigned char b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        uint64_t t = mono_ms() ^ (uint64_t)getpid() << 32;
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = (unsigned char)(t >> (i % 8 * 8)) ^ (unsigned char)i;
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* size-1 random hex digits and a NUL (size at most 65). */
static void random_hex(char *out, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[32];
    size_t n = size / 2;
    if (n > sizeof(b))
        n = sizeof(b);
    if (getrandom(b, n, 0) != (ssize_t)n)
        for (size_t i = 0; i < n; i++)
            b[i] = (unsigned char)(mono_ms() >> (i % 8)) ^ (unsigned char)(i * 37);
    size_t w = 0;
    for (; w + 1 < size && w / 2 < n; w++)
        out[w] = hex[(b[w / 2] >> (w % 2 ? 0 : 4)) & 15];
    out[w] = '\0';
}

static const char *req_header(const http_req *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

/* ---- HTTP/1.1 requests ----------------------------------------------------- */

static int is_token(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return 0;
    return 1;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* Parses the head (request line and headers, CRLFs included) copied into
 * r->head. Returns 0, or the HTTP status to refuse the request with. */
static int parse_head(http_req *r, size_t *content_length, int *chunked)
{
    char *line = r->head, *eol = strstr(line, "\r\n");
    if (eol == NULL)
        return 400;
    *eol = '\0';
    char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (sp1 == NULL || sp2 == NULL)
        return 400;
    *sp1 = *sp2 = '\0';
    r->method = line;
    r->target = sp1 + 1;
    if (!is_token(r->method) || r->target[0] != '/' || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
        !isdigit((unsigned char)sp2[8]) || sp2[9] != '\0')
        return 400;
    for (const char *t = r->target; *t; t++)
        if ((unsigned char)*t <= ' ' || (unsigned char)*t >= 0x7f)
            return 400;
    r->minor = sp2[8] - '0';
    int have_cl = 0;
    *content_length = 0;
    *chunked = 0;
    const char *connection = NULL;
    for (line = eol + 2; *line; line = eol + 2) {
        eol = strstr(line, "\r\n");
        if (eol == NULL)
            return 400;
        *eol = '\0';
        if (*line == '\0')
            break;
        if (*line == ' ' || *line == '\t')
            return 400;   /* obsolete line folding */
        char *colon = strchr(line, ':');
        if (colon == NULL)
            return 400;
        *colon = '\0';
        if (!is_token(line))
            return 400;
        if (r->nheaders == HEADERS_MAX)
            return 431;
        char *value = trim(colon + 1);
        for (const char *v = value; *v; v++)
            if (((unsigned char)*v < ' ' && *v != '\t') || *v == 0x7f)
                return 400;
        r->headers[r->nheaders].name = line;
        r->headers[r->nheaders].value = value;
        r->nheaders++;
        if (strcasecmp(line, "content-length") == 0) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(value, &end, 10);
            if (!isdigit((unsigned char)*value) || *end || errno || (have_cl && n != *content_length))
                return 400;
            if (n > BODY_MAX)
                return 413;
            *content_length = (size_t)n;
            have_cl = 1;
        } else if (strcasecmp(line, "transfer-encoding") == 0) {
            if (strcasecmp(value, "chunked") != 0)
                return 501;
            *chunked = 1;
        } else if (strcasecmp(line, "connection") == 0) {
            connection = value;
        }
    }
    if (have_cl && *chunked)
        return 400;
    r->keep_alive = r->minor >= 1 ? !(connection && strcasecmp(connection, "close") == 0)
                                  : (connection && strcasecmp(connection, "keep-alive") == 0);
    return 0;
}

/* Walks a chunked body in p[0..n): returns the bytes it takes when
 * complete (its decoded size in *size), 0 when more is needed, -1 when
 * malformed, -2 when over BODY_MAX. With `out`, copies the data there. */
static ssize_t chunked(const char *p, size_t n, size_t *size, char *out)
{
    size_t pos = 0, total = 0;
    for (;;) {
        const char *eol = memmem(p + pos, n - pos, "\r\n", 2);
        if (eol == NULL)
            return n - pos > 1024 ? -1 : 0;
        char *end;
        if (!isxdigit((unsigned char)p[pos]))
            return -1;
        unsigned long long len = strtoull(p + pos, &end, 16);
        if (end > eol || (end < eol && *end != ';' && *end != ' '))
            return -1;
        pos = (size_t)(eol - p) + 2;
        if (len == 0) {
            for (;;) {   /* trailers, then the empty line */
                eol = memmem(p + pos, n - pos, "\r\n", 2);
                if (eol == NULL)
                    return n - pos > HEAD_MAX ? -1 : 0;
                size_t l = (size_t)(eol - (p + pos));
                pos += l + 2;
                if (l == 0) {
                    *size = total;
                    return (ssize_t)pos;
                }
            }
        }
        if (len > BODY_MAX || total + len > BODY_MAX)
            return -2;
        if (pos + len + 2 > n)
            return 0;
        if (p[pos + len] != '\r' || p[pos + len + 1] != '\n')
            return -1;
        if (out)
            memcpy(out + total, p + pos, len);
        total += len;
        pos += len + 2;
    }
}

/* ---- connections ------------------------------------------------------------------ */

static void req_clear(http_req *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static void conn_close(emu *e, conn *c)
{
    if (c == e->next_conn)
        e->next_conn = NULL;
    if (c == e->inflight)
        e->inflight = NULL;
    /* out of the FIFO */
    for (conn **pp = &e->q_head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->queued) {
        if (*pp == c) {
            *pp = c->queued;
            if (e->q_tail == c)
                e->q_tail = prev;
            break;
        }
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        e->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    e->nconns--;
    close(c->fd);
    req_clear(&c->req);
    free(c->in);
    free(c->out);
    free(c);
}

static int send_some(conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        c->out_off += (size_t)w;
    }
    return 1;
}

typedef struct out_header {
    const char *name, *value;
} out_header;

/* Queues a whole response on c (status line, headers, Content-Length,
 * body unless HEAD) and starts writing it. */
static void respond(emu *e, conn *c, int status, const out_header *hs, size_t nh, const char *body, size_t len)
{
    int head_only = c->have_req && c->req.method && strcmp(c->req.method, "HEAD") == 0;
    size_t cap = 128 + len;
    for (size_t i = 0; i < nh; i++)
        cap += strlen(hs[i].name) + strlen(hs[i].value) + 4;
    char *out = malloc(cap);
    if (out == NULL) {
        conn_close(e, c);
        return;
    }
    int close_after = !c->req.keep_alive || e->stopping;
    size_t w = (size_t)snprintf(out, cap, "HTTP/1.1 %d %s\r\n", status, kumo__http_reason(status));
    for (size_t i = 0; i < nh; i++)
        w += (size_t)snprintf(out + w, cap - w, "%s: %s\r\n", hs[i].name, hs[i].value);
    w += (size_t)snprintf(out + w, cap - w, "Content-Length: %zu\r\n%s\r\n", len,
                          close_after ? "Connection: close\r\n" : "");
    if (!head_only && len) {
        memcpy(out + w, body, len);
        w += len;
    }
    free(c->out);
    c->out = out;
    c->out_len = w;
    c->out_off = 0;
    c->close_after = close_after;
    c->state = ST_WRITING;
}

static void respond_json(emu *e, conn *c, int status, const char *type, json_t *doc, const char *request_id)
{
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    out_header hs[2] = {{"Content-Type", type}, {"X-Request-Id", request_id ? request_id : ""}};
    respond(e, c, status, hs, request_id ? 2 : 1, body ? body : "{}", body ? strlen(body) : 2);
    free(body);
    json_decref(doc);
}

/* An RFC 9457 problem document, as kumo answers its own errors. */
static void respond_problem(emu *e, conn *c, int status, const char *detail, const char *request_id)
{
    json_t *doc = json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title", kumo__http_reason(status),
                            "status", status, "detail", detail);
    if (doc && c->have_req && c->req.target)
        json_object_set_new(doc, "instance", json_stringn(c->req.target, strcspn(c->req.target, "?")));
    if (doc && request_id)
        json_object_set_new(doc, "request_id", json_string(request_id));
    respond_json(e, c, status, "application/problem+json", doc, request_id);
}

/* A Runtime API error answer, as Lambda gives them. */
static void respond_runtime_error(emu *e, conn *c, int status, const char *type, const char *message)
{
    respond_json(e, c, status, "application/json",
                 json_pack("{s:s, s:s}", "errorMessage", message, "errorType", type), NULL);
}

/* ---- logging ------------------------------------------------------------------------ */

static void log_request(emu *e, int status, uint64_t started)
{
    fprintf(stderr, "kumo emulate: %s %s -> %d (%llu ms)\n", e->method, e->path, status,
            (unsigned long long)(mono_ms() - started));
}

static void remember(emu *e, conn *c)
{
    snprintf(e->method, sizeof(e->method), "%s", c->req.method);
    snprintf(e->path, sizeof(e->path), "%.*s", (int)strcspn(c->req.target, "?"), c->req.target);
}

/* ---- the bootstrap ------------------------------------------------------------------ */

static void close_runtime_conns(emu *e)
{
    for (conn *c = e->conns, *next; c; c = next) {
        next = c->next;
        if (c->kind == CONN_RUNTIME)
            conn_close(e, c);
    }
    e->next_conn = NULL;
}

static void kill_child(emu *e, int sig)
{
    if (e->pid > 0) {
        kill(-e->pid, sig);
        if (sig == SIGKILL)
            e->doomed = 1;
    }
}

static void print_ready(emu *e)
{
    if (e->printed)
        return;
    e->printed = 1;
    printf("kumo emulate: serving http://%s:%d (bootstrap pid %d)\n", e->o->host ? e->o->host : "127.0.0.1",
           e->pub_port, (int)e->pid);
    fflush(stdout);
}

static int build_env(emu *e)
{
    static const char *const ours[] = {"AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "_HANDLER",
                                       "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                                       "AWS_LAMBDA_FUNCTION_VERSION", "AWS_REGION", "AWS_DEFAULT_REGION",
                                       "AWS_EXECUTION_ENV", "LAMBDA_RUNTIME_DIR"};
    size_t n = 0;
    while (environ[n])
        n++;
    size_t nours = sizeof(ours) / sizeof(ours[0]);
    e->envp = calloc(n + nours + 1, sizeof(char *));
    if (e->envp == NULL)
        return -1;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        int mine = 0;
        for (size_t k = 0; k < nours && !mine; k++) {
            size_t l = strlen(ours[k]);
            mine = strncmp(environ[i], ours[k], l) == 0 && environ[i][l] == '=';
        }
        if (!mine && (e->envp[w] = strdup(environ[i])) != NULL)
            w++;
    }
    const char *vals[] = {NULL, e->dir, e->handler, e->function, e->memory, "$LATEST", e->region, e->region,
                          "AWS_Lambda_provided.al2023", e->dir};
    char api[64];
    snprintf(api, sizeof(api), "127.0.0.1:%d", e->rt_port);
    vals[0] = api;
    for (size_t k = 0; k < nours; k++) {
        size_t l = strlen(ours[k]) + strlen(vals[k]) + 2;
        char *s = malloc(l);
        if (s == NULL)
            return -1;
        snprintf(s, l, "%s=%s", ours[k], vals[k]);
        e->envp[w++] = s;
    }
    e->envp[w] = NULL;
    return 0;
}

static int spawn(emu *e)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        setpgid(0, 0);
        signal(SIGPIPE, SIG_DFL);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (chdir(e->dir) == 0) {
            char *argv[] = {"./bootstrap", NULL};
            execve("./bootstrap", argv, e->envp);
        }
        fprintf(stderr, "kumo emulate: cannot run %s/bootstrap: %s\n", e->dir, strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    e->pid = pid;
    e->child = CHILD_STARTING;
    e->child_started_ms = mono_ms();
    e->child_answered = 0;
    e->doomed = 0;
    return 0;
}

/* The bootstrap is gone (exited, or killed by us): answer what it owed. */
static void child_gone(emu *e, int status)
{
    char why[160];
    if (WIFSIGNALED(status))
        snprintf(why, sizeof(why), "killed by signal %d", WTERMSIG(status));
    else
        snprintf(why, sizeof(why), "exited with status %d", WEXITSTATUS(status));
    int was = e->child;
    kill_child(e, SIGKILL);   /* whatever it left in its group */
    e->pid = 0;
    e->child = CHILD_NONE;
    e->doomed = 0;
    close_runtime_conns(e);
    if (e->stopping)
        return;
    char detail[512];
    if (e->busy) {
        snprintf(detail, sizeof(detail), "the function's bootstrap %s during the invocation", why);
        if (e->inflight) {
            respond_problem(e, e->inflight, 502, detail, e->inflight_id);
            log_request(e, 502, e->inflight->started_ms);
        }
        e->busy = 0;
        e->inflight = NULL;
    } else if (was == CHILD_STARTING && !e->child_answered && e->q_head) {
        conn *c = e->q_head;
        e->q_head = c->queued;
        if (e->q_head == NULL)
            e->q_tail = NULL;
        snprintf(detail, sizeof(detail),
                 "the function's bootstrap %s before asking for an event (an init failure); see its output", why);
        char id[37];
        new_uuid(id);
        remember(e, c);
        respond_problem(e, c, 502, detail, id);
        log_request(e, 502, c->started_ms);
    } else if (!e->child_answered) {
        fprintf(stderr, "kumo emulate: the bootstrap %s; it starts again on the next request\n", why);
    }
    e->busy = 0;
    print_ready(e);
}

/* ---- events and answers ------------------------------------------------------------- */

static json_t *decoded(const char *s, size_t len)
{
    char *buf = malloc(len + 1);
    if (buf == NULL)
        return NULL;
    ssize_t n = kumo__percent_decode_into(s, len, buf, KUMO_PCT_PLUS | KUMO_PCT_LENIENT);
    json_t *j = n < 0 ? json_stringn(s, len) : json_stringn(buf, (size_t)n);
    if (j == NULL)   /* not UTF-8 once decoded: as sent */
        j = json_stringn(s, len);
    free(buf);
    return j ? j : json_string("");
}

/* The query's parameters, decoded: v1 {name: last} and {name: [all]},
 * v2 {name: "a,b"}. NULLs when the query is empty. */
static void query_params(const char *q, int version, json_t **single, json_t **multi)
{
    *single = *multi = NULL;
    for (const char *p = q; *p;) {
        size_t n = strcspn(p, "&");
        if (n) {
            size_t eq = strcspn(p, "=");
            size_t nlen = eq < n ? eq : n;
            json_t *name = decoded(p, nlen);
            json_t *value = eq < n ? decoded(p + eq + 1, n - eq - 1) : json_string("");
            if (*single == NULL)
                *single = json_object();
            if (*multi == NULL && version == 1)
                *multi = json_object();
            const char *k = json_string_value(name);
            if (k && value && *single) {
                json_t *old = json_object_get(*single, k);
                if (version == 2 && old) {
                    size_t a = json_string_length(old), b = json_string_length(value);
                    char *s = malloc(a + b + 2);
                    if (s) {
                        memcpy(s, json_string_value(old), a);
                        s[a] = ',';
                        memcpy(s + a + 1, json_string_value(value), b + 1);
                        json_object_set_new(*single, k, json_stringn(s, a + b + 1));
                        free(s);
                    }
                } else {
                    json_object_set(*single, k, value);
                }
                if (*multi) {
                    json_t *arr = json_object_get(*multi, k);
                    if (arr == NULL) {
                        arr = json_array();
                        json_object_set_new(*multi, k, arr);
                    }
                    json_array_append(arr, value);
                }
            }
            json_decref(name);
            json_decref(value);
        }
        p += n;
        if (*p == '&')
            p++;
    }
}

static json_t *event_for(emu *e, conn *c, const char *id, uint64_t epoch_ms)
{
    http_req *r = &c->req;
    int version = e->o->payload == 2 ? 2 : 1;
    size_t plen = strcspn(r->target, "?");
    const char *q = r->target[plen] == '?' ? r->target + plen + 1 : "";
    json_t *path = json_stringn(r->target, plen);
    json_t *single = NULL, *multi = NULL;
    query_params(q, version, &single, &multi);
    const char *ct = req_header(r, "content-type"), *ua = req_header(r, "user-agent"), *host = req_header(r, "host");
    json_t *body = json_null();
    int b64 = 0;
    if (r->body) {
        if (kumo__lambda_is_text(ct, r->body, r->body_len)) {
            body = json_stringn(r->body, r->body_len);
        } else {
            char *enc = kumo__aws_b64_encode(r->body, r->body_len);
            body = enc ? json_string(enc) : NULL;
            free(enc);
            b64 = 1;
        }
    }
    json_t *hdrs = json_object(), *ev = NULL;
    if (path == NULL || body == NULL || hdrs == NULL)
        goto out;
    if (version == 1) {
        json_t *mv = json_object();
        for (size_t i = 0; mv && i < r->nheaders; i++) {
            const char *n = r->headers[i].name, *v = r->headers[i].value;
            json_object_set_new(hdrs, n, json_string(v));
            json_t *arr = json_object_get(mv, n);
            if (arr == NULL) {
                arr = json_array();
                json_object_set_new(mv, n, arr);
            }
            json_array_append_new(arr, json_string(v));
        }
        int root = plen == 1;
        char ctx_path[600];
        snprintf(ctx_path, sizeof(ctx_path), "/local%s", json_string_value(path));
        ev = json_pack("{s:s, s:O, s:s, s:O, s:o, s:o, s:o, s:o, s:n, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, "
                       "s:I, s:s, s:{s:s, s:s}, s:s}, s:O, s:b}",
                       "resource", root ? "/" : "/{proxy+}", "path", path, "httpMethod", r->method, "headers", hdrs,
                       "multiValueHeaders", mv ? mv : json_object(),
                       "queryStringParameters", single ? single : json_null(),
                       "multiValueQueryStringParameters", multi ? multi : json_null(),
                       "pathParameters",
                       root ? json_null() : json_pack("{s:s}", "proxy", json_string_value(path) + 1),
                       "stageVariables", "requestContext", "accountId", "123456789012", "apiId", "kumoemulate",
                       "resourceId", "kumo", "resourcePath", root ? "/" : "/{proxy+}", "httpMethod", r->method,
                       "path", ctx_path, "stage", "local", "requestId", id, "requestTimeEpoch", (json_int_t)epoch_ms,
                       "protocol", "HTTP/1.1", "identity", "sourceIp", c->ip, "userAgent", ua ? ua : "",
                       "domainName", host ? host : "127.0.0.1", "body", body, "isBase64Encoded", b64);
        single = multi = NULL;   /* stolen by "o" */
    } else {
        json_t *cookies = json_array();
        for (size_t i = 0; cookies && i < r->nheaders; i++) {
            char name[256];
            snprintf(name, sizeof(name), "%s", r->headers[i].name);
            for (char *p = name; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            const char *v = r->headers[i].value;
            if (strcmp(name, "cookie") == 0) {
                for (const char *p = v; *p;) {
                    while (*p == ' ' || *p == ';')
                        p++;
                    size_t n = strcspn(p, ";");
                    while (n && p[n - 1] == ' ')
                        n--;
                    if (n)
                        json_array_append_new(cookies, json_stringn(p, n));
                    p += n;
                    while (*p && *p != ';')
                        p++;
                }
                continue;
            }
            json_t *old = json_object_get(hdrs, name);
            if (old) {
                size_t a = json_string_length(old), b = strlen(v);
                char *s = malloc(a + b + 2);
                if (s) {
                    memcpy(s, json_string_value(old), a);
                    s[a] = ',';
                    memcpy(s + a + 1, v, b + 1);
                    json_object_set_new(hdrs, name, json_string(s));
                    free(s);
                }
            } else {
                json_object_set_new(hdrs, name, json_string(v));
            }
        }
        time_t t = (time_t)(epoch_ms / 1000);
        struct tm tm;
        char when[64];
        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%d/%b/%Y:%H:%M:%S +0000", &tm);
        ev = json_pack("{s:s, s:s, s:O, s:s, s:O, s:{s:s, s:s, s:s, s:s, s:{s:s, s:O, s:s, s:s, s:s}, s:s, s:s, "
                       "s:s, s:s, s:I}, s:O, s:b}",
                       "version", "2.0", "routeKey", "$default", "rawPath", path, "rawQueryString", q, "headers",
                       hdrs, "requestContext", "accountId", "123456789012", "apiId", "kumoemulate", "domainName",
                       host ? host : "127.0.0.1", "domainPrefix", "kumoemulate", "http", "method", r->method, "path",
                       path, "protocol", "HTTP/1.1", "sourceIp", c->ip, "userAgent", ua ? ua : "", "requestId", id,
                       "routeKey", "$default", "stage", "$default", "time", when, "timeEpoch", (json_int_t)epoch_ms,
                       "body", body, "isBase64Encoded", b64);
        if (ev && json_array_size(cookies))
            json_object_set(ev, "cookies", cookies);
        if (ev && single)
            json_object_set(ev, "queryStringParameters", single);
        if (ev && r->body == NULL)
            json_object_del(ev, "body");
        json_decref(cookies);
    }
out:
    json_decref(single);
    json_decref(multi);
    json_decref(path);
    json_decref(hdrs);
    json_decref(body);
    return ev;
}

/* Hands the head of the FIFO to the bootstrap waiting in /next. */
static void dispatch(emu *e)
{
    conn *c = e->q_head, *rt = e->next_conn;
    e->q_head = c->queued;
    if (e->q_head == NULL)
        e->q_tail = NULL;
    c->queued = NULL;
    new_uuid(e->inflight_id);
    remember(e, c);
    uint64_t now = now_ms();
    unsigned timeout = e->o->timeout_s ? e->o->timeout_s : 30;
    json_t *ev = event_for(e, c, e->inflight_id, now);
    char *body = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (body == NULL) {
        respond_problem(e, c, 500, "out of memory building the event", e->inflight_id);
        return;
    }
    if (strlen(body) > BODY_MAX) {
        free(body);
        respond_problem(e, c, 413, "the request's event is over Lambda's 6 MB payload limit", e->inflight_id);
        log_request(e, 413, c->started_ms);
        return;
    }
    char deadline[32], trace[128], root[25], parent[17];
    snprintf(deadline, sizeof(deadline), "%llu", (unsigned long long)(now + timeout * 1000ull));
    random_hex(root, sizeof(root));
    random_hex(parent, sizeof(parent));
    snprintf(trace, sizeof(trace), "Root=1-%08llx-%s;Parent=%s;Sampled=0", (unsigned long long)(now / 1000), root,
             parent);
    out_header hs[] = {{"Content-Type", "application/json"},
                       {"Lambda-Runtime-Aws-Request-Id", e->inflight_id},
                       {"Lambda-Runtime-Deadline-Ms", deadline},
                       {"Lambda-Runtime-Invoked-Function-Arn", e->arn},
                       {"Lambda-Runtime-Trace-Id", trace}};
    respond(e, rt, 200, hs, sizeof(hs) / sizeof(hs[0]), body, strlen(body));
    free(body);
    e->next_conn = NULL;
    e->child = CHILD_RUNNING;
    e->busy = 1;
    e->inflight = c;
    e->deadline_ms = mono_ms() + timeout * 1000ull;
}

/* Moves the FIFO along: starts the bootstrap when needed, hands out the
 * head when it is ready. */
static void pump(emu *e)
{
    while (!e->busy && e->q_head && !e->stopping) {
        if (e->child == CHILD_NONE) {
            if (spawn(e) == 0)
                return;
            conn *c = e->q_head;
            e->q_head = c->queued;
            if (e->q_head == NULL)
                e->q_tail = NULL;
            remember(e, c);
            respond_problem(e, c, 502, "the function's bootstrap cannot be started (fork failed)", NULL);
            log_request(e, 502, c->started_ms);
            continue;
        }
        if (e->child != CHILD_READY || e->next_conn == NULL || e->doomed)
            return;
        dispatch(e);
    }
}

/* A header of the function's that may be passed on: a token for a name,
 * no CR or LF in the value (no response splitting), and none of the
 * framing headers the emulator sets itself. */
static int header_allowed(const char *name)
{
    return is_token(name) && strcasecmp(name, "content-length") != 0 &&
           strcasecmp(name, "transfer-encoding") != 0 && strcasecmp(name, "connection") != 0 &&
           strcasecmp(name, "keep-alive") != 0;
}

static int value_allowed(const char *v)
{
    return v && strpbrk(v, "\r\n") == NULL;
}

static const char *scalar_text(json_t *v, char *buf, size_t size)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v))
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, size, "%g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
    else
        return NULL;
    return buf;
}

/* Sends the function's answer (the proxy integration's response JSON) to
 * the client; a malformed one is a 502, as API Gateway answers it. */
static int answer(emu *e, conn *c, const char *json, size_t len)
{
    int version = e->o->payload == 2 ? 2 : 1, status = 502;
    json_error_t jerr;
    json_t *res = json_loadb(json, len, JSON_DECODE_ANY, &jerr);
    out_header hs[HEADERS_MAX + 2];
    size_t nh = 0;
    char scratch[HEADERS_MAX][64];
    char *body = NULL;
    size_t body_len = 0;
    const char *problem = NULL;
    json_t *sc = json_object_get(res, "statusCode");
    if (res == NULL) {
        problem = "the function's response is not JSON";
        goto out;
    }
    if (version == 2 && (!json_is_object(res) || sc == NULL)) {
        /* HTTP APIs take any other JSON as the body of a 200 */
        body = json_dumps(res, JSON_COMPACT | JSON_ENCODE_ANY);
        body_len = body ? strlen(body) : 0;
        hs[nh++] = (out_header){"content-type", "application/json"};
        status = 200;
        goto send;
    }
    if (!json_is_object(res) || sc == NULL) {
        problem = "malformed Lambda proxy response: no statusCode";
        goto out;
    }
    status = json_is_integer(sc) ? (int)json_integer_value(sc) : json_is_string(sc) ? atoi(json_string_value(sc)) : 0;
    if (status < 100 || status > 599) {
        status = 502;
        problem = "malformed Lambda proxy response: statusCode is not an HTTP status";
        goto out;
    }
    json_t *mv = version == 1 ? json_object_get(res, "multiValueHeaders") : NULL;
    json_t *sv = json_object_get(res, "headers");
    const char *key;
    json_t *val;
    if (json_is_object(mv)) {
        json_object_foreach(mv, key, val) {
            size_t i;
            json_t *v;
            if (!json_is_array(val) || !header_allowed(key))
                continue;
            json_array_foreach(val, i, v) {
                if (nh == HEADERS_MAX)
                    break;
                const char *t = scalar_text(v, scratch[nh], sizeof(scratch[nh]));
                if (value_allowed(t))
                    hs[nh++] = (out_header){key, t};
            }
        }
    }
    size_t from_mv = nh;
    if (json_is_object(sv)) {
        json_object_foreach(sv, key, val) {
            int dup = 0;
            for (size_t i = 0; i < from_mv && !dup; i++)
                dup = strcasecmp(hs[i].name, key) == 0;
            const char *t = scalar_text(val, scratch[nh < HEADERS_MAX ? nh : 0], sizeof(scratch[0]));
            if (!dup && value_allowed(t) && header_allowed(key) && nh < HEADERS_MAX)
                hs[nh++] = (out_header){key, t};
        }
    }
    json_t *cookies = version == 2 ? json_object_get(res, "cookies") : NULL;
    if (json_is_array(cookies)) {
        size_t i;
        json_t *v;
        json_array_foreach(cookies, i, v) {
            if (value_allowed(json_string_value(v)) && nh < HEADERS_MAX)
                hs[nh++] = (out_header){"set-cookie", json_string_value(v)};
        }
    }
    json_t *b = json_object_get(res, "body");
    if (json_is_string(b)) {
        const char *s = json_string_value(b);
        size_t n = json_string_length(b);
        if (json_is_true(json_object_get(res, "isBase64Encoded"))) {
            body = malloc(n / 4 * 3 + 4);
            long got = body ? kumo__aws_b64_decode(s, n, (unsigned char *)body) : -1;
            if (got < 0) {
                status = 502;
                problem = "malformed Lambda proxy response: isBase64Encoded but the body is not base64";
                goto out;
            }
            body_len = (size_t)got;
        } else {
            body = malloc(n + 1);
            if (body)
                memcpy(body, s, n);
            body_len = n;
        }
    } else if (b && !json_is_null(b)) {
        status = 502;
        problem = "malformed Lambda proxy response: body is not a string";
        goto out;
    }
    int has_type = 0;
    for (size_t i = 0; i < nh; i++)
        has_type |= strcasecmp(hs[i].name, "content-type") == 0;
    if (!has_type && body_len)
        hs[nh++] = (out_header){"content-type", "application/json"};
send:
    hs[nh++] = (out_header){"x-amzn-requestid", e->inflight_id};
    respond(e, c, status, hs, nh, body ? body : "", body_len);
out:
    if (problem)
        respond_problem(e, c, 502, problem, e->inflight_id);
    free(body);
    json_decref(res);
    return status;
}

/* ---- the Runtime API side ----------------------------------------------------------- */

static void runtime_request(emu *e, conn *c)
{
    http_req *r = &c->req;
    const char *t = r->target;
    size_t pl = strlen(RUNTIME_PREFIX);
    if (strncmp(t, RUNTIME_PREFIX, pl) != 0) {
        respond_runtime_error(e, c, 404, "InvalidRequest", "not a Lambda Runtime API 2018-06-01 path");
        return;
    }
    t += pl;
    if (strcmp(t, "/invocation/next") == 0 && strcmp(r->method, "GET") == 0) {
        if (e->child == CHILD_RUNNING && e->busy && !e->child_answered) {
            /* asked for more without answering: that invocation failed */
            if (e->inflight) {
                respond_problem(e, e->inflight, 502,
                                "the function's bootstrap asked for the next event without answering this one",
                                e->inflight_id);
                log_request(e, 502, e->inflight->started_ms);
            }
            e->busy = 0;
            e->inflight = NULL;
        }
        c->state = ST_WAITING;
        if (e->doomed)
            return;   /* it is being stopped: this wait ends with it */
        e->next_conn = c;
        e->child = CHILD_READY;
        print_ready(e);
        pump(e);
        return;
    }
    if (strcmp(t, "/init/error") == 0 && strcmp(r->method, "POST") == 0) {
        json_t *doc = json_loadb(r->body ? r->body : "", r->body_len, 0, NULL);
        const char *msg = json_string_value(json_object_get(doc, "errorMessage"));
        const char *type = json_string_value(json_object_get(doc, "errorType"));
        char detail[1024];
        snprintf(detail, sizeof(detail), "the function failed to initialise: %s%s%s", type ? type : "",
                 type ? ": " : "", msg ? msg : "(no errorMessage)");
        json_decref(doc);
        fprintf(stderr, "kumo emulate: %s\n", detail);
        respond_json(e, c, 202, "application/json", json_pack("{s:s}", "status", "OK"), NULL);
        send_some(c);
        if (e->busy && e->inflight) {
            respond_problem(e, e->inflight, 502, detail, e->inflight_id);
            log_request(e, 502, e->inflight->started_ms);
        } else if (!e->busy && e->q_head) {
            conn *h = e->q_head;
            e->q_head = h->queued;
            if (e->q_head == NULL)
                e->q_tail = NULL;
            char id[37];
            new_uuid(id);
            remember(e, h);
            respond_problem(e, h, 502, detail, id);
            log_request(e, 502, h->started_ms);
        }
        e->busy = 0;
        e->inflight = NULL;
        e->child_answered = 1;
        kill_child(e, SIGKILL);   /* Lambda stops the environment after an init error */
        print_ready(e);
        return;
    }
    const char *inv = "/invocation/";
    if (strncmp(t, inv, strlen(inv)) == 0 && strcmp(r->method, "POST") == 0) {
        const char *id = t + strlen(inv), *slash = strchr(id, '/');
        if (slash && (strcmp(slash, "/response") == 0 || strcmp(slash, "/error") == 0)) {
            size_t idlen = (size_t)(slash - id);
            if (!e->busy || idlen != strlen(e->inflight_id) || strncmp(id, e->inflight_id, idlen) != 0) {
                respond_runtime_error(e, c, 400, "InvalidRequestID",
                                      "no invocation with this request ID is in progress (answered already, or "
                                      "timed out)");
                return;
            }
            conn *client = e->inflight;
            int status;
            if (strcmp(slash, "/response") == 0) {
                status = client ? answer(e, client, r->body ? r->body : "", r->body_len) : 0;
            } else {
                json_t *doc = json_loadb(r->body ? r->body : "", r->body_len, 0, NULL);
                const char *msg = json_string_value(json_object_get(doc, "errorMessage"));
                const char *type = json_string_value(json_object_get(doc, "errorType"));
                if (type == NULL)
                    type = req_header(r, "lambda-runtime-function-error-type");
                char detail[1024];
                snprintf(detail, sizeof(detail), "the function reported an error: %s%s%s", type ? type : "",
                         type ? ": " : "", msg ? msg : "(no errorMessage)");
                json_decref(doc);
                status = 502;
                if (client)
                    respond_problem(e, client, 502, detail, e->inflight_id);
            }
            if (client)
                log_request(e, status, client->started_ms);
            e->busy = 0;
            e->inflight = NULL;
            e->child = CHILD_BETWEEN;
            respond_json(e, c, 202, "application/json", json_pack("{s:s}", "status", "OK"), NULL);
            return;
        }
    }
    respond_runtime_error(e, c, 404, "InvalidRequest", "unknown Lambda Runtime API path or method");
}

/* ---- reading --------------------------------------------------------------------- */

static void handle_request(emu *e, conn *c)
{
    if (c->kind == CONN_RUNTIME) {
        runtime_request(e, c);
        return;
    }
    c->state = ST_WAITING;
    c->started_ms = mono_ms();
    c->queued = NULL;
    if (e->q_tail)
        e->q_tail->queued = c;
    else
        e->q_head = c;
    e->q_tail = c;
    pump(e);
}

/* Tries to take one whole request out of c->in. */
static void try_parse(emu *e, conn *c)
{
    if (c->state != ST_READING || c->in_len == 0)
        return;
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (end == NULL) {
        if (c->in_len > HEAD_MAX) {
            c->req.keep_alive = 0;
            respond_problem(e, c, 431, "the request's head is over 64 KiB", NULL);
        }
        return;
    }
    size_t head_len = (size_t)(end - c->in) + 4;
    req_clear(&c->req);
    c->have_req = 0;
    http_req *r = &c->req;
    r->head = malloc(head_len + 1);
    if (r->head == NULL) {
        conn_close(e, c);
        return;
    }
    memcpy(r->head, c->in, head_len);
    r->head[head_len] = '\0';
    size_t cl = 0;
    int is_chunked = 0;
    int bad = head_len > HEAD_MAX ? 431 : parse_head(r, &cl, &is_chunked);
    if (bad) {
        c->have_req = r->method != NULL && r->target != NULL && r->target[0] == '/';
        r->keep_alive = 0;
        respond_problem(e, c, bad,
                        bad == 413   ? "the request body is over Lambda's 6 MB payload limit"
                        : bad == 431 ? "the request's head is over 64 KiB or has too many headers"
                        : bad == 501 ? "only the chunked transfer coding is supported"
                                     : "malformed HTTP request",
                        NULL);
        return;
    }
    size_t avail = c->in_len - head_len, take = 0;
    if (is_chunked) {
        size_t size = 0;
        ssize_t n = chunked(c->in + head_len, avail, &size, NULL);
        if (n < 0) {
            c->have_req = 1;
            r->keep_alive = 0;
            respond_problem(e, c, n == -2 ? 413 : 400,
                            n == -2 ? "the request body is over Lambda's 6 MB payload limit" : "malformed chunked body",
                            NULL);
            return;
        }
        if (n == 0)
            goto incomplete;
        r->body = malloc(size + 1);
        if (r->body == NULL) {
            conn_close(e, c);
            return;
        }
        chunked(c->in + head_len, avail, &size, r->body);
        r->body[size] = '\0';
        r->body_len = size;
        take = (size_t)n;
    } else {
        if (avail < cl)
            goto incomplete;
        if (cl) {
            r->body = malloc(cl + 1);
            if (r->body == NULL) {
                conn_close(e, c);
                return;
            }
            memcpy(r->body, c->in + head_len, cl);
            r->body[cl] = '\0';
            r->body_len = cl;
        }
        take = cl;
    }
    memmove(c->in, c->in + head_len + take, c->in_len - head_len - take);
    c->in_len -= head_len + take;
    c->have_req = 1;
    c->sent_continue = 0;
    handle_request(e, c);
    return;
incomplete : {
    const char *expect = req_header(r, "expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 && !c->sent_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (send(c->fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL) < 0) {
            conn_close(e, c);
            return;
        }
        c->sent_continue = 1;
    }
    req_clear(r);
}
}

static void on_readable(emu *e, conn *c)
{
    size_t limit = HEAD_MAX + BODY_MAX + 65536;
    for (;;) {
        if (c->in_cap - c->in_len < 16384) {
            size_t cap = c->in_cap ? c->in_cap * 2 : 32768;
            if (cap > limit + 16384)
                cap = limit + 16384;
            if (cap <= c->in_cap) {
                c->req.keep_alive = 0;
                respond_problem(e, c, 413, "the request is over Lambda's 6 MB payload limit", NULL);
                return;
            }
            char *in = realloc(c->in, cap);
            if (in == NULL) {
                conn_close(e, c);
                return;
            }
            c->in = in;
            c->in_cap = cap;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n == 0) {
            conn_close(e, c);
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn_close(e, c);
            else
                try_parse(e, c);
            return;
        }
        c->in_len += (size_t)n;
        if (c->state != ST_READING)
            return;   /* nothing to do until our answer is out */
    }
}

static void on_writable(emu *e, conn *c)
{
    int r = send_some(c);
    if (r < 0) {
        conn_close(e, c);
        return;
    }
    if (r == 0)
        return;
    if (c->close_after) {
        conn_close(e, c);
        return;
    }
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    c->state = ST_READING;
    req_clear(&c->req);
    c->have_req = 0;
    try_parse(e, c);
}

static void on_accept(emu *e, int lfd, int kind)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (e->nconns >= CONNS_MAX) {
            close(fd);
            continue;
        }
        conn *c = calloc(1, sizeof(*c));
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->kind = kind;
        c->state = ST_READING;
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->ip, sizeof(c->ip));
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, c->ip, sizeof(c->ip));
        c->next = e->conns;
        if (e->conns)
            e->conns->prev = c;
        e->conns = c;
        e->nconns++;
    }
}

/* ---- setup and the loop --------------------------------------------------------------- */

static int listen_on(const char *host, int port, int *bound, kumo__error *err)
{
    struct sockaddr_in6 a6 = {0};
    struct sockaddr_in a4 = {0};
    int family = AF_INET;
    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
        family = AF_INET6;
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)port);
    } else {
        kumo__error_set(err, -EINVAL, "--host %s: not an IP address; give one such as 127.0.0.1", host);
        return -1;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, family == AF_INET ? (struct sockaddr *)&a4 : (struct sockaddr *)&a6,
             family == AF_INET ? sizeof(a4) : sizeof(a6)) != 0 ||
        listen(fd, 128) != 0) {
        kumo__error_set(err, -errno, "cannot listen on %s:%d: %s%s", host, port, strerror(errno),
                        errno == EADDRINUSE ? "; choose another port with --port" : "");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                           : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void reap(emu *e)
{
    int status;
    pid_t p;
    while ((p = waitpid(-1, &status, WNOHANG)) > 0)
        if (p == e->pid)
            child_gone(e, status);
}

/* SIGTERM to the bootstrap's group, SIGKILL after a grace period. */
static void stop_child(emu *e)
{
    if (e->pid <= 0)
        return;
    kill_child(e, SIGTERM);
    uint64_t until = mono_ms() + STOP_GRACE_MS;
    int status;
    while (mono_ms() < until) {
        if (waitpid(e->pid, &status, WNOHANG) == e->pid) {
            kill_child(e, SIGKILL);
            e->pid = 0;
            return;
        }
        usleep(20000);
    }
    kill_child(e, SIGKILL);
    waitpid(e->pid, &status, 0);
    e->pid = 0;
}

static int serve(emu *e)
{
    struct pollfd *pfds = calloc(CONNS_MAX + 3, sizeof(*pfds));
    conn **owners = calloc(CONNS_MAX + 3, sizeof(*owners));
    if (pfds == NULL || owners == NULL) {
        free(pfds);
        free(owners);
        return -ENOMEM;
    }
    while (!e->stopping) {
        size_t n = 0;
        pfds[n++] = (struct pollfd){.fd = e->sig_fd, .events = POLLIN};
        pfds[n++] = (struct pollfd){.fd = e->pub_fd, .events = POLLIN};
        pfds[n++] = (struct pollfd){.fd = e->rt_fd, .events = POLLIN};
        for (conn *c = e->conns; c && n < CONNS_MAX + 3; c = c->next) {
            short ev = c->state == ST_WRITING ? POLLOUT : c->state == ST_READING ? POLLIN : 0;
            /* a waiting client is watched for hang-ups only */
            owners[n] = c;
            pfds[n++] = (struct pollfd){.fd = c->fd, .events = ev};
        }
        int timeout = -1;
        uint64_t now = mono_ms();
        if (e->busy)
            timeout = e->deadline_ms > now ? (int)(e->deadline_ms - now) : 0;
        if (e->child == CHILD_STARTING && !e->doomed) {
            uint64_t init_end = e->child_started_ms + INIT_TIMEOUT_MS;
            int t = init_end > now ? (int)(init_end - now) : 0;
            if (timeout < 0 || t < timeout)
                timeout = t;
        }
        int rc = poll(pfds, n, timeout);
        if (rc < 0 && errno != EINTR)
            break;
        now = mono_ms();
        if (e->busy && now >= e->deadline_ms) {
            unsigned t = e->o->timeout_s ? e->o->timeout_s : 30;
            char detail[200];
            snprintf(detail, sizeof(detail),
                     "the function did not answer within its timeout of %u s; its bootstrap was stopped (set "
                     "--timeout)",
                     t);
            if (e->inflight) {
                respond_problem(e, e->inflight, 504, detail, e->inflight_id);
                log_request(e, 504, e->inflight->started_ms);
            }
            e->busy = 0;
            e->inflight = NULL;
            e->child_answered = 1;
            kill_child(e, SIGKILL);
        }
        if (e->child == CHILD_STARTING && now >= e->child_started_ms + INIT_TIMEOUT_MS && !e->child_answered) {
            fprintf(stderr, "kumo emulate: the bootstrap did not ask for an event within %d s; stopping it\n",
                    INIT_TIMEOUT_MS / 1000);
            if (e->q_head) {
                conn *h = e->q_head;
                e->q_head = h->queued;
                if (e->q_head == NULL)
                    e->q_tail = NULL;
                remember(e, h);
                respond_problem(e, h, 504, "the function's bootstrap did not finish initialising within 10 s", NULL);
                log_request(e, 504, h->started_ms);
            }
            e->child_answered = 1;
            kill_child(e, SIGKILL);
            print_ready(e);
        }
        if (rc <= 0)
            continue;
        if (pfds[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(e->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGCHLD)
                    reap(e);
                else
                    e->stopping = 1;
            }
            if (e->stopping)
                break;
        }
        /* connections first (their fds are in this round), then accepts */
        for (size_t i = 3; i < n; i++) {
            if (pfds[i].revents == 0)
                continue;
            conn *c = owners[i];
            int alive = 0;
            for (conn *k = e->conns; k && !alive; k = k->next)
                alive = k == c && k->fd == pfds[i].fd;
            if (!alive)
                continue;   /* closed earlier in this round */
            if (pfds[i].revents & (POLLERR | POLLHUP | POLLNVAL) && !(pfds[i].revents & POLLIN)) {
                conn_close(e, c);
                continue;
            }
            if ((pfds[i].revents & POLLOUT) && c->state == ST_WRITING)
                on_writable(e, c);
            else if (pfds[i].revents & POLLIN)
                on_readable(e, c);
        }
        if (pfds[1].revents & POLLIN)
            on_accept(e, e->pub_fd, CONN_PUBLIC);
        if (pfds[2].revents & POLLIN)
            on_accept(e, e->rt_fd, CONN_RUNTIME);
        pump(e);
        /* answers queued in this round go out now */
        for (conn *c = e->conns, *next; c; c = next) {
            next = c->next;
            if (c->state == ST_WRITING && c->out_off == 0)
                on_writable(e, c);
        }
    }
    free(pfds);
    free(owners);
    return 0;
}

int kumo__lambda_emulate(const kumo__lambda_emulator_opts *o, kumo__error *err)
{
    emu e = {.o = o, .pub_fd = -1, .rt_fd = -1, .sig_fd = -1};
    int rc = 0, have_dir = 0, blocked = 0;
    sigset_t mask, old;
    /* names and settings */
    const char *base = strrchr(o->zip, '/');
    base = base ? base + 1 : o->zip;
    size_t blen = strlen(base);
    if (blen > 4 && strcmp(base + blen - 4, ".zip") == 0)
        blen -= 4;
    snprintf(e.function, sizeof(e.function), "%.*s", (int)blen, base);
    if (o->function_name)
        snprintf(e.function, sizeof(e.function), "%s", o->function_name);
    const char *region = getenv("AWS_REGION");
    if (region == NULL || *region == '\0')
        region = getenv("AWS_DEFAULT_REGION");
    snprintf(e.region, sizeof(e.region), "%s", region && *region ? region : "us-east-1");
    snprintf(e.handler, sizeof(e.handler), "%s", o->handler ? o->handler : "bootstrap");
    snprintf(e.memory, sizeof(e.memory), "%u", o->memory_mb ? o->memory_mb : 128);
    snprintf(e.arn, sizeof(e.arn), "arn:aws:lambda:%s:123456789012:function:%s", e.region, e.function);

    const char *tmp = getenv("TMPDIR");
    snprintf(e.dir, sizeof(e.dir), "%s/kumo-lambda-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(e.dir) == NULL) {
        kumo__error_set(err, -errno, "cannot create a temporary directory under %s: %s", tmp ? tmp : "/tmp",
                        strerror(errno));
        rc = err->code;
        goto out;
    }
    have_dir = 1;
    rc = kumo__zip_extract(o->zip, e.dir, err);
    if (rc != 0)
        goto out;
    char boot[PATH_MAX + 16];
    snprintf(boot, sizeof(boot), "%s/bootstrap", e.dir);
    struct stat st;
    if (stat(boot, &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0100)) {
        kumo__error_set(err, -ENOENT,
                        "%s: no executable 'bootstrap' at the root of the package; a custom runtime's zip holds one "
                        "(kumo build --target aws writes it)",
                        o->zip);
        rc = err->code;
        goto out;
    }

    /* signals through a signalfd, blocked everywhere else; a background
     * job's ignored SIGINT would never reach it, and an ignored SIGCHLD
     * would reap the bootstrap behind our back */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &mask, &old) != 0) {
        kumo__error_set(err, -errno, "cannot block signals: %s", strerror(errno));
        rc = err->code;
        goto out;
    }
    blocked = 1;
    e.sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (e.sig_fd < 0) {
        kumo__error_set(err, -errno, "cannot create a signalfd: %s", strerror(errno));
        rc = err->code;
        goto out;
    }
    e.rt_fd = listen_on("127.0.0.1", 0, &e.rt_port, err);
    if (e.rt_fd < 0) {
        rc = err->code;
        goto out;
    }
    e.pub_fd = listen_on(o->host ? o->host : "127.0.0.1", o->port, &e.pub_port, err);
    if (e.pub_fd < 0) {
        rc = err->code;
        goto out;
    }
    if (build_env(&e) != 0) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = err->code;
        goto out;
    }
    if (spawn(&e) != 0) {
        kumo__error_set(err, -errno, "cannot start %s: %s", boot, strerror(errno));
        rc = err->code;
        goto out;
    }
    rc = serve(&e);
    if (rc != 0)
        kumo__error_set(err, rc, "the emulator's loop failed: %s", strerror(-rc));
out:
    e.stopping = 1;
    stop_child(&e);
    while (e.conns)
        conn_close(&e, e.conns);
    if (e.pub_fd >= 0)
        close(e.pub_fd);
    if (e.rt_fd >= 0)
        close(e.rt_fd);
    if (e.sig_fd >= 0)
        close(e.sig_fd);
    if (blocked)
        sigprocmask(SIG_SETMASK, &old, NULL);
    if (e.envp) {
        for (char **p = e.envp; *p; p++)
            free(*p);
        free(e.envp);
    }
    if (have_dir)
        nftw(e.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
