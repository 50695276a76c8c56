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
 * which hands the spans to obs/spans.c (the same spans kumo-host makes);
 * the store calls come back in the response frame (KF_STORE_SPAN, from
 * sdk/trace.c), read by kumo__gw_trace_store_calls.
 */
#include "gateway/gateway_internal.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "obs/trace.h"

int kumo__gw_tracer_start(gateway *gw, const kumo__project *p, kumo__error *err)
{
    if (!p->obs.enabled) {
        gw->tracer = NULL; /* observability: {enabled: false}: no tracer, no trace context made */
        return 0;
    }
    kumo__trace_config cfg = {
        .endpoint = p->obs.traces_endpoint,
        .sampler = p->obs.traces_sampler,
        .ratio = p->obs.traces_ratio,
        .buffer = p->obs.traces_buffer,
        .protocol = p->obs.traces_protocol,
        .exporter_normal = p->obs.traces_exporter_normal,
        .service_name = p->name,
    };
    int rc = kumo__tracer_create(&cfg, NULL, &gw->tracer, err);
    if (rc != 0)
        kumo__error_wrap(err, "%s/kumo.yaml: observability.traces", p->dir);
    return rc;
}

static int same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

void kumo__gw_trace_reload_check(const kumo__project *was, const kumo__project *now)
{
    const kumo__obs_config *a = &was->obs, *b = &now->obs;
    if (a->enabled == b->enabled && same_str(a->traces_endpoint, b->traces_endpoint) &&
        same_str(a->traces_sampler, b->traces_sampler) && a->traces_ratio == b->traces_ratio &&
        a->traces_buffer == b->traces_buffer && same_str(a->traces_protocol, b->traces_protocol) &&
        a->traces_exporter_normal == b->traces_exporter_normal)
        return;
    kumo__log_event(
        "warn",
        "%s/kumo.yaml: observability.traces (or enabled) changed; the tracer keeps its settings from the start "
        "(a reload does not move it): restart kumo up to apply them",
        now->dir);
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
    kumo__inv_record r = {
        .sc = sc,
        .http = http,
        .method = o->method,
        .route_prefix = sc->base_path,
        .route = o->route,
        .trigger = o->trigger,
        .function = o->function,
        .operation = o->operation,
        .request_id = o->request_id,
        .status = o->status,
        .failure = result_text(o->result),
        .cold = o->cold,
        .worker_pid = o->worker_pid,
        .start_ns = o->start_epoch_us * 1000,
        .dispatched_ns = o->dispatched_us ? epoch_ns_of(o, o->dispatched_us) : 0,
        .end_ns = epoch_ns_of(o, o->end_us),
    };
    kumo__trace_invocation(gw->tracer, &r);
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
    if (result == KUMO__CALL_OK)
        kumo__trace_store_calls(gw->tracer, sc, payload, len);
}
