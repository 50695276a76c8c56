/*
 * cloud_builtin.c: kumo__cloud_builtin_perform (cloud.h), the cloud
 * drivers' exchange without libcurl: the request signed by sigv4.c when
 * the call asks for SigV4, sent by httpc.c (HTTP/1.1, TLS through BearSSL).
 * kumo-lambda's SDK uses it for every AWS call, so that a Lambda package
 * carries neither libcurl nor OpenSSL.
 *
 * The call means here what it means to libcurl (cloud.c): a header line
 * "Name:" with nothing after the colon removes a header libcurl would add;
 * this client adds none of those, so such lines are dropped.
 */
#include "sdk/stores/cloud.h"

#include <kumo.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sdk/stores/httpc.h"
#include "sdk/stores/sigv4.h"

#define HEADERS_MAX (64u << 10)

/* Whether `line` is "Name:" and nothing else: libcurl's way to remove a
 * header. */
static int removal(const char *line)
{
    const char *colon = strchr(line, ':');
    if (colon == NULL)
        return 0;
    for (const char *p = colon + 1; *p; p++)
        if (*p != ' ' && *p != '\t')
            return 0;
    return 1;
}

/* Appends the lines of `from` (NULL-terminated, may be NULL) that are sent
 * to `to` (room counted by the caller). */
static size_t add_lines(const char **to, size_t n, const char *const *from)
{
    for (size_t i = 0; from && from[i]; i++)
        if (!removal(from[i]))
            to[n++] = from[i];
    return n;
}

static size_t count(const char *const *lines)
{
    size_t n = 0;
    while (lines && lines[n])
        n++;
    return n;
}

int kumo__cloud_builtin_perform(void *conn, const kumo__cloud_call *call, kumo__cloud_res *res, char *msg,
                                size_t msglen)
{
    kumo__sigv4_out sig = {0};
    kumo__httpc_res hr = {0};
    int rc;

    memset(res, 0, sizeof(*res));
    size_t cap = count(call->headers) + count(call->extra) + sizeof(sig.lines) / sizeof(sig.lines[0]) + 1;
    const char **lines = calloc(cap, sizeof(*lines));
    if (lines == NULL) {
        snprintf(msg, msglen, "out of memory");
        return KUMO_ENOMEM;
    }
    size_t n = add_lines(lines, 0, call->headers);
    n = add_lines(lines, n, call->extra);

    if (call->sigv4) {
        /* "aws:amz:REGION:SERVICE", as CURLOPT_AWS_SIGV4 takes it */
        char region[64], service[64];
        if (sscanf(call->sigv4, "aws:amz:%63[^:]:%63s", region, service) != 2) {
            free(lines);
            snprintf(msg, msglen, "%s: bad signing scope '%s'", call->service, call->sigv4);
            return KUMO_EINVAL;
        }
        kumo__sigv4_req sr = {
            .method = call->method,
            .url = call->url,
            .headers = lines,
            .body = call->in ? NULL : call->body,
            .len = call->in ? 0 : call->len,
            .payload_hash = call->in ? "UNSIGNED-PAYLOAD" : NULL,
            .region = region,
            .service = service,
            .key = call->user,
            .secret = call->password,
            .token = NULL, /* the caller's x-amz-security-token line is signed as one of its headers */
            .now = time(NULL),
        };
        if ((rc = kumo__sigv4_sign(&sr, &sig, msg, msglen)) != 0) {
            free(lines);
            return rc;
        }
        for (size_t i = 0; sig.lines[i]; i++)
            lines[n++] = sig.lines[i];
    }
    lines[n] = NULL;

    kumo__httpc_req req = {
        .method = call->method,
        .url = call->url,
        .headers = lines,
        .body = call->body,
        .len = call->len,
        .in = call->in,
        .in_len = call->in_len,
        .connect_timeout_ms = call->connect_timeout_ms,
        .timeout_ms = call->timeout_ms,
        .max_body = call->max_body,
        .max_headers = HEADERS_MAX,
    };
    char why[256] = "";
    rc = kumo__httpc_perform(conn, &req, &hr, why, sizeof(why));
    kumo__sigv4_out_free(&sig);
    free(lines);
    res->status = hr.status;
    res->body = hr.body;
    res->len = hr.len;
    res->headers = hr.headers;
    res->hlen = hr.hlen;
    if (rc == KUMO_ETOOBIG)
        snprintf(msg, msglen, "%s at %s: %s", call->service, call->base, *why ? why : "the answer is too large");
    else if (rc != 0)
        snprintf(msg, msglen, "%s at %s: %s", call->service, call->base, *why ? why : kumo_strerror(rc));
    return rc;
}
