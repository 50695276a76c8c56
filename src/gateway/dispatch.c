/*
 * dispatch.c: see dispatch.h. A request's way to its handler, without a
 * transport, shared by kumo up (api.c) and kumo-host: path hygiene,
 * routing, OPTIONS and 405, the 501 of an operation without a handler
 * (or, in mock mode, the mock engine's answer: mock_request), the body limit, the contract check (400, 415, 406), and
 * the request frame with the typed values the check produced; an event's request frame (kumo__dispatch_event: no route,
 * no contract); and, on the way back, reading the response frame (kumo__response_read).
 */
#include "gateway/dispatch.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/policy.h"
#include "base/clock.h"
#include "base/http.h"
#include "base/percent.h"
#include "gateway/mock.h"

/* A JSON string of possibly invalid UTF-8: bytes outside ASCII are kept
 * only when the whole text is valid. */
static json_t *text(const char *s, size_t len)
{
    json_t *v = json_stringn(s, len);
    if (v == NULL) {
        char buf[512];
        size_t n = 0;
        for (size_t i = 0; i < len && n < sizeof(buf) - 1; i++)
            buf[n++] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
        v = json_stringn(buf, n);
    }
    return v;
}

char *kumo__problem_json(int status, const char *title, const char *detail, const char *instance, size_t instance_len,
                         const char *request_id, const kumo__violations *v, size_t *len)
{
    json_t *doc = json_object();
    if (doc == NULL)
        return NULL;
    json_object_set_new(doc, "type", json_string("about:blank"));
    json_object_set_new(doc, "title", json_string(title ? title : kumo__http_reason(status)));
    json_object_set_new(doc, "status", json_integer(status));
    if (detail && *detail)
        json_object_set_new(doc, "detail", text(detail, strlen(detail)));
    if (instance)
        json_object_set_new(doc, "instance", text(instance, instance_len));
    if (request_id)
        json_object_set_new(doc, "request_id", json_string(request_id));
    if (v && v->count) {
        json_t *errors = json_array();
        for (size_t i = 0; i < v->count; i++)
            json_array_append_new(errors, json_pack("{s:s, s:s, s:s}", "pointer", v->items[i].instance, "schema",
                                                    v->items[i].schema, "message", v->items[i].message));
        json_object_set_new(doc, "errors", errors);
    }
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (body && len)
        *len = strlen(body);
    return body;
}

int kumo__is_hop_header(const char *name, size_t len)
{
    static const char *hop[] = {"connection", "content-length", "transfer-encoding",
                                "keep-alive", "upgrade",        "proxy-connection",
                                "te",         "trailer",        "x-request-id"};
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        if (strlen(hop[i]) == len && strncasecmp(hop[i], name, len) == 0)
            return 1;
    return 0;
}

static int has_dot_segment(const char *path, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t start = ++i; /* after '/' */
        while (i < len && path[i] != '/')
            i++;
        size_t n = i - start;
        const char *s = path + start;
        if (n == 0 || n > 6 || (s[0] != '.' && s[0] != '%'))
            continue; /* every dot segment, plain or escaped, starts with '.' or '%' */
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return 1;
        if ((n == 3 && strncasecmp(s, "%2e", 3) == 0) ||
            (n == 4 && (strncasecmp(s, "%2e.", 4) == 0 || strncasecmp(s, ".%2e", 4) == 0)) ||
            (n == 6 && strncasecmp(s, "%2e%2e", 6) == 0))
            return 1;
    }
    return 0;
}

/* Sets an ANSWER with a problem body; returns KUMO__DISPATCH_ANSWER. */
static int answer(const kumo__http_in *in, const char *request_id, kumo__dispatch *out, int status, const char *title,
                  const char *detail, const kumo__violations *v)
{
    out->status = status;
    out->body = kumo__problem_json(status, title, detail, in->path.base, in->path.len, request_id, v, &out->body_len);
    if (status == 503)
        out->retry_after = "1";
    return KUMO__DISPATCH_ANSWER;
}

/* A 400 listing every violation: RFC 9457 with an "errors" extension of
 * {pointer, schema, message}. In mock mode, an operation that declares a
 * 422 response gets a 422 when every violation is in the body (Prism's
 * answer to a body that parses but breaks its schema): `body_status`. */
static int answer_violations(const kumo__http_in *in, const char *request_id, kumo__dispatch *out,
                             const kumo__violations *v, int body_status)
{
    char detail[160];
    int in_body = v->count > 0;
    for (size_t i = 0; i < v->count && in_body; i++)
        in_body = strncmp(v->items[i].instance, "/body", 5) == 0;
    int status = in_body && body_status ? body_status : 400;
    snprintf(detail, sizeof(detail), "the request breaks the API's contract in %zu place%s%s", v->count,
             v->count == 1 ? "" : "s", v->truncated ? " (more not listed)" : "");
    return answer(in, request_id, out, status, status == 400 ? "Bad Request" : "Unprocessable Content", detail, v);
}

/* The document's security (auth/policy.h): KUMO__DISPATCH_INVOKE to go
 * on (who called in *ar), else the 401 or 403 is set, with its
 * WWW-Authenticate header. */
static int authorize(const kumo__api *api, const kumo__http_in *in, size_t op_index, const char *request_id,
                     kumo__auth_result *ar, kumo__dispatch *out)
{
    kumo__auth_request rq = {.headers = in->headers,
                             .nheaders = in->nheaders,
                             .query = in->query,
                             .tls_client_subject = in->tls_client_subject,
                             .defer_hash = in->defer_slow,
                             .basic_done = in->slow_done};
    kumo__auth_check(api->auth, op_index, &rq, ar);
    if (ar->status == 0)
        return KUMO__DISPATCH_INVOKE;
    if (ar->status == KUMO__AUTH_PENDING) {
        out->park = ar->pending;
        ar->pending = NULL;
        return KUMO__DISPATCH_PARK;
    }
    answer(in, request_id, out, ar->status,
           ar->status == 403   ? "Forbidden"
           : ar->status == 503 ? "Service Unavailable"
                               : "Unauthorized",
           ar->detail, NULL);
    if (ar->retry_after)
        out->retry_after = ar->retry_after;
    if (ar->challenge[0] && (out->headers = calloc(1, sizeof(*out->headers))) != NULL) {
        out->headers[0].name = strdup("www-authenticate");
        out->headers[0].value = strdup(ar->challenge);
        out->nheaders = 1;
        if (out->headers[0].name == NULL || out->headers[0].value == NULL) {
            free(out->headers[0].name);
            free(out->headers[0].value);
            out->nheaders = 0;
        }
    }
    kumo__auth_result_free(ar);
    return KUMO__DISPATCH_ANSWER;
}

/* The typed values the check produced, for the handler's accessors. */
static void put_json(kumo__frame_writer *w, uint16_t tag, const json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (s) {
        kumo__frame_put_str(w, tag, s);
        free(s);
    }
}

static void put_checked(kumo__frame_writer *w, const kumo__checked *c)
{
    if (c->params)
        put_json(w, KF_PARAMS_JSON, c->params);
    else if (c->params_none) /* an operation without parameters: its constant text, no JSON built or dumped */
        kumo__frame_put(w, KF_PARAMS_JSON, KUMO__PARAMS_NONE, sizeof(KUMO__PARAMS_NONE) - 1);
    if (c->body && c->media && strcmp(c->media->type, "application/json") != 0 && json_is_object(c->body))
        put_json(w, KF_FORM_JSON, c->body);
    for (size_t i = 0; i < c->nparts; i++) {
        const kumo__part *p = &c->parts[i];
        if (p->filename.base == NULL)
            continue; /* plain fields are in KF_FORM_JSON */
        kumo__frame_put_part(w, KF_PART, p->name.base, p->name.len, p->filename.base, p->filename.len,
                             p->content_type.base, p->content_type.len, p->data.base, p->data.len);
    }
    if (c->response_type)
        kumo__frame_put_str(w, KF_RESPONSE_TYPE, c->response_type);
}

/* The contract check: KUMO__DISPATCH_INVOKE to go on (the typed values in
 * *checked), else the answer is set. */
static int check(const kumo__opcheck *chk, const kumo__http_in *in, const kumo__route_match *m, const char *request_id,
                 kumo__checked *checked, kumo__dispatch *out, int body_status, int untyped)
{
    if (chk == NULL)
        return KUMO__DISPATCH_INVOKE;
    kumo__http_view view = {
        .method = in->method,
        .query = in->query.base ? in->query : (kumo__slice){NULL, 0},
        .headers = in->headers,
        .nheaders = in->nheaders,
        .match = m,
        .body = in->body,
        .untyped = untyped,
    };
    kumo__violations v = {.limit = 50};
    char detail[512] = "";
    int rc = kumo__opcheck_request(chk, &view, checked, &v, detail, sizeof(detail));
    if (rc == KUMO__CHECK_OK)
        rc = KUMO__DISPATCH_INVOKE;
    else if (rc == KUMO__CHECK_INVALID)
        rc = answer_violations(in, request_id, out, &v, body_status);
    else if (rc == KUMO__CHECK_UNSUPPORTED)
        rc = answer(in, request_id, out, 415, "Unsupported Media Type", detail, NULL);
    else if (rc == KUMO__CHECK_NOT_ACCEPTABLE)
        rc = answer(in, request_id, out, 406, "Not Acceptable", detail, NULL);
    else
        rc = answer(in, request_id, out, 503, "Service Unavailable", "out of memory while checking the request", NULL);
    kumo__violations_free(&v);
    return rc;
}

/* Mock mode (kumo mock, kumo up --mock): an operation without a handler
 * is checked like any other (body limit, credentials, contract) and then
 * answered by the mock engine. */
static int mock_request(const kumo__api *api, const kumo__http_in *in, const kumo__route_match *m,
                        const char *request_id, kumo__dispatch *out)
{
    char detail[160];
    if (in->body.len > api->project->max_body) {
        snprintf(detail, sizeof(detail), "the body has %zu bytes; the limit is %zu", in->body.len,
                 api->project->max_body);
        return answer(in, request_id, out, 413, "Content Too Large", detail, NULL);
    }
    kumo__mock_request rq = {.op = m->op, .op_index = m->op_index, .in = in, .match = m, .request_id = request_id};
    kumo__mock_reply r;
    memset(&r, 0, sizeof(r));
    /* with a policy (kumo up --mock), the credentials were checked for real */
    int rc = api->auth ? 0 : kumo__mock_authorize(api->mock, &rq, &r);
    kumo__checked checked;
    memset(&checked, 0, sizeof(checked));
    const kumo__opcheck *chk = NULL;
    const char *why = NULL;
    if (rc == 0 && kumo__mock_check(api->mock, m->op_index, &chk, &why) != 0) {
        kumo__mock_reply_free(&r);
        return answer(in, request_id, out, why ? 500 : 503, why ? "Internal Server Error" : "Service Unavailable",
                      why ? why : "out of memory while compiling the operation's contract", NULL);
    }
    if (rc == 0) {
        int body_status = 0;
        for (size_t i = 0; i < m->op->nresponses; i++)
            if (strcmp(m->op->responses[i].status, "422") == 0)
                body_status = 422;
        /* a stateless mock answers without the typed parameters: not built */
        if ((rc = check(chk, in, m, request_id, &checked, out, body_status, !kumo__mock_uses_typed(api->mock))) !=
            KUMO__DISPATCH_INVOKE) {
            kumo__checked_free(&checked);
            return rc;
        }
        rq.checked = &checked;
        rc = kumo__mock_answer(api->mock, &rq, &r);
        kumo__checked_free(&checked);
        if (rc >= 0 && r.defer) { /* record mode's call: off the loop, then asked again */
            out->park = r.defer;
            r.defer = NULL;
            kumo__mock_reply_free(&r);
            return KUMO__DISPATCH_PARK;
        }
    }
    if (rc < 0) {
        kumo__mock_reply_free(&r);
        return answer(in, request_id, out, 503, "Service Unavailable", "out of memory while making the mock answer",
                      NULL);
    }
    out->status = r.status;
    out->body = r.body;
    out->body_len = r.body_len;
    out->content_type = r.content_type;
    out->headers = r.headers;
    out->nheaders = r.nheaders;
    out->borrowed = r.borrowed;
    return KUMO__DISPATCH_ANSWER;
}

int kumo__dispatch_request(const kumo__api *api, const kumo__http_in *in, const char *request_id, uint64_t now_epoch_ms,
                           kumo__frame_writer *w, kumo__dispatch *out)
{
    char detail[512];
    kumo__route_match m;

    memset(out, 0, sizeof(*out));
    const char *path = in->path.base;
    size_t path_len = in->path.len;
    if (path_len == 0 || path[0] != '/' || has_dot_segment(path, path_len))
        return answer(in, request_id, out, 400, "Bad request path",
                      "the path must start with '/' and may not contain '.' or '..' segments", NULL);
    char method[16];
    size_t method_len = in->method.len < 15 ? in->method.len : 15;
    if (method_len)
        memcpy(method, in->method.base, method_len);
    method[method_len] = '\0';
    int rc = kumo__router_match(api->router, method, path, path_len, &m);
    if (rc == -ENOENT) {
        snprintf(detail, sizeof(detail), "no operation of the API matches the path '%.*s'",
                 (int)(path_len < 300 ? path_len : 300), path);
        out->no_route = 1;
        return answer(in, request_id, out, 404, "Not Found", detail, NULL);
    }
    if (rc == -KUMO__EMETHOD && strcmp(method, "OPTIONS") == 0) {
        /* A path without an OPTIONS operation still says what it allows. */
        snprintf(out->allow, sizeof(out->allow), "%s, OPTIONS", m.allow);
        out->status = 204;
        return KUMO__DISPATCH_ANSWER;
    }
    if (rc == -KUMO__EMETHOD) {
        snprintf(out->allow, sizeof(out->allow), "%s", m.allow);
        snprintf(detail, sizeof(detail), "%s is not defined for this path; allowed: %s", method, m.allow);
        return answer(in, request_id, out, 405, "Method Not Allowed", detail, NULL);
    }
    const kumo__operation *op = m.op;
    out->op = op;
    out->op_index = m.op_index;
    kumo__auth_result ar;
    memset(&ar, 0, sizeof(ar));
    if (rc == 0 && api->auth) {
        int verdict = authorize(api, in, m.op_index, request_id, &ar, out);
        if (verdict != KUMO__DISPATCH_INVOKE)
            return verdict;
    }
    if (rc == 0 && api->limits) { /* http.rate_limits: after the security check, before the function, mock, 501 */
        /* per caller: the authenticated one (scheme and subject) when the
         * document's security named one, else what the transport says */
        char who[320];
        const char *key = kumo__ratelimit_key(in);
        if (ar.scheme && ar.subject[0]) {
            snprintf(who, sizeof(who), "%s:%s", ar.scheme, ar.subject);
            key = who;
        }
        kumo__ratelimit_take(api->limits, m.op_index, key, kumo__mono_us(), &out->limit);
        if (out->limit.refused) {
            kumo__auth_result_free(&ar);
            snprintf(detail, sizeof(detail), "operation '%s' allows %s (kumo.yaml http.rate_limits); retry in %s s",
                     op->operation_id ? op->operation_id : op->path, out->limit.rule, out->limit.retry_after);
            answer(in, request_id, out, 429, "Too Many Requests", detail, NULL);
            out->retry_after = out->limit.retry_after;
            return KUMO__DISPATCH_ANSWER;
        }
    }
    if (rc == 0 && op->unit_index < 0 && api->mock) {
        kumo__auth_result_free(&ar);
        return mock_request(api, in, &m, request_id, out);
    }
    if (rc != 0 || op->unit_index < 0 || (api->only_unit >= 0 && op->unit_index != api->only_unit)) {
        kumo__auth_result_free(&ar);
        if (rc == 0 && op->unit_index >= 0)
            snprintf(detail, sizeof(detail), "operation '%s' (%s %s) is served by function unit '%s', not here",
                     op->operation_id ? op->operation_id : "", op->method, op->path,
                     api->project->units[op->unit_index].name);
        else
            snprintf(detail, sizeof(detail),
                     "operation '%s' (%s %s) has no handler yet; define '%s' in a function unit",
                     op->operation_id ? op->operation_id : "", op->method, op->path, op->symbol ? op->symbol : "?");
        return answer(in, request_id, out, 501, "Not Implemented", detail, NULL);
    }
    const kumo__tuning *tuning = &api->project->units[op->unit_index].tuning;
    if (in->body.len > tuning->max_body) {
        kumo__auth_result_free(&ar);
        snprintf(detail, sizeof(detail), "the body has %zu bytes; the limit is %zu", in->body.len, tuning->max_body);
        return answer(in, request_id, out, 413, "Content Too Large", detail, NULL);
    }

    const kumo__opcheck *chk = api->checks ? api->checks[m.op_index] : NULL;
    if (api->check_of && api->check_of(api->check_ctx, m.op_index, &chk) != 0) {
        kumo__auth_result_free(&ar);
        return answer(in, request_id, out, 500, "Internal Server Error",
                      "the operation's request contract could not be compiled; the log says why", NULL);
    }
    kumo__checked checked;
    memset(&checked, 0, sizeof(checked));
    if ((rc = check(chk, in, &m, request_id, &checked, out, 0, 0)) != KUMO__DISPATCH_INVOKE) {
        kumo__auth_result_free(&ar);
        kumo__checked_free(&checked);
        return rc;
    }
    out->timeout_ms = (uint64_t)(tuning->timeout_s * 1000.0);

    kumo__frame_begin(w, 0, KUMO__FRAME_REQUEST, 0);
    kumo__frame_put(w, KF_METHOD, in->method.base, in->method.len);
    kumo__frame_put(w, KF_PATH, path, path_len);
    if (in->query.base)
        kumo__frame_put(w, KF_QUERY, in->query.base, in->query.len);
    kumo__frame_put_str(w, KF_OPERATION, op->operation_id ? op->operation_id : "");
    kumo__frame_put_str(w, KF_SYMBOL, op->symbol);
    kumo__frame_put_str(w, KF_REQUEST_ID, request_id);
    uint64_t deadline = out->timeout_ms ? now_epoch_ms + out->timeout_ms : 0;
    if (in->deadline_ms && (deadline == 0 || in->deadline_ms < deadline))
        deadline = in->deadline_ms;
    if (deadline)
        kumo__frame_put_u64(w, KF_DEADLINE_MS, deadline);
    for (size_t i = 0; i < m.nparams; i++) {
        char buf[1024], *p = m.params[i].value_len <= sizeof(buf) ? buf : malloc(m.params[i].value_len);
        ssize_t n = p ? kumo__percent_decode_into(m.params[i].value, m.params[i].value_len, p, KUMO__PCT_NO_NUL) : -1;
        if (n >= 0)
            kumo__frame_put_pair(w, KF_PARAM, m.params[i].name, strlen(m.params[i].name), p, (size_t)n);
        if (p != buf)
            free(p);
        if (n < 0) {
            kumo__auth_result_free(&ar);
            kumo__checked_free(&checked);
            kumo__frame_writer_free(w);
            snprintf(detail, sizeof(detail), "path parameter '%s' has a malformed percent-escape", m.params[i].name);
            return answer(in, request_id, out, 400, "Bad Request", detail, NULL);
        }
    }
    for (size_t i = 0; i < in->nheaders; i++) {
        const kumo__slice *n = &in->headers[i].name;
        if (in->traceparent && ((n->len == 11 && memcmp(n->base, "traceparent", 11) == 0) ||
                                (n->len == 10 && memcmp(n->base, "tracestate", 10) == 0)))
            continue; /* replaced below */
        kumo__frame_put_pair(w, KF_HEADER, n->base, n->len, in->headers[i].value.base, in->headers[i].value.len);
    }
    if (in->traceparent) {
        kumo__frame_put_pair(w, KF_HEADER, "traceparent", 11, in->traceparent, strlen(in->traceparent));
        if (in->tracestate && *in->tracestate)
            kumo__frame_put_pair(w, KF_HEADER, "tracestate", 10, in->tracestate, strlen(in->tracestate));
    }
    put_checked(w, &checked);
    kumo__checked_free(&checked);
    if (ar.scheme) {
        kumo__frame_put_str(w, KF_AUTH_SCHEME, ar.scheme);
        kumo__frame_put_str(w, KF_AUTH_SUBJECT, ar.subject);
        put_json(w, KF_AUTH_CLAIMS, ar.claims);
    }
    kumo__auth_result_free(&ar);
    if (in->body.base != NULL)
        kumo__frame_put(w, KF_BODY, in->body.base, in->body.len);
    if (kumo__frame_end(w) != 0) {
        kumo__frame_writer_free(w);
        return answer(in, request_id, out, 413, "Content Too Large", "the request is larger than the frame limit",
                      NULL);
    }
    return KUMO__DISPATCH_INVOKE;
}

int kumo__dispatch_event(const char *symbol, const char *path, const char *request_id, const kumo__header_view *headers,
                         size_t nheaders, kumo__slice body, uint64_t now_epoch_ms, uint64_t timeout_ms,
                         kumo__frame_writer *w)
{
    kumo__frame_begin(w, 0, KUMO__FRAME_REQUEST, 0);
    kumo__frame_put_str(w, KF_METHOD, "POST");
    kumo__frame_put_str(w, KF_PATH, path);
    kumo__frame_put_str(w, KF_SYMBOL, symbol);
    kumo__frame_put_str(w, KF_REQUEST_ID, request_id);
    if (timeout_ms)
        kumo__frame_put_u64(w, KF_DEADLINE_MS, now_epoch_ms + timeout_ms);
    for (size_t i = 0; i < nheaders; i++)
        kumo__frame_put_pair(w, KF_HEADER, headers[i].name.base, headers[i].name.len, headers[i].value.base,
                             headers[i].value.len);
    kumo__frame_put(w, KF_BODY, body.base ? body.base : "", body.len);
    if (kumo__frame_end(w) != 0) {
        kumo__frame_writer_free(w);
        return -E2BIG;
    }
    return 0;
}

void kumo__dispatch_free(kumo__dispatch *d)
{
    kumo__slow_job_free(d->park);
    d->park = NULL;
    if (d->borrowed) { /* the mock engine's: it outlives the request */
        d->body = NULL;
        d->content_type = NULL;
        d->headers = NULL;
        d->nheaders = 0;
        d->borrowed = 0;
        return;
    }
    free(d->body);
    d->body = NULL;
    free(d->content_type);
    d->content_type = NULL;
    for (size_t i = 0; i < d->nheaders; i++) {
        free(d->headers[i].name);
        free(d->headers[i].value);
    }
    free(d->headers);
    d->headers = NULL;
    d->nheaders = 0;
}

void kumo__response_read(const char *payload, size_t len, kumo__response_in *out)
{
    kumo__frame_reader r;
    kumo__frame_field f;
    uint32_t status = 200;

    memset(out, 0, sizeof(*out));
    out->body = "";
    kumo__frame_reader_init(&r, payload, len);
    while (kumo__frame_next(&r, &f) > 0) {
        if (f.tag == KF_STATUS) {
            if (kumo__frame_u32(&f, &status) != 0 || status < 100 || status > 999)
                status = 500;
        } else if (f.tag == KF_ERROR) {
            out->error = f.data;
            out->error_len = f.len;
        } else if (f.tag == KF_HEADER) {
            const char *name, *value;
            size_t nl, vl;
            if (kumo__frame_pair(&f, &name, &nl, &value, &vl) != 0)
                continue;
            if (!kumo__http_token(name, nl))
                out->invalid = "a response header's name is not a token";
            else if (!kumo__http_field_value(value, vl))
                out->invalid = "a response header's value holds a control character (CR, LF or NUL)";
            else if (nl == 12 && strncasecmp(name, "content-type", 12) == 0) {
                out->content_type = value;
                out->content_type_len = vl;
            }
        } else if (f.tag == KF_BODY) {
            out->body = f.data;
            out->body_len = f.len;
        }
    }
    out->status = (int)status;
    if (status == 204 || status == 304 || status < 200)
        out->body_len = 0;
}

int kumo__response_header(const char *payload, size_t len, size_t *pos, const char **name, size_t *name_len,
                          const char **value, size_t *value_len)
{
    kumo__frame_reader r;
    kumo__frame_field f;
    kumo__frame_reader_init(&r, payload, len);
    size_t i = 0;
    while (kumo__frame_next(&r, &f) > 0) {
        if (f.tag != KF_HEADER || i++ < *pos)
            continue;
        (*pos)++;
        if (kumo__frame_pair(&f, name, name_len, value, value_len) != 0 || !kumo__http_token(*name, *name_len) ||
            !kumo__http_field_value(*value, *value_len) || kumo__is_hop_header(*name, *name_len))
            continue;
        return 1;
    }
    return 0;
}
