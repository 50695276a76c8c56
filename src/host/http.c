/*
 * http.c: kumo-host's http adapter. One h2o event loop on one thread:
 * each request is dispatched and its handler run in place, so requests
 * are answered one at a time, as a kumo worker with concurrency 1 answers
 * them (the platform scales out by instances, and sets the container's
 * concurrency from the unit's). The live contract (/openapi.json,
 * /openapi.yaml, /docs) is served as kumo up serves it. One JSON access
 * log line per request on stderr, where the platforms collect logs.
 */
#include "host/host.h"

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "gateway/access_log.h"
#include "gateway/gateway.h"
#include "gateway/h2o_glue.h"
#include "gateway/tls.h"
#include "base/http.h"

typedef struct host_handler {
    h2o_handler_t super;
    kumo__host *host;
} host_handler;

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    stopping = 1;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    kumo__host *h = ((host_handler *)self)->host;
    uint64_t start = kumo__mono_us();
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    char request_id[80];
    kumo__host_new_request_id(h, request_id, sizeof(request_id));
    /* As under kumo up: too many or too large header fields are refused
     * before anything copies them. */
    int refused = kumo__h2o_refuse_head(req, &h->project->http, request_id);
    if (!refused)
        refused = kumo__h2o_refuse_framing(req, request_id);
    if (refused) {
        kumo__logline l;
        kumo__access_line(&l, request_id, req->method.base, req->method.len, req->path.base, path_len, NULL, refused,
                          kumo__mono_us() - start, NULL, NULL);
        kumo__logline_write(&l, 2);
        return 0;
    }
    kumo__http_in in;
    kumo__h2o_http_in(req, &in);
    kumo__host_reply r;
    /* one invocation at a time: queue consumers (consume.c) take turns */
    pthread_mutex_lock(&h->call_lock);
    /* what a platform pushes (an event), else an API request */
    if (!kumo__host_event(h, &in, request_id, &r))
        kumo__host_handle(h, &in, request_id, &r);
    if (r.no_route && h->docs && kumo__docs_serve(h->docs, req)) {
        kumo__host_reply_free(&r);
        pthread_mutex_unlock(&h->call_lock);
        return 0;
    }
    req->res.status = r.status;
    req->res.reason = kumo__http_reason(r.status);
    for (size_t i = 0; i < r.nheaders; i++)
        kumo__h2o_copy_header(req, r.headers[i].name, r.headers[i].name_len, r.headers[i].value,
                              r.headers[i].value_len);
    h2o_iovec_t body = h2o_strdup(&req->pool, r.body, r.body_len);
    kumo__logline l;
    kumo__access_line(&l, r.request_id, req->method.base, req->method.len, in.path.base, in.path.len,
                      r.op ? r.op->operation_id : NULL, r.status, kumo__mono_us() - start,
                      r.trace_id[0] ? r.trace_id : NULL, r.span_id[0] ? r.span_id : NULL);
    kumo__logline_write(&l, 2);
    kumo__host_reply_free(&r);
    pthread_mutex_unlock(&h->call_lock);
    kumo__send_body(req, body.base, body.len);
    return 0;
}

/* $KUMO_METRICS_PORT: GET /metrics, the Prometheus text of this instance
 * (docs/metrics.md), on a listener of its own beside the API's, so no
 * route of the user's API is taken. */
static int on_metrics_req(h2o_handler_t *self, h2o_req_t *req)
{
    kumo__host *h = ((host_handler *)self)->host;
    if (!h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/metrics"))) {
        kumo__send_problem(req, 404, "Not Found", "this port serves GET /metrics only", NULL, NULL);
        return 0;
    }
    pthread_mutex_lock(&h->call_lock); /* the consumers record under it */
    char *text = kumo__metrics_prometheus(h->metrics, NULL);
    pthread_mutex_unlock(&h->call_lock);
    if (text == NULL) {
        kumo__send_problem(req, 500, "Internal Server Error", "out of memory", NULL, NULL);
        return 0;
    }
    req->res.status = 200;
    req->res.reason = "OK";
    kumo__h2o_add_header(req, H2O_STRLIT("content-type"), H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"));
    h2o_iovec_t body = h2o_strdup(&req->pool, text, SIZE_MAX);
    free(text);
    kumo__send_body(req, body.base, body.len);
    return 0;
}

int kumo__host_serve_http(kumo__host *h, const char *host, int port, kumo__error *err)
{
    struct sockaddr_in sa, msa;
    int fd = kumo__host_listen(host, port, &sa, err);
    if (fd < 0)
        return err->code;
    int mfd = -1;
    if (kumo__host_metrics_listen(h, host, &msa, &mfd, err) != 0) {
        close(fd);
        return err->code;
    }

    /* Static: they outlive this function (see the end). */
    static h2o_globalconf_t conf;
    h2o_config_init(&conf);
    conf.server_name = h2o_iovec_init(H2O_STRLIT("kumo"));
    size_t largest = 1u << 20;
    for (size_t i = 0; i < h->project->nunits; i++)
        if (h->project->units[i].tuning.max_body > largest)
            largest = h->project->units[i].tuning.max_body;
    conf.max_request_entity_size = largest + 1;
    h2o_hostconf_t *hostconf = h2o_config_register_host(&conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(hostconf, "/", 0);
    host_handler *hh = (host_handler *)h2o_create_handler(path, sizeof(*hh));
    hh->super.on_req = on_req;
    hh->host = h;
    kumo__install_problem_filter(hostconf, path);

    h2o_evloop_t *loop = h2o_evloop_create();
    static h2o_context_t ctx;
    h2o_context_init(&ctx, loop, &conf);
    h2o_accept_ctx_t actx = {.ctx = &ctx, .hosts = conf.hosts};
    /* http.tls, as kumo up serves it (gateway/tls.c) */
    SSL_CTX *ssl_ctx = NULL;
    if (h->project->http.edge.tls.cert && (ssl_ctx = kumo__tls_context(&h->project->http.edge.tls, err)) == NULL) {
        if (mfd >= 0)
            close(mfd);
        close(fd);
        h2o_context_dispose(&ctx);
        h2o_config_dispose(&conf);
        h2o_evloop_destroy(loop);
        return err->code;
    }
    actx.ssl_ctx = ssl_ctx;
    static h2o_globalconf_t mconf;
    static h2o_context_t mctx;
    static h2o_accept_ctx_t mactx;
    kumo__listener *mlistener = NULL;
    if (mfd >= 0) {
        h2o_config_init(&mconf);
        mconf.server_name = h2o_iovec_init(H2O_STRLIT("kumo"));
        h2o_hostconf_t *mhost = h2o_config_register_host(&mconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
        h2o_pathconf_t *mpath = h2o_config_register_path(mhost, "/", 0);
        host_handler *mh = (host_handler *)h2o_create_handler(mpath, sizeof(*mh));
        mh->super.on_req = on_metrics_req;
        mh->host = h;
        h2o_context_init(&mctx, loop, &mconf);
        mactx = (h2o_accept_ctx_t){.ctx = &mctx, .hosts = mconf.hosts};
        mlistener = kumo__listener_start(loop, mfd, &mactx, "kumo-host metrics", 16);
    }
    kumo__raise_open_files(); /* one descriptor per connection: take what the hard limit allows */
    /* Handlers run in this process: only stores and logs hold descriptors
     * besides the connections. */
    size_t max_conns = kumo__connection_bound(h->project->http.max_connections, 1, 64);
    kumo__listener *listener = kumo__listener_start(loop, fd, &actx, "kumo-host", max_conns);
    if (listener == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        h2o_context_dispose(&ctx);
        h2o_config_dispose(&conf);
        h2o_evloop_destroy(loop);
        return err->code;
    }

    struct sigaction sa_stop = {.sa_handler = on_signal};
    sigemptyset(&sa_stop.sa_mask);
    sigaction(SIGTERM, &sa_stop, NULL);
    sigaction(SIGINT, &sa_stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "kumo-host: %s serving %s://%s:%d (at most %zu open connections)\n", h->project->name,
            ssl_ctx ? "https" : "http", host, ntohs(sa.sin_port), max_conns);
    if (mlistener)
        fprintf(stderr, "kumo-host: metrics at http://%s:%d/metrics\n", host, ntohs(msa.sin_port));
    const char *consume = getenv("KUMO_CONSUME");
    int failed = 0;
    if (consume && strcmp(consume, "1") == 0 && (failed = kumo__host_consumers_start(h, err)) != 0)
        stopping = 1; /* err says why; the listener is closed below */
    while (!stopping)
        h2o_evloop_run(loop, 100);
    /* the consumers end after the message each holds */
    kumo__host_consumers_stop(h);
    /* Drain as the gateway does: no new connections; the next response on
     * each one is its last (Connection: close, GOAWAY); idle ones close
     * after a second; what a client still holds open after ten is left to
     * the exit. Handlers run on this thread, so nothing is mid-call here. */
    kumo__h2o_drain(&ctx, 1000);
    kumo__listener_stop(listener);
    for (uint64_t until = kumo__mono_ms() + 10000; kumo__listener_connections(listener) > 0 && kumo__mono_ms() < until;)
        h2o_evloop_run(loop, 50);
    if (mlistener) {
        kumo__listener_stop(mlistener);
        kumo__listener_close(mlistener);
    }
    size_t left = kumo__listener_connections(listener);
    kumo__listener_close(listener);
    h2o_evloop_run(loop, 0);
    if (left > 0) {
        /* their timers still point into ctx, which h2o_context_dispose
         * asserts against; the process exits next */
        fprintf(stderr, "kumo-host: stopping with %zu connections still open\n", left);
        return failed;
    }
    /* the drain's second GOAWAY, due a second after the first, is still
     * scheduled on the context even with no HTTP/2 connection left */
    if (h2o_timeout_is_linked(&ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&ctx.http2._graceful_shutdown_timeout);
    h2o_context_dispose(&ctx);
    h2o_config_dispose(&conf);
    /* h2o keeps no global handle to the loop; it is left to the exit */
    return failed;
}
