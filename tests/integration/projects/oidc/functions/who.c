/*
 * who.c: answers with the verified token's subject and scope, as the
 * gateway found them (kumo_request_auth_subject, kumo_request_auth_claims).
 */
#include <kumo.h>

static int who(const kumo_request *req, kumo_response *res)
{
    const char *subject = kumo_request_auth_subject(req);
    const json_t *claims = kumo_request_auth_claims(req);
    const char *scope = claims ? json_string_value(json_object_get(claims, "scope")) : NULL;
    return kumo_response_json(res, 200,
                              json_pack("{s:s, s:s}", "subject", subject ? subject : "", "scope", scope ? scope : ""));
}

int listTodos(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    return who(req, res);
}

int administer(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    return who(req, res);
}
