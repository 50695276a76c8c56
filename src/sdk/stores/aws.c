/*
 * aws.c: the pieces the AWS drivers share (see aws.h): URL parsing, the
 * credentials, one signed exchange (cloud.c's), errors.
 *
 * Signing is libcurl's (CURLOPT_AWS_SIGV4 "aws:amz:REGION:SERVICE" with the
 * key id and secret as user name and password); the session token, when
 * there is one, travels in x-amz-security-token. In kumo-host and
 * kumo-lambda (kumo__cloud_builtin, cloud.h) the exchange goes through the
 * built-in client instead (cloud_builtin.c: httpc.c over BearSSL, signed
 * by sigv4.c), with the same call and the same answers, and libcurl is
 * never loaded.
 *
 * Every exchange is bounded (kumo__aws_limits): a time to connect (an
 * unreachable endpoint is KUMO_EUNAVAILABLE), a time in all
 * (KUMO_ETIMEDOUT), a ceiling on the response body and one on its headers
 * (cloud.c). The stores take
 * CONNECT_TIMEOUT_MS and TOTAL_TIMEOUT_MS; kumo deploy (deploy/aws_api.c)
 * sends through the same exchange with its own, longer limits. The
 * handle keeps its connection between calls; after the service went away
 * libcurl (or httpc.c) notices the dead connection and opens a new one, so
 * the next call after the backend returns succeeds without anything done
 * here.
 *
 * Errors: a service answers with a code (JSON "__type", XML <Code>, or
 * x-amzn-query-error) and a message; kumo__aws_map_error turns the code into
 * a KUMO_E* value, and "SERVICE: Code: message" goes into the store handle's
 * error field, which store.c hands to kumo_store_error. Services sometimes
 * echo the access key id in messages; kumo__aws_scrub blanks it (and the
 * secret, which no service should echo) before any message is kept.
 */
#include "sdk/stores/aws.h"
#define conn_new() kumo__cloud_conn_new()
#define conn_free(h) kumo__cloud_conn_free(h)

#include <kumo.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/percent.h"

#define CONNECT_TIMEOUT_MS 2000L
#define TOTAL_TIMEOUT_MS 10000L
#define JSON_BODY_MAX (32u << 20)

struct kumo__aws {
    void *conn; /* a libcurl easy handle, or a kumo__httpc (KUMO_DRIVERS_AWS_ONLY) */
    char *service;
    char *region;
    char *base; /* scheme://host[:port], no trailing '/' */
    char *key, *secret, *token;
    char sigv4[96]; /* "aws:amz:REGION:SERVICE" */
    char code[96];  /* the last error's code */
    char *msg;      /* the owner's message buffer */
    size_t msglen;
};

/* ---- URLs ------------------------------------------------------------ */

void kumo__aws_url_free(kumo__aws_url *u)
{
    if (u == NULL)
        return;
    free(u->resource);
    free(u->path);
    free(u->region);
    free(u->endpoint);
    memset(u, 0, sizeof(*u));
}

static int valid_region(const char *r)
{
    if (*r == '\0' || strlen(r) > 32)
        return 0;
    for (; *r; r++)
        if (!((*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9') || *r == '-'))
            return 0;
    return 1;
}

int kumo__aws_url_parse(const char *url, const char *scheme, kumo__aws_url *out, kumo__error *err)
{
    int rc = KUMO_EINVAL;
    size_t slen = strlen(scheme);
    memset(out, 0, sizeof(*out));
    out->create = 1;
    out->max_receives = 5;

    if (strncmp(url, scheme, slen) != 0 || strncmp(url + slen, "://", 3) != 0) {
        kumo__error_set(err, KUMO_EINVAL, "store URL '%s': expected %s://NAME[?region=R&endpoint=URL]", url, scheme);
        goto out;
    }
    const char *p = url + slen + 3;
    const char *q = strchr(p, '?');
    const char *end = q ? q : p + strlen(p);
    const char *slash = memchr(p, '/', (size_t)(end - p));
    const char *rend = slash ? slash : end;
    if (rend == p) {
        kumo__error_set(err, KUMO_EINVAL, "store URL '%s' names no %s; expected %s://NAME", url,
                        strcmp(scheme, "s3") == 0    ? "bucket"
                        : strcmp(scheme, "sqs") == 0 ? "queue"
                                                     : "table",
                        scheme);
        goto out;
    }
    out->resource = kumo__percent_dup(p, (size_t)(rend - p), KUMO__PCT_NO_NUL);
    out->path = slash ? kumo__percent_dup(slash + 1, (size_t)(end - slash - 1), KUMO__PCT_NO_NUL) : strdup("");
    if (out->resource == NULL || out->path == NULL) {
        kumo__error_set(err, KUMO_EINVAL, "store URL '%s': bad percent-escape in the name or path", url);
        goto out;
    }
    while (q && *q) {
        q++;
        const char *amp = strchr(q, '&');
        const char *pend = amp ? amp : q + strlen(q);
        const char *eq = memchr(q, '=', (size_t)(pend - q));
        if (eq == NULL) {
            kumo__error_set(err, KUMO_EINVAL, "store URL '%s': parameter '%.*s' has no value", url, (int)(pend - q), q);
            goto out;
        }
        size_t nlen = (size_t)(eq - q);
        char *val = kumo__percent_dup(eq + 1, (size_t)(pend - eq - 1), KUMO__PCT_NO_NUL);
        if (val == NULL) {
            kumo__error_set(err, KUMO_EINVAL, "store URL '%s': bad percent-escape in '%.*s'", url, (int)nlen, q);
            goto out;
        }
        if (nlen == 6 && strncmp(q, "region", 6) == 0) {
            free(out->region);
            out->region = val;
        } else if (nlen == 8 && strncmp(q, "endpoint", 8) == 0) {
            size_t vl = strlen(val);
            while (vl > 0 && val[vl - 1] == '/')
                val[--vl] = '\0';
            free(out->endpoint);
            out->endpoint = val;
            if (strncmp(val, "http://", 7) != 0 && strncmp(val, "https://", 8) != 0) {
                kumo__error_set(err, KUMO_EINVAL, "store URL '%s': endpoint must start with http:// or https://", url);
                goto out;
            }
        } else if (nlen == 6 && strncmp(q, "create", 6) == 0) {
            int ok = strcmp(val, "true") == 0 || strcmp(val, "false") == 0;
            out->create = strcmp(val, "false") != 0;
            free(val);
            if (!ok) {
                kumo__error_set(err, KUMO_EINVAL, "store URL '%s': create must be true or false", url);
                goto out;
            }
        } else if (nlen == 12 && strncmp(q, "max_receives", 12) == 0) {
            char *e;
            unsigned long n = strtoul(val, &e, 10);
            int ok = *val && *e == '\0' && n >= 1 && n <= 1000;
            free(val);
            if (!ok) {
                kumo__error_set(err, KUMO_EINVAL, "store URL '%s': max_receives must be 1 to 1000", url);
                goto out;
            }
            out->max_receives = (unsigned)n;
        } else {
            free(val);
            kumo__error_set(err, KUMO_EINVAL,
                            "store URL '%s': unknown parameter '%.*s'; known: region, endpoint, create, max_receives",
                            url, (int)nlen, q);
            goto out;
        }
        q = amp;
    }
    if (out->region == NULL) {
        const char *r = getenv("AWS_REGION");
        if (r == NULL || *r == '\0')
            r = getenv("AWS_DEFAULT_REGION");
        out->region = strdup(r && *r ? r : "us-east-1");
        if (out->region == NULL) {
            kumo__error_set(err, KUMO_ENOMEM, "out of memory");
            rc = KUMO_ENOMEM;
            goto out;
        }
    }
    if (!valid_region(out->region)) {
        kumo__error_set(err, KUMO_EINVAL, "store URL '%s': region '%s' is not a region name (e.g. us-east-1)", url,
                        out->region);
        goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        kumo__aws_url_free(out);
    return rc;
}

/* ---- the client ------------------------------------------------------ */

void kumo__aws_free(kumo__aws *c)
{
    if (c == NULL)
        return;
    if (c->conn)
        conn_free(c->conn);
    free(c->service);
    free(c->region);
    free(c->base);
    kumo__cloud_free_secret(c->key);
    kumo__cloud_free_secret(c->secret);
    kumo__cloud_free_secret(c->token);
    free(c);
}

int kumo__aws_new(const char *service, const kumo__aws_url *u, char *msg, size_t msglen, kumo__aws **out,
                  kumo__error *err)
{
    int rc = KUMO_ENOMEM;
    *out = NULL;
    const char *key = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *token = getenv("AWS_SESSION_TOKEN");
    if (key == NULL || *key == '\0' || secret == NULL || *secret == '\0') {
        kumo__error_set(err, KUMO_EINVAL, "%s store '%s': AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set",
                        service, u->resource);
        return KUMO_EINVAL;
    }
    if (strchr(key, ':') != NULL) {
        kumo__error_set(err, KUMO_EINVAL, "%s store '%s': AWS_ACCESS_KEY_ID has a ':' in it; check the variable",
                        service, u->resource);
        return KUMO_EINVAL;
    }
    /* curl_easy_init runs libcurl's global init itself (thread safe since 7.84);
     * kumo-lambda's client needs none. */
    kumo__aws *c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto nomem;
    c->service = strdup(service);
    c->region = strdup(u->region);
    c->key = strdup(key);
    c->secret = strdup(secret);
    c->token = token && *token ? strdup(token) : NULL;
    if (u->endpoint)
        c->base = strdup(u->endpoint);
    else if (asprintf(&c->base, "https://%s.%s.amazonaws.com", service, u->region) < 0)
        c->base = NULL;
    if ((c->conn = conn_new()) == NULL) {
        kumo__aws_free(c);
        return kumo__cloud_conn_error(err);
    }
    if (!c->service || !c->region || !c->key || !c->secret || (token && *token && !c->token) || !c->base || !c->conn)
        goto nomem;
    snprintf(c->sigv4, sizeof(c->sigv4), "aws:amz:%s:%s", u->region, service);
    c->msg = msg;
    c->msglen = msglen;
    *out = c;
    return 0;
nomem:
    kumo__aws_free(c);
    kumo__error_set(err, KUMO_ENOMEM, "out of memory");
    return rc;
}

const char *kumo__aws_base(const kumo__aws *c)
{
    return c->base;
}

const char *kumo__aws_code(const kumo__aws *c)
{
    return c->code;
}

void kumo__aws_scrub(const kumo__aws *c, char *msg)
{
    const char *secrets[] = {c->key, c->secret, c->token};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        const char *s = secrets[i];
        size_t n = s ? strlen(s) : 0;
        if (n < 4) /* too short to be a real secret; blanking it would mangle text */
            continue;
        char *hit;
        while ((hit = strstr(msg, s)) != NULL)
            memset(hit, '*', n);
    }
}

static void set_msg(kumo__aws *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_msg(kumo__aws *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, c->msglen, fmt, ap);
    va_end(ap);
    kumo__aws_scrub(c, c->msg);
}

/* The code and message of an error answer, from its JSON or XML body or
 * its headers; by status when it has none (HEAD). */
static void parse_error(kumo__aws *c, const kumo__cloud_res *res)
{
    char code[96] = "", message[200] = "", hb[160];
    json_t *j = res->body && res->len ? json_loadb(res->body, res->len, 0, NULL) : NULL;
    if (j) {
        const char *t = json_string_value(json_object_get(j, "__type"));
        if (t == NULL)
            t = json_string_value(json_object_get(j, "code"));
        const char *m = json_string_value(json_object_get(j, "message"));
        if (m == NULL)
            m = json_string_value(json_object_get(j, "Message"));
        if (t) {
            const char *hash = strrchr(t, '#');
            snprintf(code, sizeof(code), "%s", hash ? hash + 1 : t);
        }
        if (m)
            snprintf(message, sizeof(message), "%s", m);
        json_decref(j);
    } else if (res->body && strstr(res->body, "<Code>")) {
        char *t = kumo__aws_xml_text(res->body, "Code", NULL);
        char *m = kumo__aws_xml_text(res->body, "Message", NULL);
        if (t)
            snprintf(code, sizeof(code), "%s", t);
        if (m)
            snprintf(message, sizeof(message), "%s", m);
        free(t);
        free(m);
    }
    /* The query protocol's code, which the JSON protocol of SQS also sends
     * ("AWS.SimpleQueueService.NonExistentQueue;Sender"). */
    if (kumo__cloud_res_header(res, "x-amzn-query-error", hb, sizeof(hb))) {
        char *semi = strchr(hb, ';');
        if (semi)
            *semi = '\0';
        snprintf(code, sizeof(code), "%s", hb);
    }
    if (*code == '\0' && kumo__cloud_res_header(res, "x-amzn-ErrorType", hb, sizeof(hb))) {
        char *colon = strchr(hb, ':');
        if (colon)
            *colon = '\0';
        snprintf(code, sizeof(code), "%s", hb);
    }
    if (*code == '\0') {
        if (res->status == 404)
            snprintf(code, sizeof(code), "NotFound");
        else if (res->status == 412)
            snprintf(code, sizeof(code), "PreconditionFailed");
        else if (res->status == 503)
            snprintf(code, sizeof(code), "ServiceUnavailable");
        else
            snprintf(code, sizeof(code), "HTTP%ld", res->status);
    }
    snprintf(c->code, sizeof(c->code), "%s", code);
    set_msg(c, "%s: %s%s%s (HTTP %ld)", c->service, code, *message ? ": " : "", message, res->status);
}

int kumo__aws_send(kumo__aws *c, const char *method, const char *url, const char *const *headers, const void *body,
                   size_t len, size_t max_body, kumo__cloud_res *res)
{
    kumo__aws_limits limits = {CONNECT_TIMEOUT_MS, TOTAL_TIMEOUT_MS, max_body};
    return kumo__aws_exchange(c, method, url, headers, body, len, &limits, res);
}

int kumo__aws_exchange(kumo__aws *c, const char *method, const char *url, const char *const *headers, const void *body,
                       size_t len, const kumo__aws_limits *limits, kumo__cloud_res *res)
{
    char *tok = NULL;
    *c->code = '\0';
    if (c->token && asprintf(&tok, "x-amz-security-token: %s", c->token) < 0) {
        memset(res, 0, sizeof(*res));
        set_msg(c, "out of memory");
        return KUMO_ENOMEM;
    }
    kumo__cloud_call call = {
        .method = method,
        .url = url,
        .headers = headers,
        .extra = (const char *const[]){tok, NULL},
        .body = body,
        .len = len,
        .connect_timeout_ms = limits->connect_timeout_ms,
        .timeout_ms = limits->timeout_ms,
        .max_body = limits->max_body,
        .sigv4 = c->sigv4,
        .user = c->key,
        .password = c->secret,
        .service = c->service,
        .base = c->base,
    };
    int rc = kumo__cloud_perform(c->conn, &call, res, c->msg, c->msglen);
    kumo__cloud_free_secret(tok);
    if (rc != 0) {
        snprintf(c->code, sizeof(c->code), "curl");
        kumo__aws_scrub(c, c->msg);
        return rc;
    }
    if (res->status >= 200 && res->status < 300)
        return 0;
    parse_error(c, res);
    return kumo__aws_map_error(c->code, res->status);
}

int kumo__aws_json(kumo__aws *c, const char *content_type, const char *target, json_t *req, json_t **resp)
{
    char ct[96], tg[128], url[512];
    kumo__cloud_res res;
    *resp = NULL;
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (body == NULL) {
        set_msg(c, "out of memory");
        return KUMO_ENOMEM;
    }
    snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
    snprintf(tg, sizeof(tg), "X-Amz-Target: %s", target);
    snprintf(url, sizeof(url), "%s/", c->base);
    const char *headers[] = {ct, tg, NULL};
    int rc = kumo__aws_send(c, "POST", url, headers, body, strlen(body), JSON_BODY_MAX, &res);
    free(body);
    if (rc == 0) {
        json_error_t je;
        *resp = json_loadb(res.body ? res.body : "{}", res.body ? res.len : 2, 0, &je);
        if (*resp == NULL) {
            snprintf(c->code, sizeof(c->code), "BadResponse");
            set_msg(c, "%s: %s answered with JSON that does not parse: %s", c->service, target, je.text);
            rc = KUMO_EIO;
        }
    }
    kumo__cloud_res_free(&res);
    return rc;
}

int kumo__aws_map_error(const char *code, long status)
{
    static const struct {
        const char *code;
        int rc;
    } map[] = {
        {"ConditionalCheckFailedException", KUMO_ECONFLICT},
        {"TransactionConflictException", KUMO_ECONFLICT},
        {"PreconditionFailed", KUMO_ECONFLICT},
        {"NoSuchKey", KUMO_ENOTFOUND},
        {"NoSuchBucket", KUMO_ENOTFOUND},
        {"NoSuchUpload", KUMO_ENOTFOUND},
        {"NotFound", KUMO_ENOTFOUND},
        {"ResourceNotFoundException", KUMO_ENOTFOUND},
        {"QueueDoesNotExist", KUMO_ENOTFOUND},
        {"AWS.SimpleQueueService.NonExistentQueue", KUMO_ENOTFOUND},
        {"ReceiptHandleIsInvalid", KUMO_ENOTFOUND},
        {"InvalidReceiptHandle", KUMO_ENOTFOUND},
        {"MessageNotInflight", KUMO_ENOTFOUND},
        {"AWS.SimpleQueueService.MessageNotInflight", KUMO_ENOTFOUND},
        {"EntityTooLarge", KUMO_ETOOBIG},
        {"ItemCollectionSizeLimitExceededException", KUMO_ETOOBIG},
        {"InvalidMessageContents", KUMO_EINVAL},
        {"ProvisionedThroughputExceededException", KUMO_EUNAVAILABLE},
        {"ThrottlingException", KUMO_EUNAVAILABLE},
        {"Throttling", KUMO_EUNAVAILABLE},
        {"RequestLimitExceeded", KUMO_EUNAVAILABLE},
        {"SlowDown", KUMO_EUNAVAILABLE},
        {"ServiceUnavailable", KUMO_EUNAVAILABLE},
        {"InternalError", KUMO_EUNAVAILABLE},
        {"InternalServerError", KUMO_EUNAVAILABLE},
        {"InternalFailure", KUMO_EUNAVAILABLE},
        {"RequestTimeout", KUMO_ETIMEDOUT},
        {"RequestTimeoutException", KUMO_ETIMEDOUT},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(code, map[i].code) == 0)
            return map[i].rc;
    if (status >= 500)
        return KUMO_EUNAVAILABLE;
    return KUMO_EIO;
}

/* ---- XML, base64, URI encoding ---------------------------------------- */

/* Decodes the five entities and numeric references in place. */
static void xml_unescape(char *s)
{
    static const struct {
        const char *name;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    char *w = s;
    for (char *r = s; *r;) {
        if (*r != '&') {
            *w++ = *r++;
            continue;
        }
        int done = 0;
        for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]) && !done; i++) {
            size_t n = strlen(ents[i].name);
            if (strncmp(r, ents[i].name, n) == 0) {
                *w++ = ents[i].c;
                r += n;
                done = 1;
            }
        }
        if (!done && r[1] == '#') {
            char *e;
            unsigned long v = r[2] == 'x' ? strtoul(r + 3, &e, 16) : strtoul(r + 2, &e, 10);
            if (*e == ';' && v > 0 && v < 0x80) {
                *w++ = (char)v;
                r = e + 1;
                done = 1;
            }
        }
        if (!done)
            *w++ = *r++;
    }
    *w = '\0';
}

char *kumo__aws_xml_text(const char *from, const char *tag, const char **end)
{
    char open[80], close[80];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    const char *a = strstr(from, open);
    if (a == NULL)
        return NULL;
    a += strlen(open);
    const char *b = strstr(a, close);
    if (b == NULL)
        return NULL;
    if (end)
        *end = b + strlen(close);
    char *s = strndup(a, (size_t)(b - a));
    if (s)
        xml_unescape(s);
    return s;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *kumo__aws_b64_encode(const void *data, size_t len)
{
    const unsigned char *d = data;
    char *out = malloc((len + 2) / 3 * 4 + 1), *p = out;
    if (out == NULL)
        return NULL;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        *p++ = b64[v >> 18];
        *p++ = b64[(v >> 12) & 63];
        *p++ = b64[(v >> 6) & 63];
        *p++ = b64[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < len ? (uint32_t)d[i + 1] << 8 : 0);
        *p++ = b64[v >> 18];
        *p++ = b64[(v >> 12) & 63];
        *p++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        *p++ = '=';
    }
    *p = '\0';
    return out;
}

long kumo__aws_b64_decode(const char *s, size_t len, unsigned char *out)
{
    uint32_t acc = 0;
    int bits = 0;
    long n = 0;
    size_t pad = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '=') {
            pad++;
            continue;
        }
        if (pad)
            return -1; /* data after padding */
        const char *at = ch ? strchr(b64, ch) : NULL;
        if (at == NULL)
            return -1;
        acc = acc << 6 | (uint32_t)(at - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (pad > 2 || (len - pad) % 4 == 1)
        return -1;
    return n;
}

size_t kumo__aws_uri_encode(const char *s, size_t len, int keep_slash, char *buf, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        int plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                    ch == '_' || ch == '.' || ch == '~' || (keep_slash && ch == '/');
        if (w + (plain ? 1 : 3) + 1 > size)
            return 0;
        if (plain) {
            buf[w++] = (char)ch;
        } else {
            buf[w++] = '%';
            buf[w++] = hex[ch >> 4];
            buf[w++] = hex[ch & 15];
        }
    }
    if (w + 1 > size)
        return 0;
    buf[w] = '\0';
    return w;
}

uint64_t kumo__aws_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *kumo__sns_envelope_traceparent(const char *body, size_t len, char *out, size_t cap)
{
    /* cheap refusals first: most bodies are not envelopes */
    if (body == NULL || len < 2 || body[0] != '{' || len > (1u << 20) ||
        memmem(body, len, "\"Notification\"", 14) == NULL || memmem(body, len, "traceparent", 11) == NULL)
        return NULL;
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, 0, &jerr);
    const char *found = NULL;
    const char *type = json_string_value(json_object_get(doc, "Type"));
    json_t *v = json_object_get(json_object_get(json_object_get(doc, "MessageAttributes"), "traceparent"), "Value");
    if (type && strcmp(type, "Notification") == 0 && json_is_string(json_object_get(doc, "TopicArn")) &&
        json_is_string(v) && json_string_length(v) < cap) {
        memcpy(out, json_string_value(v), json_string_length(v) + 1);
        found = out;
    }
    json_decref(doc);
    return found;
}
