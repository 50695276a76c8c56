/*
 * lambda_main.c: kumo-host under AWS Lambda. The lambda adapter
 * (sdk/adapters/lambda.c) runs the Runtime API loop and maps API Gateway
 * events; here each mapped request goes through kumo__host_handle, so a
 * Lambda function routes, checks and answers like kumo up. A host that
 * could not load reports it as the init error Lambda shows in the
 * function's log and status. SQS, S3, SNS records and schedule ticks go
 * to lambda_events.c, which calls the kumo.yaml events' handlers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/host.h"
#include "host/lambda_events.h"
#include "sdk/adapters/lambda.h"

typedef struct glue {
    kumo__host *host;
    kumo__header_view *views; /* the request's headers, grown as needed */
    size_t views_cap;
    kumo__host_reply reply;
    kumo__pair pairs[KUMO__RESPONSE_HEADERS_MAX + 16]; /* as many as kumo__host_reply holds */
    char *strings;                                     /* the reply's headers, NUL-terminated for kumo__pair */
    size_t strings_cap;
    kumo__lambda_events *events; /* SQS, S3, SNS records and ticks (lambda_events.c) */
} glue;

static int on_event(void *data, const kumo__lambda_event *ev, kumo__lambda_event_reply *out)
{
    glue *g = data;
    return kumo__lambda_events_handle(g->events, ev, out);
}

static int on_invoke(void *data, const kumo__lambda_http *req, kumo__lambda_reply *out)
{
    glue *g = data;
    if (req->nheaders > g->views_cap) {
        kumo__header_view *nv = realloc(g->views, req->nheaders * sizeof(*nv));
        if (nv == NULL)
            return -1;
        g->views = nv;
        g->views_cap = req->nheaders;
    }
    for (size_t i = 0; i < req->nheaders; i++) {
        g->views[i].name = (kumo__slice){req->headers[i].name, strlen(req->headers[i].name)};
        g->views[i].value = (kumo__slice){req->headers[i].value, strlen(req->headers[i].value)};
    }
    kumo__http_in in = {
        .method = {req->method, strlen(req->method)},
        .path = {req->path, strlen(req->path)},
        .query = {req->query && *req->query ? req->query : NULL, req->query ? strlen(req->query) : 0},
        .headers = g->views,
        .nheaders = req->nheaders,
        .body = {req->body, req->body ? req->body_len : 0},
        .deadline_ms = req->deadline_ms,
        /* the caller as API Gateway saw it: what by: client rate limits count */
        .client_addr = req->source_ip && *req->source_ip ? req->source_ip : NULL,
    };
    kumo__host_reply_free(&g->reply);
    /* Lambda's trace header (X-Ray), which the adapter puts in
     * _X_AMZN_TRACE_ID for each invocation: the handler's trace continues
     * it when the request brings no traceparent of its own. */
    const char *xray = getenv("_X_AMZN_TRACE_ID");
    g->host->platform_trace = xray && *xray ? xray : NULL;
    kumo__host_handle(g->host, &in, req->request_id, &g->reply);
    g->host->platform_trace = NULL;

    /* kumo__pair wants C strings: copy the headers, lower-cased as the
     * gateway sends them, into one buffer. */
    const kumo__host_reply *r = &g->reply;
    size_t need = 0;
    for (size_t i = 0; i < r->nheaders; i++)
        need += r->headers[i].name_len + r->headers[i].value_len + 2;
    if (need > g->strings_cap) {
        char *ns = realloc(g->strings, need);
        if (ns == NULL)
            return -1;
        g->strings = ns;
        g->strings_cap = need;
    }
    char *p = g->strings;
    for (size_t i = 0; i < r->nheaders; i++) {
        g->pairs[i].name = p;
        for (size_t k = 0; k < r->headers[i].name_len; k++) {
            char c = r->headers[i].name[k];
            *p++ = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        *p++ = '\0';
        g->pairs[i].value = p;
        memcpy(p, r->headers[i].value, r->headers[i].value_len);
        p += r->headers[i].value_len;
        *p++ = '\0';
    }
    *out = (kumo__lambda_reply){
        .status = r->status,
        .headers = g->pairs,
        .nheaders = r->nheaders,
        .body = r->body,
        .body_len = r->body_len,
    };
    return 0;
}

int kumo__host_lambda_main(kumo__host *h, const char *api, const char *load_error)
{
    kumo__error err = {0};
    if (h == NULL) {
        kumo__lambda_init_error(api, "Runtime.ConfigError",
                                load_error && *load_error ? load_error : "kumo-host could not load the package");
        return 1;
    }
    glue g = {.host = h, .events = kumo__lambda_events_new(h, getenv("KUMO_EVENTS"), &err)};
    if (g.events == NULL) {
        kumo__lambda_init_error(api, "Runtime.ConfigError", err.msg);
        return 1;
    }
    /* nothing scrapes a Lambda instance: its metrics go out as CloudWatch
     * EMF lines on stdout, one per invocation (emf.c) */
    h->emf = h->metrics != NULL;
    fprintf(stderr, "kumo-host: %s on the Lambda Runtime API at %s\n", h->project->name, api);
    /* kumo.yaml's edge as far as Lambda lets it act (docs/edge.md): said at start, not dropped in silence */
    const kumo__edge_config *edge = &h->project->http.edge;
    if (edge->tls.cert)
        fprintf(stderr, "kumo-host: http.tls is not used under Lambda: the platform's front (API Gateway, a "
                        "function URL) terminates TLS and would verify client certificates\n");
    if (edge->nrules > 0)
        fprintf(stderr, "kumo-host: http.rate_limits count per instance under Lambda (each instance has its own "
                        "buckets)\n");
    int rc = kumo__lambda_run_events(api, on_invoke, on_event, &g, &err);
    fprintf(stderr, "kumo-host: the Lambda loop stopped: %s\n", err.msg[0] ? err.msg : "no reason given");
    kumo__host_reply_free(&g.reply);
    kumo__lambda_events_free(g.events);
    free(g.views);
    free(g.strings);
    return rc == 0 ? 0 : 1;
}
