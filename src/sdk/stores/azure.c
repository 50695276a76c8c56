/*
 * azure.c: the pieces the Azure Storage drivers share (see azure.h): URL
 * parsing, the credentials, one authorised exchange (cloud.c's), errors.
 *
 * Shared Key (docs: "Authorize with Shared Key"): the Authorization header
 * is "SharedKey ACCOUNT:SIG", SIG = base64(HMAC-SHA256(base64-decoded key,
 * string to sign)). Blob and Queue sign
 *
 *   VERB \n Content-Encoding \n Content-Language \n Content-Length (empty
 *   when 0) \n Content-MD5 \n Content-Type \n Date \n If-Modified-Since \n
 *   If-Match \n If-None-Match \n If-Unmodified-Since \n Range \n
 *   x-ms-* headers (lower-case names, sorted, "name:value\n")
 *   /ACCOUNT/PATH then "\nname:value" per query parameter (lower-case
 *   names, sorted, values decoded)
 *
 * and the Table service signs its own shorter form
 *
 *   VERB \n Content-MD5 \n Content-Type \n Date (x-ms-date's) \n
 *   /ACCOUNT/PATH[?comp=VALUE]
 *
 * PATH is the request's path as sent (percent-encoded), which for a
 * path-style endpoint (Azurite: http://127.0.0.1:P/ACCOUNT/...) starts with
 * the account again. Date travels as x-ms-date, so the Date line is empty.
 *
 * Managed identity (App Service / Functions): GET IDENTITY_ENDPOINT
 * ?resource=https://storage.azure.com/&api-version=2019-08-01 with the
 * header X-IDENTITY-HEADER: IDENTITY_HEADER (and client_id= when
 * AZURE_CLIENT_ID names a user-assigned identity); the answer's
 * access_token is sent as "Authorization: Bearer" and cached for the
 * process (one token serves every store) until 5 minutes before its
 * expires_on. x-ms-version is 2020-12-06 (a bearer token needs 2017-11-09
 * or later).
 *
 * Errors: the x-ms-error-code header, else the XML <Code> (Blob, Queue) or
 * the JSON odata.error.code (Table); kumo__az_map_error turns it into a
 * KUMO_E* value and "SERVICE: Code: message (HTTP n)" goes into the store
 * handle's error field. Keys and tokens are blanked from every message.
 */
#include "sdk/stores/azure.h"

#include <kumo.h>

#include <bearssl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/growbuf.h"
#include "base/percent.h"

#define CONNECT_TIMEOUT_MS 2000L
#define TOTAL_TIMEOUT_MS 10000L
#define TOKEN_BODY_MAX (64u << 10)
#define TOKEN_MARGIN_S 300
#define API_VERSION "2020-12-06"
#define SIGNED_HEADERS_MAX 32

struct kumo__az {
    void *curl; /* a connection: kumo__cloud_conn_new */
    char *service;
    char *account;
    char *base;        /* scheme://host[:port][/ACCOUNT] */
    const char *bpath; /* the path part of base ("" or "/ACCOUNT"), inside base */
    char *key;         /* Shared Key (base64), or NULL for the managed identity */
    char code[96];
    char *msg;
    size_t msglen;
};

/* ---- URLs ------------------------------------------------------------ */

void kumo__az_url_free(kumo__az_url *u)
{
    if (u == NULL)
        return;
    free(u->account);
    free(u->resource);
    free(u->path);
    free(u->endpoint);
    memset(u, 0, sizeof(*u));
}

static int valid_account(const char *a)
{
    size_t n = strlen(a);
    if (n < 3 || n > 24)
        return 0;
    for (; *a; a++)
        if (!((*a >= 'a' && *a <= 'z') || (*a >= '0' && *a <= '9')))
            return 0;
    return 1;
}

int kumo__az_url_parse(const char *url, const char *scheme, kumo__az_url *out, kumo__error *err)
{
    int rc = KUMO_EINVAL;
    size_t slen = strlen(scheme);
    const char *what = strcmp(scheme, "aztable") == 0  ? "TABLE"
                       : strcmp(scheme, "azblob") == 0 ? "CONTAINER[/PREFIX]"
                                                       : "QUEUE";
    memset(out, 0, sizeof(*out));
    out->create = 1;
    out->max_receives = 5;

    if (strncmp(url, scheme, slen) != 0 || strncmp(url + slen, "://", 3) != 0) {
        kumo__error_set(err, KUMO_EINVAL, "store URL '%s': expected %s://ACCOUNT/%s[?endpoint=URL]", url, scheme, what);
        goto out;
    }
    const char *p = url + slen + 3;
    const char *q = strchr(p, '?');
    const char *end = q ? q : p + strlen(p);
    const char *s1 = memchr(p, '/', (size_t)(end - p));
    if (s1 == NULL || s1 == p || s1 + 1 == end || s1[1] == '/') {
        kumo__error_set(err, KUMO_EINVAL, "store URL '%s': expected %s://ACCOUNT/%s (the storage account, then the %s)",
                        url, scheme, what,
                        strcmp(scheme, "aztable") == 0  ? "table"
                        : strcmp(scheme, "azblob") == 0 ? "container"
                                                        : "queue");
        goto out;
    }
    const char *r = s1 + 1;
    const char *s2 = memchr(r, '/', (size_t)(end - r));
    const char *rend = s2 ? s2 : end;
    out->account = kumo__percent_dup(p, (size_t)(s1 - p), KUMO__PCT_NO_NUL);
    out->resource = kumo__percent_dup(r, (size_t)(rend - r), KUMO__PCT_NO_NUL);
    out->path = s2 ? kumo__percent_dup(s2 + 1, (size_t)(end - s2 - 1), KUMO__PCT_NO_NUL) : strdup("");
    if (out->account == NULL || out->resource == NULL || out->path == NULL) {
        kumo__error_set(err, KUMO_EINVAL, "store URL '%s': bad percent-escape in the account, name or path", url);
        goto out;
    }
    if (!valid_account(out->account)) {
        kumo__error_set(err, KUMO_EINVAL,
                        "store URL '%s': '%s' is not a storage account name (3 to 24 lower-case letters and digits)",
                        url, out->account);
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
        if (nlen == 8 && strncmp(q, "endpoint", 8) == 0) {
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
        } else if (nlen == 12 && strncmp(q, "max_receives", 12) == 0 && strcmp(scheme, "azqueue") == 0) {
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
            kumo__error_set(err, KUMO_EINVAL, "store URL '%s': unknown parameter '%.*s'; known: endpoint, create%s",
                            url, (int)nlen, q, strcmp(scheme, "azqueue") == 0 ? ", max_receives" : "");
            goto out;
        }
        q = amp;
    }
    rc = 0;
out:
    if (rc != 0)
        kumo__az_url_free(out);
    return rc;
}

/* ---- connection strings, keys, tokens --------------------------------- */

int kumo__az_connstr_get(const char *cs, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);
    const char *p = cs;
    while (p && *p) {
        while (*p == ';' || *p == ' ')
            p++;
        const char *semi = strchr(p, ';');
        const char *e = semi ? semi : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(e - p));
        if (eq && (size_t)(eq - p) == nlen && strncasecmp(p, name, nlen) == 0) {
            size_t vl = (size_t)(e - eq - 1);
            if (vl >= size)
                return -1;
            memcpy(out, eq + 1, vl);
            out[vl] = '\0';
            return 1;
        }
        p = semi;
    }
    return 0;
}

/* The process's managed identity token. */
static struct {
    pthread_mutex_t lock;
    char *token;
    uint64_t expires_ms;
} mi = {PTHREAD_MUTEX_INITIALIZER, NULL, 0};

void kumo__az_token_reset(void)
{
    pthread_mutex_lock(&mi.lock);
    kumo__cloud_free_secret(mi.token);
    mi.token = NULL;
    mi.expires_ms = 0;
    pthread_mutex_unlock(&mi.lock);
}

static void set_msg(kumo__az *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A message that holds no secret, written while mi.lock is held (the
 * scrub takes that lock). */
static void raw_msg(kumo__az *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void raw_msg(kumo__az *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, c->msglen, fmt, ap);
    va_end(ap);
}

/* The bearer token ("Authorization: Bearer ...", malloc'd) from the cache,
 * fetched from IDENTITY_ENDPOINT when missing or about to expire. */
static int bearer_header(kumo__az *c, char **out)
{
    int rc = KUMO_EUNAVAILABLE;
    const char *ep = getenv("IDENTITY_ENDPOINT"), *hdr = getenv("IDENTITY_HEADER");
    const char *client = getenv("AZURE_CLIENT_ID");
    void *h = NULL;
    char *url = NULL, *idh = NULL;
    kumo__cloud_res res = {0};
    json_t *j = NULL;

    *out = NULL;
    pthread_mutex_lock(&mi.lock);
    if (mi.token && kumo__aws_now_ms() + TOKEN_MARGIN_S * 1000ull < mi.expires_ms) {
        rc = asprintf(out, "Authorization: Bearer %s", mi.token) < 0 ? KUMO_ENOMEM : 0;
        if (rc != 0)
            *out = NULL;
        goto out;
    }
    if (ep == NULL || hdr == NULL || *ep == '\0') {
        raw_msg(c,
                "%s: no credentials: set AZURE_STORAGE_KEY or AZURE_STORAGE_CONNECTION_STRING, or run with a "
                "managed identity (IDENTITY_ENDPOINT and IDENTITY_HEADER)",
                c->service);
        rc = KUMO_EINVAL;
        goto out;
    }
    if (asprintf(&url, "%s%cresource=https%%3A%%2F%%2Fstorage.azure.com%%2F&api-version=2019-08-01%s%s", ep,
                 strchr(ep, '?') ? '&' : '?', client && *client ? "&client_id=" : "",
                 client && *client ? client : "") < 0 ||
        asprintf(&idh, "X-IDENTITY-HEADER: %s", hdr) < 0) {
        url = idh = NULL;
        rc = KUMO_ENOMEM;
        goto out;
    }
    if ((h = kumo__cloud_conn_new()) == NULL) {
        rc = KUMO_ENOMEM;
        goto out;
    }
    kumo__cloud_call call = {
        .method = "GET",
        .url = url,
        .extra = (const char *const[]){idh, NULL},
        .connect_timeout_ms = CONNECT_TIMEOUT_MS,
        .timeout_ms = TOTAL_TIMEOUT_MS,
        .max_body = TOKEN_BODY_MAX,
        .service = c->service,
        .base = "the managed identity endpoint",
    };
    rc = kumo__cloud_perform(h, &call, &res, c->msg, c->msglen);
    if (rc != 0)
        goto out;
    long status = res.status;
    j = res.body ? json_loadb(res.body, res.len, 0, NULL) : NULL;
    const char *tok = json_string_value(json_object_get(j, "access_token"));
    json_t *exp = json_object_get(j, "expires_on");
    uint64_t expires = json_is_string(exp)    ? strtoull(json_string_value(exp), NULL, 10)
                       : json_is_integer(exp) ? (uint64_t)json_integer_value(exp)
                                              : 0;
    if (status != 200 || tok == NULL || *tok == '\0' || strpbrk(tok, "\r\n") != NULL) {
        raw_msg(c,
                "%s: the managed identity endpoint answered HTTP %ld without a token (is the identity enabled "
                "and allowed on the storage account?)",
                c->service, status);
        rc = status >= 500 || status == 0 ? KUMO_EUNAVAILABLE : KUMO_EIO;
        goto out;
    }
    kumo__cloud_free_secret(mi.token);
    mi.token = strdup(tok);
    mi.expires_ms = expires ? expires * 1000 : kumo__aws_now_ms() + 600000;
    if (mi.token == NULL || asprintf(out, "Authorization: Bearer %s", mi.token) < 0) {
        *out = NULL;
        rc = KUMO_ENOMEM;
        goto out;
    }
    rc = 0;
out:
    pthread_mutex_unlock(&mi.lock);
    if (rc == KUMO_ENOMEM)
        raw_msg(c, "out of memory");
    json_decref(j);
    kumo__cloud_conn_free(h);
    free(url);
    kumo__cloud_free_secret(idh);
    if (res.body) /* it holds the token */
        memset(res.body, 0, res.len);
    kumo__cloud_res_free(&res);
    return rc;
}

/* ---- the client ------------------------------------------------------ */

void kumo__az_free(kumo__az *c)
{
    if (c == NULL)
        return;
    kumo__cloud_conn_free(c->curl);
    free(c->service);
    free(c->account);
    free(c->base);
    kumo__cloud_free_secret(c->key);
    free(c);
}

/* The base URL for an endpoint: as given when its host starts with
 * "ACCOUNT." (a custom or private endpoint) or its path already ends in
 * /ACCOUNT; else path style, endpoint/ACCOUNT (Azurite). */
static char *endpoint_base(const char *ep, const char *account)
{
    const char *host = strstr(ep, "://") + 3;
    size_t al = strlen(account), el = strlen(ep);
    const char *path = strchr(host, '/');
    char *out = NULL;
    if ((strncmp(host, account, al) == 0 && host[al] == '.') ||
        (path && el > al && ep[el - al - 1] == '/' && strcmp(ep + el - al, account) == 0))
        return strdup(ep);
    if (asprintf(&out, "%s/%s", ep, account) < 0)
        return NULL;
    return out;
}

int kumo__az_new(const char *service, const kumo__az_url *u, char *msg, size_t msglen, kumo__az **out, kumo__error *err)
{
    char cs_name[32], cs_key[256], cs_ep[512], field[32];
    const char *cs = getenv("AZURE_STORAGE_CONNECTION_STRING");
    const char *envkey = getenv("AZURE_STORAGE_KEY");
    const char *key = NULL, *ep = u->endpoint;
    *out = NULL;
    *cs_ep = '\0';

    if (cs && *cs) {
        if (kumo__az_connstr_get(cs, "AccountName", cs_name, sizeof(cs_name)) == 1 &&
            strcmp(cs_name, u->account) != 0) {
            kumo__error_set(err, KUMO_EINVAL,
                            "%s store '%s': AZURE_STORAGE_CONNECTION_STRING is for account '%s', the URL names '%s'",
                            service, u->resource, cs_name, u->account);
            return KUMO_EINVAL;
        }
        int got = kumo__az_connstr_get(cs, "AccountKey", cs_key, sizeof(cs_key));
        if (got < 0) {
            kumo__error_set(err, KUMO_EINVAL,
                            "%s store '%s': the AccountKey of AZURE_STORAGE_CONNECTION_STRING is "
                            "too long",
                            service, u->resource);
            return KUMO_EINVAL;
        }
        if (got == 1)
            key = cs_key;
        snprintf(field, sizeof(field), "%c%sEndpoint", service[0] - 32, service + 1);
        if (ep == NULL && kumo__az_connstr_get(cs, field, cs_ep, sizeof(cs_ep)) == 1) {
            size_t l = strlen(cs_ep);
            while (l > 0 && cs_ep[l - 1] == '/')
                cs_ep[--l] = '\0';
            if (strncmp(cs_ep, "http://", 7) == 0 || strncmp(cs_ep, "https://", 8) == 0)
                ep = cs_ep;
        }
    }
    if (key == NULL && envkey && *envkey)
        key = envkey;
    if (key == NULL && (getenv("IDENTITY_ENDPOINT") == NULL || getenv("IDENTITY_HEADER") == NULL)) {
        kumo__error_set(err, KUMO_EINVAL,
                        "%s store '%s': no credentials for account '%s': set AZURE_STORAGE_KEY or "
                        "AZURE_STORAGE_CONNECTION_STRING, or run with a managed identity (IDENTITY_ENDPOINT, "
                        "IDENTITY_HEADER)",
                        service, u->resource, u->account);
        return KUMO_EINVAL;
    }
    if (key) {
        char probe[64];
        if (kumo__az_sign(key, "", 0, probe) != 0) {
            kumo__error_set(err, KUMO_EINVAL, "%s store '%s': the account key is not base64; check the variable",
                            service, u->resource);
            return KUMO_EINVAL;
        }
    }
    kumo__az *c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto nomem;
    c->service = strdup(service);
    c->account = strdup(u->account);
    c->key = key ? strdup(key) : NULL;
    if (ep)
        c->base = endpoint_base(ep, u->account);
    else if (asprintf(&c->base, "https://%s.%s.core.windows.net", u->account, service) < 0)
        c->base = NULL;
    if ((c->curl = kumo__cloud_conn_new()) == NULL) {
        memset(cs_key, 0, sizeof(cs_key));
        kumo__az_free(c);
        return kumo__cloud_conn_error(err);
    }
    if (!c->service || !c->account || (key && !c->key) || !c->base || !c->curl)
        goto nomem;
    const char *host = strstr(c->base, "://") + 3;
    const char *slash = strchr(host, '/');
    c->bpath = slash ? slash : host + strlen(host);
    c->msg = msg;
    c->msglen = msglen;
    memset(cs_key, 0, sizeof(cs_key));
    *out = c;
    return 0;
nomem:
    memset(cs_key, 0, sizeof(cs_key));
    kumo__az_free(c);
    kumo__error_set(err, KUMO_ENOMEM, "out of memory");
    return KUMO_ENOMEM;
}

const char *kumo__az_base(const kumo__az *c)
{
    return c->base;
}

const char *kumo__az_code(const kumo__az *c)
{
    return c->code;
}

/* Blanks the key and the cached token wherever they occur in msg. */
static void scrub(const kumo__az *c, char *msg)
{
    pthread_mutex_lock(&mi.lock); /* another thread may renew the token */
    const char *secrets[] = {c->key, mi.token};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        const char *s = secrets[i];
        size_t n = s ? strlen(s) : 0;
        if (n < 8)
            continue;
        char *hit;
        while ((hit = strstr(msg, s)) != NULL)
            memset(hit, '*', n);
    }
    pthread_mutex_unlock(&mi.lock);
}

static void set_msg(kumo__az *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, c->msglen, fmt, ap);
    va_end(ap);
    scrub(c, c->msg);
}

/* ---- signing ----------------------------------------------------------- */

int kumo__az_sign(const char *key_b64, const char *s, size_t len, char out[64])
{
    size_t kl = strlen(key_b64);
    unsigned char key[256], mac[32];
    br_hmac_key_context kc;
    br_hmac_context hc;
    if (kl == 0 || kl / 4 * 3 + 3 > sizeof(key))
        return -1;
    long n = kumo__aws_b64_decode(key_b64, kl, key);
    if (n <= 0)
        return -1;
    br_hmac_key_init(&kc, &br_sha256_vtable, key, (size_t)n);
    br_hmac_init(&hc, &kc, 0);
    br_hmac_update(&hc, s, len);
    br_hmac_out(&hc, mac);
    memset(key, 0, sizeof(key));
    memset(&kc, 0, sizeof(kc));
    memset(&hc, 0, sizeof(hc));
    char *b = kumo__aws_b64_encode(mac, sizeof(mac));
    if (b == NULL)
        return -1;
    snprintf(out, 64, "%s", b);
    free(b);
    return 0;
}

void kumo__az_date(char out[40])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The value of header `name` among the "Name: value" lines, or "". */
static const char *header_value(const char *const *headers, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; headers && headers[i]; i++) {
        const char *h = headers[i];
        if (strncasecmp(h, name, nlen) == 0 && h[nlen] == ':') {
            const char *v = h + nlen + 1;
            while (*v == ' ')
                v++;
            *vlen = strlen(v);
            return v;
        }
    }
    *vlen = 0;
    return "";
}

typedef struct qparam {
    char *name, *value;
} qparam;

static int qparam_cmp(const void *a, const void *b)
{
    return strcmp(((const qparam *)a)->name, ((const qparam *)b)->name);
}

static int hdr_cmp(const void *a, const void *b)
{
    return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

char *kumo__az_string_to_sign(const char *service, const char *account, const char *method, const char *path_prefix,
                              const char *target, const char *const *headers, size_t content_length)
{
    kumo__growbuf g = {.max = 1u << 20};
    const char *q = strchr(target, '?');
    size_t plen = q ? (size_t)(q - target) : strlen(target);
    size_t vl;
    const char *v;
    char num[32];
    qparam params[32];
    size_t np = 0;
    int ok = 1;

#define ADD(s, n) (ok = ok && kumo__growbuf_add(&g, (s), (n)) == 0)
#define ADDS(s) ADD((s), strlen(s))
    if (strcmp(service, "table") == 0) {
        ADDS(method);
        ADDS("\n");
        v = header_value(headers, "Content-MD5", &vl);
        ADD(v, vl);
        ADDS("\n");
        v = header_value(headers, "Content-Type", &vl);
        ADD(v, vl);
        ADDS("\n");
        v = header_value(headers, "x-ms-date", &vl);
        ADD(v, vl);
        ADDS("\n/");
        ADDS(account);
        ADDS(path_prefix);
        ADD(target, plen);
        /* only comp= of the query is signed */
        for (const char *p = q; p && *p;) {
            p++;
            const char *amp = strchr(p, '&');
            const char *e = amp ? amp : p + strlen(p);
            if (strncmp(p, "comp=", 5) == 0) {
                ADDS("?comp=");
                ADD(p + 5, (size_t)(e - p - 5));
            }
            p = amp;
        }
    } else {
        static const char *const std[] = {"Content-Encoding",
                                          "Content-Language",
                                          NULL,
                                          "Content-MD5",
                                          "Content-Type",
                                          "Date",
                                          "If-Modified-Since",
                                          "If-Match",
                                          "If-None-Match",
                                          "If-Unmodified-Since",
                                          "Range"};
        ADDS(method);
        ADDS("\n");
        for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++) {
            if (std[i] == NULL) {
                if (content_length) {
                    snprintf(num, sizeof(num), "%zu", content_length);
                    ADDS(num);
                }
            } else {
                v = header_value(headers, std[i], &vl);
                ADD(v, vl);
            }
            ADDS("\n");
        }
        const char *xms[SIGNED_HEADERS_MAX];
        size_t nx = 0;
        for (size_t i = 0; headers && headers[i]; i++)
            if (strncasecmp(headers[i], "x-ms-", 5) == 0 && nx < SIGNED_HEADERS_MAX)
                xms[nx++] = headers[i];
        qsort(xms, nx, sizeof(xms[0]), hdr_cmp);
        for (size_t i = 0; i < nx; i++) {
            const char *colon = strchr(xms[i], ':');
            if (colon == NULL)
                continue;
            for (const char *c = xms[i]; c < colon; c++) {
                char lc = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
                ADD(&lc, 1);
            }
            ADDS(":");
            v = colon + 1;
            while (*v == ' ')
                v++;
            ADDS(v);
            ADDS("\n");
        }
        ADDS("/");
        ADDS(account);
        ADDS(path_prefix);
        ADD(target, plen);
        for (const char *p = q; ok && p && *p && np < 32;) {
            p++;
            const char *amp = strchr(p, '&');
            const char *e = amp ? amp : p + strlen(p);
            const char *eq = memchr(p, '=', (size_t)(e - p));
            const char *ne = eq ? eq : e;
            params[np].name = strndup(p, (size_t)(ne - p));
            params[np].value = malloc((size_t)(e - ne) + 1);
            if (params[np].name == NULL || params[np].value == NULL) {
                free(params[np].name);
                free(params[np].value);
                ok = 0;
                break;
            }
            for (char *c = params[np].name; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c + 32);
            ssize_t dn =
                eq ? kumo__percent_decode_into(eq + 1, (size_t)(e - eq - 1), params[np].value, KUMO__PCT_LENIENT) : 0;
            params[np].value[dn < 0 ? 0 : dn] = '\0';
            np++;
            p = amp;
        }
        qsort(params, np, sizeof(params[0]), qparam_cmp);
        for (size_t i = 0; i < np; i++) {
            ADDS("\n");
            ADDS(params[i].name);
            ADDS(":");
            ADDS(params[i].value);
        }
        for (size_t i = 0; i < np; i++) {
            free(params[i].name);
            free(params[i].value);
        }
    }
    ADD("", 1);
#undef ADD
#undef ADDS
    if (!ok) {
        free(g.data);
        return NULL;
    }
    return g.data;
}

/* ---- the exchange ------------------------------------------------------ */

/* The code and message of an error answer: x-ms-error-code, the XML or
 * the JSON body; by status when none (HEAD). */
static void parse_error(kumo__az *c, const kumo__cloud_res *res)
{
    char code[96] = "", message[200] = "", hb[160];
    if (kumo__cloud_res_header(res, "x-ms-error-code", hb, sizeof(hb)))
        snprintf(code, sizeof(code), "%s", hb);
    if (res->body && res->len && res->body[0] == '{') {
        json_t *j = json_loadb(res->body, res->len, 0, NULL);
        json_t *e = json_object_get(j, "odata.error");
        if (e == NULL)
            e = json_object_get(j, "error");
        const char *t = json_string_value(json_object_get(e, "code"));
        json_t *m = json_object_get(e, "message");
        const char *ms = json_is_string(m) ? json_string_value(m) : json_string_value(json_object_get(m, "value"));
        if (t && *code == '\0')
            snprintf(code, sizeof(code), "%s", t);
        if (ms)
            snprintf(message, sizeof(message), "%s", ms);
        json_decref(j);
    } else if (res->body && strstr(res->body, "<Code>")) {
        char *t = kumo__aws_xml_text(res->body, "Code", NULL);
        char *m = kumo__aws_xml_text(res->body, "Message", NULL);
        if (t && *code == '\0')
            snprintf(code, sizeof(code), "%s", t);
        if (m)
            snprintf(message, sizeof(message), "%s", m);
        free(t);
        free(m);
    }
    /* The first line of the message: services append RequestId and Time. */
    message[strcspn(message, "\r\n")] = '\0';
    if (*code == '\0') {
        if (res->status == 404)
            snprintf(code, sizeof(code), "NotFound");
        else if (res->status == 412)
            snprintf(code, sizeof(code), "ConditionNotMet");
        else if (res->status == 503)
            snprintf(code, sizeof(code), "ServerBusy");
        else
            snprintf(code, sizeof(code), "HTTP%ld", res->status);
    }
    snprintf(c->code, sizeof(c->code), "%s", code);
    set_msg(c, "%s: %s%s%s (HTTP %ld)", c->service, code, *message ? ": " : "", message, res->status);
}

int kumo__az_send(kumo__az *c, const char *method, const char *target, const char *const *headers, const void *body,
                  size_t len, size_t max_body, kumo__cloud_res *res)
{
    int rc = KUMO_ENOMEM;
    char *auth = NULL, *sts = NULL, *url = NULL;
    char date[40], xdate[64], sig[64];
    const char *all[SIGNED_HEADERS_MAX + 4];
    size_t n = 0, vl;

    memset(res, 0, sizeof(*res));
    *c->code = '\0';
    kumo__az_date(date);
    snprintf(xdate, sizeof(xdate), "x-ms-date: %s", date);
    for (size_t i = 0; headers && headers[i] && n < SIGNED_HEADERS_MAX; i++)
        all[n++] = headers[i];
    all[n++] = xdate;
    all[n++] = "x-ms-version: " API_VERSION;
    all[n] = NULL;
    if (asprintf(&url, "%s%s", c->base, target) < 0) {
        url = NULL;
        goto nomem;
    }
    if (c->key) {
        sts = kumo__az_string_to_sign(c->service, c->account, method, c->bpath, target, all, body ? len : 0);
        if (sts == NULL || kumo__az_sign(c->key, sts, strlen(sts), sig) != 0)
            goto nomem;
        if (asprintf(&auth, "Authorization: SharedKey %s:%s", c->account, sig) < 0) {
            auth = NULL;
            goto nomem;
        }
    } else {
        rc = bearer_header(c, &auth);
        if (rc != 0) {
            snprintf(c->code, sizeof(c->code), "ManagedIdentity");
            goto out;
        }
    }
    kumo__cloud_call call = {
        .method = method,
        .url = url,
        .headers = all,
        /* the signature covers Content-Type: no form-urlencoded default */
        .extra =
            (const char *const[]){
                auth, body && *header_value(headers, "Content-Type", &vl) == '\0' ? "Content-Type:" : NULL, NULL},
        .body = body,
        .len = len,
        .connect_timeout_ms = CONNECT_TIMEOUT_MS,
        .timeout_ms = TOTAL_TIMEOUT_MS,
        .max_body = max_body,
        .service = c->service,
        .base = c->base,
    };
    rc = kumo__cloud_perform(c->curl, &call, res, c->msg, c->msglen);
    if (rc != 0) {
        snprintf(c->code, sizeof(c->code), "curl");
        scrub(c, c->msg);
        goto out;
    }
    if (res->status >= 200 && res->status < 300)
        goto out;
    parse_error(c, res);
    rc = kumo__az_map_error(c->code, res->status);
    goto out;
nomem:
    rc = KUMO_ENOMEM;
    set_msg(c, "out of memory");
out:
    kumo__cloud_free_secret(auth);
    free(sts);
    free(url);
    return rc;
}

size_t kumo__az_uri_encode(const char *s, size_t len, int keep_slash, char *buf, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        int plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                    strchr("-_.!~*'()", ch) != NULL || (keep_slash && ch == '/');
        if (ch == 0)
            plain = 0;
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

int kumo__az_map_error(const char *code, long status)
{
    static const struct {
        const char *code;
        int rc;
    } map[] = {
        {"ConditionNotMet", KUMO_ECONFLICT},
        {"UpdateConditionNotSatisfied", KUMO_ECONFLICT},
        {"EntityAlreadyExists", KUMO_ECONFLICT},
        {"BlobAlreadyExists", KUMO_ECONFLICT},
        {"TargetConditionNotMet", KUMO_ECONFLICT},
        {"BlobNotFound", KUMO_ENOTFOUND},
        {"ResourceNotFound", KUMO_ENOTFOUND},
        {"EntityNotFound", KUMO_ENOTFOUND},
        {"MessageNotFound", KUMO_ENOTFOUND},
        {"PopReceiptMismatch", KUMO_ENOTFOUND},
        {"NotFound", KUMO_ENOTFOUND},
        {"TableNotFound", KUMO_ENOTFOUND},
        {"ContainerNotFound", KUMO_ENOTFOUND},
        {"QueueNotFound", KUMO_ENOTFOUND},
        {"RequestBodyTooLarge", KUMO_ETOOBIG},
        {"EntityTooLarge", KUMO_ETOOBIG},
        {"PropertyValueTooLarge", KUMO_ETOOBIG},
        {"MessageTooLarge", KUMO_ETOOBIG},
        {"ServerBusy", KUMO_EUNAVAILABLE},
        {"InternalError", KUMO_EUNAVAILABLE},
        {"OperationTimedOut", KUMO_ETIMEDOUT},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(code, map[i].code) == 0)
            return map[i].rc;
    if (status >= 500)
        return KUMO_EUNAVAILABLE;
    return KUMO_EIO;
}
