/*
 * who.c: answers with who called, as the gateway's security check found:
 * kumo_request_auth_scheme and kumo_request_auth_subject (null when
 * anonymous), and whether there are claims.
 */
#include <kumo.h>

static int who(const kumo_request *req, kumo_response *res)
{
    const char *scheme = kumo_request_auth_scheme(req);
    const char *subject = kumo_request_auth_subject(req);
    json_t *body = json_pack("{s:o, s:o, s:b}", "scheme", scheme ? json_string(scheme) : json_null(), "subject",
                             subject ? json_string(subject) : json_null(), "claims",
                             kumo_request_auth_claims(req) != NULL);
    return kumo_response_json(res, 200, body);
}

int whoami(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    return who(req, res);
}

int public(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    return who(req, res);
}

int maybe(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    return who(req, res);
}

int createItem(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    return who(req, res);
}

int token(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    return who(req, res);
}

int admin(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    return who(req, res);
}
