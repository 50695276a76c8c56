/*
 * runtime_api.c: the Lambda Runtime API (2018-06-01) that the bootstrap
 * polls, and the FIFO of public requests it serves one at a time. The
 * bootstrap is in one of these states: none (not running: started again
 * by the next request), starting (spawned, has not asked for an event
 * yet; 10 s like Lambda's init phase), ready (waiting in GET /next),
 * running (an event handed out, not answered), between (answered, not yet
 * back in /next). The head of the FIFO is handed out when it is ready;
 * /response and /error answer it, /init/error fails it.
 *
 * Besides API Gateway's requests, the public port takes the Lambda Invoke
 * API, POST /2015-03-31/functions/NAME/invocations, whose body is handed
 * to the bootstrap as the event, as it is: an SQS, S3, SNS or EventBridge
 * payload reaches the function as those services would send it (`aws
 * lambda invoke --endpoint-url` works). Its answer is the function's
 * payload with 200, or its error with X-Amz-Function-Error: Unhandled.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/clock.h"
#include "emulate/emulate_internal.h"

/* size-1 random hex digits and a NUL (size at most 65). */
static void random_hex(char *out, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[32];
    size_t n = size / 2;
    if (n > sizeof(b))
        n = sizeof(b);
    if (getrandom(b, n, 0) != (ssize_t)n)
        for (size_t i = 0; i < n; i++)
            b[i] = (unsigned char)(kumo__mono_ms() >> (i % 8)) ^ (unsigned char)(i * 37);
    size_t w = 0;
    for (; w + 1 < size && w / 2 < n; w++)
        out[w] = hex[(b[w / 2] >> (w % 2 ? 0 : 4)) & 15];
    out[w] = '\0';
}

/* A Runtime API error kumo__emu_answer, as Lambda gives them. */
static void respond_runtime_error(kumo__emu *e, kumo__emu_conn *c, int status, const char *type, const char *message)
{
    kumo__emu_respond_json(e, c, status, "application/json",
                           json_pack("{s:s, s:s}", "errorMessage", message, "errorType", type), NULL);
}

/* Hands the head of the FIFO to the bootstrap waiting in /next. */
static void dispatch(kumo__emu *e)
{
    kumo__emu_conn *c = e->q_head, *rt = e->next_conn;
    e->q_head = c->queued;
    if (e->q_head == NULL)
        e->q_tail = NULL;
    c->queued = NULL;
    kumo__emu_uuid(e->inflight_id);
    kumo__emu_remember(e, c);
    uint64_t now = kumo__epoch_ms();
    unsigned timeout = e->o->timeout_s ? e->o->timeout_s : 30;
    char *body;
    if (c->invoke) {
        /* the Invoke API: the request's body is the event */
        body = c->req.body ? strndup(c->req.body, c->req.body_len) : strdup("{}");
    } else {
        json_t *ev = kumo__emu_event(e, c, e->inflight_id, now);
        body = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
        json_decref(ev);
    }
    if (body == NULL) {
        kumo__emu_respond_problem(e, c, 500, "out of memory building the event", e->inflight_id);
        return;
    }
    if (strlen(body) > KUMO__HTTP1_BODY_MAX) {
        free(body);
        kumo__emu_respond_problem(e, c, 413, "the request's event is over Lambda's 6 MB payload limit", e->inflight_id);
        kumo__emu_log_request(e, 413, c->started_ms);
        return;
    }
    char deadline[32], trace[128], root[25], parent[17];
    snprintf(deadline, sizeof(deadline), "%llu", (unsigned long long)(now + timeout * 1000ull));
    random_hex(root, sizeof(root));
    random_hex(parent, sizeof(parent));
    snprintf(trace, sizeof(trace), "Root=1-%08llx-%s;Parent=%s;Sampled=0", (unsigned long long)(now / 1000), root,
             parent);
    kumo__emu_header hs[] = {{"Content-Type", "application/json"},
                             {"Lambda-Runtime-Aws-Request-Id", e->inflight_id},
                             {"Lambda-Runtime-Deadline-Ms", deadline},
                             {"Lambda-Runtime-Invoked-Function-Arn", e->arn},
                             {"Lambda-Runtime-Trace-Id", trace}};
    kumo__emu_respond(e, rt, 200, hs, sizeof(hs) / sizeof(hs[0]), body, strlen(body));
    free(body);
    e->next_conn = NULL;
    e->child = CHILD_RUNNING;
    e->busy = 1;
    e->inflight = c;
    e->deadline_ms = kumo__mono_ms() + timeout * 1000ull;
}

/* Moves the FIFO along: starts the bootstrap when needed, hands out the
 * head when it is ready. */
void kumo__emu_pump(kumo__emu *e)
{
    while (!e->busy && e->q_head && !e->stopping) {
        if (e->child == CHILD_NONE) {
            if (kumo__emu_spawn(e) == 0)
                return;
            kumo__emu_conn *c = e->q_head;
            e->q_head = c->queued;
            if (e->q_head == NULL)
                e->q_tail = NULL;
            kumo__emu_remember(e, c);
            kumo__emu_respond_problem(e, c, 502, "the function's bootstrap cannot be started (fork failed)", NULL);
            kumo__emu_log_request(e, 502, c->started_ms);
            continue;
        }
        if (e->child != CHILD_READY || e->next_conn == NULL || e->doomed)
            return;
        dispatch(e);
    }
}

void kumo__emu_runtime_request(kumo__emu *e, kumo__emu_conn *c)
{
    kumo__http1_req *r = &c->req;
    const char *t = r->target;
    size_t pl = strlen(RUNTIME_PREFIX);
    if (strncmp(t, RUNTIME_PREFIX, pl) != 0) {
        respond_runtime_error(e, c, 404, "InvalidRequest", "not a Lambda Runtime API 2018-06-01 path");
        return;
    }
    t += pl;
    if (strcmp(t, "/invocation/next") == 0 && strcmp(r->method, "GET") == 0) {
        if (e->child == CHILD_RUNNING && e->busy && !e->child_answered) {
            /* asked for more without answering: that invocation failed */
            if (e->inflight) {
                kumo__emu_respond_problem(
                    e, e->inflight, 502, "the function's bootstrap asked for the next event without answering this one",
                    e->inflight_id);
                kumo__emu_log_request(e, 502, e->inflight->started_ms);
            }
            e->busy = 0;
            e->inflight = NULL;
        }
        c->state = ST_WAITING;
        if (e->doomed)
            return; /* it is being stopped: this wait ends with it */
        e->next_conn = c;
        e->child = CHILD_READY;
        kumo__emu_print_ready(e);
        kumo__emu_pump(e);
        return;
    }
    if (strcmp(t, "/init/error") == 0 && strcmp(r->method, "POST") == 0) {
        json_t *doc = json_loadb(r->body ? r->body : "", r->body_len, 0, NULL);
        const char *msg = json_string_value(json_object_get(doc, "errorMessage"));
        const char *type = json_string_value(json_object_get(doc, "errorType"));
        char detail[1024];
        snprintf(detail, sizeof(detail), "the function failed to initialise: %s%s%s", type ? type : "",
                 type ? ": " : "", msg ? msg : "(no errorMessage)");
        json_decref(doc);
        fprintf(stderr, "kumo emulate: %s\n", detail);
        kumo__emu_respond_json(e, c, 202, "application/json", json_pack("{s:s}", "status", "OK"), NULL);
        kumo__emu_send_some(c);
        if (e->busy && e->inflight) {
            kumo__emu_respond_problem(e, e->inflight, 502, detail, e->inflight_id);
            kumo__emu_log_request(e, 502, e->inflight->started_ms);
        } else if (!e->busy && e->q_head) {
            kumo__emu_conn *h = e->q_head;
            e->q_head = h->queued;
            if (e->q_head == NULL)
                e->q_tail = NULL;
            char id[37];
            kumo__emu_uuid(id);
            kumo__emu_remember(e, h);
            kumo__emu_respond_problem(e, h, 502, detail, id);
            kumo__emu_log_request(e, 502, h->started_ms);
        }
        e->busy = 0;
        e->inflight = NULL;
        e->child_answered = 1;
        kumo__emu_kill_child(e, SIGKILL); /* Lambda stops the environment after an init error */
        kumo__emu_print_ready(e);
        return;
    }
    const char *inv = "/invocation/";
    if (strncmp(t, inv, strlen(inv)) == 0 && strcmp(r->method, "POST") == 0) {
        const char *id = t + strlen(inv), *slash = strchr(id, '/');
        if (slash && (strcmp(slash, "/response") == 0 || strcmp(slash, "/error") == 0)) {
            size_t idlen = (size_t)(slash - id);
            if (!e->busy || idlen != strlen(e->inflight_id) || strncmp(id, e->inflight_id, idlen) != 0) {
                respond_runtime_error(e, c, 400, "InvalidRequestID",
                                      "no invocation with this request ID is in progress (answered already, or "
                                      "timed out)");
                return;
            }
            kumo__emu_conn *client = e->inflight;
            int status;
            if (client && client->invoke) {
                /* the Invoke API answers 200 with the payload; a function
                 * error with X-Amz-Function-Error: Unhandled, as Lambda does */
                int err = strcmp(slash, "/error") == 0;
                kumo__emu_header hs[] = {{"Content-Type", "application/json"},
                                         {"X-Amz-Executed-Version", "$LATEST"},
                                         {"X-Amz-Function-Error", "Unhandled"}};
                kumo__emu_respond(e, client, 200, hs, err ? 3 : 2, r->body ? r->body : "", r->body_len);
                status = 200;
            } else if (strcmp(slash, "/response") == 0) {
                status = client ? kumo__emu_answer(e, client, r->body ? r->body : "", r->body_len) : 0;
            } else {
                json_t *doc = json_loadb(r->body ? r->body : "", r->body_len, 0, NULL);
                const char *msg = json_string_value(json_object_get(doc, "errorMessage"));
                const char *type = json_string_value(json_object_get(doc, "errorType"));
                if (type == NULL)
                    type = kumo__http1_header(r, "lambda-runtime-function-error-type");
                char detail[1024];
                snprintf(detail, sizeof(detail), "the function reported an error: %s%s%s", type ? type : "",
                         type ? ": " : "", msg ? msg : "(no errorMessage)");
                json_decref(doc);
                status = 502;
                if (client)
                    kumo__emu_respond_problem(e, client, 502, detail, e->inflight_id);
            }
            if (client)
                kumo__emu_log_request(e, status, client->started_ms);
            e->busy = 0;
            e->inflight = NULL;
            e->child = CHILD_BETWEEN;
            kumo__emu_respond_json(e, c, 202, "application/json", json_pack("{s:s}", "status", "OK"), NULL);
            return;
        }
    }
    respond_runtime_error(e, c, 404, "InvalidRequest", "unknown Lambda Runtime API path or method");
}

/* POST /2015-03-31/functions/NAME/invocations: 1 when c is an Invoke API
 * call for this function (queued with its body as the event), 0 when it
 * is not one, -1 when it was answered (an error). */
static int invoke_call(kumo__emu *e, kumo__emu_conn *c)
{
    const char *t = c->req.target;
    size_t pl = strlen(INVOKE_PREFIX);
    if (strncmp(t, INVOKE_PREFIX, pl) != 0)
        return 0;
    const char *name = t + pl, *slash = strchr(name, '/');
    kumo__emu_remember(e, c);
    if (slash == NULL || strncmp(slash, "/invocations", 12) != 0 || (slash[12] != '\0' && slash[12] != '?') ||
        strcmp(c->req.method, "POST") != 0) {
        respond_runtime_error(e, c, 404, "ResourceNotFoundException", "not a Lambda Invoke API path");
        return -1;
    }
    size_t nl = (size_t)(slash - name);
    if (!((nl == strlen(e->function) && strncmp(name, e->function, nl) == 0) ||
          (nl == strlen(e->arn) && strncmp(name, e->arn, nl) == 0))) {
        respond_runtime_error(e, c, 404, "ResourceNotFoundException", "no such function here");
        return -1;
    }
    const char *type = kumo__http1_header(&c->req, "x-amz-invocation-type");
    if (type && strcmp(type, "RequestResponse") != 0) {
        respond_runtime_error(e, c, 400, "InvalidParameterValueException",
                              "kumo emulate lambda runs RequestResponse invocations only");
        return -1;
    }
    json_t *doc =
        json_loadb(c->req.body ? c->req.body : "{}", c->req.body ? c->req.body_len : 2, JSON_DECODE_ANY, NULL);
    if (doc == NULL) {
        respond_runtime_error(e, c, 400, "InvalidRequestContentException", "the payload is not JSON");
        return -1;
    }
    json_decref(doc);
    c->invoke = 1;
    return 1;
}

void kumo__emu_on_request(kumo__emu *e, kumo__emu_conn *c)
{
    if (c->kind == CONN_RUNTIME) {
        kumo__emu_runtime_request(e, c);
        return;
    }
    c->invoke = 0;
    if (invoke_call(e, c) < 0)
        return;
    c->state = ST_WAITING;
    c->started_ms = kumo__mono_ms();
    c->queued = NULL;
    if (e->q_tail)
        e->q_tail->queued = c;
    else
        e->q_head = c;
    e->q_tail = c;
    kumo__emu_pump(e);
}
