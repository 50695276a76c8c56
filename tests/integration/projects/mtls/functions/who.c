/*
 * who.c: answers with the scheme and subject the gateway's security check
 * found (kumo_request_auth_scheme, kumo_request_auth_subject).
 */
#include <kumo.h>

#include <stdio.h>
#include <string.h>

static int who(const kumo_request *req, kumo_response *res)
{
    char text[600];
    const char *scheme = kumo_request_auth_scheme(req), *subject = kumo_request_auth_subject(req);
    snprintf(text, sizeof(text), "%s %s", scheme ? scheme : "-", subject ? subject : "-");
    return kumo_response_body(res, text, strlen(text), "text/plain");
}

int whoami(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    return who(req, res);
}

int partners(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    return who(req, res);
}
