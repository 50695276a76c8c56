/*
 * gcp.c: the pieces the Google Cloud drivers share (see gcp.h): URL
 * parsing, credentials and their tokens, one authorised exchange (cloud.c's),
 * Google's errors as KUMO_E* codes.
 *
 * Tokens: an emulator needs none. A service-account key (the JSON file
 * GOOGLE_APPLICATION_CREDENTIALS names) is read when the store opens: its
 * client_email, private_key (PEM, kept as BearSSL's RSA key) and token_uri;
 * a token is got by POSTing an RS256-signed JWT (iss the email, aud the
 * token_uri, scope cloud-platform, one hour) to token_uri. Without a key
 * the metadata server gives one (Cloud Run, GCE). Either way the token is
 * kept until a minute before its expires_in and fetched again then, or at
 * once after a 401. The key's text is wiped once parsed, the key when the
 * client is freed; the token lives in the client only and is wiped when it
 * is replaced or the client freed.
 *
 * Every exchange is bounded like aws.c's: 2 s to connect (an unreachable
 * endpoint is KUMO_EUNAVAILABLE), 10 s in all unless the caller says more
 * (KUMO_ETIMEDOUT), a ceiling on the body and one on the headers (cloud.c).
 * The handle keeps its connection; libcurl (or httpc.c) opens a new one after the
 * service went away, so the call after an outage succeeds by itself.
 *
 * Errors: Google answers {"error": {"code": 404, "message": "...",
 * "status": "NOT_FOUND"}} (Cloud Storage leaves out status: the HTTP code
 * decides then); map_error makes the KUMO_E* code and "SERVICE: STATUS:
 * message (HTTP n)" goes into the store handle's error field.
 */
#include "sdk/stores/gcp.h"

#include <kumo.h>

#include <bearssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/percent.h"

#define CONNECT_TIMEOUT_MS 2000L
#define TOTAL_TIMEOUT_MS 10000L
#define JSON_BODY_MAX (32u << 20)
#define KEY_FILE_MAX (64u << 10)
#define KEY_DER_MAX 4096 /* an RSA-4096 key, BearSSL's largest, is about 2,400 bytes */
#define TOKEN_MAX 4096
#define TOKEN_SLACK_S 60
#define SCOPE "https://www.googleapis.com/auth/cloud-platform"

enum auth { AUTH_NONE, AUTH_KEY, AUTH_METADATA };

struct kumo__gcp {
    void *curl; /* a connection: kumo__cloud_conn_new */
    char *service;
    char *base;
    char *project;
    enum auth auth;
    char *email, *token_uri; /* AUTH_KEY */
    br_rsa_private_key key;  /* AUTH_KEY: its numbers are in key_buf */
    unsigned char *key_buf;  /* AUTH_KEY: key_len bytes, wiped when freed */
    size_t key_len;          /* AUTH_KEY */
    char *metadata;          /* AUTH_METADATA: http://HOST */
    char *token;             /* the bearer token, NULL until fetched */
    time_t token_until;      /* refetch after this */
    char status[64];
    char *msg;
    size_t msglen;
};

/* ---- URLs ------------------------------------------------------------ */

void kumo__gcp_url_free(kumo__gcp_url *u)
{
    if (u == NULL)
        return;
    free(u->resource);
    free(u->path);
    free(u->project);
    free(u->database);
    free(u->endpoint);
    memset(u, 0, sizeof(*u));
}

static int is_known(const char *const *known, const char *name, size_t nlen)
{
    for (; *known; known++)
        if (strlen(*known) == nlen && strncmp(*known, name, nlen) == 0)
            return 1;
    return 0;
}

int kumo__gcp_url_parse(const char *url, const char *scheme, const char *const *known, const char *emulator_var,
                        kumo__gcp_url *out, kumo__error *err)
{
    int rc = KUMO_EINVAL;
    size_t slen = strlen(scheme);
    memset(out, 0, sizeof(*out));

    if (strncmp(url, scheme, slen) != 0 || strncmp(url + slen, "://", 3) != 0) {
        kumo__error_set(err, KUMO_EINVAL, "store URL: expected %s://NAME[?project=P&endpoint=URL]", scheme);
        goto out;
    }
    const char *p = url + slen + 3;
    const char *q = strchr(p, '?');
    const char *end = q ? q : p + strlen(p);
    const char *slash = memchr(p, '/', (size_t)(end - p));
    const char *rend = slash ? slash : end;
    if (rend == p) {
        kumo__error_set(err, KUMO_EINVAL, "store URL names no %s; expected %s://NAME",
                        strcmp(scheme, "gs") == 0       ? "bucket"
                        : strcmp(scheme, "pubsub") == 0 ? "topic"
                                                        : "collection",
                        scheme);
        goto out;
    }
    out->resource = kumo__percent_dup(p, (size_t)(rend - p), KUMO__PCT_NO_NUL);
    out->path = slash ? kumo__percent_dup(slash + 1, (size_t)(end - slash - 1), KUMO__PCT_NO_NUL) : strdup("");
    if (out->resource == NULL || out->path == NULL) {
        kumo__error_set(err, KUMO_EINVAL, "%s store URL: bad percent-escape in the name or path", scheme);
        goto out;
    }
    while (q && *q) {
        q++;
        const char *amp = strchr(q, '&');
        const char *pend = amp ? amp : q + strlen(q);
        const char *eq = memchr(q, '=', (size_t)(pend - q));
        size_t nlen = eq ? (size_t)(eq - q) : (size_t)(pend - q);
        if (!is_known(known, q, nlen)) {
            char list[128] = "";
            size_t used = 0;
            for (const char *const *k = known; *k && used < sizeof(list); k++)
                used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", k == known ? "" : ", ", *k);
            kumo__error_set(err, KUMO_EINVAL, "%s store URL: unknown parameter '%.*s'; known: %s", scheme,
                            (int)(nlen < 64 ? nlen : 64), q, list);
            goto out;
        }
        if (eq == NULL) {
            kumo__error_set(err, KUMO_EINVAL, "%s store URL: parameter '%.*s' has no value", scheme, (int)nlen, q);
            goto out;
        }
        char *val = kumo__percent_dup(eq + 1, (size_t)(pend - eq - 1), KUMO__PCT_NO_NUL);
        if (val == NULL || *val == '\0') {
            kumo__error_set(err, KUMO_EINVAL, "%s store URL: parameter '%.*s' is empty or badly escaped", scheme,
                            (int)nlen, q);
            free(val);
            goto out;
        }
        char **slot = nlen == 7 && strncmp(q, "project", 7) == 0    ? &out->project
                      : nlen == 8 && strncmp(q, "database", 8) == 0 ? &out->database
                      : nlen == 8 && strncmp(q, "endpoint", 8) == 0 ? &out->endpoint
                                                                    : NULL;
        if (slot) {
            free(*slot);
            *slot = val;
        } else {
            free(val); /* max_receives: queue.c's option */
        }
        q = amp;
    }
    if (out->endpoint == NULL && emulator_var) {
        const char *h = getenv(emulator_var);
        if (h && *h) {
            int has_scheme = strncmp(h, "http://", 7) == 0 || strncmp(h, "https://", 8) == 0;
            if (asprintf(&out->endpoint, "%s%s", has_scheme ? "" : "http://", h) < 0) {
                out->endpoint = NULL;
                kumo__error_set(err, KUMO_ENOMEM, "out of memory");
                rc = KUMO_ENOMEM;
                goto out;
            }
        }
    }
    if (out->endpoint) {
        size_t vl = strlen(out->endpoint);
        while (vl > 0 && out->endpoint[vl - 1] == '/')
            out->endpoint[--vl] = '\0';
        if (strncmp(out->endpoint, "http://", 7) != 0 && strncmp(out->endpoint, "https://", 8) != 0) {
            kumo__error_set(err, KUMO_EINVAL, "%s store URL: endpoint must start with http:// or https://", scheme);
            goto out;
        }
    }
    if (out->project == NULL) {
        const char *pr = getenv("GOOGLE_CLOUD_PROJECT");
        if (pr == NULL || *pr == '\0')
            pr = getenv("GCLOUD_PROJECT");
        if (pr && *pr && (out->project = strdup(pr)) == NULL) {
            kumo__error_set(err, KUMO_ENOMEM, "out of memory");
            rc = KUMO_ENOMEM;
            goto out;
        }
    }
    if (out->project && strpbrk(out->project, "/?#%& ") != NULL) {
        kumo__error_set(err, KUMO_EINVAL, "%s store URL: project '%s' is not a project id", scheme, out->project);
        goto out;
    }
    if (out->database == NULL && (out->database = strdup("(default)")) == NULL) {
        kumo__error_set(err, KUMO_ENOMEM, "out of memory");
        rc = KUMO_ENOMEM;
        goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        kumo__gcp_url_free(out);
    return rc;
}

/* ---- small helpers ---------------------------------------------------- */

void kumo__gcp_msg(kumo__gcp *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, c->msglen, fmt, ap);
    va_end(ap);
}

size_t kumo__gcp_pct(const char *s, size_t len, char *buf, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        int plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                    ch == '_' || ch == '.' || ch == '~';
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

uint64_t kumo__gcp_time_parse(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (s == NULL)
        return 0;
    const char *r = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (r == NULL)
        return 0;
    uint64_t ns = 0;
    if (*r == '.') {
        int digits = 0;
        for (r++; *r >= '0' && *r <= '9'; r++)
            if (digits < 9) {
                ns = ns * 10 + (uint64_t)(*r - '0');
                digits++;
            }
        for (; digits < 9; digits++)
            ns *= 10;
    }
    if (*r != 'Z')
        return 0;
    time_t t = timegm(&tm);
    if (t < 0)
        return 0;
    return (uint64_t)t * 1000000000ull + ns;
}

void kumo__gcp_time_format(uint64_t ns, char *buf, size_t size)
{
    time_t t = (time_t)(ns / 1000000000ull);
    struct tm tm;
    gmtime_r(&t, &tm);
    char day[32];
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%09uZ", day, (unsigned)(ns % 1000000000ull));
}

/* base64url without padding: a malloc'd string. */
static char *b64url(const unsigned char *d, size_t len)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = malloc((len + 2) / 3 * 4 + 1), *p = out;
    if (out == NULL)
        return NULL;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        *p++ = al[v >> 18];
        *p++ = al[(v >> 12) & 63];
        *p++ = al[(v >> 6) & 63];
        *p++ = al[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < len ? (uint32_t)d[i + 1] << 8 : 0);
        *p++ = al[v >> 18];
        *p++ = al[(v >> 12) & 63];
        if (i + 1 < len)
            *p++ = al[(v >> 6) & 63];
    }
    *p = '\0';
    return out;
}

/* ---- the client ------------------------------------------------------ */

/* Zeroes n bytes in a way the compiler may not drop as a dead store. */
static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

void kumo__gcp_free(kumo__gcp *c)
{
    if (c == NULL)
        return;
    kumo__cloud_conn_free(c->curl);
    free(c->service);
    free(c->base);
    free(c->project);
    free(c->email);
    free(c->token_uri);
    free(c->metadata);
    if (c->key_buf) {
        wipe(c->key_buf, c->key_len);
        free(c->key_buf);
    }
    kumo__cloud_free_secret(c->token);
    free(c);
}

const char *kumo__gcp_base(const kumo__gcp *c)
{
    return c->base;
}

const char *kumo__gcp_status(const kumo__gcp *c)
{
    return c->status;
}

/* A private key being decoded, all of it key material (wiped after use).
 * The DER is gathered and given to BearSSL's decoder in one push, as its
 * own tools do: 0.6's (Debian's) runs on past an error when pushed more,
 * writing far beyond its context. Even in one push it takes its key_data for
 * 3 * BR_X509_BUFSIZE_KEY bytes where the struct has 3 * BR_X509_BUFSIZE_SIG,
 * so a key over 4096 bits is written up to 24 bytes past the context before
 * it is refused (fixed upstream after 0.6): the slack takes those bytes. */
typedef struct {
    br_skey_decoder_context dec;
    unsigned char slack[3 * (BR_X509_BUFSIZE_KEY - BR_X509_BUFSIZE_SIG)];
    unsigned char der[KEY_DER_MAX];
    size_t der_len; /* over KEY_DER_MAX: the key is longer, and refused */
} key_decoder;

/* br_pem_decoder's sink: a key object's bytes, gathered in kd->der. */
static void der_put(void *kd, const void *p, size_t len)
{
    key_decoder *k = kd;
    if (k->der_len > KEY_DER_MAX || len > KEY_DER_MAX - k->der_len) {
        k->der_len = KEY_DER_MAX + 1;
        return;
    }
    memcpy(k->der + k->der_len, p, len);
    k->der_len += len;
}

/* Whether a PEM object holds a private key, as OpenSSL's reader took them:
 * "PRIVATE KEY" (PKCS#8), "RSA PRIVATE KEY" and the like; anything else (a
 * certificate) is skipped. Trailing dashes are dropped because BearSSL 0.6
 * keeps them in the name when the BEGIN line ends in CR LF. */
static int is_key_name(const char *name)
{
    size_t n = strlen(name);
    while (n > 0 && name[n - 1] == '-')
        n--;
    return n >= 11 && memcmp(name + n - 11, "PRIVATE KEY", 11) == 0 && (n == 11 || name[n - 12] == ' ');
}

/* The first private key in pem, decoded into *kd (which holds its numbers),
 * or NULL when there is none, it does not decode or it is not RSA. */
static const br_rsa_private_key *pem_rsa_key(const char *pem, key_decoder *kd)
{
    br_pem_decoder_context pd;
    size_t left = strlen(pem);
    int in_key = 0, done = 0, eof = 0;
    br_pem_decoder_init(&pd);
    while (!done) {
        if (left == 0) {
            /* the decoder sees an END line only once it ends: PEM text
             * without a last newline must still decode */
            if (eof)
                break;
            pem = "\n";
            left = 1;
            eof = 1;
        }
        size_t used = br_pem_decoder_push(&pd, pem, left);
        pem += used;
        left -= used;
        switch (br_pem_decoder_event(&pd)) {
        case BR_PEM_BEGIN_OBJ:
            in_key = is_key_name(br_pem_decoder_name(&pd));
            kd->der_len = 0;
            br_pem_decoder_setdest(&pd, in_key ? der_put : NULL, kd);
            break;
        case BR_PEM_END_OBJ: done = in_key; break;
        case BR_PEM_ERROR: /* a broken key is no key; a broken other object is skipped */
            done = in_key;
            in_key = 0;
            break;
        }
    }
    wipe(&pd, sizeof(pd));
    if (!done || !in_key || kd->der_len > KEY_DER_MAX)
        return NULL;
    br_skey_decoder_init(&kd->dec);
    br_skey_decoder_push(&kd->dec, kd->der, kd->der_len);
    return br_skey_decoder_get_rsa(&kd->dec);
}

/* Copies one of k's numbers to at, pointing *num there; the end of the copy. */
static unsigned char *keep_num(unsigned char *at, unsigned char **num, size_t len)
{
    memcpy(at, *num, len);
    *num = at;
    return at + len;
}

/* Makes k c's key, its numbers copied out of the decoder that holds them:
 * 0, or KUMO_ENOMEM. */
static int keep_key(kumo__gcp *c, const br_rsa_private_key *k)
{
    c->key_len = k->plen + k->qlen + k->dplen + k->dqlen + k->iqlen;
    c->key_buf = malloc(c->key_len);
    if (c->key_buf == NULL)
        return KUMO_ENOMEM;
    c->key = *k;
    unsigned char *at = c->key_buf;
    at = keep_num(at, &c->key.p, k->plen);
    at = keep_num(at, &c->key.q, k->qlen);
    at = keep_num(at, &c->key.dp, k->dplen);
    at = keep_num(at, &c->key.dq, k->dqlen);
    keep_num(at, &c->key.iq, k->iqlen);
    return 0;
}

/* Reads the service-account key file into c (email, token_uri, key, and
 * the project when none was given). */
static int load_key(kumo__gcp *c, const char *path, kumo__error *err)
{
    int rc = KUMO_EINVAL;
    char *text = NULL;
    json_t *j = NULL;
    key_decoder kd; /* wiped at out: it holds the key */
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        kumo__error_set(err, KUMO_EINVAL, "%s store: cannot read GOOGLE_APPLICATION_CREDENTIALS '%s': %m", c->service,
                        path);
        return KUMO_EINVAL;
    }
    text = calloc(1, KEY_FILE_MAX + 1);
    size_t n = text ? fread(text, 1, KEY_FILE_MAX + 1, f) : 0;
    fclose(f);
    if (text == NULL) {
        kumo__error_set(err, KUMO_ENOMEM, "out of memory");
        return KUMO_ENOMEM;
    }
    if (n > KEY_FILE_MAX) {
        kumo__error_set(err, KUMO_EINVAL, "%s store: the key file '%s' is over %u bytes; is it a key?", c->service,
                        path, KEY_FILE_MAX);
        goto out;
    }
    json_error_t je;
    j = json_loadb(text, n, 0, &je);
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *email = json_string_value(json_object_get(j, "client_email"));
    const char *pem = json_string_value(json_object_get(j, "private_key"));
    const char *uri = json_string_value(json_object_get(j, "token_uri"));
    const char *proj = json_string_value(json_object_get(j, "project_id"));
    if (j == NULL) {
        kumo__error_set(err, KUMO_EINVAL, "%s: %d:%d: the key file is not JSON (%s); expected a service-account key",
                        path, je.line, je.column, je.text);
        goto out;
    }
    if (type == NULL || strcmp(type, "service_account") != 0 || email == NULL || pem == NULL) {
        kumo__error_set(err, KUMO_EINVAL,
                        "%s: not a service-account key (type \"service_account\" with client_email and private_key "
                        "expected); make one with `gcloud iam service-accounts keys create`",
                        path);
        goto out;
    }
    if (uri == NULL)
        uri = "https://oauth2.googleapis.com/token";
    if (strncmp(uri, "http://", 7) != 0 && strncmp(uri, "https://", 8) != 0) {
        kumo__error_set(err, KUMO_EINVAL, "%s: token_uri must be an http(s) URL", path);
        goto out;
    }
    const br_rsa_private_key *key = pem_rsa_key(pem, &kd);
    if (key == NULL) {
        kumo__error_set(err, KUMO_EINVAL, "%s: private_key is not an RSA key in PEM", path);
        goto out;
    }
    int kept = keep_key(c, key);
    c->email = strdup(email);
    c->token_uri = strdup(uri);
    if (c->project == NULL && proj)
        c->project = strdup(proj);
    if (kept != 0 || c->email == NULL || c->token_uri == NULL) {
        kumo__error_set(err, KUMO_ENOMEM, "out of memory");
        rc = KUMO_ENOMEM;
        goto out;
    }
    c->auth = AUTH_KEY;
    rc = 0;
out:
    wipe(&kd, sizeof(kd));
    json_decref(j);
    if (text) {
        memset(text, 0, KEY_FILE_MAX + 1);
        free(text);
    }
    return rc;
}

int kumo__gcp_new(const char *service, const kumo__gcp_url *u, const char *google_base, char *msg, size_t msglen,
                  kumo__gcp **out, kumo__error *err)
{
    int rc = KUMO_ENOMEM;
    *out = NULL;
    kumo__gcp *c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto nomem;
    c->msg = msg;
    c->msglen = msglen;
    if ((c->service = strdup(service)) == NULL || (c->base = strdup(u->endpoint ? u->endpoint : google_base)) == NULL)
        goto nomem;
    if (u->project && (c->project = strdup(u->project)) == NULL)
        goto nomem;
    if ((c->curl = kumo__cloud_conn_new()) == NULL) {
        rc = kumo__cloud_conn_error(err);
        goto out;
    }
    if (u->endpoint) {
        c->auth = AUTH_NONE; /* an emulator */
    } else {
        const char *key = getenv("GOOGLE_APPLICATION_CREDENTIALS");
        if (key && *key) {
            if ((rc = load_key(c, key, err)) != 0)
                goto out;
        } else {
            const char *h = getenv("GCE_METADATA_HOST");
            if (asprintf(&c->metadata, "http://%s", h && *h ? h : "metadata.google.internal") < 0) {
                c->metadata = NULL;
                goto nomem;
            }
            c->auth = AUTH_METADATA;
        }
    }
    *out = c;
    return 0;
nomem:
    kumo__error_set(err, KUMO_ENOMEM, "out of memory");
    rc = KUMO_ENOMEM;
out:
    kumo__gcp_free(c);
    return rc;
}

/* ---- one exchange ----------------------------------------------------- */

static int map_error(const char *status, long http)
{
    static const struct {
        const char *status;
        int rc;
    } map[] = {
        {"NOT_FOUND", KUMO_ENOTFOUND},
        {"ALREADY_EXISTS", KUMO_ECONFLICT},
        {"FAILED_PRECONDITION", KUMO_ECONFLICT},
        {"ABORTED", KUMO_ECONFLICT},
        {"INVALID_ARGUMENT", KUMO_EINVAL},
        {"OUT_OF_RANGE", KUMO_EINVAL},
        {"RESOURCE_EXHAUSTED", KUMO_EUNAVAILABLE},
        {"UNAVAILABLE", KUMO_EUNAVAILABLE},
        {"INTERNAL", KUMO_EUNAVAILABLE},
        {"DEADLINE_EXCEEDED", KUMO_ETIMEDOUT},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(status, map[i].status) == 0)
            return map[i].rc;
    switch (http) {
    case 404: return KUMO_ENOTFOUND;
    case 409:
    case 412: return KUMO_ECONFLICT;
    case 400: return KUMO_EINVAL;
    case 413: return KUMO_ETOOBIG;
    case 408: return KUMO_ETIMEDOUT;
    case 429: return KUMO_EUNAVAILABLE;
    default: return http >= 500 ? KUMO_EUNAVAILABLE : KUMO_EIO;
    }
}

static void parse_error(kumo__gcp *c, const kumo__cloud_res *res)
{
    char message[200] = "";
    json_t *j = res->body && res->len ? json_loadb(res->body, res->len, 0, NULL) : NULL;
    json_t *e = json_object_get(j, "error");
    const char *st = json_string_value(json_object_get(e, "status"));
    const char *m = json_string_value(json_object_get(e, "message"));
    if (json_is_string(e)) { /* OAuth: {"error": "invalid_grant", "error_description": ...} */
        st = json_string_value(e);
        m = json_string_value(json_object_get(j, "error_description"));
    }
    snprintf(c->status, sizeof(c->status), "%s", st ? st : "");
    if (m)
        snprintf(message, sizeof(message), "%s", m);
    else if (j == NULL && res->body && res->len)
        snprintf(message, sizeof(message), "%.120s", res->body);
    for (char *p = message; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    json_decref(j);
    kumo__gcp_msg(c, "%s: %s%s%s (HTTP %ld)", c->service, *c->status ? c->status : "error", *message ? ": " : "",
                  message, res->status);
}

/* The exchange itself, with an optional Authorization line. */
static int exchange(kumo__gcp *c, const char *method, const char *url, const char *const *headers, const char *auth,
                    const void *body, size_t len, FILE *in, uint64_t in_len, size_t max_body, long timeout_ms,
                    kumo__cloud_res *res)
{
    *c->status = '\0';
    kumo__cloud_call call = {
        .method = method,
        .url = url,
        .headers = headers,
        .extra = (const char *const[]){auth, NULL},
        .body = body,
        .len = len,
        .in = in,
        .in_len = in_len,
        .connect_timeout_ms = CONNECT_TIMEOUT_MS,
        .timeout_ms = timeout_ms > 0 ? timeout_ms : TOTAL_TIMEOUT_MS,
        .max_body = max_body,
        .service = c->service,
        .base = c->base,
    };
    int rc = kumo__cloud_perform(c->curl, &call, res, c->msg, c->msglen);
    if (rc != 0) {
        snprintf(c->status, sizeof(c->status), "curl");
        return rc;
    }
    if (res->status >= 200 && res->status < 300)
        return 0;
    parse_error(c, res);
    return map_error(c->status, res->status);
}

/* ---- tokens ----------------------------------------------------------- */

/* The signed JWT assertion for the key (malloc'd), or NULL. */
static char *jwt(kumo__gcp *c, time_t now)
{
    char *claims = NULL, *h64 = NULL, *c64 = NULL, *s64 = NULL, *input = NULL, *out = NULL;
    unsigned char *sig = NULL, hash[32];
    size_t siglen = (c->key.n_bitlen + 7) / 8;
    br_sha256_context md;
    static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    json_t *cl = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", c->email, "scope", SCOPE, "aud", c->token_uri, "iat",
                           (json_int_t)now, "exp", (json_int_t)now + 3600);
    if (cl == NULL || (claims = json_dumps(cl, JSON_COMPACT)) == NULL)
        goto out;
    h64 = b64url((const unsigned char *)header, strlen(header));
    c64 = b64url((const unsigned char *)claims, strlen(claims));
    if (h64 == NULL || c64 == NULL || asprintf(&input, "%s.%s", h64, c64) < 0) {
        input = NULL;
        goto out;
    }
    br_sha256_init(&md);
    br_sha256_update(&md, input, strlen(input));
    br_sha256_out(&md, hash);
    /* RS256: RSASSA-PKCS1-v1_5 over the SHA-256 of "header.claims" */
    if ((sig = malloc(siglen)) == NULL ||
        br_rsa_pkcs1_sign_get_default()(BR_HASH_OID_SHA256, hash, sizeof(hash), &c->key, sig) != 1)
        goto out;
    if ((s64 = b64url(sig, siglen)) == NULL || asprintf(&out, "%s.%s", input, s64) < 0)
        out = NULL;
out:
    json_decref(cl);
    free(claims);
    free(h64);
    free(c64);
    free(s64);
    free(input);
    free(sig);
    return out;
}

/* Fetches a token into c->token: 0, or a KUMO_E* code with the message. */
static int fetch_token(kumo__gcp *c)
{
    kumo__cloud_res res;
    int rc;
    char url[600];
    time_t now = time(NULL);
    if (c->auth == AUTH_KEY) {
        char *assertion = jwt(c, now), *form = NULL;
        if (assertion == NULL ||
            asprintf(&form, "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Ajwt-bearer&assertion=%s",
                     assertion) < 0) {
            free(assertion);
            kumo__gcp_msg(c, "%s: cannot sign the token request with the service-account key", c->service);
            return KUMO_EIO;
        }
        kumo__cloud_free_secret(assertion);
        const char *h[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
        rc = exchange(c, "POST", c->token_uri, h, NULL, form, strlen(form), NULL, 0, 1u << 16, 0, &res);
        kumo__cloud_free_secret(form);
    } else {
        snprintf(url, sizeof(url), "%s/computeMetadata/v1/instance/service-accounts/default/token", c->metadata);
        const char *h[] = {"Metadata-Flavor: Google", NULL};
        rc = exchange(c, "GET", url, h, NULL, NULL, 0, NULL, 0, 1u << 16, 0, &res);
    }
    if (rc != 0) {
        char was[200];
        snprintf(was, sizeof(was), "%s", c->msg);
        kumo__gcp_msg(c, "%s: no access token from %s (%s)", c->service,
                      c->auth == AUTH_KEY ? "the key's token_uri" : "the metadata server", was);
        kumo__cloud_res_free(&res);
        return rc == KUMO_ENOTFOUND || rc == KUMO_EINVAL ? KUMO_EIO : rc;
    }
    json_t *j = json_loadb(res.body ? res.body : "", res.len, 0, NULL);
    if (res.body)
        memset(res.body, 0, res.len);
    kumo__cloud_res_free(&res);
    const char *tok = json_string_value(json_object_get(j, "access_token"));
    json_int_t ttl = json_integer_value(json_object_get(j, "expires_in"));
    rc = 0;
    if (tok == NULL || *tok == '\0' || strlen(tok) > TOKEN_MAX || strpbrk(tok, "\r\n") != NULL) {
        kumo__gcp_msg(c, "%s: the token answer has no usable access_token", c->service);
        rc = KUMO_EIO;
    } else {
        kumo__cloud_free_secret(c->token);
        c->token = strdup(tok);
        if (c->token == NULL)
            rc = KUMO_ENOMEM;
        c->token_until = now + (ttl > TOKEN_SLACK_S * 2 ? ttl - TOKEN_SLACK_S : ttl / 2);
    }
    if (j) {
        json_t *v = json_object_get(j, "access_token");
        if (v)
            json_string_set(v, ""); /* drop the copy jansson holds */
        json_decref(j);
    }
    return rc;
}

int kumo__gcp_token_for_test(kumo__gcp *c, char *buf, size_t size)
{
    if (c->auth == AUTH_NONE) {
        kumo__gcp_msg(c, "%s: an emulator takes no token", c->service);
        return KUMO_EINVAL;
    }
    int rc = fetch_token(c);
    if (rc == 0)
        snprintf(buf, size, "%s", c->token);
    return rc;
}

const char *kumo__gcp_project(kumo__gcp *c)
{
    if (c->project)
        return c->project;
    if (c->auth == AUTH_METADATA) {
        char url[600];
        kumo__cloud_res res;
        snprintf(url, sizeof(url), "%s/computeMetadata/v1/project/project-id", c->metadata);
        const char *h[] = {"Metadata-Flavor: Google", NULL};
        if (exchange(c, "GET", url, h, NULL, NULL, 0, NULL, 0, 1024, 0, &res) == 0 && res.body && res.len > 0 &&
            strpbrk(res.body, "/?#%& \r\n") == NULL)
            c->project = strdup(res.body);
        kumo__cloud_res_free(&res);
    }
    if (c->project == NULL)
        kumo__gcp_msg(c,
                      "%s: no project: add ?project=P to the store URL or set GOOGLE_CLOUD_PROJECT "
                      "(the metadata server did not say)",
                      c->service);
    return c->project;
}

static int send_any(kumo__gcp *c, const char *method, const char *url, const char *const *headers, const void *body,
                    size_t len, FILE *in, uint64_t in_len, size_t max_body, long timeout_ms, kumo__cloud_res *res)
{
    memset(res, 0, sizeof(*res));
    for (int attempt = 0;; attempt++) {
        char *auth = NULL;
        if (c->auth != AUTH_NONE) {
            if (c->token == NULL || time(NULL) >= c->token_until) {
                int rc = fetch_token(c);
                if (rc != 0)
                    return rc;
            }
            if (asprintf(&auth, "Authorization: Bearer %s", c->token) < 0) {
                kumo__gcp_msg(c, "out of memory");
                return KUMO_ENOMEM;
            }
        }
        if (in && fseeko(in, 0, SEEK_SET) != 0) {
            kumo__cloud_free_secret(auth);
            kumo__gcp_msg(c, "%s: cannot rewind the upload's spool file: %m", c->service);
            return KUMO_EIO;
        }
        int rc = exchange(c, method, url, headers, auth, body, len, in, in_len, max_body, timeout_ms, res);
        kumo__cloud_free_secret(auth);
        if (rc != 0 && res->status == 401 && c->auth != AUTH_NONE && attempt == 0) {
            /* revoked or expired early: one more try with a fresh token */
            kumo__cloud_free_secret(c->token);
            c->token = NULL;
            kumo__cloud_res_free(res);
            continue;
        }
        return rc;
    }
}

int kumo__gcp_send(kumo__gcp *c, const char *method, const char *url, const char *const *headers, const void *body,
                   size_t len, size_t max_body, long timeout_ms, kumo__cloud_res *res)
{
    return send_any(c, method, url, headers, body, len, NULL, 0, max_body, timeout_ms, res);
}

int kumo__gcp_send_file(kumo__gcp *c, const char *method, const char *url, const char *const *headers, FILE *in,
                        uint64_t len, size_t max_body, long timeout_ms, kumo__cloud_res *res)
{
    return send_any(c, method, url, headers, NULL, 0, in, len, max_body, timeout_ms, res);
}

int kumo__gcp_json(kumo__gcp *c, const char *method, const char *url, json_t *req, json_t **resp)
{
    kumo__cloud_res res;
    *resp = NULL;
    char *body = NULL;
    if (req) {
        body = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        if (body == NULL) {
            kumo__gcp_msg(c, "out of memory");
            return KUMO_ENOMEM;
        }
    }
    const char *h[] = {"Content-Type: application/json", NULL};
    int rc = kumo__gcp_send(c, method, url, h, body, body ? strlen(body) : 0, JSON_BODY_MAX, 0, &res);
    free(body);
    if (rc == 0) {
        json_error_t je;
        *resp = res.len ? json_loadb(res.body, res.len, 0, &je) : json_object();
        if (*resp == NULL) {
            snprintf(c->status, sizeof(c->status), "BadResponse");
            kumo__gcp_msg(c, "%s: the answer is JSON that does not parse: %s", c->service, je.text);
            rc = KUMO_EIO;
        }
    }
    kumo__cloud_res_free(&res);
    return rc;
}
