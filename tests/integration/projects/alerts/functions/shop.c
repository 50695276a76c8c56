/* Handlers for tests/integration/test_alerts.py: one answers as its
 * contract says, one out of it, one fails on demand. */
#include <kumo.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int getItem(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    return kumo_response_json(res, 200, json_pack("{s:s}", "id", kumo_request_param(req, "id")));
}

int getBroken(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    (void)req;
    return kumo_response_json(res, 200, json_pack("{s:i}", "name", 1));
}

int createOrder(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    const char *fail = kumo_request_query(req, "fail");
    if (fail && strcmp(fail, "1") == 0) {
        kumo_response_status(res, 500);
        return 0;
    }
    return kumo_response_json(res, 201, json_pack("{s:s}", "id", "o1"));
}

int slowOrder(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    const char *ms = kumo_request_query(req, "ms");
    usleep((useconds_t)(ms ? atoi(ms) : 1) * 1000);
    kumo_response_status(res, 204);
    return 0;
}

/* putLabel: probed with `probe: always`; answers 200 only to its request
 * example, so a passing probe shows the example was sent as JSON. */
int putLabel(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    json_t *body = kumo_request_json(req);
    const char *name = json_string_value(json_object_get(body, "name"));
    if (name == NULL || strcmp(name, "probe-label") != 0) {
        kumo_response_status(res, 400);
        return 0;
    }
    return kumo_response_json(res, 200, json_pack("{s:s}", "id", name));
}
