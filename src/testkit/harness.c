/*
 * harness.c: include/kumo_test.h, what a test calls. Runs in the child the
 * runner forked for one test (runner.c): a request is built here, answered
 * by kumo-host's own in-process path (kumo__host_handle: CORS, routing,
 * security, rate limits, the contract check, then the handler), and the
 * handler's answer is checked against the document as `kumo up --dev`
 * checks it (kumo__opcheck_response). Everything a test gets is kept in
 * the test's list and lives until the child exits.
 */
#include "testkit/testkit.h"

#include "host/host.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/growbuf.h"
#include "openapi/pointer.h"

#define REQUEST_HEADERS_MAX 64
#define TARGET_MAX (64u << 10)
#define REPORT_LINE_MAX 4096

struct kumo_test {
    kumo__host *host;
    const kumo__test_case *c;
    int report_fd;
    int allow_violations;
    unsigned long events;
    kumo_ctx *ctx; /* kumo_test_ctx's, made on first use */
};

struct kumo_test_request {
    kumo_test *t;
    char method[16];
    char *target; /* path and query, percent-encoded */
    size_t target_len;
    kumo__header_view headers[REQUEST_HEADERS_MAX];
    size_t nheaders;
    const char *body;
    size_t body_len;
    int has_body;
};

typedef struct header_copy {
    char *name, *value;
} header_copy;

struct kumo_test_response {
    int status;
    header_copy *headers;
    size_t nheaders;
    char *body;
    size_t body_len;
    json_t *json;
    char *contract; /* "" when the response keeps the contract */
};

/* The test running in this process (one per child). */
static kumo_test *current;

/* ---- the registry (filled by the test objects' constructors) -------------- */

static kumo__test_case *cases;
static size_t ncases, cases_cap;

void kumo_test_register(const char *name, kumo_test_fn *fn, const char *file, int line)
{
    if (ncases == cases_cap) {
        size_t cap = cases_cap ? cases_cap * 2 : 32;
        kumo__test_case *v = realloc(cases, cap * sizeof(*v));
        if (v == NULL) { /* a test left out would pass unseen: stop instead */
            fprintf(stderr, "kumo test: out of memory registering %s (%s:%d)\n", name, file, line);
            _exit(1);
        }
        cases = v;
        cases_cap = cap;
    }
    cases[ncases++] = (kumo__test_case){.name = name, .file = file, .line = line, .fn = fn};
}

const kumo__test_case *kumo__test_cases(size_t *n)
{
    *n = ncases;
    return cases;
}

void kumo__test_cases_reset(void)
{
    free(cases);
    cases = NULL;
    ncases = cases_cap = 0;
}

/* ---- reporting to the parent ------------------------------------------- */

static void report(char kind, const char *file, int line, const char *msg)
{
    if (current == NULL)
        return;
    char buf[REPORT_LINE_MAX];
    int n = snprintf(buf, sizeof(buf), "%c%s:%d: %s", kind, file, line, msg);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(buf) - 1 ? (size_t)n : sizeof(buf) - 2;
    for (size_t i = 1; i < len; i++) /* one line per report */
        if (buf[i] == '\n' || buf[i] == '\r')
            buf[i] = ' ';
    buf[len++] = '\n';
    for (size_t off = 0; off < len;) {
        ssize_t w = write(current->report_fd, buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

void kumo_test_fail_at(const char *file, int line, const char *fmt, ...)
{
    char msg[REPORT_LINE_MAX - 200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (current == NULL) /* not in a test (a test file's constructor?): kumo test stops */
        fprintf(stderr, "kumo test: %s:%d: %s (outside a test)\n", file, line, msg);
    report('!', file, line, msg);
    fflush(NULL);
    _exit(1);
}

/* Where a misuse of the harness is reported: the running test's
 * KUMO_TEST line (the call's own line is not known here). */
#define TEST_FILE (current ? current->c->file : __FILE__)
#define TEST_LINE (current ? current->c->line : __LINE__)

/* Out of memory in the harness: the test cannot go on. */
static void *need(void *p, const char *file, int line)
{
    if (p == NULL)
        kumo_test_fail_at(file, line, "out of memory in the test harness");
    return p;
}
#define NEED(p) need((p), TEST_FILE, TEST_LINE)

static char *dup_n(const char *s, size_t n)
{
    char *d = NEED(malloc(n + 1));
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *kumo_test_sprintf(kumo_test *t, const char *fmt, ...)
{
    (void)t;
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return NEED(n < 0 ? NULL : s);
}

/* ---- requests ------------------------------------------------------------ */

kumo_test_request *kumo_test_new(kumo_test *t, const char *method, const char *target)
{
    if (method == NULL || target == NULL || *method == '\0' ||
        strlen(method) >= sizeof(((kumo_test_request *)0)->method))
        kumo_test_fail_at(TEST_FILE, TEST_LINE,
                          "kumo_test_new: a method (\"GET\", ...) and a target (\"/path\") are needed");
    if (target[0] != '/')
        kumo_test_fail_at(TEST_FILE, TEST_LINE, "kumo_test_new: the target '%s' must start with '/'", target);
    size_t len = strlen(target);
    if (len > TARGET_MAX)
        kumo_test_fail_at(TEST_FILE, TEST_LINE, "kumo_test_new: the target is over %u bytes", TARGET_MAX);
    kumo_test_request *rq = NEED(calloc(1, sizeof(*rq)));
    rq->t = t;
    for (size_t i = 0; method[i]; i++)
        rq->method[i] = (char)toupper((unsigned char)method[i]);
    rq->target = dup_n(target, len);
    rq->target_len = len;
    return rq;
}

static void append_encoded(kumo__growbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            kumo__growbuf_add(b, (const char *)&ch, 1);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            kumo__growbuf_add(b, e, 3);
        }
    }
}

void kumo_test_query(kumo_test_request *rq, const char *name, const char *value)
{
    kumo__growbuf b = {.max = TARGET_MAX};
    kumo__growbuf_add(&b, rq->target, rq->target_len);
    kumo__growbuf_add(&b, memchr(rq->target, '?', rq->target_len) ? "&" : "?", 1);
    append_encoded(&b, name ? name : "");
    kumo__growbuf_add(&b, "=", 1);
    append_encoded(&b, value ? value : "");
    if (b.over || b.data == NULL)
        kumo_test_fail_at(TEST_FILE, TEST_LINE, "kumo_test_query: the target is over %u bytes", TARGET_MAX);
    free(rq->target);
    rq->target = dup_n(b.data, b.len);
    rq->target_len = b.len;
    free(b.data);
}

void kumo_test_header(kumo_test_request *rq, const char *name, const char *value)
{
    if (name == NULL || *name == '\0' || value == NULL)
        kumo_test_fail_at(TEST_FILE, TEST_LINE, "kumo_test_header: a name and a value are needed");
    if (rq->nheaders == REQUEST_HEADERS_MAX)
        kumo_test_fail_at(TEST_FILE, TEST_LINE, "kumo_test_header: more than %d headers", REQUEST_HEADERS_MAX);
    size_t nl = strlen(name);
    char *lower = dup_n(name, nl);
    for (size_t i = 0; i < nl; i++)
        lower[i] = (char)tolower((unsigned char)lower[i]);
    char *v = dup_n(value, strlen(value));
    rq->headers[rq->nheaders++] = (kumo__header_view){{lower, nl}, {v, strlen(v)}};
}

/* Replaces header `name` (lower case) or adds it. */
static void set_header(kumo_test_request *rq, const char *name, const char *value)
{
    for (size_t i = 0; i < rq->nheaders; i++)
        if (rq->headers[i].name.len == strlen(name) && memcmp(rq->headers[i].name.base, name, strlen(name)) == 0) {
            rq->headers[i].value = (kumo__slice){dup_n(value, strlen(value)), strlen(value)};
            return;
        }
    kumo_test_header(rq, name, value);
}

void kumo_test_body(kumo_test_request *rq, const void *body, size_t len, const char *content_type)
{
    rq->body = len ? dup_n(body, len) : "";
    rq->body_len = len;
    rq->has_body = 1;
    if (content_type)
        set_header(rq, "content-type", content_type);
}

void kumo_test_json(kumo_test_request *rq, const char *json)
{
    kumo_test_body(rq, json ? json : "", json ? strlen(json) : 0, "application/json");
}

kumo_ctx *kumo_test_ctx(kumo_test *t)
{
    if (t->ctx == NULL) {
        /* an invocation's context outside any invocation: its arena is
         * never reset, the child's exit frees it */
        t->ctx = NEED(calloc(1, sizeof(*t->ctx)));
        kumo__arena_init(&t->ctx->arena);
        t->ctx->request_id = "kumo-test";
        t->ctx->function = "kumo-test";
        t->ctx->operation = t->c->name;
    }
    return t->ctx;
}

void kumo_test_allow_contract_violations(kumo_test *t)
{
    t->allow_violations = 1;
}

/* The reply of kumo-host's path, copied into memory of the test's. */
static kumo_test_response *take_reply(const kumo__host_reply *rp)
{
    kumo_test_response *r = NEED(calloc(1, sizeof(*r)));
    r->status = rp->status;
    r->headers = NEED(calloc(rp->nheaders ? rp->nheaders : 1, sizeof(*r->headers)));
    for (size_t i = 0; i < rp->nheaders; i++) {
        r->headers[i].name = dup_n(rp->headers[i].name, rp->headers[i].name_len);
        r->headers[i].value = dup_n(rp->headers[i].value, rp->headers[i].value_len);
    }
    r->nheaders = rp->nheaders;
    r->body = dup_n(rp->body ? rp->body : "", rp->body ? rp->body_len : 0);
    r->body_len = rp->body ? rp->body_len : 0;
    r->json = json_loadb(r->body, r->body_len, JSON_DECODE_ANY, NULL);
    r->contract = dup_n("", 0);
    return r;
}

/* The handler's answer checked against its operation's responses, as
 * kumo up --dev does (gateway/api.c check_response). */
static void check_contract(kumo_test *t, const kumo__operation *op, kumo_test_response *r)
{
    kumo__host *h = t->host;
    size_t i = (size_t)(op - h->spec->ops);
    const kumo__opcheck *chk = i < h->spec->nops && h->checks ? h->checks[i] : NULL;
    if (chk == NULL)
        return;
    const char *ct = kumo_test_response_header(r, "content-type");
    kumo__violations v = {.limit = 20};
    kumo__slice cts = {ct, ct ? strlen(ct) : 0}, body = {r->body, r->body_len};
    if (kumo__opcheck_response(chk, r->status, cts, body, &v) == 0) {
        kumo__violations_free(&v);
        return;
    }
    kumo__growbuf b = {.max = 3000};
    for (size_t k = 0; k < v.count; k++) {
        const char *inst = v.items[k].instance && *v.items[k].instance ? v.items[k].instance : "(the response)";
        if (k)
            kumo__growbuf_add(&b, "; ", 2);
        kumo__growbuf_add(&b, inst, strlen(inst));
        kumo__growbuf_add(&b, ": ", 2);
        kumo__growbuf_add(&b, v.items[k].message, strlen(v.items[k].message));
    }
    kumo__violations_free(&v);
    free(r->contract);
    r->contract = b.data ? dup_n(b.data, b.len) : dup_n("the response breaks the document", 32);
    free(b.data);
}

static kumo_test_response *finish(kumo_test *t, const kumo__host_reply *rp, int handler_ran, const char *file, int line)
{
    kumo_test_response *r = take_reply(rp);
    if (handler_ran && rp->op) {
        check_contract(t, rp->op, r);
        if (r->contract[0] && !t->allow_violations)
            kumo_test_fail_at(file, line, "the response of %s (status %d) breaks the API's contract: %s",
                              rp->op->operation_id ? rp->op->operation_id : rp->op->path, r->status, r->contract);
    }
    return r;
}

kumo_test_response *kumo_test_send_at(kumo_test_request *rq, const char *file, int line)
{
    kumo_test *t = rq->t;
    char what[300];
    snprintf(what, sizeof(what), "%s %.*s", rq->method, (int)(rq->target_len < 200 ? rq->target_len : 200), rq->target);
    report('@', file, line, what);
    const char *q = memchr(rq->target, '?', rq->target_len);
    size_t path_len = q ? (size_t)(q - rq->target) : rq->target_len;
    kumo__http_in in = {
        .method = {rq->method, strlen(rq->method)},
        .path = {rq->target, path_len},
        .query = {q ? q + 1 : NULL, q ? rq->target_len - path_len - 1 : 0},
        .headers = rq->headers,
        .nheaders = rq->nheaders,
        .body = {rq->has_body ? rq->body : NULL, rq->body_len},
        .client_addr = "127.0.0.1",
    };
    unsigned long served = t->host->served;
    kumo__host_reply rp;
    kumo__host_handle(t->host, &in, NULL, &rp);
    /* the handler answered when it ran (served counts its invocations)
     * and kumo did not replace its answer by a problem of its own */
    int handler_ran = t->host->served != served && rp.owned == NULL;
    report('=', file, line, "");
    kumo_test_response *r = finish(t, &rp, handler_ran, file, line);
    kumo__host_reply_free(&rp);
    return r;
}

kumo_test_response *kumo_test_send_json_at(kumo_test *t, const char *method, const char *target, const char *json,
                                           const char *file, int line)
{
    kumo_test_request *rq = kumo_test_new(t, method, target);
    kumo_test_json(rq, json);
    return kumo_test_send_at(rq, file, line);
}

kumo_test_response *kumo_test_event_at(kumo_test *t, const char *name, const void *data, size_t len,
                                       const char *content_type, const char *file, int line)
{
    const kumo__project *p = t->host->project;
    const kumo__event_decl *e = NULL;
    for (size_t i = 0; name && i < p->nevents && e == NULL; i++)
        if (strcmp(p->events[i].name, name) == 0)
            e = &p->events[i];
    if (e == NULL) {
        char names[600] = "";
        size_t n = 0;
        for (size_t i = 0; i < p->nevents && n < sizeof(names); i++)
            n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "", p->events[i].name);
        kumo_test_fail_at(file, line, "kumo_test_event: kumo.yaml has no event '%s' (its events: %s)",
                          name ? name : "(null)", p->nevents ? names : "none");
    }
    char target[300], id[64];
    snprintf(target, sizeof(target), "/_kumo/events/%s", name);
    snprintf(id, sizeof(id), "kumo-test-%lu", ++t->events);
    kumo_test_request *rq = kumo_test_new(t, "POST", target);
    kumo_test_header(rq, "ce-specversion", "1.0");
    kumo_test_header(rq, "ce-id", id);
    kumo_test_header(rq, "ce-type", "kumo.test");
    kumo_test_header(rq, "ce-source", "kumo-test");
    if (data != NULL)
        kumo_test_body(rq, data, len, content_type ? content_type : "application/json");
    char what[300];
    snprintf(what, sizeof(what), "event %s", name);
    report('@', file, line, what);
    kumo__http_in in = {
        .method = {"POST", 4},
        .path = {rq->target, rq->target_len},
        .headers = rq->headers,
        .nheaders = rq->nheaders,
        .body = {rq->has_body ? rq->body : NULL, rq->body_len},
        .client_addr = "127.0.0.1",
    };
    char request_id[80];
    kumo__host_new_request_id(t->host, request_id, sizeof(request_id));
    kumo__host_reply rp;
    if (kumo__host_event(t->host, &in, request_id, &rp) != 1)
        kumo_test_fail_at(file, line, "kumo_test_event: the event '%s' could not be delivered", name);
    report('=', file, line, "");
    kumo_test_response *r = finish(t, &rp, 0, file, line);
    kumo__host_reply_free(&rp);
    return r;
}

/* ---- responses ----------------------------------------------------------- */

int kumo_test_status(const kumo_test_response *r)
{
    return r ? r->status : 0;
}

const char *kumo_test_response_header(const kumo_test_response *r, const char *name)
{
    for (size_t i = 0; r && name && i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

const char *kumo_test_body_text(const kumo_test_response *r, size_t *len)
{
    if (len)
        *len = r ? r->body_len : 0;
    return r ? r->body : "";
}

json_t *kumo_test_body_json(const kumo_test_response *r)
{
    return r ? r->json : NULL;
}

json_t *kumo_test_json_at(const kumo_test_response *r, const char *pointer)
{
    if (r == NULL || r->json == NULL || pointer == NULL)
        return NULL;
    return kumo__pointer_get(r->json, pointer, strlen(pointer), 0);
}

const char *kumo_test_json_string(const kumo_test_response *r, const char *pointer)
{
    return json_string_value(kumo_test_json_at(r, pointer));
}

long long kumo_test_json_int(const kumo_test_response *r, const char *pointer, long long fallback)
{
    json_t *v = kumo_test_json_at(r, pointer);
    return json_is_integer(v) ? (long long)json_integer_value(v) : fallback;
}

const char *kumo_test_contract(const kumo_test_response *r)
{
    return r ? r->contract : "";
}

/* ---- assertions ---------------------------------------------------------- */

void kumo_test_str_eq_at(const char *a, const char *b, const char *a_text, const char *b_text, const char *file,
                         int line)
{
    if (a == NULL && b == NULL)
        return;
    if (a == NULL || b == NULL || strcmp(a, b) != 0)
        kumo_test_fail_at(file, line, "%s == %s: \"%.400s\" != \"%.400s\"", a_text, b_text, a ? a : "(null)",
                          b ? b : "(null)");
}

void kumo_test_contains_at(const char *haystack, const char *needle, const char *text, const char *file, int line)
{
    if (haystack == NULL || needle == NULL || strstr(haystack, needle) == NULL)
        kumo_test_fail_at(file, line, "%s does not contain \"%.200s\": \"%.600s\"", text, needle ? needle : "(null)",
                          haystack ? haystack : "(null)");
}

void kumo_test_status_at(const kumo_test_response *r, int status, const char *file, int line)
{
    if (r == NULL)
        kumo_test_fail_at(file, line, "expected status %d, got no response", status);
    if (r->status != status)
        kumo_test_fail_at(file, line, "expected status %d, got %d: %.800s", status, r->status, r->body);
}

/* ---- one test ------------------------------------------------------------ */

void kumo__test_run_case(kumo__host *host, const kumo__test_case *c, int report_fd)
{
    static kumo_test t;
    t = (kumo_test){.host = host, .c = c, .report_fd = report_fd};
    current = &t;
    c->fn(&t);
    fflush(NULL);
}
