/*
 * problem.c: see problem.h. Bodies are built with jansson so that any
 * detail text (which may quote user input) is escaped correctly.
 */
#include "gateway/problem.h"

#include "gateway/dispatch.h"

#include <jansson.h>
#include <string.h>

void kumo__send_body(h2o_req_t *req, const char *body, size_t len)
{
    req->res.content_length = len;
    h2o_send_inline(req, body, len);
}

void kumo__send_problem(h2o_req_t *req, int status, const char *title, const char *detail, const char *request_id,
                        const char *retry_after)
{
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    char *body = kumo__problem_json(status, title, detail, req->path.base, path_len, request_id, NULL, NULL);

    req->res.status = status;
    req->res.reason = kumo__http_reason(status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/problem+json"));
    if (request_id)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 1, NULL, request_id,
                              strlen(request_id));
    if (retry_after)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, retry_after,
                       strlen(retry_after));
    if (body == NULL) {
        kumo__send_body(req, H2O_STRLIT("{\"title\":\"Internal Server Error\",\"status\":500}"));
        return;
    }
    kumo__send_body(req, body, strlen(body));
    free(body);
}

/* The body of an h2o error is known only when it is sent, so the rewrite
 * happens in the output stream: its text becomes the problem's detail. */
typedef struct problem_ostream {
    h2o_ostream_t super;
    int sent;
} problem_ostream;

static void problem_do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
                            h2o_send_state_t state)
{
    problem_ostream *o = (problem_ostream *)self;
    if (o->sent || h2o_memis(req->input.method.base, req->input.method.len, H2O_STRLIT("HEAD"))) {
        h2o_ostream_send_next(self, req, NULL, 0, state);
        return;
    }
    o->sent = 1;
    char detail[256];
    size_t n = 0;
    for (size_t i = 0; i < bufcnt && n < sizeof(detail) - 1; i++) {
        size_t take = bufs[i].len < sizeof(detail) - 1 - n ? bufs[i].len : sizeof(detail) - 1 - n;
        memcpy(detail + n, bufs[i].base, take);
        n += take;
    }
    while (n > 0 && (detail[n - 1] == '\n' || detail[n - 1] == '\r'))
        n--;
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    char dtext[sizeof(detail) + 1];
    memcpy(dtext, detail, n);
    dtext[n] = '\0';
    char *body = kumo__problem_json(req->res.status, NULL, dtext, req->path.base, req->path.base ? path_len : 0,
                                    NULL, NULL, NULL);
    h2o_iovec_t out = body ? h2o_strdup(&req->pool, body, strlen(body)) : h2o_iovec_init(H2O_STRLIT("{}"));
    free(body);
    h2o_ostream_send_next(self, req, &out, 1, state);
}

static void on_setup_problem_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    if (req->res.status >= 400 &&
        h2o_find_header_by_str(&req->res.headers, H2O_STRLIT("x-request-id"), -1) < 0) {
        ssize_t i = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
        if (i >= 0)
            req->res.headers.entries[i].value = h2o_iovec_init(H2O_STRLIT("application/problem+json"));
        else
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                           H2O_STRLIT("application/problem+json"));
        req->res.content_length = SIZE_MAX;
        problem_ostream *o = (problem_ostream *)h2o_add_ostream(req, sizeof(*o), slot);
        o->super.do_send = problem_do_send;
        o->sent = 0;
        slot = &o->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

void kumo__install_problem_filter(h2o_hostconf_t *host, h2o_pathconf_t *path)
{
    h2o_filter_t *f = h2o_create_filter(path, sizeof(*f));
    f->on_setup_ostream = on_setup_problem_ostream;
    f = h2o_create_filter(&host->fallback_path, sizeof(*f));
    f->on_setup_ostream = on_setup_problem_ostream;
}
