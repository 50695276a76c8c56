/*
 * otlp.c: the tracer of trace.h: its configuration (kumo.yaml's
 * observability.traces under the standard OTEL_* variables), its span
 * buffer, and the exporter thread that sends what the loops recorded to an
 * OpenTelemetry collector as OTLP/HTTP JSON (POST ENDPOINT/v1/traces).
 *
 * The loops only push into the bounded buffer (trace.c). The exporter
 * wakes every second, or when 512 spans are waiting (at once, with no
 * sleep, when they already wait), encodes what waits straight from the
 * buffer's cells into one protobuf message (up to 8192 spans or 1 MiB:
 * the slower the collector answers, the larger the next batch) and POSTs
 * it with libcurl under a short timeout; http/json copies out and sends
 * 512 at a time.
 * A collector that is down or slow costs the exporter thread its timeout,
 * never a request: meanwhile the buffer fills and then drops, and both the
 * drops and the spans of a failed export are counted in
 * kumo_trace_spans_dropped_total. There is no retry: OTLP's partial
 * success and retry hints are not acted on (docs/traces.md says so).
 */
#include "obs/trace.h"
#include "base/curl_lazy.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/utf8.h"
#include "base/growbuf.h"
#include "base/http.h"
#include "base/log.h"
#include "base/percent.h"
#include "obs/metrics.h"

#define BATCH_MAX 512
#define DEFAULT_BUFFER 4096
#define DEFAULT_TIMEOUT_MS 3000
#define ENDPOINT_MAX 2048
#define HEADERS_MAX 32
#define RETRY_MS 1000    /* while the collector fails, one batch is tried this often */
#define EXPORTER_NICE 19 /* without SCHED_IDLE: the exporter yields the CPU to the loops */

struct kumo__tracer {
    kumo__sampler sampler;
    kumo__span_buf *buf;
    int recording;
    char endpoint[ENDPOINT_MAX];
    char service[256];
    long timeout_ms;
    char *headers[HEADERS_MAX + 2]; /* "Name: value" lines: the variable's, then Content-Type; NULL after the last */
    size_t nheaders;
    int json;   /* http/json; else http/protobuf */
    int normal; /* exporter_priority: normal (else idle) */

    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;             /* under mu */
    _Atomic int stopping; /* stop, read by a drain in progress */
    _Atomic uint64_t exported, failed;
    _Atomic(struct kumo__metrics *) metrics;
    uint64_t reported_exported, reported_dropped; /* exporter thread: what went to metrics */
    int failing;                                  /* exporter thread: the last export failed */
    uint64_t last_try_ms;                         /* exporter thread: when it last tried (monotonic) */
};

/* ---- JSON ---- */

/* The body grows by whole spans: reserve() makes room for the most one
 * span can take (span_bound), then the writers below fill it through a
 * cursor with no check per piece. The exporter encodes every span kumo
 * makes, so this is a hot path of its own. */
static char *put(char *o, const char *s, size_t n)
{
    memcpy(o, s, n);
    return o + n;
}

/* A string literal, its length known at compile time. */
#define lit(o, l) put((o), "" l, sizeof(l) - 1)

/* An unsigned number in decimal (at most 20 digits); `neg` puts a minus
 * sign first. */
static char *num(char *o, uint64_t v, int neg)
{
    char d[24];
    size_t n = sizeof(d);
    do
        d[--n] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    if (neg)
        d[--n] = '-';
    return put(o, d + n, sizeof(d) - n);
}

static char *inum(char *o, int64_t v)
{
    return num(o, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, v < 0);
}

/* The most str() writes for n bytes: every byte as a six-byte escape. */
#define STR_BOUND(n) (6 * (size_t)(n) + 2)

/* A JSON string of n bytes: escaped, invalid UTF-8 as U+FFFD. */
static char *str(char *o, const char *s, size_t n)
{
    static const char hexd[] = "0123456789abcdef";
    *o++ = '"';
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        /* A run of printable ASCII needing no escape: one copy (names,
         * routes and ids are nothing else). */
        size_t j = i;
        while (j < n && p[j] >= 0x20 && p[j] < 0x80 && p[j] != '"' && p[j] != '\\')
            j++;
        if (j > i) {
            o = put(o, s + i, j - i);
            i = j;
            continue;
        }
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
            i++;
        } else if (c < 0x20) {
            o = lit(o, "\\u00");
            *o++ = hexd[c >> 4];
            *o++ = hexd[c & 15];
            i++;
        } else {
            size_t k = kumo__utf8_seq(p + i, n - i);
            if (k == 0) {
                o = lit(o, "\\ufffd");
                i++;
            } else {
                o = put(o, s + i, k);
                i += k;
            }
        }
    }
    *o++ = '"';
    return o;
}

/* An attribute's key: a literal of kumo's own (trace.h), never escaped. */
#define KEY_BOUND(k) (strlen(k) + 16)
static char *key(char *o, const char *k)
{
    o = lit(o, "{\"key\":\"");
    o = put(o, k, strlen(k));
    return lit(o, "\",\"value\":{");
}

static char *hex(char *o, const uint8_t *id, size_t n)
{
    static const char hexd[] = "0123456789abcdef";
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        *o++ = hexd[id[i] >> 4];
        *o++ = hexd[id[i] & 15];
    }
    *o++ = '"';
    return o;
}

/* The most jspan writes for s. */
static size_t span_bound(const kumo__span *s)
{
    size_t n =
        320 + STR_BOUND(strnlen(s->name, sizeof(s->name))) + STR_BOUND(strnlen(s->status_msg, sizeof(s->status_msg)));
    for (unsigned i = 0; i < s->nattrs && i < KUMO__SPAN_ATTRS_MAX; i++)
        n += KEY_BOUND(s->attrs[i].key) + 48 + (s->attrs[i].type == KUMO__ATTR_STR ? STR_BOUND(s->attrs[i].len) : 0);
    return n + (size_t)(s->nlinks < KUMO__SPAN_LINKS_MAX ? s->nlinks : KUMO__SPAN_LINKS_MAX) * 128;
}

static void jspan(kumo__growbuf *b, const kumo__span *s, int comma)
{
    if (kumo__growbuf_reserve(b, span_bound(s)) != 0)
        return;
    char *o = b->data + b->len;
    if (comma)
        *o++ = ',';
    o = lit(o, "{\"traceId\":");
    o = hex(o, s->trace_id, 16);
    o = lit(o, ",\"spanId\":");
    o = hex(o, s->span_id, 8);
    if (!kumo__id_is_zero(s->parent_id, 8)) {
        o = lit(o, ",\"parentSpanId\":");
        o = hex(o, s->parent_id, 8);
    }
    o = lit(o, ",\"name\":");
    o = str(o, s->name, strnlen(s->name, sizeof(s->name)));
    o = lit(o, ",\"kind\":");
    o = num(o, s->kind, 0);
    o = lit(o, ",\"startTimeUnixNano\":\"");
    o = num(o, s->start_ns, 0);
    o = lit(o, "\",\"endTimeUnixNano\":\"");
    o = num(o, s->end_ns >= s->start_ns ? s->end_ns : s->start_ns, 0);
    o = lit(o, "\",\"attributes\":[");
    for (unsigned i = 0; i < s->nattrs && i < KUMO__SPAN_ATTRS_MAX; i++) {
        const kumo__span_attr *a = &s->attrs[i];
        if (i)
            *o++ = ',';
        o = key(o, a->key);
        if (a->type == KUMO__ATTR_STR) {
            size_t off = a->off < sizeof(s->pool) ? a->off : sizeof(s->pool);
            size_t len = a->len <= sizeof(s->pool) - off ? a->len : sizeof(s->pool) - off;
            o = lit(o, "\"stringValue\":");
            o = str(o, s->pool + off, len);
            o = lit(o, "}}");
        } else if (a->type == KUMO__ATTR_BOOL) {
            o = a->num ? lit(o, "\"boolValue\":true}}") : lit(o, "\"boolValue\":false}}");
        } else {
            o = lit(o, "\"intValue\":\"");
            o = inum(o, a->num);
            o = lit(o, "\"}}");
        }
    }
    *o++ = ']';
    if (s->nlinks > 0) {
        o = lit(o, ",\"links\":[");
        for (unsigned i = 0; i < s->nlinks && i < KUMO__SPAN_LINKS_MAX; i++) {
            if (i)
                *o++ = ',';
            o = lit(o, "{\"traceId\":");
            o = hex(o, s->links[i].trace_id, 16);
            o = lit(o, ",\"spanId\":");
            o = hex(o, s->links[i].span_id, 8);
            o = lit(o, ",\"flags\":");
            /* OTLP's SpanFlags: the W3C flags in the low byte, and bit 8
             * says the link's context knows whether it is remote (it is) */
            o = num(o, (uint64_t)s->links[i].flags | 0x100u | 0x200u, 0);
            *o++ = '}';
        }
        *o++ = ']';
    }
    if (s->dropped_links > 0) {
        o = lit(o, ",\"droppedLinksCount\":");
        o = num(o, s->dropped_links, 0);
    }
    o = lit(o, ",\"status\":{\"code\":");
    o = num(o, s->status, 0);
    if (s->status_msg[0]) {
        o = lit(o, ",\"message\":");
        o = str(o, s->status_msg, strnlen(s->status_msg, sizeof(s->status_msg)));
    }
    o = lit(o, "}}");
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
}

/* A resource attribute (a string; its value escaped). */
static void jattr(kumo__growbuf *b, const char *k, const char *v, size_t n, int comma)
{
    if (kumo__growbuf_reserve(b, KEY_BOUND(k) + STR_BOUND(n) + 24) != 0)
        return;
    char *o = b->data + b->len;
    if (comma)
        *o++ = ',';
    o = key(o, k);
    o = lit(o, "\"stringValue\":");
    o = str(o, v, n);
    o = lit(o, "}}");
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
}

static void jraw(kumo__growbuf *b, const char *s, size_t n)
{
    if (kumo__growbuf_reserve(b, n) != 0)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}
#define jlit(b, l) jraw((b), "" l, sizeof(l) - 1)

char *kumo__otlp_json(const kumo__span *spans, size_t n, const char *service_name, size_t *len)
{
    kumo__growbuf b = {.max = SIZE_MAX};
    jlit(&b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    const char *svc = service_name && *service_name ? service_name : "kumo";
    jattr(&b, "service.name", svc, strlen(svc), 0);
    jattr(&b, "telemetry.sdk.name", "kumo", 4, 1);
    jattr(&b, "telemetry.sdk.language", "c", 1, 1);
    jattr(&b, "telemetry.sdk.version", KUMO_VERSION, strlen(KUMO_VERSION), 1);
    jlit(&b, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"kumo\",\"version\":\"" KUMO_VERSION "\"},\"spans\":[");
    for (size_t i = 0; i < n; i++)
        jspan(&b, &spans[i], i > 0);
    jlit(&b, "]}]}]}");
    if (b.over) {
        free(b.data);
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.data;
}

/* ---- configuration ---- */

static const char *env_get(char *const *env, const char *name)
{
    if (env == NULL) {
        const char *v = getenv(name);
        return v && *v ? v : NULL;
    }
    size_t n = strlen(name);
    for (size_t i = 0; env[i]; i++)
        if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
            return env[i][n + 1] ? env[i] + n + 1 : NULL;
    return NULL;
}

static int is_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* Appends a header line (copied): 0, or -ENOMEM. Room is kept for
 * HEADERS_MAX of the variable's and Content-Type. */
static int add_header(kumo__tracer *t, const char *line)
{
    if (t->nheaders >= HEADERS_MAX + 1 || (t->headers[t->nheaders] = strdup(line)) == NULL)
        return -ENOMEM;
    t->headers[++t->nheaders] = NULL;
    return 0;
}

/* OTEL_EXPORTER_OTLP_HEADERS: k=v,k=v, each percent-decoded. */
static int parse_headers(kumo__tracer *t, const char *var, const char *spec, kumo__error *err)
{
    char *copy = strdup(spec), *save = NULL;
    int rc = 0, count = 0;
    if (copy == NULL)
        return -ENOMEM;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (eq == NULL) {
            kumo__error_set(err, -EINVAL, "%s: '%s' is not key=value; expected key1=value1,key2=value2", var, item);
            rc = -EINVAL;
            break;
        }
        *eq = '\0';
        char *k = trim(item), *v = trim(eq + 1);
        ssize_t kl = kumo__percent_decode_into(k, strlen(k), k, KUMO__PCT_NO_NUL);
        ssize_t vl = kumo__percent_decode_into(v, strlen(v), v, KUMO__PCT_NO_NUL);
        int ok = kl > 0 && vl >= 0 && ++count <= HEADERS_MAX;
        for (ssize_t i = 0; ok && i < kl; i++)
            ok = is_token_char(k[i]);
        for (ssize_t i = 0; ok && i < vl; i++)
            ok = v[i] != '\r' && v[i] != '\n';
        if (!ok) {
            kumo__error_set(err, -EINVAL,
                            "%s: a header name must be a token and a value must not hold CR or LF (at most %d headers)",
                            var, HEADERS_MAX);
            rc = -EINVAL;
            break;
        }
        char line[1200];
        if (snprintf(line, sizeof(line), "%.*s: %.*s", (int)kl, k, (int)vl, v) >= (int)sizeof(line)) {
            kumo__error_set(err, -EINVAL, "%s: the header '%.*s' is too long", var, (int)kl, k);
            rc = -EINVAL;
            break;
        }
        if (add_header(t, line) != 0) {
            rc = -ENOMEM;
            break;
        }
    }
    free(copy);
    return rc;
}

static int set_endpoint(kumo__tracer *t, const char *var, const char *base, const char *suffix, kumo__error *err)
{
    if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0) {
        kumo__error_set(err, -EINVAL, "%s: '%s' is not an http:// or https:// URL", var, base);
        return -EINVAL;
    }
    size_t n = strlen(base);
    if (suffix)
        while (n > 0 && base[n - 1] == '/')
            n--;
    if (snprintf(t->endpoint, sizeof(t->endpoint), "%.*s%s", (int)n, base, suffix ? suffix : "") >=
        (int)sizeof(t->endpoint)) {
        kumo__error_set(err, -EINVAL, "%s: the URL is longer than %d bytes", var, ENDPOINT_MAX - 1);
        return -EINVAL;
    }
    for (const char *p = t->endpoint; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            kumo__error_set(err, -EINVAL, "%s: the URL holds a space or control character", var);
            return -EINVAL;
        }
    return 0;
}

static void *exporter_main(void *arg);

int kumo__tracer_create(const kumo__trace_config *cfg, char *const *env, kumo__tracer **out, kumo__error *err)
{
    kumo__trace_config none = {.ratio = -1};
    if (cfg == NULL)
        cfg = &none;
    *out = NULL;
    kumo__tracer *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    int rc = 0;
    const char *v;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->timeout_ms = DEFAULT_TIMEOUT_MS;

    /* The protocol: OTLP/HTTP, protobuf (the OpenTelemetry default) or
     * JSON; anything else (grpc) is refused, never silently sent as HTTP to
     * a port expecting something else. */
    const char *pvar = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
    const char *proto = env_get(env, pvar);
    if (proto == NULL)
        proto = env_get(env, pvar = "OTEL_EXPORTER_OTLP_PROTOCOL");
    if (proto == NULL) {
        proto = cfg->protocol;
        pvar = "observability.traces.protocol";
    }
    if (proto && strcmp(proto, "http/json") != 0 && strcmp(proto, "http/protobuf") != 0) {
        kumo__error_set(err, -EINVAL,
                        "%s=%s: kumo exports traces over OTLP/HTTP, as http/protobuf (the default) or http/json; "
                        "set one of those or unset it (a collector's OTLP/HTTP receiver is on port 4318, its gRPC "
                        "one on 4317)",
                        pvar, proto);
        rc = -EINVAL;
        goto out;
    }
    t->json = proto && strcmp(proto, "http/json") == 0;
    t->normal = cfg->exporter_normal;

    /* The sampler, and its ratio. */
    const char *sampler = env_get(env, "OTEL_TRACES_SAMPLER");
    const char *svar = sampler ? "OTEL_TRACES_SAMPLER" : "observability.traces.sampler";
    if (sampler == NULL)
        sampler = cfg->sampler;
    double ratio = cfg->ratio >= 0 ? cfg->ratio : 1.0;
    const char *rvar = "observability.traces.ratio";
    if ((v = env_get(env, "OTEL_TRACES_SAMPLER_ARG")) != NULL) {
        char *end;
        rvar = "OTEL_TRACES_SAMPLER_ARG";
        errno = 0;
        ratio = strtod(v, &end);
        if (*end != '\0' || errno) {
            kumo__error_set(err, -EINVAL, "OTEL_TRACES_SAMPLER_ARG=%s: expected a number from 0 to 1", v);
            rc = -EINVAL;
            goto out;
        }
    }
    char why[300];
    if (kumo__sampler_init(&t->sampler, sampler, ratio, why, sizeof(why)) != 0) {
        kumo__error_set(err, -EINVAL, "%s: %s", ratio >= 0.0 && ratio <= 1.0 ? svar : rvar, why);
        rc = -EINVAL;
        goto out;
    }

    /* The service. */
    if ((v = env_get(env, "OTEL_SERVICE_NAME")) == NULL)
        v = cfg->service_name && *cfg->service_name ? cfg->service_name : "kumo";
    snprintf(t->service, sizeof(t->service), "%s", v);

    /* The endpoint: the traces-specific variable as is, the general one
     * with /v1/traces, then kumo.yaml's with /v1/traces. */
    if ((v = env_get(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) != NULL)
        rc = set_endpoint(t, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", v, NULL, err);
    else if ((v = env_get(env, "OTEL_EXPORTER_OTLP_ENDPOINT")) != NULL)
        rc = set_endpoint(t, "OTEL_EXPORTER_OTLP_ENDPOINT", v, "/v1/traces", err);
    else if (cfg->endpoint && *cfg->endpoint)
        rc = set_endpoint(t, "observability.traces.endpoint", cfg->endpoint, "/v1/traces", err);
    if (rc != 0)
        goto out;

    const char *hvar = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
    if ((v = env_get(env, hvar)) != NULL || (v = env_get(env, hvar = "OTEL_EXPORTER_OTLP_HEADERS")) != NULL)
        if ((rc = parse_headers(t, hvar, v, err)) != 0)
            goto out;
    const char *tvar = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
    if ((v = env_get(env, tvar)) != NULL || (v = env_get(env, tvar = "OTEL_EXPORTER_OTLP_TIMEOUT")) != NULL) {
        char *end;
        long ms = strtol(v, &end, 10);
        if (*end != '\0' || ms < 1 || ms > 600000) {
            kumo__error_set(err, -EINVAL, "%s=%s: expected milliseconds from 1 to 600000", tvar, v);
            rc = -EINVAL;
            goto out;
        }
        t->timeout_ms = ms;
    }
    v = env_get(env, "OTEL_SDK_DISABLED");
    int disabled = v && strcasecmp(v, "true") == 0;
    t->recording = t->endpoint[0] != '\0' && !disabled;
    if (!t->recording) /* before any libcurl call: a kumo that exports nothing need not load it (issue 19) */
        goto out;
    if (add_header(t, t->json ? "Content-Type: application/json" : "Content-Type: application/x-protobuf") != 0) {
        rc = -ENOMEM;
        kumo__error_set(err, rc, "out of memory");
        goto out;
    }

    t->buf = kumo__span_buf_create(cfg->buffer ? cfg->buffer : DEFAULT_BUFFER);
    if (t->buf == NULL) {
        rc = -ENOMEM;
        kumo__error_set(err, rc, "out of memory for the trace buffer");
        goto out;
    }
    /* The exporter takes no signal: kumo up's main thread waits for them
     * with sigwait, which needs every other thread to block them. */
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    int e = pthread_create(&t->thread, NULL, exporter_main, t);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (e != 0) {
        rc = -e;
        kumo__error_set(err, rc, "starting the trace exporter thread: %s", strerror(e));
        goto out;
    }
    t->started = 1;
out:
    if (rc != 0) {
        kumo__tracer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* ---- the exporter ---- */

static void count_metrics(kumo__tracer *t);

static kumo__otlp_poster poster; /* NULL: libcurl */

void kumo__otlp_set_poster(kumo__otlp_poster post)
{
    poster = post;
}

/* What the exporter thread sends with: the poster, or libcurl's handle
 * and the header list it takes (the lines, and no "Expect: 100-continue",
 * which curl asks of large POSTs: a collector answers the whole request
 * anyway, and the round trip is a wait). */
typedef struct sender {
    int ready;
    CURL *curl;
    struct curl_slist *headers;
} sender;

static void sender_open(kumo__tracer *t, sender *x)
{
    memset(x, 0, sizeof(*x));
    if (poster) {
        x->ready = 1;
        return;
    }
    if ((x->curl = curl_easy_init()) == NULL) {
        kumo__log_event("warn", "cannot export spans to %s: %s; spans are dropped", t->endpoint,
                        kumo__curl_error() ? kumo__curl_error() : "libcurl cannot start");
        return;
    }
    for (size_t i = 0; i <= t->nheaders; i++) {
        struct curl_slist *n = curl_slist_append(x->headers, i < t->nheaders ? t->headers[i] : "Expect:");
        if (n == NULL) {
            kumo__log_event("warn", "cannot export spans to %s: out of memory; spans are dropped", t->endpoint);
            return;
        }
        x->headers = n;
    }
    x->ready = 1;
}

static void sender_close(sender *x)
{
    if (x->curl)
        curl_easy_cleanup(x->curl);
    if (x->headers)
        curl_slist_free_all(x->headers);
    memset(x, 0, sizeof(*x));
}

/* POSTs one OTLP body: 0, or -1. `n` spans in it; a change between
 * working and failing is logged once. */
static int post_body(kumo__tracer *t, sender *x, const char *body, size_t len, size_t n)
{
    char why[CURL_ERROR_SIZE > 512 ? CURL_ERROR_SIZE : 512] = "";
    long status = 0;
    int answered;
    if (poster) {
        answered = poster(t->endpoint, (const char *const *)t->headers, body, len, t->timeout_ms, &status, why,
                          sizeof(why)) == 0;
    } else {
        kumo__growbuf resp = {.max = 64 << 10};
        CURL *curl = x->curl;
        curl_easy_reset(curl);
        curl_easy_setopt(curl, CURLOPT_URL, t->endpoint);
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, x->headers);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, t->timeout_ms);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, t->timeout_ms < 1000 ? t->timeout_ms : 1000L);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, why);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, kumo__growbuf_curl_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
        CURLcode cc = curl_easy_perform(curl);
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        answered = cc == CURLE_OK;
        if (!answered && why[0] == '\0')
            snprintf(why, sizeof(why), "%s", curl_easy_strerror(cc));
        free(resp.data);
    }
    int ok = answered && status >= 200 && status < 300;
    if (!ok && !t->failing)
        kumo__log_event(
            "warn", "exporting %zu spans to %s failed (%s); spans are dropped until it answers", n, t->endpoint,
            !answered ? (why[0] ? why : "no answer") : (status ? kumo__http_reason((int)status) : "no answer"));
    else if (ok && t->failing)
        kumo__log_event("info", "exporting spans to %s works again", t->endpoint);
    t->failing = !ok;
    return ok ? 0 : -1;
}

/* POSTs one batch: 0, or -1. */
static int export_batch(kumo__tracer *t, sender *x, const kumo__span *spans, size_t n)
{
    size_t len, start = 0;
    char *body =
        t->json ? kumo__otlp_json(spans, n, t->service, &len) : kumo__otlp_proto(spans, n, t->service, &len, &start);
    if (body == NULL)
        return -1;
    int rc = post_body(t, x, body + start, len, n);
    free(body);
    return rc;
}

/* While the collector fails, it is asked with an empty export (valid
 * OTLP: no resource spans) instead of a batch, so a collector that is down
 * costs no encoding and drops nothing more than the full buffer sheds. */
static int probe(kumo__tracer *t, sender *x)
{
    static const char empty[] = "{\"resourceSpans\":[]}";
    /* an empty message is zero bytes of protobuf */
    return t->json ? post_body(t, x, empty, sizeof(empty) - 1, 0) : post_body(t, x, "", 0, 0);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* One protobuf message takes what waits, straight from the buffer's
 * cells, up to this many spans or bytes: under load the batches grow
 * with the time a POST takes, so the buffer drains however slow the
 * collector's answers are, as long as it keeps up on average. */
#define PB_BATCH_SPANS 8192
#define PB_BATCH_BYTES (1u << 20)

/* Sends everything buffered. While the collector fails, it is probed
 * once a second with an empty export; while the probe fails one batch is
 * dropped unencoded (counted) and the rest is left in the buffer: a full
 * buffer makes the loops shed new spans before building them
 * (kumo__tracer_shed, counted as dropped), so a collector that is down
 * costs no encoding here and next to nothing on the loops. When the
 * probe succeeds the buffer drains. At the stop (final) what is left then
 * is dropped, counted, so that a stop is not held up by one timeout per
 * batch.
 *
 * http/protobuf (pb non-NULL) encodes each span from its cell and frees
 * the cell at once, into one message of up to PB_BATCH_SPANS; http/json
 * copies up to BATCH_MAX spans out (batch) and encodes them together. */
static void drain(kumo__tracer *t, sender *x, kumo__span *batch, kumo__otlp_pb *pb, int final)
{
    for (;;) {
        if (t->failing && mono_ms() - t->last_try_ms < RETRY_MS) {
            if (final) {
                size_t gone = kumo__span_buf_discard(t->buf);
                atomic_fetch_add_explicit(&t->failed, gone, memory_order_relaxed);
            }
            break;
        }
        t->last_try_ms = mono_ms();
        int down = t->failing && !final && (!x->ready || probe(t, x) != 0);
        size_t n = 0;
        int emptied = 0;
        if (down) { /* still down: one batch dropped unencoded, the rest waits */
            while (n < BATCH_MAX && kumo__span_buf_peek(t->buf)) {
                kumo__span_buf_release(t->buf);
                n++;
            }
            atomic_fetch_add_explicit(&t->failed, n, memory_order_relaxed);
            count_metrics(t);
            break;
        }
        int ok;
        if (pb) {
            kumo__otlp_pb_reset(pb);
            const kumo__span *s;
            while (pb->n < PB_BATCH_SPANS && kumo__otlp_pb_size(pb) < PB_BATCH_BYTES) {
                if ((s = kumo__span_buf_peek(t->buf)) == NULL) {
                    emptied = 1;
                    break;
                }
                kumo__otlp_pb_add(pb, s);
                kumo__span_buf_release(t->buf);
            }
            n = pb->n;
            if (n == 0)
                break;
            size_t len = 0;
            const char *body = kumo__otlp_pb_finish(pb, &len);
            ok = x->ready && body && post_body(t, x, body, len, n) == 0;
        } else {
            while (n < BATCH_MAX && kumo__span_buf_pop(t->buf, &batch[n]))
                n++;
            if (n == 0)
                break;
            emptied = n < BATCH_MAX;
            ok = x->ready && export_batch(t, x, batch, n) == 0;
        }
        atomic_fetch_add_explicit(ok ? &t->exported : &t->failed, n, memory_order_relaxed);
        count_metrics(t);
        if (emptied || (!final && atomic_load_explicit(&t->stopping, memory_order_relaxed)))
            break;
    }
}

static void *exporter_main(void *arg)
{
    kumo__tracer *t = arg;
    /* Below the loops by default (exporter_priority: idle): the exporter
     * runs on CPU time the loops leave (SCHED_IDLE: only when nothing
     * else wants the core), so under full load spans wait, and the buffer
     * drops them (counted), rather than requests. It shares no lock with
     * the loops, so it cannot hold one up while it waits for the CPU.
     * Where SCHED_IDLE is refused, nice 19. Linux schedules threads one by
     * one: this thread only. exporter_priority: normal leaves it at the
     * loops' priority: every span exported, at the CPU that takes
     * (docs/traces.md has both figures). */
    struct sched_param none = {0};
    if (!t->normal && pthread_setschedparam(pthread_self(), SCHED_IDLE, &none) != 0 &&
        setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), EXPORTER_NICE) != 0) {
        /* not allowed (a seccomp profile): the default priority will do */
    }
    kumo__span *batch = NULL;
    kumo__otlp_pb pb_enc, *pb = NULL;
    if (t->json)
        batch = malloc(BATCH_MAX * sizeof(*batch));
    else if (kumo__otlp_pb_begin(&pb_enc, t->service) == 0)
        pb = &pb_enc;
    sender x;
    sender_open(t, &x);
    for (;;) {
        pthread_mutex_lock(&t->mu);
        /* A full batch already waiting is sent at once: the loops' wake-up
         * (every BATCH_MAX spans, without the mutex) is lost while this
         * thread is busy sending, and a second's sleep would let a busy
         * gateway overflow the buffer many times over. Not while the
         * collector fails: then the probe's own pace (RETRY_MS) rules. */
        if (!t->stop && (t->failing || kumo__span_buf_waiting(t->buf) < BATCH_MAX)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&t->cv, &t->mu, &ts);
        }
        int stop = t->stop;
        pthread_mutex_unlock(&t->mu);
        if (batch || pb)
            drain(t, &x, batch, pb, stop);
        count_metrics(t);
        if (stop)
            break;
    }
    sender_close(&x);
    free(batch);
    if (pb)
        kumo__otlp_pb_free(pb);
    return NULL;
}

void kumo__tracer_free(kumo__tracer *t)
{
    if (t == NULL)
        return;
    if (t->started) {
        pthread_mutex_lock(&t->mu);
        t->stop = 1;
        atomic_store_explicit(&t->stopping, 1, memory_order_relaxed);
        pthread_cond_signal(&t->cv);
        pthread_mutex_unlock(&t->mu);
        pthread_join(t->thread, NULL);
    }
    kumo__span_buf_free(t->buf);
    for (size_t i = 0; i < t->nheaders; i++)
        free(t->headers[i]);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
}

/* ---- what the loops call ---- */

int kumo__tracer_recording(const kumo__tracer *t)
{
    return t && t->recording;
}

const kumo__sampler *kumo__tracer_sampler(const kumo__tracer *t)
{
    return &t->sampler;
}

const char *kumo__tracer_endpoint(const kumo__tracer *t)
{
    return t && t->recording ? t->endpoint : "";
}

const char *kumo__tracer_service(const kumo__tracer *t)
{
    return t->service;
}

void kumo__tracer_submit(kumo__tracer *t, const kumo__span *s)
{
    if (t == NULL || !t->recording)
        return;
    if (kumo__span_buf_push(t->buf, s) != 0)
        return; /* counted by the buffer */
    /* A full batch is waiting: wake the exporter early. The signal may be
     * lost (no mutex held here, so a loop never waits on it); the 1 s
     * timer catches up. */
    if (kumo__span_buf_pushed(t->buf) % BATCH_MAX == 0)
        pthread_cond_signal(&t->cv);
}

int kumo__tracer_shed(kumo__tracer *t, uint64_t n)
{
    if (t == NULL || !t->recording || !kumo__span_buf_full(t->buf))
        return 0;
    kumo__span_buf_count_dropped(t->buf, n);
    return 1;
}

uint64_t kumo__tracer_exported(const kumo__tracer *t)
{
    return t ? atomic_load_explicit(&((kumo__tracer *)t)->exported, memory_order_relaxed) : 0;
}

uint64_t kumo__tracer_dropped(const kumo__tracer *t)
{
    if (t == NULL)
        return 0;
    uint64_t failed = atomic_load_explicit(&((kumo__tracer *)t)->failed, memory_order_relaxed);
    return failed + (t->buf ? kumo__span_buf_dropped(t->buf) : 0);
}

void kumo__tracer_set_metrics(kumo__tracer *t, struct kumo__metrics *m)
{
    if (t)
        atomic_store_explicit(&t->metrics, m, memory_order_release);
}

/* Adds what was exported and dropped since the last call to the metrics
 * registry's counters (exporter thread only). */
static void count_metrics(kumo__tracer *t)
{
    struct kumo__metrics *m = atomic_load_explicit(&t->metrics, memory_order_acquire);
    if (m == NULL)
        return;
    uint64_t exported = kumo__tracer_exported(t), dropped = kumo__tracer_dropped(t);
    /* Called with 0 too, so both series exist from the first second. */
    kumo__metrics_count(m, "kumo_trace_spans_exported_total", "Spans the OTLP collector accepted.",
                        exported - t->reported_exported);
    kumo__metrics_count(m, "kumo_trace_spans_dropped_total",
                        "Spans dropped: the export buffer was full, or the collector refused or did not answer.",
                        dropped - t->reported_dropped);
    t->reported_exported = exported;
    t->reported_dropped = dropped;
}
