/*
 * spans.c: the spans of one invocation, the same under kumo up (gateway/
 * tracing.c) and kumo-host (host/host.c), so a trace looks alike wherever
 * the function runs (docs/traces.md has the tree and the attributes):
 *
 *   SERVER "GET /todos/{id}" (or CONSUMER "process EVENT")
 *     INTERNAL "queue wait"            arrival -> sent to a worker
 *     INTERNAL "invoke UNIT.SYMBOL"    sent to a worker -> answered
 *       CLIENT "kv.get todos" ...      the store calls the handler made
 *
 * Everything is filled on the caller's thread into fixed-size records and
 * pushed into the tracer's buffer: no allocation, no lock.
 */
#include "obs/trace.h"

#include <kumo.h>
#include <stdio.h>
#include <string.h>

/* a + b + c, cut to fit cap (a NUL always): names and routes are built on
 * every traced invocation, so no printf. */
static size_t join3(char *dst, size_t cap, const char *a, const char *b, const char *c)
{
    const char *parts[3] = {a, b, c};
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        size_t l = parts[i] ? strlen(parts[i]) : 0;
        if (l > cap - 1 - n)
            l = cap - 1 - n;
        if (l) /* memcpy from NULL is undefined even for 0 bytes */
            memcpy(dst + n, parts[i], l);
        n += l;
    }
    dst[n] = '\0';
    return n;
}

void kumo__trace_invocation(kumo__tracer *t, const kumo__inv_record *r)
{
    const kumo__span_ctx *sc = r->sc;
    if (sc == NULL || !sc->recording || t == NULL)
        return;
    /* a full buffer (a collector down or behind): counted, not built */
    if (kumo__tracer_shed(t, r->dispatched_ns ? 3 : 2))
        return;
    kumo__span s;
    char name[KUMO__SPAN_NAME_MAX];
    const char *method = r->method ? r->method : "", *operation = r->operation ? r->operation : "";
    char route[512];
    size_t route_len = join3(route, sizeof(route), r->route_prefix, r->route, NULL);

    if (r->http)
        join3(name, sizeof(name), method, " ", route);
    else
        join3(name, sizeof(name), "process ", operation, NULL);
    kumo__span_init(&s, sc->trace_id, sc->span_id, kumo__id_is_zero(sc->parent_id, 8) ? NULL : sc->parent_id,
                    r->http ? KUMO__SPAN_SERVER : KUMO__SPAN_CONSUMER, name, r->start_ns);
    s.end_ns = r->end_ns;
    if (r->http) {
        kumo__span_str(&s, "http.request.method", method, strlen(method));
        kumo__span_str(&s, "http.route", route, route_len);
        if (sc->url_path)
            kumo__span_str(&s, "url.path", sc->url_path, strlen(sc->url_path));
        kumo__span_int(&s, "http.response.status_code", r->status);
    } else {
        kumo__span_int(&s, "kumo.event.status", r->status);
    }
    const char *trigger = r->trigger && *r->trigger ? r->trigger : (r->http ? "http" : "other");
    kumo__span_str(&s, "faas.trigger", trigger, strlen(trigger));
    if (r->request_id)
        kumo__span_str(&s, "faas.invocation_id", r->request_id, strlen(r->request_id));
    kumo__span_bool(&s, "faas.coldstart", r->cold);
    if (r->function)
        kumo__span_str(&s, "faas.name", r->function, strlen(r->function));
    kumo__span_str(&s, "kumo.operation", operation, strlen(operation));
    if (sc->n_links > 0) {
        /* a batch: its CONSUMER span continues the first message's trace
         * and links the others' (OpenTelemetry's messaging conventions) */
        kumo__span_int(&s, "messaging.batch.message_count", (int64_t)sc->n_links + 1);
        for (size_t i = 0; i < sc->n_links; i++) {
            kumo__trace_ctx l;
            const char *tp = sc->link_tps[i];
            if (tp && kumo__traceparent_parse(tp, strlen(tp), &l) == 0)
                kumo__span_link(&s, l.trace_id, l.span_id, l.flags);
        }
    }
    /* HTTP server spans: a 5xx is an error, a 4xx the client's; an event
     * that was not handled (400 and up) is an error. */
    if (r->failure || r->status >= 500 || (!r->http && r->status >= 400)) {
        char type[16];
        snprintf(type, sizeof(type), "%d", r->status);
        kumo__span_str(&s, "error.type", type, strlen(type));
        kumo__span_set_status(&s, KUMO__STATUS_ERROR, r->failure, r->failure ? strlen(r->failure) : 0);
    }
    kumo__tracer_submit(t, &s);

    uint64_t sent_ns = r->dispatched_ns ? r->dispatched_ns : r->start_ns;
    if (r->dispatched_ns) {
        uint8_t id[8];
        kumo__trace_new_span_id(id);
        kumo__span_init(&s, sc->trace_id, id, sc->span_id, KUMO__SPAN_INTERNAL, "queue wait", r->start_ns);
        s.end_ns = sent_ns;
        kumo__tracer_submit(t, &s);
    }
    size_t n = join3(name, sizeof(name), "invoke ", r->function, ".");
    join3(name + n, sizeof(name) - n, sc->symbol ? sc->symbol : operation, NULL, NULL);
    kumo__span_init(&s, sc->trace_id, sc->invoke_id, sc->span_id, KUMO__SPAN_INTERNAL, name, sent_ns);
    s.end_ns = r->end_ns;
    kumo__span_bool(&s, "faas.coldstart", r->cold);
    if (r->worker_pid > 0)
        kumo__span_int(&s, "process.pid", r->worker_pid);
    if (r->failure)
        kumo__span_set_status(&s, KUMO__STATUS_ERROR, r->failure, strlen(r->failure));
    kumo__tracer_submit(t, &s);
}

/* OpenTelemetry's names for the backends that have one. */
static const char *system_name(const char *driver, size_t len, size_t *out_len)
{
    static const struct {
        const char *scheme, *name;
    } names[] = {
        {"postgres", "postgresql"}, {"postgresql", "postgresql"}, {"dynamodb", "aws.dynamodb"},
        {"s3", "aws.s3"},           {"sqs", "aws_sqs"},           {"sns", "aws_sns"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i].scheme) == len && memcmp(names[i].scheme, driver, len) == 0) {
            *out_len = strlen(names[i].name);
            return names[i].name;
        }
    *out_len = len;
    return driver;
}

/* The public KUMO_E* codes by name (kumo.h; the SDK's kumo_strerror is
 * not linked here). */
static const char *code_name(int rc)
{
    switch (rc) {
    case KUMO_ENOTFOUND: return "KUMO_ENOTFOUND";
    case KUMO_ECONFLICT: return "KUMO_ECONFLICT";
    case KUMO_ETOOBIG: return "KUMO_ETOOBIG";
    case KUMO_EUNAVAILABLE: return "KUMO_EUNAVAILABLE";
    case KUMO_ETIMEDOUT: return "KUMO_ETIMEDOUT";
    case KUMO_EINVAL: return "KUMO_EINVAL";
    case KUMO_ENOMEM: return "KUMO_ENOMEM";
    case KUMO_EIO: return "KUMO_EIO";
    case KUMO_EDENIED: return "KUMO_EDENIED";
    }
    return "error";
}

/* An outbound HTTP call (sdk/http.c records it as a store call of kind
 * "http": op the method, store the service, driver the URL without its
 * query, result the status or a KUMO_E* code): a CLIENT span with
 * OpenTelemetry's HTTP client attributes. Its id is the one the SDK put in
 * the traceparent it sent, so the server's span is its child. */
static void http_span(kumo__tracer *t, const kumo__span_ctx *sc, const kumo__store_span *st, const uint8_t id[8])
{
    kumo__span s;
    char name[KUMO__SPAN_NAME_MAX];
    snprintf(name, sizeof(name), "%.*s", (int)st->op_len, st->op);
    kumo__span_init(&s, sc->trace_id, id, sc->invoke_id, KUMO__SPAN_CLIENT, name, st->start_ns);
    s.end_ns = st->start_ns + st->duration_ns;
    kumo__span_str(&s, "http.request.method", st->op, st->op_len);
    kumo__span_str(&s, "kumo.service", st->store, st->store_len);
    if (st->driver_len) {
        kumo__span_str(&s, "url.full", st->driver, st->driver_len);
        const char *h = memmem(st->driver, st->driver_len, "://", 3);
        if (h) {
            h += 3;
            size_t hl = 0;
            while (h + hl < st->driver + st->driver_len && h[hl] != '/' && h[hl] != ':')
                hl++;
            kumo__span_str(&s, "server.address", h, hl);
        }
    }
    if (st->result > 0) {
        kumo__span_int(&s, "http.response.status_code", st->result);
        if (st->result >= 400) {
            char code[8];
            int n = snprintf(code, sizeof(code), "%d", (int)st->result);
            kumo__span_str(&s, "error.type", code, (size_t)n);
            kumo__span_set_status(&s, KUMO__STATUS_ERROR, code, (size_t)n);
        }
    } else if (st->result < 0) {
        const char *code = code_name(st->result);
        kumo__span_str(&s, "error.type", code, strlen(code));
        kumo__span_set_status(&s, KUMO__STATUS_ERROR, code, strlen(code));
    }
    kumo__tracer_submit(t, &s);
}

/* A worker is not trusted to have used the SDK (which sends at most 64):
 * more store spans than this in one response are ignored. */
#define STORE_SPANS_MAX 64

void kumo__trace_store_calls(kumo__tracer *t, const kumo__span_ctx *sc, const char *payload, size_t len)
{
    if (sc == NULL || !sc->recording || t == NULL || payload == NULL)
        return;
    kumo__frame_reader rd;
    kumo__frame_field f;
    int seen = 0;
    kumo__frame_reader_init(&rd, payload, len);
    while (kumo__frame_next(&rd, &f) > 0 && seen < STORE_SPANS_MAX) {
        if (f.tag == KF_STORE_SPAN)
            seen++;
        kumo__store_span st;
        if (f.tag != KF_STORE_SPAN || kumo__store_span_read(&f, &st) != 0 || kumo__tracer_shed(t, 1))
            continue;
        kumo__span s;
        char name[KUMO__SPAN_NAME_MAX];
        uint8_t id[8];
        if (st.has_span_id) /* a send: the message it sent names this span as its consumer's parent */
            memcpy(id, st.span_id, 8);
        else
            kumo__trace_new_span_id(id);
        if (st.kind_len == 4 && memcmp(st.kind, "http", 4) == 0) {
            http_span(t, sc, &st, id);
            continue;
        }
        snprintf(name, sizeof(name), "%.*s.%.*s %.*s", (int)st.kind_len, st.kind, (int)st.op_len, st.op,
                 (int)st.store_len, st.store);
        kumo__span_init(&s, sc->trace_id, id, sc->invoke_id, KUMO__SPAN_CLIENT, name, st.start_ns);
        s.end_ns = st.start_ns + st.duration_ns;
        int messaging = st.kind_len == 5 && (memcmp(st.kind, "queue", 5) == 0 || memcmp(st.kind, "topic", 5) == 0);
        size_t sys_len;
        const char *sys = system_name(st.driver ? st.driver : "", st.driver_len, &sys_len);
        if (sys_len)
            kumo__span_str(&s, messaging ? "messaging.system" : "db.system", sys, sys_len);
        kumo__span_str(&s, messaging ? "messaging.operation.name" : "db.operation.name", st.op, st.op_len);
        if (messaging)
            kumo__span_str(&s, "messaging.destination.name", st.store, st.store_len);
        kumo__span_str(&s, "kumo.store", st.store, st.store_len);
        kumo__span_str(&s, "kumo.store.kind", st.kind, st.kind_len);
        if (st.driver_len)
            kumo__span_str(&s, "kumo.store.driver", st.driver, st.driver_len);
        if (st.result != 0) {
            const char *code = code_name(st.result);
            kumo__span_str(&s, "error.type", code, strlen(code));
            /* not found is an answer, not a failed call */
            if (st.result != KUMO_ENOTFOUND)
                kumo__span_set_status(&s, KUMO__STATUS_ERROR, code, strlen(code));
        }
        kumo__tracer_submit(t, &s);
    }
}
