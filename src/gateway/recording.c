/*
 * recording.c: record and replay (recording.h): the recording file format,
 * redaction, the replay matcher, the unmatched-request and drift report.
 *
 * A set holds the spec's secret names (apiKey schemes, the caller's extra
 * headers), and in replay every recording loaded, grouped by operation.
 * The request side of a recording is kept as the same JSON the file has,
 * and an incoming request is first turned into that JSON by the same code
 * (redaction included), so matching compares like with like: a value the
 * recording has as "<redacted>" matches whatever the client sent.
 */
#include "gateway/recording.h"
#include "base/fs.h"
#include "base/percent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define REDACTED KUMO__RECORDING_REDACTED
#define UNMATCHED_MAX 1000 /* distinct unmatched requests kept for the report */
#define DRIFT_MAX 1000
#define WALK_DEPTH 32

typedef struct recording {
    size_t op_index;
    json_t *request; /* the file's "request", owned */
    kumo__recorded res;
    unsigned uses;
} recording;

typedef struct unmatched {
    char *operation, *method, *path, *closest;
    unsigned count;
} unmatched;

struct kumo__recordings {
    char *dir;
    const kumo__spec *spec;
    const kumo__refs *refs; /* spec->refs, or a locked one (kumo__recordings_set_refs) */
    char **secret_headers;  /* lower case, NULL-terminated */
    char **secret_query;
    recording *recs;
    size_t nrecs, caprecs;
    size_t **by_op; /* per operation: indexes into recs, in file order; NULL when none */
    size_t *nby_op;
    int *next_number; /* record mode: per operation, the next file number (0: not scanned) */
    json_t *drift;    /* array */
    pthread_mutex_t lock;
    unmatched *unmatched;
    size_t nunmatched;
    unsigned long matched, unmatched_total;
};

/* ---- names ------------------------------------------------------------------ */

void kumo__recording_op_dir(const kumo__operation *op, char *buf, size_t len)
{
    if (len == 0)
        return;
    if (op->operation_id && op->operation_id[0])
        snprintf(buf, len, "%s", op->operation_id);
    else
        snprintf(buf, len, "%s_%s", op->method, op->path[0] == '/' ? op->path + 1 : op->path);
    for (char *p = buf; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' ||
              *p == '_' || *p == '-'))
            *p = '_';
    if (buf[0] == '.')
        buf[0] = '_'; /* never "." or ".." */
}

static int name_in(char *const *list, const char *name, size_t len)
{
    for (size_t i = 0; list && list[i]; i++)
        if (strlen(list[i]) == len && strncasecmp(list[i], name, len) == 0)
            return 1;
    return 0;
}

static int list_add(char ***list, size_t *n, const char *name)
{
    char **grown = realloc(*list, (*n + 2) * sizeof(char *));
    if (grown == NULL)
        return -ENOMEM;
    *list = grown;
    if ((grown[*n] = strdup(name)) == NULL)
        return -ENOMEM;
    for (char *p = grown[*n]; *p; p++)
        *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
    grown[++*n] = NULL;
    return 0;
}

static void list_free(char **list)
{
    for (size_t i = 0; list && list[i]; i++)
        free(list[i]);
    free(list);
}

/* The spec's apiKey names (components.securitySchemes of 3.x,
 * securityDefinitions of 2.0) and the fixed credential headers. */
static int secret_names(kumo__recordings *r, const char *const *extra)
{
    static const char *const fixed[] = {"authorization", "proxy-authorization", "cookie", "set-cookie", NULL};
    size_t nh = 0, nq = 0;
    int rc = 0;
    for (size_t i = 0; fixed[i] && rc == 0; i++)
        rc = list_add(&r->secret_headers, &nh, fixed[i]);
    for (size_t i = 0; extra && extra[i] && rc == 0; i++)
        rc = list_add(&r->secret_headers, &nh, extra[i]);
    json_t *root = r->spec && r->spec->doc ? kumo__doc_root(r->spec->doc) : NULL;
    json_t *schemes = json_object_get(json_object_get(root, "components"), "securitySchemes");
    if (schemes == NULL)
        schemes = json_object_get(root, "securityDefinitions");
    const char *key;
    json_t *s;
    json_object_foreach(schemes, key, s)
    {
        const char *type = json_string_value(json_object_get(s, "type"));
        const char *in = json_string_value(json_object_get(s, "in"));
        const char *name = json_string_value(json_object_get(s, "name"));
        if (rc || type == NULL || strcmp(type, "apiKey") != 0 || in == NULL || name == NULL)
            continue;
        if (strcmp(in, "header") == 0)
            rc = list_add(&r->secret_headers, &nh, name);
        else if (strcmp(in, "query") == 0)
            rc = list_add(&r->secret_query, &nq, name);
    }
    return rc;
}

/* ---- redaction of declared secret fields ------------------------------------ */

static const json_t *deref(const kumo__refs *refs, const json_t *s)
{
    for (int i = 0; i < 16 && json_is_object(s); i++) {
        const char *ref = json_string_value(json_object_get(s, "$ref"));
        if (ref == NULL || refs == NULL)
            return s;
        char where[256];
        kumo__error e = {0};
        const json_t *t = refs->resolve(refs, s, ref, where, sizeof(where), &e);
        if (t == NULL)
            return NULL;
        s = t;
    }
    return s;
}

static int is_secret(const kumo__refs *spec, const json_t *s, int depth)
{
    s = deref(spec, s);
    if (!json_is_object(s) || depth > WALK_DEPTH)
        return 0;
    if (json_is_true(json_object_get(s, "x-kumo-secret")))
        return 1;
    const char *format = json_string_value(json_object_get(s, "format"));
    if (format && strcmp(format, "password") == 0)
        return 1;
    json_t *all = json_object_get(s, "allOf");
    for (size_t i = 0; i < json_array_size(all); i++)
        if (is_secret(spec, json_array_get(all, i), depth + 1))
            return 1;
    return 0;
}

/* Replaces, inside `inst`, every value whose schema is secret. */
static void redact(const kumo__refs *spec, const json_t *schema, json_t *inst, int depth)
{
    schema = deref(spec, schema);
    if (!json_is_object(schema) || depth > WALK_DEPTH)
        return;
    static const char *const combos[] = {"allOf", "anyOf", "oneOf"};
    for (size_t c = 0; c < 3; c++) {
        json_t *list = json_object_get(schema, combos[c]);
        for (size_t i = 0; i < json_array_size(list); i++)
            redact(spec, json_array_get(list, i), inst, depth + 1);
    }
    if (json_is_object(inst)) {
        json_t *props = json_object_get(schema, "properties"), *addl = json_object_get(schema, "additionalProperties");
        const char *key;
        json_t *v;
        json_object_foreach(inst, key, v)
        {
            const json_t *sub = json_object_get(props, key);
            if (sub == NULL && json_is_object(addl))
                sub = addl;
            if (sub == NULL)
                continue;
            if (is_secret(spec, sub, depth + 1))
                json_object_set_new(inst, key, json_string(REDACTED));
            else
                redact(spec, sub, v, depth + 1);
        }
    } else if (json_is_array(inst)) {
        json_t *items = json_object_get(schema, "items");
        if (!json_is_object(items))
            return;
        int secret = is_secret(spec, items, depth + 1);
        for (size_t i = 0; i < json_array_size(inst); i++) {
            if (secret)
                json_array_set_new(inst, i, json_string(REDACTED));
            else
                redact(spec, items, json_array_get(inst, i), depth + 1);
        }
    }
}

/* The schema of a media type among `content` matching `type` (parameters
 * after ';' ignored; a wildcard entry matches), NULL when none. */
static const json_t *media_schema(const kumo__media *content, size_t n, const char *type)
{
    size_t tlen = type ? strcspn(type, "; \t") : 0;
    const json_t *wild = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *t = content[i].type;
        if (type && strlen(t) == tlen && strncasecmp(t, type, tlen) == 0)
            return content[i].schema;
        if (strchr(t, '*') || type == NULL)
            wild = wild ? wild : content[i].schema;
    }
    return wild ? wild : (n == 1 ? content[0].schema : NULL);
}

static const kumo__response *response_of(const kumo__operation *op, int status)
{
    char exact[8], range[8];
    snprintf(exact, sizeof(exact), "%d", status);
    snprintf(range, sizeof(range), "%dXX", status / 100);
    const kumo__response *def = NULL;
    for (size_t i = 0; i < op->nresponses; i++) {
        if (strcmp(op->responses[i].status, exact) == 0)
            return &op->responses[i];
        if (strcasecmp(op->responses[i].status, range) == 0)
            def = &op->responses[i];
        else if (def == NULL && strcmp(op->responses[i].status, "default") == 0)
            def = &op->responses[i];
    }
    return def;
}

/* ---- building a recording --------------------------------------------------- */

static int is_json_type(const char *ct)
{
    if (ct == NULL)
        return 0;
    size_t len = strcspn(ct, "; \t");
    return (len == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
           (len > 5 && strncasecmp(ct + len - 5, "+json", 5) == 0);
}

/* Text kept as text: no NUL (a C reader would cut it there); whether it is
 * UTF-8 jansson's json_stringn decides. */
static int has_nul(const char *s, size_t n)
{
    return memchr(s, '\0', n) != NULL;
}

/* Sets the body of `obj` (body, body_text or body_base64); `schema` (may
 * be NULL) names the secret fields of a JSON body. */
static int put_body(const kumo__refs *spec, json_t *obj, kumo__slice body, const char *ct, const json_t *schema)
{
    if (body.base == NULL)
        return 0;
    if (is_json_type(ct)) {
        json_t *j = json_loadb(body.base, body.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (j != NULL) {
            redact(spec, schema, j, 0);
            return json_object_set_new(obj, "body", j);
        }
    }
    json_t *text = has_nul(body.base, body.len) ? NULL : json_stringn(body.base, body.len);
    if (text != NULL)
        return json_object_set_new(obj, "body_text", text);
    if (body.len > INT_MAX / 2)
        return -1;
    char *b64 = malloc(4 * ((body.len + 2) / 3) + 1);
    if (b64 == NULL)
        return -1;
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)body.base, (int)body.len);
    int rc = json_object_set_new(obj, "body_base64", json_string(b64));
    free(b64);
    return rc;
}

static int skip_header(const char *name, size_t len, int response)
{
    static const char *const hop[] = {"connection",
                                      "keep-alive",
                                      "proxy-connection",
                                      "transfer-encoding",
                                      "te",
                                      "upgrade",
                                      "trailer",
                                      "content-length",
                                      "host",
                                      "accept-encoding",
                                      NULL};
    static const char *const res_only[] = {"date", "server", "content-encoding", NULL};
    for (size_t i = 0; hop[i]; i++)
        if (strlen(hop[i]) == len && strncasecmp(hop[i], name, len) == 0)
            return 1;
    for (size_t i = 0; response && res_only[i]; i++)
        if (strlen(res_only[i]) == len && strncasecmp(res_only[i], name, len) == 0)
            return 1;
    return 0;
}

static json_t *headers_json(const kumo__recordings *r, const kumo__rec_message *m, int response)
{
    json_t *h = json_object();
    for (size_t i = 0; h && i < m->nheaders; i++) {
        const kumo__header_view *hv = &m->headers[i];
        if (hv->name.len == 0 || hv->name.len > 256 || skip_header(hv->name.base, hv->name.len, response))
            continue;
        char name[257];
        for (size_t k = 0; k < hv->name.len; k++)
            name[k] =
                (char)((hv->name.base[k] >= 'A' && hv->name.base[k] <= 'Z') ? hv->name.base[k] + 32 : hv->name.base[k]);
        name[hv->name.len] = '\0';
        if (name_in(r->secret_headers, name, hv->name.len)) {
            json_object_set_new(h, name, json_string(REDACTED));
            continue;
        }
        json_t *old = json_object_get(h, name);
        json_t *v;
        if (old) {
            char *joined = NULL;
            if (asprintf(&joined, "%s, %.*s", json_string_value(old), (int)hv->value.len, hv->value.base) < 0)
                continue;
            v = json_string(joined);
            free(joined);
        } else {
            v = json_stringn(hv->value.base, hv->value.len);
        }
        if (v == NULL) /* not UTF-8: kept as its hex, never dropped silently */
            v = json_string("<not UTF-8>");
        json_object_set_new(h, name, v);
    }
    return h;
}

static char *header_value(const kumo__rec_message *m, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < m->nheaders; i++)
        if (m->headers[i].name.len == len && strncasecmp(m->headers[i].name.base, name, len) == 0)
            return strndup(m->headers[i].value.base, m->headers[i].value.len);
    return NULL;
}

/* The query as {"name": "value"} (repeated names: an array), decoded. */
static json_t *query_json(const kumo__recordings *r, kumo__slice q)
{
    json_t *obj = json_object();
    const char *p = q.base, *end = q.base ? q.base + q.len : NULL;
    while (obj && p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p)), *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        size_t nlen = (size_t)((eq ? eq : stop) - p), vlen = eq ? (size_t)(stop - eq - 1) : 0;
        if (nlen > 0 && nlen < 1024 && vlen < 65536) {
            char name[1024], *val = malloc(vlen + 1);
            ssize_t n = kumo__percent_decode_into(p, nlen, name, KUMO__PCT_PLUS | KUMO__PCT_LENIENT);
            ssize_t v =
                val ? kumo__percent_decode_into(eq ? eq + 1 : "", vlen, val, KUMO__PCT_PLUS | KUMO__PCT_LENIENT) : -1;
            if (n > 0 && v >= 0) {
                name[n] = '\0';
                json_t *jv =
                    name_in(r->secret_query, name, (size_t)n) ? json_string(REDACTED) : json_stringn(val, (size_t)v);
                json_t *old = json_object_get(obj, name);
                if (jv == NULL || memchr(name, '\0', (size_t)n) != NULL) {
                    json_decref(jv);
                } else if (old == NULL) {
                    json_object_set_new(obj, name, jv);
                } else if (json_is_array(old)) {
                    json_array_append_new(old, jv);
                } else {
                    json_t *arr = json_pack("[O o]", old, jv);
                    json_object_set_new(obj, name, arr);
                }
            }
            free(val);
        }
        p = amp ? amp + 1 : end;
    }
    return obj;
}

static json_t *request_json(const kumo__recordings *r, size_t op_index, const kumo__rec_message *req)
{
    const kumo__operation *op = &r->spec->ops[op_index];
    json_t *j = json_object();
    char *ct = header_value(req, "content-type");
    if (j == NULL || json_object_set_new(j, "method", json_string(req->method ? req->method : op->method)) != 0 ||
        json_object_set_new(j, "path", json_stringn(req->path.base ? req->path.base : "", req->path.len)) != 0 ||
        json_object_set_new(j, "query", query_json(r, req->query)) != 0 ||
        json_object_set_new(j, "headers", headers_json(r, req, 0)) != 0 ||
        put_body(r->refs, j, req->body, ct, media_schema(op->body, op->nbody, ct)) != 0) {
        json_decref(j);
        j = NULL;
    }
    free(ct);
    return j;
}

json_t *kumo__recording_build(const kumo__recordings *r, size_t op_index, const kumo__rec_message *req,
                              const kumo__rec_message *res)
{
    const kumo__operation *op = &r->spec->ops[op_index];
    char opdir[256];
    kumo__recording_op_dir(op, opdir, sizeof(opdir));
    json_t *rec = json_object(), *resj = json_object();
    char *ct = header_value(res, "content-type");
    const kumo__response *declared = response_of(op, res->status);
    const json_t *schema = declared ? media_schema(declared->content, declared->ncontent, ct) : NULL;
    int bad = rec == NULL || resj == NULL;
    bad = bad || json_object_set_new(rec, "kumo_recording", json_integer(1)) != 0;
    bad = bad || json_object_set_new(rec, "operation", json_string(opdir)) != 0;
    bad = bad || json_object_set_new(rec, "request", request_json(r, op_index, req)) != 0;
    bad = bad || json_object_set_new(resj, "status", json_integer(res->status)) != 0;
    bad = bad || json_object_set_new(resj, "headers", headers_json(r, res, 1)) != 0;
    bad = bad || put_body(r->refs, resj, res->body, ct, schema) != 0;
    bad = bad || json_object_set(rec, "response", resj) != 0;
    free(ct);
    json_decref(resj);
    if (bad) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

/* The next free number in dir/opdir (scanned once per operation). */
static int scan_next(const char *dir)
{
    int next = 1;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char *end;
        long n = strtol(e->d_name, &end, 10);
        if (end != e->d_name && strcmp(end, ".json") == 0 && n >= next && n < INT_MAX - 1)
            next = (int)n + 1;
    }
    if (d)
        closedir(d);
    return next;
}

int kumo__recordings_write(kumo__recordings *r, size_t op_index, const kumo__rec_message *req,
                           const kumo__rec_message *res, char *path, size_t path_len)
{
    json_t *rec = kumo__recording_build(r, op_index, req, res);
    char *text = rec ? json_dumps(rec, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(rec);
    if (text == NULL)
        return -ENOMEM;
    char opdir[256], dirpath[PATH_MAX], tmp[PATH_MAX], final[PATH_MAX];
    kumo__recording_op_dir(&r->spec->ops[op_index], opdir, sizeof(opdir));
    snprintf(dirpath, sizeof(dirpath), "%s/%s", r->dir, opdir);
    int rc = 0, fd = -1;
    pthread_mutex_lock(&r->lock);
    if (kumo__mkdirs(dirpath, 0755) != 0) {
        rc = -errno;
        goto out;
    }
    snprintf(tmp, sizeof(tmp), "%s/.recording-%ld.tmp", dirpath, (long)getpid());
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        rc = -errno;
        goto out;
    }
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = -errno;
            goto out;
        }
        off += (size_t)w;
    }
    if (write(fd, "\n", 1) != 1 || close(fd) != 0) {
        fd = -1;
        rc = -EIO;
        goto out;
    }
    fd = -1;
    if (r->next_number[op_index] == 0)
        r->next_number[op_index] = scan_next(dirpath);
    /* link() never replaces: a number another process took is skipped. */
    for (int tries = 0; tries < 1000; tries++) {
        snprintf(final, sizeof(final), "%s/%04d.json", dirpath, r->next_number[op_index]++);
        if (link(tmp, final) == 0)
            break;
        if (errno != EEXIST) {
            rc = -errno;
            break;
        }
    }
    if (rc == 0 && path)
        snprintf(path, path_len, "%s", final);
out:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    pthread_mutex_unlock(&r->lock);
    free(text);
    return rc;
}

/* ---- reading a recording ---------------------------------------------------- */

static int known_keys(const kumo__doc *doc, const json_t *obj, const char *const *known, const char *where,
                      kumo__error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        int ok = 0;
        for (size_t i = 0; known[i]; i++)
            ok |= strcmp(key, known[i]) == 0;
        if (!ok) {
            kumo__doc_key_error(err, doc, obj, key, "unknown key '%s' in %s", key, where);
            return -EINVAL;
        }
    }
    return 0;
}

static int check_headers(const kumo__doc *doc, const json_t *parent, const char *where, kumo__error *err)
{
    json_t *h = json_object_get(parent, "headers");
    if (h == NULL)
        return 0;
    if (!json_is_object(h)) {
        kumo__doc_value_error(err, doc, parent, "headers", "%s headers must be a mapping of names to strings", where);
        return -EINVAL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(h, key, v)
    {
        if (!json_is_string(v) || key[0] == '\0') {
            kumo__doc_value_error(err, doc, h, key, "header '%s' must be a string", key);
            return -EINVAL;
        }
    }
    return 0;
}

/* The body of a request or response side: the bytes in *out (malloc'd,
 * NULL when none). */
static int body_bytes(const kumo__doc *doc, const json_t *side, const char *where, char **out, size_t *len,
                      kumo__error *err)
{
    json_t *b = json_object_get(side, "body"), *t = json_object_get(side, "body_text"),
           *b64 = json_object_get(side, "body_base64");
    *out = NULL;
    *len = 0;
    if ((b != NULL) + (t != NULL) + (b64 != NULL) > 1) {
        kumo__doc_error(err, doc, side, "%s has more than one of body, body_text and body_base64; keep one", where);
        return -EINVAL;
    }
    if (b) {
        *out = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
        if (*out == NULL) {
            kumo__error_set(err, -ENOMEM, "out of memory");
            return -ENOMEM;
        }
        *len = strlen(*out);
    } else if (t) {
        if (!json_is_string(t)) {
            kumo__doc_value_error(err, doc, side, "body_text", "body_text must be a string");
            return -EINVAL;
        }
        if ((*out = malloc(json_string_length(t) + 1)) == NULL) {
            kumo__error_set(err, -ENOMEM, "out of memory");
            return -ENOMEM;
        }
        memcpy(*out, json_string_value(t), json_string_length(t) + 1);
        *len = json_string_length(t);
    } else if (b64) {
        const char *s = json_string_value(b64);
        size_t slen = s ? strlen(s) : 0;
        if (s == NULL || slen % 4 != 0 || slen > INT_MAX) {
            kumo__doc_value_error(err, doc, side, "body_base64", "body_base64 must be base64 text (RFC 4648)");
            return -EINVAL;
        }
        if ((*out = malloc(slen / 4 * 3 + 1)) == NULL) {
            kumo__error_set(err, -ENOMEM, "out of memory");
            return -ENOMEM;
        }
        int n = slen ? EVP_DecodeBlock((unsigned char *)*out, (const unsigned char *)s, (int)slen) : 0;
        if (n < 0) {
            free(*out);
            *out = NULL;
            kumo__doc_value_error(err, doc, side, "body_base64", "body_base64 must be base64 text (RFC 4648)");
            return -EINVAL;
        }
        /* EVP_DecodeBlock counts the padding's zero bytes */
        for (size_t k = slen; k > 0 && s[k - 1] == '='; k--)
            n--;
        *len = (size_t)n;
    }
    return 0;
}

void kumo__recorded_clear(kumo__recorded *rec)
{
    json_decref(rec->headers);
    free(rec->body);
    free((char *)rec->file);
    memset(rec, 0, sizeof(*rec));
}

int kumo__recording_parse(const char *name, const char *text, size_t len, char *op, size_t op_len, kumo__recorded *out,
                          json_t **request, kumo__error *err)
{
    static const char *const top[] = {"kumo_recording", "operation", "request", "response", NULL};
    static const char *const req_keys[] = {"method", "path",      "query",       "headers",
                                           "body",   "body_text", "body_base64", NULL};
    static const char *const res_keys[] = {"status", "headers", "body", "body_text", "body_base64", NULL};
    kumo__doc *doc = NULL;
    memset(out, 0, sizeof(*out));
    *request = NULL;
    int rc = kumo__doc_parse(name, text, len, &doc, err);
    if (rc != 0)
        return rc;
    json_t *root = kumo__doc_root(doc), *v, *req, *res;
    rc = -EINVAL;
    if (!json_is_object(root)) {
        kumo__doc_error(err, doc, root, "a recording is a mapping with kumo_recording, operation, request, response");
        goto out;
    }
    if (known_keys(doc, root, top, "a recording", err) != 0)
        goto out;
    v = json_object_get(root, "kumo_recording");
    if (!json_is_integer(v) || json_integer_value(v) != 1) {
        kumo__doc_value_error(err, doc, root, "kumo_recording",
                              "kumo_recording must be 1 (this kumo reads recordings of format 1)");
        goto out;
    }
    v = json_object_get(root, "operation");
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= op_len) {
        kumo__doc_value_error(err, doc, root, "operation", "operation must name the operation (its operationId)");
        goto out;
    }
    memcpy(op, json_string_value(v), json_string_length(v) + 1);
    req = json_object_get(root, "request");
    res = json_object_get(root, "response");
    if (!json_is_object(req) || !json_is_object(res)) {
        kumo__doc_error(err, doc, root, "a recording needs a request and a response, each a mapping");
        goto out;
    }
    if (known_keys(doc, req, req_keys, "the request", err) != 0 ||
        known_keys(doc, res, res_keys, "the response", err) != 0)
        goto out;
    v = json_object_get(req, "method");
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 16) {
        kumo__doc_value_error(err, doc, req, "method", "the request's method must be a string such as GET");
        goto out;
    }
    v = json_object_get(req, "path");
    if (!json_is_string(v) || json_string_value(v)[0] != '/') {
        kumo__doc_value_error(err, doc, req, "path", "the request's path must start with /");
        goto out;
    }
    v = json_object_get(req, "query");
    if (v != NULL) {
        const char *k;
        json_t *qv;
        if (!json_is_object(v)) {
            kumo__doc_value_error(err, doc, req, "query", "query must be a mapping of names to strings or lists");
            goto out;
        }
        json_object_foreach(v, k, qv)
        {
            int ok = json_is_string(qv) || json_is_array(qv);
            for (size_t i = 0; json_is_array(qv) && i < json_array_size(qv); i++)
                ok &= json_is_string(json_array_get(qv, i));
            if (!ok) {
                kumo__doc_value_error(err, doc, v, k, "query parameter '%s' must be a string or a list of strings", k);
                goto out;
            }
        }
    }
    if (check_headers(doc, req, "the request's", err) != 0 || check_headers(doc, res, "the response's", err) != 0)
        goto out;
    char *ignored = NULL;
    size_t ignored_len;
    if ((rc = body_bytes(doc, req, "the request", &ignored, &ignored_len, err)) != 0)
        goto out;
    free(ignored);
    rc = -EINVAL;
    v = json_object_get(res, "status");
    if (!json_is_integer(v) || json_integer_value(v) < 100 || json_integer_value(v) > 599) {
        kumo__doc_value_error(err, doc, res, "status", "the response's status must be a number from 100 to 599");
        goto out;
    }
    out->status = (int)json_integer_value(v);
    if ((rc = body_bytes(doc, res, "the response", &out->body, &out->body_len, err)) != 0)
        goto out;
    out->headers = json_object_get(res, "headers") ? json_incref(json_object_get(res, "headers")) : json_object();
    if (json_object_get(res, "body") && json_object_get(out->headers, "content-type") == NULL)
        json_object_set_new(out->headers, "content-type", json_string("application/json"));
    /* The request kept for matching: its query and headers present even
     * when the file left them out. */
    *request = json_deep_copy(req);
    if (*request == NULL || out->headers == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    if (json_object_get(*request, "query") == NULL)
        json_object_set_new(*request, "query", json_object());
    rc = 0;
out:
    if (rc != 0) {
        kumo__recorded_clear(out);
        json_decref(*request);
        *request = NULL;
    }
    kumo__doc_free(doc);
    return rc;
}

/* ---- loading ----------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in `dir` (sorted), malloc'd, or NULL with *n = 0. */
static char **dir_names(const char *dir, size_t *n, int want_dirs)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t cap = 0;
    *n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[PATH_MAX];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (stat(p, &st) != 0 || (want_dirs ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)))
            continue;
        if (!want_dirs) {
            size_t l = strlen(e->d_name);
            if (l < 6 || strcmp(e->d_name + l - 5, ".json") != 0)
                continue;
        }
        if (*n == cap) {
            char **g = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(char *));
            if (g == NULL)
                break;
            names = g;
        }
        if ((names[*n] = strdup(e->d_name)) != NULL)
            (*n)++;
    }
    if (d)
        closedir(d);
    if (*n)
        qsort(names, *n, sizeof(char *), cmp_str);
    return names;
}

static void names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int read_file(const char *path, char **text, size_t *len, kumo__error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    *text = NULL;
    if (fd < 0 || fstat(fd, &st) != 0) {
        kumo__error_set(err, -errno, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -EIO;
    }
    if (st.st_size > (off_t)KUMO__RECORDING_MAX_BYTES) {
        close(fd);
        kumo__error_set(err, -EFBIG, "%s: %lld bytes; a recording may have at most 16 MiB", path,
                        (long long)st.st_size);
        return -EFBIG;
    }
    *text = malloc((size_t)st.st_size + 1);
    size_t off = 0;
    while (*text && off < (size_t)st.st_size) {
        ssize_t r = read(fd, *text + off, (size_t)st.st_size - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        off += (size_t)r;
    }
    close(fd);
    if (*text == NULL || off != (size_t)st.st_size) {
        free(*text);
        *text = NULL;
        kumo__error_set(err, -EIO, "%s: could not be read", path);
        return -EIO;
    }
    (*text)[off] = '\0';
    *len = off;
    return 0;
}

static int drift_add(kumo__recordings *r, const char *file, const char *operation, int status, json_t *errors)
{
    if (json_array_size(r->drift) >= DRIFT_MAX) {
        json_decref(errors);
        return 0;
    }
    return json_array_append_new(r->drift, json_pack("{s:s, s:s, s:i, s:o}", "file", file, "operation", operation,
                                                     "status", status, "errors", errors));
}

/* Checks every recorded response of operation `op_index` against the
 * document; a violation is drift, never a refusal. */
static int check_drift(kumo__recordings *r, size_t op_index, kumo__error *err)
{
    kumo__opcheck *check = NULL;
    int rc = kumo__opcheck_build(r->spec, op_index, &check, err);
    if (rc != 0)
        return rc;
    char opdir[256];
    kumo__recording_op_dir(&r->spec->ops[op_index], opdir, sizeof(opdir));
    for (size_t k = 0; k < r->nby_op[op_index]; k++) {
        recording *rec = &r->recs[r->by_op[op_index][k]];
        const char *ct = json_string_value(json_object_get(rec->res.headers, "content-type"));
        kumo__slice cts = {ct ? ct : "", ct ? strlen(ct) : 0}, body = {rec->res.body, rec->res.body_len};
        kumo__violations v = {0};
        if (kumo__opcheck_response(check, rec->res.status, cts, body, &v) == 1) {
            json_t *errors = json_array();
            for (size_t i = 0; i < v.count; i++) {
                char line[600];
                snprintf(line, sizeof(line), "%s%s%s", v.items[i].instance ? v.items[i].instance : "",
                         v.items[i].instance && v.items[i].instance[0] ? ": " : "", v.items[i].message);
                json_array_append_new(errors, json_string(line));
            }
            drift_add(r, rec->res.file, opdir, rec->res.status, errors);
        }
        kumo__violations_free(&v);
    }
    kumo__opcheck_free(check);
    return 0;
}

static int load_all(kumo__recordings *r, kumo__error *err)
{
    size_t nops = r->spec->nops, ndirs = 0;
    int rc = 0;
    char **dirs = dir_names(r->dir, &ndirs, 1);
    char(*names)[256] = calloc(nops ? nops : 1, 256);
    if (names == NULL) {
        names_free(dirs, ndirs);
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < nops; i++)
        kumo__recording_op_dir(&r->spec->ops[i], names[i], 256);
    for (size_t d = 0; d < ndirs && rc == 0; d++) {
        size_t op = nops;
        for (size_t i = 0; i < nops && op == nops; i++)
            if (strcmp(names[i], dirs[d]) == 0)
                op = i;
        char sub[PATH_MAX];
        snprintf(sub, sizeof(sub), "%s/%s", r->dir, dirs[d]);
        size_t nfiles = 0;
        char **files = dir_names(sub, &nfiles, 0);
        if (op == nops) {
            if (nfiles > 0)
                drift_add(r, dirs[d], dirs[d], 0,
                          json_pack("[s]", "the document has no such operation: renamed or removed; record it "
                                           "again or delete the directory"));
            names_free(files, nfiles);
            continue;
        }
        for (size_t f = 0; f < nfiles && rc == 0; f++) {
            char path[PATH_MAX], rel[PATH_MAX], opname[256], *text = NULL;
            size_t len = 0;
            snprintf(path, sizeof(path), "%s/%s", sub, files[f]);
            snprintf(rel, sizeof(rel), "%s/%s", dirs[d], files[f]);
            if (r->nrecs >= KUMO__RECORDINGS_MAX) {
                kumo__error_set(err, -EFBIG, "%s: more than %d recordings; replay loads at most that many", r->dir,
                                KUMO__RECORDINGS_MAX);
                rc = -EFBIG;
                break;
            }
            if ((rc = read_file(path, &text, &len, err)) != 0)
                break;
            if (r->nrecs == r->caprecs) {
                recording *g = realloc(r->recs, (r->caprecs = r->caprecs ? r->caprecs * 2 : 64) * sizeof(recording));
                if (g == NULL) {
                    free(text);
                    kumo__error_set(err, -ENOMEM, "out of memory");
                    rc = -ENOMEM;
                    break;
                }
                r->recs = g;
            }
            recording *rec = &r->recs[r->nrecs];
            memset(rec, 0, sizeof(*rec));
            rc = kumo__recording_parse(path, text, len, opname, sizeof(opname), &rec->res, &rec->request, err);
            free(text);
            if (rc != 0)
                break;
            if (strcmp(opname, dirs[d]) != 0) {
                kumo__error_set(err, -EINVAL,
                                "%s: the recording says operation '%s' but is in the directory of '%s'; move it", path,
                                opname, dirs[d]);
                kumo__recorded_clear(&rec->res);
                json_decref(rec->request);
                rc = -EINVAL;
                break;
            }
            rec->op_index = op;
            rec->res.file = strdup(rel);
            size_t *g = realloc(r->by_op[op], (r->nby_op[op] + 1) * sizeof(size_t));
            if (g == NULL || rec->res.file == NULL) {
                if (g)
                    r->by_op[op] = g;
                kumo__recorded_clear(&rec->res);
                json_decref(rec->request);
                kumo__error_set(err, -ENOMEM, "out of memory");
                rc = -ENOMEM;
                break;
            }
            r->by_op[op] = g;
            g[r->nby_op[op]++] = r->nrecs++;
        }
        names_free(files, nfiles);
    }
    names_free(dirs, ndirs);
    free(names);
    for (size_t i = 0; i < nops && rc == 0; i++)
        if (r->nby_op[i] > 0)
            rc = check_drift(r, i, err);
    return rc;
}

void kumo__recordings_free(kumo__recordings *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nrecs; i++) {
        kumo__recorded_clear(&r->recs[i].res);
        json_decref(r->recs[i].request);
    }
    free(r->recs);
    for (size_t i = 0; r->by_op && i < r->spec->nops; i++)
        free(r->by_op[i]);
    free(r->by_op);
    free(r->nby_op);
    free(r->next_number);
    for (size_t i = 0; i < r->nunmatched; i++) {
        free(r->unmatched[i].operation);
        free(r->unmatched[i].method);
        free(r->unmatched[i].path);
        free(r->unmatched[i].closest);
    }
    free(r->unmatched);
    json_decref(r->drift);
    list_free(r->secret_headers);
    list_free(r->secret_query);
    pthread_mutex_destroy(&r->lock);
    free(r->dir);
    free(r);
}

int kumo__recordings_open(const char *dir, const kumo__spec *spec, const char *const *extra_secret, int load,
                          kumo__recordings **out, kumo__error *err)
{
    *out = NULL;
    kumo__recordings *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&r->lock, NULL);
    r->spec = spec;
    r->refs = spec->refs;
    size_t nops = spec->nops ? spec->nops : 1;
    int rc = 0;
    r->dir = strdup(dir);
    r->by_op = calloc(nops, sizeof(size_t *));
    r->nby_op = calloc(nops, sizeof(size_t));
    r->next_number = calloc(nops, sizeof(int));
    r->drift = json_array();
    if (r->dir == NULL || r->by_op == NULL || r->nby_op == NULL || r->next_number == NULL || r->drift == NULL ||
        secret_names(r, extra_secret) != 0) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    struct stat st;
    if (load) {
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            kumo__error_set(err, -ENOENT,
                            "%s: no such directory of recordings; record first with --record %s "
                            "--proxy URL",
                            dir, dir);
            rc = -ENOENT;
            goto out;
        }
        rc = load_all(r, err);
    } else if (kumo__mkdirs(dir, 0755) != 0) {
        rc = -errno;
        kumo__error_set(err, rc, "%s: cannot create the directory of recordings: %s", dir, strerror(errno));
    }
out:
    if (rc != 0)
        kumo__recordings_free(r);
    else
        *out = r;
    return rc;
}

void kumo__recordings_set_refs(kumo__recordings *r, const kumo__refs *refs)
{
    r->refs = refs;
}

size_t kumo__recordings_count(const kumo__recordings *r)
{
    return r ? r->nrecs : 0;
}

/* ---- matching ------------------------------------------------------------------ */

/* How many leaves differ between a recorded value and a request's; a
 * recorded "<redacted>" matches anything. */
static size_t diff_count(const json_t *rec, const json_t *got, int depth)
{
    if (json_is_string(rec) && strcmp(json_string_value(rec), REDACTED) == 0 && got != NULL)
        return 0;
    if (rec == NULL || got == NULL)
        return rec != got;
    if (depth > WALK_DEPTH)
        return !json_equal(rec, got);
    if (json_is_object(rec) && json_is_object(got)) {
        size_t n = 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)rec, k, v) n += diff_count(v, json_object_get(got, k), depth + 1);
        json_object_foreach((json_t *)got, k, v) n += json_object_get(rec, k) == NULL;
        return n;
    }
    if (json_is_array(rec) && json_is_array(got)) {
        size_t a = json_array_size(rec), b = json_array_size(got), n = a > b ? a - b : b - a;
        for (size_t i = 0; i < a && i < b; i++)
            n += diff_count(json_array_get(rec, i), json_array_get(got, i), depth + 1);
        return n;
    }
    return !json_equal(rec, got);
}

static size_t body_diff(const json_t *rec, const json_t *got)
{
    static const char *const keys[] = {"body", "body_text", "body_base64"};
    size_t n = 0;
    for (size_t i = 0; i < 3; i++)
        n += diff_count(json_object_get(rec, keys[i]), json_object_get(got, keys[i]), 0);
    return n;
}

static size_t params_diff(const json_t *rec, const json_t *got)
{
    size_t n = diff_count(json_object_get(rec, "query"), json_object_get(got, "query"), 0);
    n += !json_equal(json_object_get(rec, "path"), json_object_get(got, "path"));
    n += strcasecmp(json_string_value(json_object_get(rec, "method")),
                    json_string_value(json_object_get(got, "method"))) != 0;
    return n;
}

/* What differs between a recording and the request, in words. */
static void describe(const json_t *rec, const json_t *got, char *buf, size_t len)
{
    const char *rp = json_string_value(json_object_get(rec, "path"));
    if (!json_equal(json_object_get(rec, "path"), json_object_get(got, "path"))) {
        snprintf(buf, len, "the path differs: it has %s", rp);
        return;
    }
    char *q = json_dumps(json_object_get(rec, "query"), JSON_COMPACT | JSON_SORT_KEYS);
    snprintf(buf, len, "the query differs: it has %s", q ? q : "?");
    free(q);
}

static void count_unmatched(kumo__recordings *r, const char *operation, const char *method, const char *path,
                            const char *closest)
{
    r->unmatched_total++;
    for (size_t i = 0; i < r->nunmatched; i++)
        if (strcmp(r->unmatched[i].operation, operation) == 0 && strcmp(r->unmatched[i].method, method) == 0 &&
            strcmp(r->unmatched[i].path, path) == 0) {
            r->unmatched[i].count++;
            return;
        }
    if (r->nunmatched >= UNMATCHED_MAX)
        return;
    unmatched *g = realloc(r->unmatched, (r->nunmatched + 1) * sizeof(unmatched));
    if (g == NULL)
        return;
    r->unmatched = g;
    unmatched *u = &g[r->nunmatched];
    u->operation = strdup(operation);
    u->method = strdup(method);
    u->path = strdup(path);
    u->closest = strdup(closest ? closest : "");
    u->count = 1;
    if (u->operation && u->method && u->path && u->closest) {
        r->nunmatched++;
    } else {
        free(u->operation);
        free(u->method);
        free(u->path);
        free(u->closest);
    }
}

const kumo__recorded *kumo__recordings_match(kumo__recordings *r, size_t op_index, const kumo__rec_message *req,
                                             char *detail, size_t detail_len)
{
    if (detail_len)
        detail[0] = '\0';
    if (op_index >= r->spec->nops)
        return NULL;
    char opdir[256];
    kumo__recording_op_dir(&r->spec->ops[op_index], opdir, sizeof(opdir));
    json_t *got = request_json(r, op_index, req);
    const kumo__recorded *found = NULL;
    size_t best = (size_t)-1, closest = (size_t)-1, closest_p = (size_t)-1, closest_b = (size_t)-1;
    pthread_mutex_lock(&r->lock);
    if (got != NULL) {
        /* Parameters must match; the body picks the best among those. */
        size_t best_body = (size_t)-1;
        for (size_t k = 0; k < r->nby_op[op_index]; k++) {
            size_t i = r->by_op[op_index][k];
            size_t p = params_diff(r->recs[i].request, got), b = body_diff(r->recs[i].request, got);
            if (p < closest_p || (p == closest_p && b < closest_b))
                closest = i, closest_p = p, closest_b = b;
            if (p != 0)
                continue;
            if (b < best_body) {
                best_body = b;
                best = i;
            } else if (b == best_body && r->recs[best].uses > 0) {
                best = i; /* the next of equals not used yet, or the last */
            }
        }
    }
    char path[1024];
    snprintf(path, sizeof(path), "%.*s%s%.*s", (int)(req->path.len > 900 ? 900 : req->path.len),
             req->path.base ? req->path.base : "", req->query.len ? "?" : "",
             (int)(req->query.len > 100 ? 100 : req->query.len), req->query.base ? req->query.base : "");
    if (best != (size_t)-1) {
        r->recs[best].uses++;
        r->matched++;
        found = &r->recs[best].res;
    } else {
        char why[400] = "";
        if (got == NULL)
            snprintf(detail, detail_len, "out of memory while matching the request");
        else if (closest == (size_t)-1)
            snprintf(detail, detail_len, "no recording of %s matches %s %s: %s/%s/ has none; record it with --record",
                     opdir, req->method ? req->method : "", path, r->dir, opdir);
        else {
            describe(r->recs[closest].request, got, why, sizeof(why));
            snprintf(detail, detail_len, "no recording of %s matches %s %s; the closest is %s (%s)", opdir,
                     req->method ? req->method : "", path, r->recs[closest].res.file, why);
        }
        count_unmatched(r, opdir, req->method ? req->method : "", path,
                        closest == (size_t)-1 ? NULL : r->recs[closest].res.file);
    }
    pthread_mutex_unlock(&r->lock);
    json_decref(got);
    return found;
}

/* ---- the report ------------------------------------------------------------------ */

json_t *kumo__recordings_report(kumo__recordings *r)
{
    pthread_mutex_lock(&r->lock);
    json_t *un = json_array();
    for (size_t i = 0; un && i < r->nunmatched; i++) {
        unmatched *u = &r->unmatched[i];
        json_array_append_new(un, json_pack("{s:s, s:s, s:s, s:i, s:s?}", "operation", u->operation, "method",
                                            u->method, "path", u->path, "count", (int)u->count, "closest",
                                            u->closest[0] ? u->closest : NULL));
    }
    json_t *rep =
        json_pack("{s:I, s:I, s:I, s:o, s:O}", "recordings", (json_int_t)r->nrecs, "matched", (json_int_t)r->matched,
                  "unmatched_requests", (json_int_t)r->unmatched_total, "unmatched", un, "drift", r->drift);
    pthread_mutex_unlock(&r->lock);
    return rep;
}

char *kumo__recordings_report_text(kumo__recordings *r)
{
    json_t *rep = kumo__recordings_report(r);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL || rep == NULL) {
        if (f)
            fclose(f);
        free(buf);
        json_decref(rep);
        return NULL;
    }
    json_t *un = json_object_get(rep, "unmatched"), *drift = json_object_get(rep, "drift"), *v;
    size_t i;
    if (json_array_size(un) > 0)
        fprintf(f, "replay: %lld request(s) had no recording:\n",
                (long long)json_integer_value(json_object_get(rep, "unmatched_requests")));
    json_array_foreach(un, i, v)
    {
        const char *closest = json_string_value(json_object_get(v, "closest"));
        fprintf(f, "  %s %s (%s) x%lld%s%s\n", json_string_value(json_object_get(v, "method")),
                json_string_value(json_object_get(v, "path")), json_string_value(json_object_get(v, "operation")),
                (long long)json_integer_value(json_object_get(v, "count")), closest ? ", closest: " : "",
                closest ? closest : "");
    }
    if (json_array_size(drift) > 0)
        fprintf(f, "replay: %zu recording(s) break the document (drift):\n", json_array_size(drift));
    json_array_foreach(drift, i, v)
    {
        json_t *errs = json_object_get(v, "errors");
        fprintf(f, "  %s: %s\n", json_string_value(json_object_get(v, "file")),
                json_string_value(json_array_get(errs, 0)) ? json_string_value(json_array_get(errs, 0)) : "");
        for (size_t k = 1; k < json_array_size(errs) && k < 5; k++)
            fprintf(f, "    %s\n", json_string_value(json_array_get(errs, k)));
    }
    fclose(f);
    json_decref(rep);
    return buf;
}
