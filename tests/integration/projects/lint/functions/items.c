/* items: handlers for the lint fixture; one exported function no operation uses. */
#include <kumo.h>

int getItems(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    (void)req;
    kumo_response_status(res, 200);
    return kumo_response_body(res, "[]", sizeof("[]") - 1, "application/json");
}

int createItem(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    (void)req;
    kumo_response_status(res, 201);
    return kumo_response_body(res, "{\"name\":\"x\"}", sizeof("{\"name\":\"x\"}") - 1, "application/json");
}

int shared_name(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    (void)req;
    kumo_response_status(res, 200);
    return kumo_response_body(res, "{}", sizeof("{}") - 1, "application/json");
}

/* exported, and no operation names it: a warning */
int unused_helper(int x)
{
    return x + 1;
}

/* static: not exported, no warning */
static int private_helper(int x)
{
    return x * 2;
}

int kumo_lint_fixture_ignored(void)
{
    return private_helper(1);
}
