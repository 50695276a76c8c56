/* things: the handlers of the lint_schemas fixture; they are never called. */
#include <kumo.h>

static int nothing(kumo_response *res)
{
    kumo_response_status(res, 204);
    return 0;
}

int listThings(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    (void)req;
    return nothing(res);
}

int createThing(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    (void)req;
    return nothing(res);
}

int getThing(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    (void)req;
    return nothing(res);
}
