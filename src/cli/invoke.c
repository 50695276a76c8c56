/*
 * invoke.c: `kumo invoke TARGET [--data FILE|-] [--header K:V]...
 * [--param K=V]... [--json] [--verbose] [--admin-port N] [--host ADDR]
 * [--admin-token-file FILE]` calls something of a running `kumo up` by
 * hand and prints the answer. TARGET is looked up in what kumo up serves
 * (GET /events?depth=no on its admin port: its events and operations):
 *
 *   - a schedule event: a tick now (POST /events/NAME/fire), marked
 *     `ce-kumotrigger: manual`, the schedule's plan left alone;
 *   - a queue event: the data sent as a message into the event's queue
 *     (POST /events/NAME/send), and the answer of the handler the consumer
 *     delivered it to (the same path as any message: retries and dead
 *     letters included);
 *   - a cloudevent event: a binary-mode CloudEvent of the event's type
 *     POSTed to /_kumo/events on the API port, as a producer would;
 *   - an operationId: an HTTP request to the API port, the path's
 *     {parameters} from --param (the others go to the query), the data as
 *     body, the headers given.
 *
 * An event name wins over an operationId of the same spelling. Exit status
 * 0 when the handler answered 2xx, 1 otherwise. See docs/events.md.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

#define ANSWER_MAX (16u << 20)
#define LIST_MAX (4u << 20)
/* What --data may hold: the API's own max_body decides past this. */
#define DATA_MAX (64u << 20)
/* How long to wait for the handler: its unit's timeout, which is rarely
 * over an hour; past this the outcome is only in kumo's log. */
#define INVOKE_TIMEOUT_S 3700
/* Event names are [a-z0-9_-]+ (kumo.yaml); the path has a ceiling. */
#define NAME_MAX_LEN 200
#define HEADERS_MAX 64
#define PARAMS_MAX 64

typedef struct invoke_args {
    const char *target;
    const char *data_file; /* --data: a file, "-" for stdin, NULL: no body */
    const char *headers[HEADERS_MAX];
    size_t nheaders;
    const char *params[PARAMS_MAX];
    size_t nparams;
    int json, verbose;
} invoke_args;

/* Reads --data's file (or stdin) whole: 0, or an error. */
static int read_data(const char *file, char **out, size_t *len, kumo__error *err)
{
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *len = 0;
    if (f == NULL) {
        kumo__error_set(err, -errno, "--data %s: %s", file, strerror(errno));
        return err->code;
    }
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 4096;
            char *nb = ncap <= DATA_MAX + 1 ? realloc(buf, ncap + 1) : NULL;
            if (nb == NULL) {
                free(buf);
                if (f != stdin)
                    fclose(f);
                kumo__error_set(err, -EFBIG, "--data %s: more than %u bytes (or out of memory)", file, DATA_MAX);
                return err->code;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    if (f != stdin)
        fclose(f);
    if (bad) {
        free(buf);
        kumo__error_set(err, -EIO, "--data %s: read error", file);
        return err->code;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* The answer's problem detail, or its body. */
static const char *detail_of(json_t *doc, const kumo__http_res *res)
{
    const char *d = json_string_value(json_object_get(doc, "detail"));
    return d ? d : res->body;
}

/* An admin answer that is not the expected one, as an error. */
static int admin_error(const kumo__http_res *res, kumo__error *err)
{
    json_error_t jerr;
    json_t *doc = json_loadb(res->body, res->len, 0, &jerr);
    const char *detail = detail_of(doc, res);
    int code = res->status == 401 ? -EACCES : res->status == 404 ? -ENOENT : res->status == 409 ? -EBUSY : -EPROTO;
    if (code == -EPROTO)
        kumo__error_set(err, code, "the admin port answered %d: %.600s", res->status, detail);
    else
        kumo__error_set(err, code, "%.900s", detail);
    json_decref(doc);
    return err->code;
}

static void print_json(json_t *doc)
{
    char *s = json_dumps(doc, JSON_INDENT(2));
    if (s)
        puts(s);
    free(s);
}

/* A schedule event: POST /events/NAME/fire. */
static int fire(const kumo__admin_target *to, const char *token, const invoke_args *a, kumo__error *err)
{
    char path[NAME_MAX_LEN + 32];
    snprintf(path, sizeof(path), "/events/%s/fire", a->target);
    kumo__http_res res;
    int rc = kumo__admin_call(to, token, "POST", path, NULL, NULL, 0, INVOKE_TIMEOUT_S, ANSWER_MAX, &res, err);
    if (rc != 0)
        return rc;
    json_error_t jerr;
    json_t *doc = json_loadb(res.body, res.len, 0, &jerr);
    if (res.status != 200 || !json_is_integer(json_object_get(doc, "status"))) {
        rc = admin_error(&res, err);
        goto out;
    }
    int handler = (int)json_integer_value(json_object_get(doc, "status"));
    const char *id = json_string_value(json_object_get(doc, "request_id"));
    const char *error = json_string_value(json_object_get(doc, "error"));
    double ms = (double)json_integer_value(json_object_get(doc, "duration_us")) / 1000.0;
    if (a->json)
        print_json(doc);
    else
        printf("event %s: status %d, request id %s (%.1f ms)\n", a->target, handler, id ? id : "?", ms);
    if (handler < 200 || handler > 299) {
        kumo__error_set(err, -EIO, "the handler answered %d%s%.600s", handler, error ? ": " : "", error ? error : "");
        rc = err->code;
    }
out:
    json_decref(doc);
    free(res.head);
    return rc;
}

/* A queue event: POST /events/NAME/send with the data, waiting for the
 * handler's answer to that message. */
static int send_message(const kumo__admin_target *to, const char *token, const invoke_args *a, json_t *ev,
                        const char *data, size_t len, kumo__error *err)
{
    char path[NAME_MAX_LEN + 32];
    snprintf(path, sizeof(path), "/events/%s/send", a->target);
    kumo__http_res res;
    int rc = kumo__admin_call(to, token, "POST", path, "application/octet-stream", data, len, INVOKE_TIMEOUT_S,
                              ANSWER_MAX, &res, err);
    if (rc != 0)
        return rc;
    json_error_t jerr;
    json_t *doc = json_loadb(res.body, res.len, 0, &jerr);
    const char *queue = json_string_value(json_object_get(ev, "queue"));
    if (queue == NULL)
        queue = "?";
    const char *mid = json_string_value(json_object_get(doc, "message_id"));
    if ((res.status != 200 && res.status != 202) || mid == NULL) {
        rc = admin_error(&res, err);
        goto out;
    }
    if (a->json)
        print_json(doc);
    if (res.status == 202) {
        const char *why = json_string_value(json_object_get(doc, "detail"));
        if (!a->json)
            printf("event %s: message %s sent to the queue %s; no answer\n", a->target, mid, queue);
        kumo__error_set(err, -ETIMEDOUT, "message %s: %s", mid, why ? why : "no answer");
        rc = err->code;
        goto out;
    }
    int handler = (int)json_integer_value(json_object_get(doc, "status"));
    const char *id = json_string_value(json_object_get(doc, "request_id"));
    const char *error = json_string_value(json_object_get(doc, "error"));
    int dead = json_is_true(json_object_get(doc, "dead_lettered"));
    if (!a->json)
        printf("event %s: message %s (queue %s): status %d, request id %s\n", a->target, mid, queue, handler,
               id ? id : "?");
    if (handler < 200 || handler > 299) {
        kumo__error_set(err, -EIO, "the handler answered %d%s%.600s; the message %s", handler, error ? ": " : "",
                        error ? error : "",
                        dead ? "moves to the dead-letter queue" : "goes back to the queue and will be retried");
        rc = err->code;
    }
out:
    json_decref(doc);
    free(res.head);
    return rc;
}

/* Appends s (n bytes) to buf (cap, *len used), percent-encoding what is
 * not unreserved when `encode`. 0, or -1 when it does not fit. */
static int put(char *buf, size_t cap, size_t *len, const char *s, size_t n, int encode)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int plain = !encode || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.' || c == '~';
        if (*len + (plain ? 1 : 3) >= cap)
            return -1;
        if (plain) {
            buf[(*len)++] = (char)c;
        } else {
            buf[(*len)++] = '%';
            buf[(*len)++] = hex[c >> 4];
            buf[(*len)++] = hex[c & 15];
        }
    }
    buf[*len] = '\0';
    return 0;
}

/* The request path of an operation: the base path, the template with its
 * {parameters} from --param, the other --params as the query. */
static int op_path(const invoke_args *a, const char *base, const char *tmpl, char *out, size_t cap, kumo__error *err)
{
    size_t len = 0;
    int used[PARAMS_MAX] = {0};
    if (put(out, cap, &len, base, strlen(base), 0) < 0)
        goto long_;
    for (const char *t = tmpl; *t;) {
        const char *open = strchr(t, '{'), *close = open ? strchr(open, '}') : NULL;
        if (open == NULL || close == NULL) {
            if (put(out, cap, &len, t, strlen(t), 0) < 0)
                goto long_;
            break;
        }
        if (put(out, cap, &len, t, (size_t)(open - t), 0) < 0)
            goto long_;
        size_t nl = (size_t)(close - open - 1);
        size_t k = 0;
        while (k < a->nparams && !(strncmp(a->params[k], open + 1, nl) == 0 && a->params[k][nl] == '='))
            k++;
        if (k == a->nparams) {
            kumo__error_set(err, -KUMO__EUSAGE, "operation %s's path %s needs --param %.*s=VALUE", a->target, tmpl,
                            (int)nl, open + 1);
            return err->code;
        }
        used[k] = 1;
        const char *v = a->params[k] + nl + 1;
        if (put(out, cap, &len, v, strlen(v), 1) < 0)
            goto long_;
        t = close + 1;
    }
    int first = 1;
    for (size_t k = 0; k < a->nparams; k++) {
        if (used[k])
            continue;
        const char *eq = strchr(a->params[k], '=');
        if (put(out, cap, &len, first ? "?" : "&", 1, 0) < 0 ||
            put(out, cap, &len, a->params[k], (size_t)(eq - a->params[k]), 1) < 0 ||
            put(out, cap, &len, "=", 1, 0) < 0 || put(out, cap, &len, eq + 1, strlen(eq + 1), 1) < 0)
            goto long_;
        first = 0;
    }
    return 0;
long_:
    kumo__error_set(err, -KUMO__EUSAGE, "the request path is longer than %zu bytes", cap - 1);
    return err->code;
}

/* An operation: the HTTP request on the API port, printed as HTTP answers. */
static int call_operation(const kumo__admin_target *to, const invoke_args *a, json_t *list, json_t *op,
                          const char *data, size_t len, kumo__error *err)
{
    const char *method = json_string_value(json_object_get(op, "method"));
    const char *tmpl = json_string_value(json_object_get(op, "path"));
    if (method == NULL || method[0] == '\0' || strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(method))
        method = "GET";
    const char *base =
        json_is_true(json_object_get(op, "no_base")) ? "" : json_string_value(json_object_get(list, "base_path"));
    int port = (int)json_integer_value(json_object_get(list, "api_port"));
    char path[8192], headers[16384];
    size_t hl = 0;
    int rc = op_path(a, base ? base : "", tmpl ? tmpl : "/", path, sizeof(path), err);
    if (rc != 0)
        return rc;
    int has_type = 0;
    headers[0] = '\0';
    for (size_t i = 0; i < a->nheaders; i++) {
        const char *colon = strchr(a->headers[i], ':'), *v = colon + 1;
        while (*v == ' ')
            v++;
        if ((size_t)(colon - a->headers[i]) == 12 && strncasecmp(a->headers[i], "content-type", 12) == 0)
            has_type = 1;
        int n = snprintf(headers + hl, sizeof(headers) - hl, "%.*s: %s\r\n", (int)(colon - a->headers[i]),
                         a->headers[i], v);
        if (n < 0 || (size_t)n >= sizeof(headers) - hl) {
            kumo__error_set(err, -KUMO__EUSAGE, "the --header values are longer than %zu bytes", sizeof(headers));
            return err->code;
        }
        hl += (size_t)n;
    }
    const char *type = json_string_value(json_array_get(json_object_get(op, "body_types"), 0));
    if (data && !has_type) {
        if (type == NULL || strchr(type, '*'))
            type = "application/octet-stream";
        snprintf(headers + hl, sizeof(headers) - hl, "Content-Type: %s\r\n", type);
    }
    kumo__http_req r = {.method = method, .path = path, .headers = headers, .body = data, .len = data ? len : 0};
    kumo__http_res res;
    if ((rc = kumo__http_call(to->host, port, "kumo's API port", &r, INVOKE_TIMEOUT_S, ANSWER_MAX, &res, err)) != 0)
        return rc;
    if (a->json) {
        json_t *hdrs = json_object(), *doc;
        for (const char *h = strstr(res.head, "\r\n"); h && h[2]; h = strstr(h + 2, "\r\n")) {
            const char *colon = strchr(h + 2, ':'), *end = strstr(h + 2, "\r\n");
            if (colon == NULL || end == NULL || colon > end)
                continue;
            char name[256];
            snprintf(name, sizeof(name), "%.*s", (int)(colon - h - 2), h + 2);
            for (char *c = name; *c; c++)
                *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
            const char *v = colon + 1;
            while (*v == ' ')
                v++;
            json_object_set_new(hdrs, name, json_stringn(v, (size_t)(end - v)));
        }
        json_error_t jerr;
        json_t *body = json_loadb(res.body, res.len, JSON_DECODE_ANY, &jerr);
        if (body == NULL)
            body = json_stringn(res.body, res.len); /* NULL when not UTF-8: then "body" is null */
        doc = json_pack("{s:s, s:s, s:i, s:o, s:o*}", "operation", a->target, "request", path, "status", res.status,
                        "headers", hdrs, "body", body);
        print_json(doc);
        json_decref(doc);
    } else {
        const char *eol = strstr(res.head, "\r\n");
        printf("%.*s\n", (int)(eol ? eol - res.head : (long)strlen(res.head)), res.head);
        if (a->verbose && eol) {
            for (const char *h = eol; h[2]; h = strstr(h + 2, "\r\n")) {
                const char *e = strstr(h + 2, "\r\n");
                printf("%.*s\n", (int)(e - h - 2), h + 2);
            }
            putchar('\n');
        }
        fwrite(res.body, 1, res.len, stdout);
        if (res.len && res.body[res.len - 1] != '\n')
            putchar('\n');
    }
    if (res.status < 200 || res.status > 299) {
        kumo__error_set(err, -EIO, "%s %s answered %d", method, path, res.status);
        rc = err->code;
    }
    free(res.head);
    return rc;
}

/* A cloudevent event: a binary-mode CloudEvent of the event's type (and
 * source, else /kumo/invoke) POSTed to /_kumo/events on the API port, as
 * a producer outside would send it; --header adds or overrides ce-*
 * attributes (ce-subject, ...). The content type is --header's, else
 * application/json when the data parses as JSON, else
 * application/octet-stream. */
static int cloudevent(const kumo__admin_target *to, invoke_args *a, json_t *list, json_t *ev, const char *data,
                      size_t len, kumo__error *err)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *source = json_string_value(json_object_get(ev, "source"));
    char h[5][600];
    const char *names[] = {"ce-specversion", "ce-id", "ce-type", "ce-source", "content-type"};
    char id[64];
    snprintf(id, sizeof(id), "kumo-invoke-%ld-%ld", (long)time(NULL), (long)getpid());
    json_error_t jerr;
    json_t *parsed = data ? json_loadb(data, len, JSON_DECODE_ANY, &jerr) : NULL;
    const char *values[] = {"1.0", id, type ? type : "", source ? source : "/kumo/invoke",
                            parsed ? "application/json" : "application/octet-stream"};
    json_decref(parsed);
    const char *given[HEADERS_MAX];
    size_t ngiven = a->nheaders, n = 0;
    memcpy(given, a->headers, ngiven * sizeof(given[0]));
    for (size_t k = 0; k < 5; k++) {
        size_t nl = strlen(names[k]);
        int overridden = 0;
        for (size_t g = 0; g < ngiven; g++)
            if (strncasecmp(given[g], names[k], nl) == 0 && given[g][nl] == ':')
                overridden = 1;
        if (overridden || (k == 4 && data == NULL))
            continue;
        if (ngiven + n >= HEADERS_MAX) {
            kumo__error_set(err, -KUMO__EUSAGE, "too many --header");
            return err->code;
        }
        snprintf(h[n], sizeof(h[n]), "%s:%s", names[k], values[k]);
        a->headers[ngiven + n] = h[n];
        n++;
    }
    a->nheaders = ngiven + n;
    json_t *op =
        json_pack("{s:s, s:s, s:b, s:[]}", "method", "POST", "path", "/_kumo/events", "no_base", 1, "body_types");
    int rc = call_operation(to, a, list, op, data, len, err);
    json_decref(op);
    a->nheaders = ngiven;
    return rc;
}

/* "the events are: a, b; the operations are: c, d" */
static void known_targets(json_t *list, char *out, size_t cap)
{
    size_t at = 0, i;
    json_t *v;
    at += (size_t)snprintf(out + at, cap - at, "the events are:");
    json_array_foreach(json_object_get(list, "events"), i, v)
    {
        if (at < cap)
            at += (size_t)snprintf(out + at, cap - at, "%s %s", i ? "," : "",
                                   json_string_value(json_object_get(v, "name")) ?: "?");
    }
    if (json_array_size(json_object_get(list, "events")) == 0 && at < cap)
        at += (size_t)snprintf(out + at, cap - at, " (none)");
    if (at < cap)
        at += (size_t)snprintf(out + at, cap - at, "; the operations are:");
    size_t shown = 0;
    json_array_foreach(json_object_get(list, "operations"), i, v)
    {
        const char *id = json_string_value(json_object_get(v, "operation_id"));
        if (id && at < cap)
            at += (size_t)snprintf(out + at, cap - at, "%s %s", shown++ ? "," : "", id);
    }
    if (shown == 0 && at < cap)
        snprintf(out + at, cap - at, " (none with an operationId)");
}

static int parse_args(int argc, char **argv, kumo__admin_target *to, invoke_args *a, kumo__error *err)
{
    for (int i = 0; i < argc; i++) {
        int rc = kumo__admin_option(argc, argv, &i, to, err);
        if (rc < 0)
            return rc;
        if (rc == 1)
            continue;
        const char *o = argv[i];
        if (strcmp(o, "--json") == 0) {
            a->json = 1;
        } else if (strcmp(o, "--verbose") == 0 || strcmp(o, "-v") == 0) {
            a->verbose = 1;
        } else if ((strcmp(o, "--data") == 0 || strcmp(o, "--header") == 0 || strcmp(o, "--param") == 0)) {
            if (i + 1 >= argc) {
                kumo__error_set(err, -KUMO__EUSAGE, "%s needs a value", o);
                return err->code;
            }
            const char *v = argv[++i];
            if (o[2] == 'd') {
                if (a->data_file) {
                    kumo__error_set(err, -KUMO__EUSAGE, "--data is given twice");
                    return err->code;
                }
                a->data_file = v;
            } else if (o[2] == 'h') {
                const char *colon = strchr(v, ':');
                size_t nl = colon ? (size_t)(colon - v) : 0;
                if (colon == NULL || nl == 0 ||
                    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_!#$%&'*+.^`|~") != nl ||
                    strpbrk(v, "\r\n") || a->nheaders == HEADERS_MAX) {
                    kumo__error_set(
                        err, -KUMO__EUSAGE,
                        "--header takes NAME:VALUE (a header name, no line breaks; at most %d), not '%.200s'",
                        HEADERS_MAX, v);
                    return err->code;
                }
                a->headers[a->nheaders++] = v;
            } else {
                const char *eq = strchr(v, '=');
                if (eq == NULL || eq == v || a->nparams == PARAMS_MAX) {
                    kumo__error_set(err, -KUMO__EUSAGE, "--param takes NAME=VALUE (at most %d), not '%.200s'",
                                    PARAMS_MAX, v);
                    return err->code;
                }
                a->params[a->nparams++] = v;
            }
        } else if (o[0] == '-' || a->target != NULL) {
            kumo__error_set(err, -KUMO__EUSAGE, "unknown argument '%s'", o);
            return err->code;
        } else {
            a->target = o;
        }
    }
    if (a->target == NULL) {
        kumo__error_set(err, -KUMO__EUSAGE, "what to invoke? an event or an operationId (`kumo events` lists them)");
        return err->code;
    }
    size_t len = strlen(a->target);
    if (len == 0 || len > NAME_MAX_LEN ||
        strspn(a->target, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != len) {
        kumo__error_set(err, -KUMO__EUSAGE,
                        "'%.*s' is neither an event name ([a-z0-9_-]+) nor an operationId (letters, digits, _ - .; "
                        "at most %d)",
                        NAME_MAX_LEN, a->target, NAME_MAX_LEN);
        return err->code;
    }
    return 0;
}

int kumo__cmd_invoke(int argc, char **argv, kumo__error *err)
{
    kumo__admin_target to = {.host = "127.0.0.1", .port = 8081};
    invoke_args a = {0};
    char token[KUMO__ADMIN_TOKEN_MAX + 1], known[2048];
    char *data = NULL;
    size_t len = 0;
    json_t *list = NULL;
    kumo__http_res res = {0};
    int rc;
    if ((rc = parse_args(argc, argv, &to, &a, err)) != 0 ||
        (rc = kumo__admin_token(to.token_file, token, sizeof(token), err)) != 0)
        return rc;
    if ((rc = kumo__admin_call(&to, token, "GET", "/events?depth=no", NULL, NULL, 0, 30, LIST_MAX, &res, err)) != 0)
        return rc;
    json_error_t jerr;
    if (res.status != 200) {
        rc = admin_error(&res, err);
        goto out;
    }
    if ((list = json_loadb(res.body, res.len, 0, &jerr)) == NULL) {
        kumo__error_set(err, -EPROTO, "GET /events is not JSON: %s", jerr.text);
        rc = err->code;
        goto out;
    }
    if (a.data_file && (rc = read_data(a.data_file, &data, &len, err)) != 0)
        goto out;
    size_t i;
    json_t *v, *ev = NULL, *op = NULL;
    json_array_foreach(json_object_get(list, "events"), i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        if (name && strcmp(name, a.target) == 0)
            ev = v;
    }
    json_array_foreach(json_object_get(list, "operations"), i, v)
    {
        const char *id = json_string_value(json_object_get(v, "operation_id"));
        if (id && strcmp(id, a.target) == 0)
            op = v;
    }
    const char *kind = ev ? json_string_value(json_object_get(ev, "kind")) : NULL;
    if (kind == NULL)
        kind = "";
    if (ev && strcmp(kind, "schedule") == 0) {
        if (a.data_file || a.nheaders || a.nparams) {
            kumo__error_set(err, -KUMO__EUSAGE,
                            "event %s is a schedule: a tick's request is fixed, so --data, --header and --param do "
                            "not apply",
                            a.target);
            rc = err->code;
            goto out;
        }
        rc = fire(&to, token, &a, err);
    } else if (ev && (strcmp(kind, "queue") == 0 || strcmp(kind, "topic") == 0)) {
        /* a topic event: the message goes into its own subscription's queue, not to the topic's other events */
        if (a.nheaders || a.nparams) {
            kumo__error_set(err, -KUMO__EUSAGE,
                            "event %s consumes a %s: a message is a body only, so --header and --param do not "
                            "apply (give the body with --data)",
                            a.target, kind);
            rc = err->code;
            goto out;
        }
        rc = send_message(&to, token, &a, ev, data, len, err);
    } else if (ev && strcmp(kind, "cloudevent") == 0) {
        rc = cloudevent(&to, &a, list, ev, data, len, err);
    } else if (ev) {
        kumo__error_set(err, -ENOTSUP, "event %s is a %s event: kumo invoke does not fire those yet", a.target, kind);
        rc = err->code;
    } else if (op) {
        rc = call_operation(&to, &a, list, op, data, len, err);
    } else {
        known_targets(list, known, sizeof(known));
        kumo__error_set(err, -ENOENT, "no event or operation '%s' in the running kumo (project %s); %s", a.target,
                        json_string_value(json_object_get(list, "project")), known);
        rc = err->code;
    }
out:
    free(data);
    json_decref(list);
    free(res.head);
    return rc;
}
