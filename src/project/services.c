/*
 * services.c: kumo.yaml's services: and environments.ENV.services:, and
 * where each service lives in an environment (services.h).
 *
 *   services:
 *     payments:
 *       spec: services/payments.yaml       # required, a file in the project
 *       url: https://api.payments.example  # optional default base URL
 *       headers: {Authorization: "Bearer ${env:PAYMENTS_TOKEN}"}
 *       timeout: 5s                        # optional, below the invocation's remaining time
 *       max_response: 1Mi                  # default 1Mi
 *       mock: {mode: static, seed: 42, data: FILE, recordings: DIR, faults: {...}}
 *   environments:
 *     prod: {services: {payments: {url: https://api.payments.example}}}
 *
 * A credential written as a literal in headers: is refused at its
 * line:column ("put it in the environment: ${env:NAME}"); references are
 * expanded by kumo__services_resolve, on the control plane, and the
 * expanded values are never part of a message.
 */
#include "project/services.h"

#include "project/project.h"
#include "base/strlist.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const service_keys[] = {"spec", "url", "headers", "timeout", "max_response", "mock", NULL};
static const char *const mock_keys[] = {"mode", "seed", "data", "recordings", "faults", NULL};
static const char *const mock_modes[] = {"static", "stateful", "replay", "record", NULL};
static const char *const env_service_keys[] = {"url", NULL};

/* kumo__error_set, returning the code. */
#define FAIL(err, code, ...) (kumo__error_set((err), (code), __VA_ARGS__), (code))

static int oom(kumo__error *err)
{
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

static int service_name_ok(const char *s)
{
    if (*s == '\0' || strlen(s) > 63)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

int kumo__service_url_ok(const char *url)
{
    const char *rest;
    if (strncasecmp(url, "http://", 7) == 0)
        rest = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        rest = url + 8;
    else
        return 0;
    size_t host = strcspn(rest, "/?#");
    if (host == 0 || memchr(rest, '@', host) != NULL || strchr(url, '#') != NULL)
        return 0;
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return 0;
    return 1;
}

int kumo__service_var(const char *name, char *buf, size_t len)
{
    size_t n = strlen(name);
    if (n == 0 || n > 63)
        return -EINVAL;
    if (len < sizeof("KUMO_SERVICE__URL") + n)
        return -ENAMETOOLONG;
    char *o = buf + sprintf(buf, "KUMO_SERVICE_");
    for (const char *c = name; *c; c++) {
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_')
            return -EINVAL;
        *o++ = *c == '-' ? '_' : (char)toupper((unsigned char)*c);
    }
    strcpy(o, "_URL");
    return 0;
}

int kumo__header_is_credential(const char *name)
{
    static const char *const exact[] = {"authorization", "proxy-authorization", "cookie", "x-api-key", NULL};
    static const char *const parts[] = {"token", "secret", "key", NULL};
    for (const char *const *e = exact; *e; e++)
        if (strcasecmp(name, *e) == 0)
            return 1;
    for (const char *const *pp = parts; *pp; pp++)
        if (strcasestr(name, *pp) != NULL)
            return 1;
    return 0;
}

/* Walks the references of value: for each, kind ("env"/"file") and its
 * argument; cb may be NULL (check only). 1 when one was seen, 0 none, -1
 * malformed (err set). */
static int walk_refs(const char *value, kumo__error *err, int (*cb)(void *d, int file, const char *arg, size_t n),
                     void *d)
{
    int seen = 0;
    for (const char *s = value; (s = strstr(s, "${")) != NULL;) {
        const char *close = strchr(s, '}');
        int file = strncmp(s + 2, "file:", 5) == 0;
        if (!file && strncmp(s + 2, "env:", 4) != 0) {
            kumo__error_set(err, -EINVAL, "a reference is ${env:NAME} or ${file:PATH}; '$' followed by '{' starts one");
            return -1;
        }
        const char *arg = s + (file ? 7 : 6);
        if (close == NULL || close == arg) {
            kumo__error_set(err, -EINVAL, "an unterminated or empty reference: write ${env:NAME} or ${file:PATH}");
            return -1;
        }
        size_t n = (size_t)(close - arg);
        if (!file) {
            for (size_t i = 0; i < n; i++)
                if (!(isalnum((unsigned char)arg[i]) || arg[i] == '_') || (i == 0 && isdigit((unsigned char)arg[i]))) {
                    kumo__error_set(err, -EINVAL, "${env:%.*s}: a variable name is letters, digits and '_'", (int)n,
                                    arg);
                    return -1;
                }
        }
        if (cb && cb(d, file, arg, n) < 0)
            return -1;
        seen = 1;
        s = close + 1;
    }
    return seen;
}

int kumo__secret_refs_check(const char *value, kumo__error *err)
{
    return walk_refs(value, err, NULL, NULL);
}

typedef struct expand_state {
    const char *dir;
    char *out;
    size_t len;
    kumo__error *err;
    int rc;
} expand_state;

static int append(expand_state *st, const char *s, size_t n)
{
    char *nb = realloc(st->out, st->len + n + 1);
    if (nb == NULL) {
        st->rc = oom(st->err);
        return -1;
    }
    memcpy(nb + st->len, s, n);
    st->len += n;
    nb[st->len] = '\0';
    st->out = nb;
    return 0;
}

static int read_secret_file(expand_state *st, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        st->rc = FAIL(st->err, -ENOENT, "${file:%s}: cannot read %s: %s", path, path, strerror(errno));
        return -1;
    }
    char *buf = malloc(KUMO__SECRET_FILE_MAX + 1);
    size_t got = 0;
    ssize_t n = 0;
    while (buf && got <= KUMO__SECRET_FILE_MAX && (n = read(fd, buf + got, KUMO__SECRET_FILE_MAX + 1 - got)) > 0)
        got += (size_t)n;
    close(fd);
    if (buf == NULL) {
        st->rc = oom(st->err);
        return -1;
    }
    if (n < 0 || got > KUMO__SECRET_FILE_MAX) {
        free(buf);
        st->rc = FAIL(st->err, n < 0 ? -EIO : -EFBIG, "${file:%s}: %s", path,
                      n < 0 ? "cannot be read" : "is over 64 KiB; a secret file holds one value");
        return -1;
    }
    while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r'))
        got--; /* the usual trailing newline of a mounted secret */
    int rc = append(st, buf, got);
    free(buf);
    return rc;
}

static int expand_one(void *d, int file, const char *arg, size_t n)
{
    expand_state *st = d;
    char name[4096];
    if (n >= sizeof name) {
        st->rc = FAIL(st->err, -EINVAL, "a reference is too long");
        return -1;
    }
    memcpy(name, arg, n);
    name[n] = '\0';
    if (!file) {
        const char *v = getenv(name);
        if (v == NULL) {
            st->rc =
                FAIL(st->err, -ENOENT, "${env:%s}: the variable %s is not set; set it before kumo starts", name, name);
            return -1;
        }
        return append(st, v, strlen(v));
    }
    if (name[0] == '/' || st->dir == NULL)
        return read_secret_file(st, name);
    char path[4096 + 512];
    snprintf(path, sizeof path, "%s/%s", st->dir, name);
    return read_secret_file(st, path);
}

/* The literal text between references goes through as written; with
 * `breaks`, the value may hold line breaks (an environment variable's). */
static int secret_expand(const char *value, const char *dir, int breaks, char **out, kumo__error *err)
{
    expand_state st = {.dir = dir, .err = err};
    *out = NULL;
    if (append(&st, "", 0) < 0)
        return st.rc;
    const char *s = value;
    for (;;) {
        const char *ref = strstr(s, "${");
        if (append(&st, s, ref ? (size_t)(ref - s) : strlen(s)) < 0)
            goto fail;
        if (ref == NULL)
            break;
        const char *close = strchr(ref, '}');
        /* one reference at a time, checked and expanded by the same walk */
        char one[4200];
        size_t rn = close ? (size_t)(close - ref) + 1 : strlen(ref);
        if (rn >= sizeof one) {
            st.rc = FAIL(err, -EINVAL, "a reference is too long");
            goto fail;
        }
        memcpy(one, ref, rn);
        one[rn] = '\0';
        if (walk_refs(one, err, expand_one, &st) < 0) {
            if (st.rc == 0)
                st.rc = -EINVAL;
            goto fail;
        }
        s = ref + rn;
    }
    for (size_t i = 0; i < st.len; i++)
        if (st.out[i] == '\0') {
            st.rc = FAIL(err, -EINVAL, "an expanded value holds a NUL byte, which no variable may carry");
            goto fail;
        } else if (!breaks && (st.out[i] == '\r' || st.out[i] == '\n')) {
            st.rc = FAIL(err, -EINVAL, "an expanded value holds a line break or NUL, which no header may carry");
            goto fail;
        }
    *out = st.out;
    return 0;
fail:
    free(st.out);
    return st.rc ? st.rc : -EINVAL;
}

int kumo__secret_expand(const char *value, const char *dir, char **out, kumo__error *err)
{
    return secret_expand(value, dir, 0, out, err);
}

int kumo__secret_expand_multiline(const char *value, const char *dir, char **out, kumo__error *err)
{
    return secret_expand(value, dir, 1, out, err);
}

/* ---- loading ---- */

static int header_name_ok(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || strchr("!#$%&'*+-.^_`|~", *s)))
            return 0;
    return 1;
}

static int load_headers(const kumo__doc *doc, const char *svc, json_t *hs, kumo__service *s, kumo__error *err)
{
    if (!json_is_object(hs)) {
        kumo__doc_error(err, doc, hs, "services.%s.headers must be a mapping of header name -> value", svc);
        return -EINVAL;
    }
    if ((s->headers = calloc(json_object_size(hs) + 1, sizeof *s->headers)) == NULL)
        return oom(err);
    const char *name;
    json_t *v;
    json_object_foreach(hs, name, v)
    {
        if (!header_name_ok(name)) {
            kumo__doc_key_error(err, doc, hs, name, "services.%s.headers: '%s' is not a header name", svc, name);
            return -EINVAL;
        }
        if (!json_is_string(v)) {
            kumo__doc_value_error(err, doc, hs, name, "services.%s.headers.%s must be a string", svc, name);
            return -EINVAL;
        }
        const char *val = json_string_value(v);
        if (strpbrk(val, "\r\n") != NULL) {
            kumo__doc_value_error(err, doc, hs, name, "services.%s.headers.%s holds a line break", svc, name);
            return -EINVAL;
        }
        kumo__error e = {0};
        int refs = kumo__secret_refs_check(val, &e);
        if (refs < 0) {
            kumo__doc_value_error(err, doc, hs, name, "services.%s.headers.%s: %s", svc, name, e.msg);
            return -EINVAL;
        }
        if (refs == 0 && kumo__header_is_credential(name)) {
            char var[80];
            size_t k = 0;
            for (const char *c = svc; *c && k < sizeof var - 1; c++)
                var[k++] = *c == '-' ? '_' : (char)toupper((unsigned char)*c);
            var[k] = '\0';
            kumo__doc_value_error(err, doc, hs, name,
                                  "services.%s.headers.%s is a credential written in kumo.yaml; put it in the "
                                  "environment: ${env:NAME} (or a mounted file: ${file:PATH}), e.g. \"Bearer "
                                  "${env:%s_TOKEN}\"",
                                  svc, name, var);
            return -EINVAL;
        }
        kumo__service_header *h = &s->headers[s->nheaders];
        if ((h->name = strdup(name)) == NULL || (h->value = strdup(val)) == NULL) {
            free(h->name);
            h->name = NULL;
            return oom(err);
        }
        kumo__doc_pos(doc, v, &h->line, &h->col);
        s->nheaders++;
    }
    return 0;
}

static int project_path(const kumo__project *p, const char *rel, char **out, kumo__error *err)
{
    if (asprintf(out, "%s%s%s", rel[0] == '/' ? "" : p->dir, rel[0] == '/' ? "" : "/", rel) < 0) {
        *out = NULL;
        return oom(err);
    }
    return 0;
}

static int load_mock(const kumo__project *p, const char *svc, json_t *m, kumo__service_mock *mk, kumo__error *err)
{
    const kumo__doc *doc = p->doc;
    char where[96];
    snprintf(where, sizeof where, "services.%s.mock", svc);
    if (!json_is_object(m)) {
        kumo__doc_error(err, doc, m, "%s must be a mapping (mode:, seed:, data:, recordings:, faults:)", where);
        return -EINVAL;
    }
    int rc = kumo__check_keys(doc, m, mock_keys, where, err);
    if (rc < 0)
        return rc;
    json_t *v;
    if ((v = json_object_get(m, "mode")) != NULL) {
        if (!json_is_string(v) || !kumo__in_list(json_string_value(v), mock_modes)) {
            kumo__doc_value_error(err, doc, m, "mode", "%s.mode must be static, stateful, replay or record", where);
            return -EINVAL;
        }
        if ((mk->mode = strdup(json_string_value(v))) == NULL)
            return oom(err);
    }
    if ((v = json_object_get(m, "seed")) != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            kumo__doc_value_error(err, doc, m, "seed", "%s.seed must be an integer >= 0", where);
            return -EINVAL;
        }
        mk->seed = (uint64_t)json_integer_value(v);
    }
    static const char *const paths[] = {"data", "recordings"};
    for (int i = 0; i < 2; i++) {
        if ((v = json_object_get(m, paths[i])) == NULL)
            continue;
        if (!json_is_string(v) || json_string_length(v) == 0) {
            kumo__doc_value_error(err, doc, m, paths[i], "%s.%s must be a path relative to the project", where,
                                  paths[i]);
            return -EINVAL;
        }
        char **slot = i == 0 ? &mk->data : &mk->recordings;
        if ((rc = project_path(p, json_string_value(v), slot, err)) < 0)
            return rc;
        struct stat st;
        if (i == 0 && (stat(*slot, &st) < 0 || !S_ISREG(st.st_mode))) {
            kumo__doc_value_error(err, doc, m, paths[i], "%s.data '%s' is not a file; fix the path or create it", where,
                                  json_string_value(v));
            return -ENOENT;
        }
    }
    if ((v = json_object_get(m, "faults")) != NULL) {
        if (!json_is_object(v) && !json_is_array(v)) {
            kumo__doc_value_error(err, doc, m, "faults", "%s.faults must be a mapping or a list of rules", where);
            return -EINVAL;
        }
        mk->faults = v;
    }
    return 0;
}

static int load_service(kumo__project *p, json_t *services, const char *name, json_t *def, kumo__service *s,
                        kumo__error *err)
{
    const kumo__doc *doc = p->doc;
    char where[96];
    int rc;
    snprintf(where, sizeof where, "services.%s", name);
    kumo__doc_pos(doc, def, &s->line, &s->col);
    s->max_response = KUMO__SERVICE_MAX_RESPONSE_DEFAULT;
    if (!json_is_object(def)) {
        kumo__doc_value_error(err, doc, services, name, "%s must be a mapping with spec: (and url:, headers:, ...)",
                              where);
        return -EINVAL;
    }
    if ((rc = kumo__check_keys(doc, def, service_keys, where, err)) < 0)
        return rc;
    json_t *v = json_object_get(def, "spec");
    if (v == NULL) {
        kumo__doc_key_error(err, doc, services, name,
                            "%s has no spec:; give the service's OpenAPI document, a file in the project "
                            "(spec: services/%s.yaml)",
                            where, name);
        return -EINVAL;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        kumo__doc_value_error(err, doc, def, "spec", "%s.spec must be a path relative to the project", where);
        return -EINVAL;
    }
    if ((rc = project_path(p, json_string_value(v), &s->spec, err)) < 0)
        return rc;
    struct stat st;
    if (stat(s->spec, &st) < 0 || !S_ISREG(st.st_mode)) {
        kumo__doc_value_error(err, doc, def, "spec", "%s.spec '%s' is not a file (looked for %s); fix the path", where,
                              json_string_value(v), s->spec);
        return -ENOENT;
    }
    if ((v = json_object_get(def, "url")) != NULL && !json_is_null(v)) {
        if (!json_is_string(v) || !kumo__service_url_ok(json_string_value(v))) {
            kumo__doc_value_error(err, doc, def, "url",
                                  "%s.url must be an http:// or https:// URL with a host and no credentials, like "
                                  "https://api.example.com/v1",
                                  where);
            return -EINVAL;
        }
        if ((s->url = strdup(json_string_value(v))) == NULL)
            return oom(err);
        kumo__doc_pos(doc, v, &s->url_line, &s->url_col);
    }
    if ((v = json_object_get(def, "headers")) != NULL && (rc = load_headers(doc, name, v, s, err)) < 0)
        return rc;
    if ((v = json_object_get(def, "timeout")) != NULL) {
        double t;
        if (kumo__parse_duration(v, &t) < 0 || t * 1000 > 3600e3) {
            kumo__doc_value_error(err, doc, def, "timeout",
                                  "%s.timeout must be a duration like 5s or 500ms, at most 1h", where);
            return -EINVAL;
        }
        s->timeout_ms = (uint32_t)(t * 1000 + 0.5);
        if (s->timeout_ms == 0)
            s->timeout_ms = 1;
    }
    if ((v = json_object_get(def, "max_response")) != NULL) {
        if (kumo__parse_size(v, &s->max_response) < 0 || s->max_response > (size_t)1 << 30) {
            kumo__doc_value_error(err, doc, def, "max_response", "%s.max_response must be a size like 1Mi, at most 1Gi",
                                  where);
            return -EINVAL;
        }
    }
    if ((v = json_object_get(def, "mock")) != NULL && (rc = load_mock(p, name, v, &s->mock, err)) < 0)
        return rc;
    return 0;
}

static int load_env_services(kumo__project *p, json_t *envs, kumo__error *err)
{
    const kumo__doc *doc = p->doc;
    for (size_t i = 0; envs && i < p->nenvironments; i++) {
        kumo__environment *e = &p->environments[i];
        json_t *def = json_object_get(envs, e->name);
        json_t *svcs = json_is_object(def) ? json_object_get(def, "services") : NULL;
        if (svcs == NULL || json_is_null(svcs))
            continue;
        if (!json_is_object(svcs)) {
            kumo__doc_value_error(err, doc, def, "services",
                                  "environments.%s.services must be a mapping of service name -> {url: URL}", e->name);
            return -EINVAL;
        }
        if ((e->services = calloc(json_object_size(svcs) + 1, sizeof *e->services)) == NULL)
            return oom(err);
        const char *name;
        json_t *sdef;
        json_object_foreach(svcs, name, sdef)
        {
            char where[160];
            snprintf(where, sizeof where, "environments.%s.services.%s", e->name, name);
            if (kumo__project_service(p, name) == NULL) {
                kumo__doc_key_error(err, doc, svcs, name,
                                    "%s: service '%s' is not declared under services:; add it "
                                    "there (with its spec:), or remove it here",
                                    where, name);
                return -EINVAL;
            }
            if (!json_is_object(sdef)) {
                kumo__doc_value_error(err, doc, svcs, name, "%s must be a mapping {url: URL}", where);
                return -EINVAL;
            }
            int rc = kumo__check_keys(doc, sdef, env_service_keys, where, err);
            if (rc < 0)
                return rc;
            json_t *url = json_object_get(sdef, "url");
            if (url == NULL || !json_is_string(url) || !kumo__service_url_ok(json_string_value(url))) {
                kumo__doc_error(err, doc, url ? url : sdef,
                                "%s.url must be an http:// or https:// URL with a host and no credentials", where);
                return -EINVAL;
            }
            kumo__service_url *su = &e->services[e->nservices];
            if ((su->service = strdup(name)) == NULL || (su->url = strdup(json_string_value(url))) == NULL) {
                free(su->service);
                su->service = NULL;
                return oom(err);
            }
            kumo__doc_pos(doc, url, &su->line, &su->col);
            e->nservices++;
        }
    }
    return 0;
}

int kumo__project_load_services(kumo__project *p, kumo__error *err)
{
    const kumo__doc *doc = p->doc;
    json_t *root = kumo__doc_root(doc);
    json_t *services = json_object_get(root, "services");
    int rc;
    if (services != NULL && !json_is_null(services)) {
        if (!json_is_object(services)) {
            kumo__doc_value_error(err, doc, root, "services",
                                  "services must be a mapping of name -> {spec:, url:, headers:, timeout:, ...}");
            return -EINVAL;
        }
        if ((p->services = calloc(json_object_size(services) + 1, sizeof *p->services)) == NULL)
            return oom(err);
        const char *name;
        json_t *def;
        json_object_foreach(services, name, def)
        {
            if (!service_name_ok(name)) {
                kumo__doc_key_error(err, doc, services, name,
                                    "service name '%s' must be made of a-z, 0-9, '_' and '-' (like payments)", name);
                return -EINVAL;
            }
            kumo__service *s = &p->services[p->nservices];
            if ((s->name = strdup(name)) == NULL)
                return oom(err);
            p->nservices++;
            if ((rc = load_service(p, services, name, def, s, err)) < 0)
                return rc;
        }
        /* one variable per service: names equal after upper-casing clash */
        for (size_t i = 0; i < p->nservices; i++)
            for (size_t j = 0; j < i; j++) {
                char a[96], b[96];
                if (kumo__service_var(p->services[i].name, a, sizeof a) == 0 &&
                    kumo__service_var(p->services[j].name, b, sizeof b) == 0 && strcmp(a, b) == 0) {
                    kumo__doc_key_error(err, doc, services, p->services[i].name,
                                        "services '%s' and '%s' would share the variable %s; rename one",
                                        p->services[j].name, p->services[i].name, a);
                    return -EINVAL;
                }
            }
    }
    return load_env_services(p, json_object_get(root, "environments"), err);
}

static void free_mock(kumo__service_mock *m)
{
    free(m->mode);
    free(m->data);
    free(m->recordings);
}

void kumo__project_free_services(kumo__project *p)
{
    for (size_t i = 0; i < p->nservices; i++) {
        kumo__service *s = &p->services[i];
        for (size_t j = 0; j < s->nheaders; j++) {
            free(s->headers[j].name);
            free(s->headers[j].value);
        }
        free(s->headers);
        free(s->name);
        free(s->spec);
        free(s->url);
        free_mock(&s->mock);
    }
    free(p->services);
    p->services = NULL;
    p->nservices = 0;
    for (size_t i = 0; i < p->nenvironments; i++) {
        kumo__environment *e = &p->environments[i];
        for (size_t j = 0; j < e->nservices; j++) {
            free(e->services[j].service);
            free(e->services[j].url);
        }
        free(e->services);
        e->services = NULL;
        e->nservices = 0;
    }
}

const kumo__service *kumo__project_service(const kumo__project *p, const char *name)
{
    for (size_t i = 0; name && i < p->nservices; i++)
        if (strcmp(p->services[i].name, name) == 0)
            return &p->services[i];
    return NULL;
}

/* ---- placing ---- */

static void strip_slash(char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        url[--n] = '\0';
}

static int resolve_one(const kumo__project *p, const kumo__environment *e, const kumo__service *s,
                       kumo__service_mock_fn *mock, void *mock_ctx, kumo__service_target *t, kumo__error *err)
{
    char var[96];
    const char *url = NULL;
    char from[300];
    const char *path = kumo__doc_path(p->doc);
    t->decl = s;
    if (kumo__service_var(s->name, var, sizeof var) == 0 && (url = getenv(var)) != NULL && *url) {
        if (!kumo__service_url_ok(url))
            return FAIL(err, -EINVAL, "%s must be an http:// or https:// URL with a host and no credentials", var);
        snprintf(from, sizeof from, "%s", var);
    } else {
        url = NULL;
        for (size_t j = 0; e && j < e->nservices; j++)
            if (strcmp(e->services[j].service, s->name) == 0) {
                url = e->services[j].url;
                snprintf(from, sizeof from, "%s:%d:%d", path, e->services[j].line, e->services[j].col);
            }
        if (url == NULL && s->url) {
            url = s->url;
            snprintf(from, sizeof from, "%s:%d:%d", path, s->url_line, s->url_col);
        }
    }
    int record = s->mock.mode && strcmp(s->mock.mode, "record") == 0;
    if (record && mock && url == NULL)
        return FAIL(err, -EINVAL,
                    "%s:%d:%d: services.%s.mock.mode record proxies to the service and records what passes: give "
                    "it a url in environment %s (or use mode: replay)",
                    path, s->line, s->col, s->name, e ? e->name : "(none)");
    if (record && mock) {
        char *real = strdup(url);
        if (real == NULL)
            return oom(err);
        int rc = mock(mock_ctx, s, real, &t->url, err);
        free(real);
        if (rc != 0) {
            kumo__error_wrap(err, "%s:%d:%d: services.%s: its recording mock", path, s->line, s->col, s->name);
            return rc;
        }
        size_t fl = strlen(from);
        snprintf(from + fl, sizeof from - fl, ", through kumo mock --record");
        url = t->url;
    }
    if (url == NULL && mock == NULL)
        return FAIL(err, -EINVAL,
                    "%s:%d:%d: services.%s has no url for environment %s; give one (services.%s.url, "
                    "environments.%s.services.%s.url or the variable %s): only kumo up and kumo test mock a service",
                    path, s->line, s->col, s->name, e ? e->name : "(none)", s->name, e ? e->name : "ENV", s->name, var);
    if (url == NULL) {
        int rc = mock(mock_ctx, s, NULL, &t->url, err);
        if (rc != 0) {
            kumo__error_wrap(err, "%s:%d:%d: services.%s has no url for environment %s, and its mock", path, s->line,
                             s->col, s->name, e ? e->name : "(none)");
            return rc;
        }
        snprintf(from, sizeof from, "kumo mock of %s, %s, seed %llu", s->spec, s->mock.mode ? s->mock.mode : "static",
                 (unsigned long long)s->mock.seed);
        url = t->url;
    }
    if ((t->url == NULL && (t->url = strdup(url)) == NULL) || (t->from = strdup(from)) == NULL)
        return oom(err);
    strip_slash(t->url);
    if (s->nheaders && (t->headers = calloc(2 * s->nheaders, sizeof *t->headers)) == NULL)
        return oom(err);
    for (size_t j = 0; j < s->nheaders; j++) {
        t->nheaders++;
        if ((t->headers[2 * j] = strdup(s->headers[j].name)) == NULL)
            return oom(err);
        int rc = kumo__secret_expand(s->headers[j].value, p->dir, &t->headers[2 * j + 1], err);
        if (rc < 0) {
            kumo__error_wrap(err, "%s:%d:%d: services.%s.headers.%s", path, s->headers[j].line, s->headers[j].col,
                             s->name, s->headers[j].name);
            return rc;
        }
    }
    return 0;
}

int kumo__services_resolve(const kumo__project *p, const char *env, kumo__service_mock_fn *mock, void *mock_ctx,
                           kumo__service_target **out, size_t *n, kumo__error *err)
{
    *out = NULL;
    *n = 0;
    if (p->nservices == 0)
        return 0;
    kumo__service_target *t = calloc(p->nservices, sizeof *t);
    if (t == NULL)
        return oom(err);
    const kumo__environment *e = kumo__project_environment(p, env);
    for (size_t i = 0; i < p->nservices; i++) {
        int rc = resolve_one(p, e, &p->services[i], mock, mock_ctx, &t[i], err);
        if (rc < 0) {
            kumo__service_targets_free(t, p->nservices);
            return rc;
        }
    }
    *out = t;
    *n = p->nservices;
    return 0;
}

void kumo__service_targets_free(kumo__service_target *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++) {
        for (size_t j = 0; j < 2 * t[i].nheaders; j++) {
            if (t[i].headers[j] && (j & 1))
                explicit_bzero(t[i].headers[j], strlen(t[i].headers[j]));
            free(t[i].headers[j]);
        }
        free(t[i].headers);
        free(t[i].url);
        free(t[i].from);
    }
    free(t);
}
