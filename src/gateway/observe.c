/*
 * observe.c: where every finished invocation goes, on its loop's thread.
 * An HTTP request (api.c), a schedule tick (scheduler.c), a queue or topic
 * message (consumer.c) and a CloudEvent (cloudevents_in.c) all end here,
 * with one record (kumo__gw_obs), so metrics, traces and the rest see
 * every trigger the same way.
 *
 * The metrics live in gw->metrics for the gateway's life; a generation
 * only looks its targets up (kumo__gw_metrics_targets, at build), so a
 * reload keeps every count and a reload that changes nothing makes no new
 * series. Recording is a probe in the loop's own cache and a few relaxed
 * adds (obs/metrics.c): nothing here allocates or locks on the way of a
 * request once its (target, status) pair has been seen.
 */
#include "gateway/gateway_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kumo__gw_metrics_targets(gateway *gw, generation *g, kumo__error *err)
{
    if (kumo__metrics_project_targets(gw->metrics, g->project, g->spec, &g->mt_ops, &g->mt_events, &g->mt_noroute) !=
        0) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return err->code;
    }
    return 0;
}

void kumo__gw_observe(loop_thread *t, const kumo__gw_obs *o)
{
    uint64_t duration = o->end_us - o->start_us;
    unsigned flags = 0;
    if (o->result != KUMO__CALL_OK || o->status >= 500)
        flags |= KUMO__INV_ERROR;
    if (o->result == KUMO__CALL_TIMEOUT)
        flags |= KUMO__INV_TIMEOUT;
    if (o->result == KUMO__CALL_CRASHED)
        flags |= KUMO__INV_CRASH;
    if (o->cold)
        flags |= KUMO__INV_COLD;
    if (o->timeout_s > 0 && (double)duration > o->timeout_s * 1e6 * KUMO__LONG_SHARE)
        flags |= KUMO__INV_LONG;
    kumo__metrics_invocation(t->gw->metrics, t->index, o->target, o->status, duration, flags);
    kumo__gw_recent_observe(t, o);     /* the dashboard's slowest and failed (dashboard.c) */
    kumo__gw_trace_observed(t->gw, o); /* its spans (tracing.c) */
}

void kumo__gw_observe_event(loop_thread *t, const generation *g, const char *event, const kumo__call *call,
                            enum kumo__call_result result, int status, uint64_t start_us, const char *request_id,
                            const kumo__span_ctx *span)
{
    const kumo__project *p = g->project;
    size_t i = 0;
    while (i < p->nevents && strcmp(p->events[i].name, event) != 0)
        i++;
    if (i == p->nevents)
        return;
    const kumo__event_decl *d = &p->events[i];
    uint64_t now = kumo__mono_us();
    kumo__gw_obs o = {.target = g->mt_events ? g->mt_events[i] : -1,
                      .function = d->unit,
                      .operation = d->name,
                      .route = "",
                      .method = "",
                      .trigger = kumo__faas_trigger(d->kind),
                      .request_id = request_id,
                      .status = status,
                      .result = result,
                      .cold = call->cold,
                      .start_us = start_us,
                      .start_epoch_us = kumo__epoch_us() - (now - start_us),
                      .dispatched_us = call->dispatched_us,
                      .end_us = now,
                      .timeout_s = p->units[d->unit_index].tuning.timeout_s,
                      .worker_pid = call->worker_pid,
                      .span = span};
    kumo__gw_observe(t, &o);
}

void kumo__gw_observe_answered(loop_thread *t, const generation *g, int op_index, int status, uint64_t start_us,
                               int rejected)
{
    int target = op_index >= 0 && g->mt_ops ? g->mt_ops[op_index] : g->mt_noroute;
    kumo__metrics_answered(t->gw->metrics, t->index, target, status, kumo__mono_us() - start_us, rejected);
}

void kumo__gw_on_worker_ready(void *ctx, const char *unit_name, pid_t pid, uint64_t init_us)
{
    loop_thread *t = ctx;
    kumo__metrics_init(t->gw->metrics, t->index, unit_name, init_us);
    if (t->gw->cfg.debug_op && t->live)
        kumo__gw_debug_ready(t->gw, t->live->gen, unit_name, pid);
}
