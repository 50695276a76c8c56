/* items: one handler, so the fixture serves an API beside its docs. */
#include <kumo.h>

int getItem(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    (void)req;
    static const char body[] = "{\"name\":\"one\"}";
    kumo_response_status(res, 200);
    return kumo_response_body(res, body, sizeof(body) - 1, "application/json");
}
