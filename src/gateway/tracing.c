/*
 * tracing.c: the gateway's spans (docs/traces.md). The tracer (obs/otlp.c)
 * is made once at start, from the first generation's kumo.yaml and the
 * OTEL_* variables, and lives as long as the gateway; the loops only fill
 * span records and push them into its buffer.
 *
 * An invocation (HTTP or event) starts its context (kumo__span_ctx_begin)
 * when it arrives, and its frame carries a traceparent naming its "invoke"
 * span, so the handler's work (its log lines, its outbound calls) joins the
 * trace. When it ends, kumo__gw_observe calls kumo__gw_trace_observed,
 * which makes, if the trace is sampled and exported:
 *
 *   SERVER "GET /todos/{id}" (or CONSUMER "process EVENT")
 *     INTERNAL "queue wait"            arrival -> sent to a worker
 *     INTERNAL "invoke UNIT.SYMBOL"    sent to a worker -> answered
 *       CLIENT "kv.get todos" ...      the store calls the worker recorded
 *
 * The store calls come back in the response frame (KF_STORE_SPAN, from
 * sdk/trace.c), read by kumo__gw_trace_store_calls.
 */
#include "gateway/gateway_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "obs/trace.h"
#include "proto/tracectx.h"

int kumo__gw_tracer_start(gateway *gw, const kumo__project *p, kumo__error *err)
{
    kumo__trace_config cfg = {
        .endpoint = p->obs.traces_endpoint,
        .sampler = p->obs.traces_sampler,
        .ratio = p->obs.traces_ratio,
        .buffer = p->obs.traces_buffer,
        .service_name = p->name,
    };
    int rc = kumo__tracer_create(&cfg, NULL, &gw->tracer, err);
    if (rc != 0)
        kumo__error_wrap(err, "%s/kumo.yaml: observability.traces", p->dir);
    return rc;
}

/* The instant mono_us of an invocation that began at start_us (monotonic)
 * = start_epoch_us (wall clock), in epoch nanoseconds. */
static uint64_t epoch_ns_of(const kumo__gw_obs *o, uint64_t mono_us)
{
    uint64_t us = o->start_epoch_us + (mono_us >= o->start_us ? mono_us - o->start_us : 0);
    return us * 1000;
}

static const char *result_text(enum kumo__call_result r)
{
    switch (r) {
    case KUMO__CALL_OK: return NULL;
    case KUMO__CALL_FAILED: return "the handler failed";
    case KUMO__CALL_CRASHED: return "the worker crashed";
    case KUMO__CALL_TIMEOUT: return "the function timed out";
    case KUMO__CALL_NO_WORKER: return "no worker could be started";
    }
    return NULL;
}

void kumo__gw_trace_observed(gateway *gw, const kumo__gw_obs *o)
{
    const kumo__span_ctx *sc = o->span;
    if (sc == NULL || !sc->recording || gw->tracer == NULL)
        return;
    int http = o->route && *o->route;
    kumo__span s;
    char name[KUMO__SPAN_NAME_MAX];
    uint64_t end_ns = epoch_ns_of(o, o->end_us);

    /* The invocation's own span. */
    char route[512];
    if (http) {
        snprintf(route, sizeof(route), "%s%s", sc->base_path ? sc->base_path : "", o->route);
        snprintf(name, sizeof(name), "%s %s", o->method ? o->method : "", route);
    }
    else
        snprintf(name, sizeof(name), "process %s", o->operation ? o->operation : "");
    kumo__span_init(&s, sc->trace_id, sc->span_id, kumo__id_is_zero(sc->parent_id, 8) ? NULL : sc->parent_id,
                    http ? KUMO__SPAN_SERVER : KUMO__SPAN_CONSUMER, name, o->start_epoch_us * 1000);
    s.end_ns = end_ns;
    if (http) {
        kumo__span_str(&s, "http.request.method", o->method, strlen(o->method));
        kumo__span_str(&s, "http.route", route, strlen(route));
        if (sc->url_path)
            kumo__span_str(&s, "url.path", sc->url_path, strlen(sc->url_path));
        kumo__span_int(&s, "http.response.status_code", o->status);
    } else {
        kumo__span_int(&s, "kumo.event.status", o->status);
    }
    const char *trigger = o->trigger && *o->trigger ? o->trigger : (http ? "http" : "other");
    kumo__span_str(&s, "faas.trigger", trigger, strlen(trigger));
    if (o->request_id)
        kumo__span_str(&s, "faas.invocation_id", o->request_id, strlen(o->request_id));
    kumo__span_bool(&s, "faas.coldstart", o->cold);
    if (o->function)
        kumo__span_str(&s, "faas.name", o->function, strlen(o->function));
    if (o->operation)
        kumo__span_str(&s, "kumo.operation", o->operation, strlen(o->operation));
    /* HTTP server spans: 5xx is an error, 4xx the client's; an event
     * that was not handled (any status of 400 and up) is an error. */
    int failed = o->result != KUMO__CALL_OK || o->status >= 500 || (!http && o->status >= 400);
    if (failed) {
        char type[16];
        snprintf(type, sizeof(type), "%d", o->status);
        kumo__span_str(&s, "error.type", type, strlen(type));
        const char *why = result_text(o->result);
        kumo__span_set_status(&s, KUMO__STATUS_ERROR, why, why ? strlen(why) : 0);
    }
    kumo__tracer_submit(gw->tracer, &s);

    /* Waiting for a worker, then the worker's run: only for calls a pool
     * sent (a call refused or timed out in the queue has no invoke). */
    if (o->dispatched_us) {
        uint64_t sent_ns = epoch_ns_of(o, o->dispatched_us);
        uint8_t id[8];
        kumo__trace_new_span_id(id);
        kumo__span_init(&s, sc->trace_id, id, sc->span_id, KUMO__SPAN_INTERNAL, "queue wait",
                        o->start_epoch_us * 1000);
        s.end_ns = sent_ns;
        kumo__tracer_submit(gw->tracer, &s);

        snprintf(name, sizeof(name), "invoke %s.%s", o->function ? o->function : "",
                 sc->symbol ? sc->symbol : (o->operation ? o->operation : ""));
        kumo__span_init(&s, sc->trace_id, sc->invoke_id, sc->span_id, KUMO__SPAN_INTERNAL, name, sent_ns);
        s.end_ns = end_ns;
        kumo__span_bool(&s, "faas.coldstart", o->cold);
        if (o->worker_pid > 0)
            kumo__span_int(&s, "process.pid", o->worker_pid);
        const char *why = result_text(o->result);
        if (why)
            kumo__span_set_status(&s, KUMO__STATUS_ERROR, why, strlen(why));
        kumo__tracer_submit(gw->tracer, &s);
    }
}

/* OpenTelemetry's names for the backends where there is one. */
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

void kumo__gw_trace_event_begin(gateway *gw, kumo__span_ctx *sc, const char *traceparent, const char *tracestate,
                                const char *symbol)
{
    kumo__span_ctx_begin(sc, gw->tracer, traceparent, traceparent ? strlen(traceparent) : 0, tracestate,
                         tracestate ? strlen(tracestate) : 0);
    sc->url_path = NULL;
    sc->base_path = NULL;
    sc->symbol = symbol;
}

void kumo__gw_trace_store_calls(gateway *gw, const kumo__span_ctx *sc, enum kumo__call_result result,
                                const char *payload, size_t len)
{
    if (sc == NULL || !sc->recording || gw->tracer == NULL || payload == NULL || result != KUMO__CALL_OK)
        return;
    kumo__frame_reader r;
    kumo__frame_field f;
    kumo__frame_reader_init(&r, payload, len);
    while (kumo__frame_next(&r, &f) > 0) {
        kumo__store_span st;
        if (f.tag != KF_STORE_SPAN || kumo__store_span_read(&f, &st) != 0)
            continue;
        kumo__span s;
        char name[KUMO__SPAN_NAME_MAX];
        uint8_t id[8];
        kumo__trace_new_span_id(id);
        snprintf(name, sizeof(name), "%.*s.%.*s %.*s", (int)st.kind_len, st.kind, (int)st.op_len, st.op,
                 (int)st.store_len, st.store);
        kumo__span_init(&s, sc->trace_id, id, sc->invoke_id, KUMO__SPAN_CLIENT, name, st.start_ns);
        s.end_ns = st.start_ns + st.duration_ns;
        int messaging = (st.kind_len == 5 && memcmp(st.kind, "queue", 5) == 0) ||
                        (st.kind_len == 5 && memcmp(st.kind, "topic", 5) == 0);
        size_t sys_len;
        const char *sys = system_name(st.driver ? st.driver : "", st.driver_len, &sys_len);
        if (sys_len)
            kumo__span_str(&s, messaging ? "messaging.system" : "db.system", sys, sys_len);
        kumo__span_str(&s, messaging ? "messaging.operation.name" : "db.operation.name", st.op, st.op_len);
        if (messaging)
            kumo__span_str(&s, "messaging.destination.name", st.store, st.store_len);
        kumo__span_str(&s, "kumo.store", st.store, st.store_len);
        kumo__span_str(&s, "kumo.store.kind", st.kind, st.kind_len);
        kumo__span_str(&s, "kumo.store.driver", st.driver, st.driver_len);
        if (st.result != 0) {
            /* Not found is an answer, not a failure of the call. */
            const char *code = kumo_strerror(st.result);
            kumo__span_str(&s, "error.type", code, strlen(code));
            if (st.result != KUMO_ENOTFOUND)
                kumo__span_set_status(&s, KUMO__STATUS_ERROR, code, strlen(code));
        }
        kumo__tracer_submit(gw->tracer, &s);
    }
}
