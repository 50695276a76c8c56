/*
 * traces.c: the handlers of tests/integration/test_traces.py. get_item
 * puts and gets its item in the kv store "items" (two store calls, so two
 * CLIENT spans) and answers {"traceparent": what kumo_ctx_traceparent
 * gave}; send puts one message on the queue "jobs"; record (the queue
 * event) and nightly (the schedule event) each write one kv record; chain
 * (another schedule event) sends one message to "jobs".
 */
#include <kumo.h>

#include <string.h>

int get_item(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *id = kumo_request_param(req, "id");
    int rc = kumo_kv_put(ctx, "items", id, "x", 1);
    if (rc != 0)
        return rc;
    kumo_kv_item item;
    if ((rc = kumo_kv_get(ctx, "items", id, &item)) != 0)
        return rc;
    const char *tp = kumo_ctx_traceparent(ctx);
    return kumo_response_json(res, 200, json_pack("{s:s?}", "traceparent", tp));
}

int send(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)req;
    int rc = kumo_queue_send(ctx, "jobs", "job", 3, 0, NULL);
    if (rc != 0)
        return rc;
    kumo_response_status(res, 204);
    return 0;
}

int send_bulk(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)req;
    int rc = kumo_queue_send(ctx, "bulk", "bulk", 4, 0, NULL);
    if (rc != 0)
        return rc;
    kumo_response_status(res, 204);
    return 0;
}

int record(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)req;
    int rc = kumo_kv_put(ctx, "items", "from-queue", "1", 1);
    if (rc != 0)
        return rc;
    kumo_response_status(res, 204);
    return 0;
}

int nightly(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)req;
    int rc = kumo_kv_put(ctx, "items", "from-schedule", "1", 1);
    if (rc != 0)
        return rc;
    kumo_response_status(res, 204);
    return 0;
}

int chain(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)req;
    int rc = kumo_queue_send(ctx, "jobs", "chained", 7, 0, NULL);
    if (rc != 0)
        return rc;
    kumo_response_status(res, 204);
    return 0;
}
