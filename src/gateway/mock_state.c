/*
 * mock_state.c: the stateful mock (mock_state.h): collections inferred
 * from paths, CRUD over a kumo kv store, list paging and filtering, seed
 * and reset.
 *
 * Keys in the store (one kv store, named "mock"; \x1f separates parts):
 *
 *   i\x1f/owners/1/toys\x1f7   an item: {"s": creation sequence, "v": the item}
 *   n\x1f/owners/1/toys        the last integer id given in that collection
 *   q                          the last creation sequence
 *
 * Items are listed in creation order (the sequence), not key order, so
 * integer ids 2 and 10 come out as created. The store is reached through
 * its driver table (sdk/sdk.h), as the gateway's other store users do.
 */
#include "gateway/mock_state.h"
#include "base/clock.h"
#include "gateway/dispatch.h"
#include "gateway/faults.h"
#include "openapi/schema.h"
#include "sdk/sdk.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LIST_MAX 10000 /* items one list reads from the store */
#define PAGE_DEFAULT 20
#define SEP "\x1f"
#define WALK_DEPTH 32

enum id_kind { ID_INT, ID_UUID, ID_STRING };

typedef struct collection {
    char *tmpl;     /* "/owners/{ownerId}/toys" */
    char *id_param; /* "toyId" */
    char *id_prop;  /* the item property holding the id; NULL: none (the id is only in the URL) */
    enum id_kind id_kind;
    const json_t *item_schema; /* the create body's, else the item GET's response, else NULL */
    const char *item_location;
    kumo__schema *compiled; /* item_schema compiled, for the seed; NULL when none */
} collection;

struct kumo__mock_state {
    const kumo__spec *spec;
    const kumo__refs *refs; /* opts->refs, else spec->refs */
    kumo__store *store;
    collection *colls;
    size_t ncolls;
    int *op_coll; /* per operation: index into colls, -1 */
    enum kumo__mock_role *op_role;
    char *describe;
    kumo__doc *seed_doc;
    uint64_t seed, made; /* `made`: values generated so far */
    kumo__mock_gen_fn gen;
    void *gen_ud;
    long carried; /* kumo__mock_state_carried */
    pthread_mutex_t lock;
};

static kumo__kv *kv_of(kumo__mock_state *s)
{
    return (kumo__kv *)s->store;
}

/* ---- schemas ------------------------------------------------------------------ */

static const json_t *deref(const kumo__refs *refs, const json_t *s)
{
    for (int i = 0; i < 16 && json_is_object(s); i++) {
        const char *ref = json_string_value(json_object_get(s, "$ref"));
        if (ref == NULL || refs == NULL)
            return s;
        char where[256];
        kumo__error e = {0};
        s = refs->resolve(refs, s, ref, where, sizeof(where), &e);
    }
    return s;
}

/* The schema of property `name` in `schema` (following $ref and allOf). */
static const json_t *prop_schema(const kumo__refs *spec, const json_t *schema, const char *name, int depth)
{
    schema = deref(spec, schema);
    if (!json_is_object(schema) || depth > WALK_DEPTH)
        return NULL;
    const json_t *p = json_object_get(json_object_get(schema, "properties"), name);
    if (p)
        return deref(spec, p);
    json_t *all = json_object_get(schema, "allOf");
    for (size_t i = 0; i < json_array_size(all); i++)
        if ((p = prop_schema(spec, json_array_get(all, i), name, depth + 1)) != NULL)
            return p;
    return NULL;
}

/* Calls fn for every property name of `schema` (properties and allOf). */
static void each_prop(const kumo__refs *spec, const json_t *schema, int depth,
                      void (*fn)(void *ud, const char *name, const json_t *sub), void *ud)
{
    schema = deref(spec, schema);
    if (!json_is_object(schema) || depth > WALK_DEPTH)
        return;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(schema, "properties"), k, v) fn(ud, k, deref(spec, v));
    json_t *all = json_object_get(schema, "allOf");
    for (size_t i = 0; i < json_array_size(all); i++)
        each_prop(spec, json_array_get(all, i), depth + 1, fn, ud);
}

/* Removes writeOnly properties from `inst`, at every depth. */
static void strip_write_only(const kumo__refs *spec, const json_t *schema, json_t *inst, int depth)
{
    schema = deref(spec, schema);
    if (!json_is_object(schema) || depth > WALK_DEPTH)
        return;
    json_t *all = json_object_get(schema, "allOf");
    for (size_t i = 0; i < json_array_size(all); i++)
        strip_write_only(spec, json_array_get(all, i), inst, depth + 1);
    if (json_is_object(inst)) {
        const char *k;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(inst, tmp, k, v)
        {
            const json_t *sub = deref(spec, json_object_get(json_object_get(schema, "properties"), k));
            if (sub == NULL)
                continue;
            if (json_is_true(json_object_get(sub, "writeOnly")))
                json_object_del(inst, k);
            else
                strip_write_only(spec, sub, v, depth + 1);
        }
    } else if (json_is_array(inst)) {
        for (size_t i = 0; i < json_array_size(inst); i++)
            strip_write_only(spec, json_object_get(schema, "items"), json_array_get(inst, i), depth + 1);
    }
}

static const kumo__media *json_media(const kumo__media *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strstr(m[i].type, "json") != NULL && m[i].schema)
            return &m[i];
    return NULL;
}

/* The response an operation answers with: `prefer` if declared, else the
 * first 2xx; NULL when it declares none. */
static const kumo__response *success(const kumo__operation *op, const char *prefer)
{
    for (size_t i = 0; prefer && i < op->nresponses; i++)
        if (strcmp(op->responses[i].status, prefer) == 0)
            return &op->responses[i];
    for (size_t i = 0; i < op->nresponses; i++)
        if (op->responses[i].status[0] == '2')
            return &op->responses[i];
    return NULL;
}

static int status_of(const kumo__response *r, int fallback)
{
    if (r == NULL || strlen(r->status) != 3 || r->status[1] == 'X' || r->status[1] == 'x')
        return fallback;
    return atoi(r->status);
}

/* ---- inference ------------------------------------------------------------------ */

static int is_param_segment(const char *seg, size_t len)
{
    return len >= 3 && seg[0] == '{' && seg[len - 1] == '}' && memchr(seg + 1, '{', len - 2) == NULL;
}

static int find_coll(const kumo__mock_state *s, const char *tmpl)
{
    for (size_t i = 0; i < s->ncolls; i++)
        if (strcmp(s->colls[i].tmpl, tmpl) == 0)
            return (int)i;
    return -1;
}

static int has_op(const kumo__spec *spec, const char *path)
{
    for (size_t i = 0; i < spec->nops; i++)
        if (strcmp(spec->ops[i].path, path) == 0)
            return 1;
    return 0;
}

static int infer(kumo__mock_state *s, kumo__error *err)
{
    const kumo__spec *spec = s->spec;
    const kumo__refs *refs = s->refs;
    /* Collections: an item path P/{x} whose parent P is a path too. */
    for (size_t i = 0; i < spec->nops; i++) {
        const char *path = spec->ops[i].path, *slash = strrchr(path, '/');
        if (slash == NULL || slash == path || !is_param_segment(slash + 1, strlen(slash + 1)))
            continue;
        char *parent = strndup(path, (size_t)(slash - path));
        if (parent == NULL)
            goto oom;
        if (!has_op(spec, parent) || find_coll(s, parent) >= 0) {
            free(parent);
            continue;
        }
        collection *g = realloc(s->colls, (s->ncolls + 1) * sizeof(collection));
        if (g == NULL) {
            free(parent);
            goto oom;
        }
        s->colls = g;
        collection *c = &g[s->ncolls++];
        memset(c, 0, sizeof(*c));
        c->tmpl = parent;
        if ((c->id_param = strndup(slash + 2, strlen(slash + 2) - 1)) == NULL)
            goto oom;
    }
    for (size_t i = 0; i < spec->nops; i++) {
        const kumo__operation *op = &spec->ops[i];
        int ci = find_coll(s, op->path);
        enum kumo__mock_role role = KUMO__MOCK_NONE;
        if (ci >= 0) {
            role = strcmp(op->method, "POST") == 0  ? KUMO__MOCK_CREATE
                   : strcmp(op->method, "GET") == 0 ? KUMO__MOCK_LIST
                                                    : KUMO__MOCK_NONE;
        } else {
            const char *slash = strrchr(op->path, '/');
            if (slash && slash != op->path) {
                char parent[2048];
                snprintf(parent, sizeof(parent), "%.*s", (int)(slash - op->path), op->path);
                if ((ci = find_coll(s, parent)) >= 0 && is_param_segment(slash + 1, strlen(slash + 1)))
                    role = strcmp(op->method, "GET") == 0      ? KUMO__MOCK_GET
                           : strcmp(op->method, "PUT") == 0    ? KUMO__MOCK_REPLACE
                           : strcmp(op->method, "PATCH") == 0  ? KUMO__MOCK_PATCH
                           : strcmp(op->method, "DELETE") == 0 ? KUMO__MOCK_DELETE
                                                               : KUMO__MOCK_NONE;
            }
        }
        s->op_role[i] = role;
        s->op_coll[i] = role == KUMO__MOCK_NONE ? -1 : ci;
    }
    /* Each collection's item schema and id. */
    for (size_t c = 0; c < s->ncolls; c++) {
        collection *col = &s->colls[c];
        const kumo__media *m = NULL;
        const json_t *id_schema = NULL;
        for (size_t i = 0; i < spec->nops && m == NULL; i++)
            if (s->op_coll[i] == (int)c && s->op_role[i] == KUMO__MOCK_CREATE)
                m = json_media(spec->ops[i].body, spec->ops[i].nbody);
        for (size_t i = 0; i < spec->nops; i++) {
            const kumo__operation *op = &spec->ops[i];
            if (s->op_coll[i] != (int)c || s->op_role[i] != KUMO__MOCK_GET)
                continue;
            const kumo__response *r = success(op, "200");
            if (m == NULL && r)
                m = json_media(r->content, r->ncontent);
            for (size_t p = 0; p < op->nparams; p++)
                if (op->params[p].in == KUMO__IN_PATH && strcmp(op->params[p].name, col->id_param) == 0)
                    id_schema = deref(refs, op->params[p].schema);
        }
        if (id_schema == NULL) /* the item path has only other methods: any of its operations */
            for (size_t i = 0; i < spec->nops && id_schema == NULL; i++)
                for (size_t p = 0; s->op_coll[i] == (int)c && p < spec->ops[i].nparams; p++)
                    if (spec->ops[i].params[p].in == KUMO__IN_PATH &&
                        strcmp(spec->ops[i].params[p].name, col->id_param) == 0)
                        id_schema = deref(refs, spec->ops[i].params[p].schema);
        const char *type = json_string_value(json_object_get(id_schema, "type"));
        const char *format = json_string_value(json_object_get(id_schema, "format"));
        col->id_kind = type && strcmp(type, "integer") == 0    ? ID_INT
                       : format && strcmp(format, "uuid") == 0 ? ID_UUID
                                                               : ID_STRING;
        col->item_schema = m ? m->schema : NULL;
        col->item_location = m ? m->schema_location : "";
        const char *idp = NULL;
        if (col->item_schema && prop_schema(refs, col->item_schema, col->id_param, 0))
            idp = col->id_param;
        else if (col->item_schema && prop_schema(refs, col->item_schema, "id", 0))
            idp = "id";
        else if (col->item_schema == NULL)
            idp = "id";
        if (idp && (col->id_prop = strdup(idp)) == NULL)
            goto oom;
        if (col->item_schema &&
            kumo__schema_compile(col->item_schema, (kumo__dialect)spec->dialect,
                                 col->item_location ? col->item_location : "", refs, &col->compiled, err) != 0)
            return err->code ? err->code : -EINVAL;
    }
    size_t len = 1;
    for (size_t c = 0; c < s->ncolls; c++)
        len += strlen(s->colls[c].tmpl) + 2;
    if ((s->describe = calloc(1, len)) == NULL)
        goto oom;
    for (size_t c = 0; c < s->ncolls; c++) {
        strcat(s->describe, c ? ", " : "");
        strcat(s->describe, s->colls[c].tmpl);
    }
    return 0;
oom:
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

/* ---- the store ---------------------------------------------------------------- */

static int kv_get(kumo__mock_state *s, kumo__arena *a, const char *key, json_t **out)
{
    kumo_kv_item item;
    *out = NULL;
    int rc = kv_of(s)->driver->get(kv_of(s), a, key, strlen(key), &item);
    if (rc == KUMO_ENOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    *out = json_loadb(item.value, item.len, JSON_DECODE_ANY, NULL);
    return *out ? 0 : KUMO_EIO;
}

static int kv_put(kumo__mock_state *s, const char *key, const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (text == NULL)
        return KUMO_ENOMEM;
    uint64_t version;
    int rc = kv_of(s)->driver->put(kv_of(s), key, strlen(key), text, strlen(text), UINT64_MAX, 0, &version);
    free(text);
    return rc;
}

/* The next value of counter `key` (1, 2, ...), at least above `floor`. */
static int counter_next(kumo__mock_state *s, const char *key, int64_t floor, int64_t *out)
{
    kumo__arena a;
    kumo__arena_init(&a);
    json_t *v = NULL;
    int rc = kv_get(s, &a, key, &v);
    int64_t n = json_is_integer(v) ? json_integer_value(v) : 0;
    json_decref(v);
    n = (n > floor ? n : floor) + 1;
    if (rc == 0) {
        json_t *nv = json_integer(n);
        rc = kv_put(s, key, nv);
        json_decref(nv);
    }
    kumo__arena_free(&a);
    *out = n;
    return rc;
}

/* Raises counter `key` to at least `n` (a seeded integer id). */
static int counter_raise(kumo__mock_state *s, const char *key, int64_t n)
{
    kumo__arena a;
    kumo__arena_init(&a);
    json_t *v = NULL;
    int rc = kv_get(s, &a, key, &v);
    if (rc == 0 && (!json_is_integer(v) || json_integer_value(v) < n)) {
        json_t *nv = json_integer(n);
        rc = kv_put(s, key, nv);
        json_decref(nv);
    }
    json_decref(v);
    kumo__arena_free(&a);
    return rc;
}

/* The concrete collection path: the template with the request's path
 * parameters put in. -1 when a value is missing or holds a separator. */
static int concrete(const collection *c, const json_t *path_params, char *buf, size_t len)
{
    size_t o = 0;
    for (const char *p = c->tmpl; *p;) {
        if (*p == '{') {
            const char *end = strchr(p, '}');
            if (end == NULL)
                return -1;
            char name[256];
            snprintf(name, sizeof(name), "%.*s", (int)(end - p - 1), p + 1);
            json_t *v = json_object_get(path_params, name);
            char val[512];
            if (json_is_string(v))
                snprintf(val, sizeof(val), "%s", json_string_value(v));
            else if (json_is_integer(v))
                snprintf(val, sizeof(val), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            else if (json_is_number(v))
                snprintf(val, sizeof(val), "%g", json_number_value(v));
            else
                return -1;
            if (strchr(val, '\x1f') != NULL)
                return -1;
            int n = snprintf(buf + o, len - o, "%s", val);
            if (n < 0 || (size_t)n >= len - o)
                return -1;
            o += (size_t)n;
            p = end + 1;
        } else {
            if (o + 1 >= len)
                return -1;
            buf[o++] = *p++;
        }
    }
    buf[o] = '\0';
    return 0;
}

static int id_text(const json_t *v, char *buf, size_t len)
{
    if (json_is_string(v))
        snprintf(buf, len, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else
        return -1;
    return buf[0] && strchr(buf, '\x1f') == NULL ? 0 : -1;
}

/* ---- making values -------------------------------------------------------------- */

static void make_uuid(kumo__mock_state *s, char out[37])
{
    uint64_t st = s->seed ^ (0xA24BAED4963EE407ull * ++s->made);
    uint64_t hi = kumo__prng_next(&st), lo = kumo__prng_next(&st);
    hi = (hi & ~0xF000ull) | 0x4000ull;                        /* version 4 */
    lo = (lo & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull; /* variant 10 */
    snprintf(out, 37, "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64, hi >> 32,
             (hi >> 16) & 0xFFFF, hi & 0xFFFF, lo >> 48, lo & (uint64_t)0xFFFFFFFFFFFF);
}

static json_t *builtin_value(kumo__mock_state *s, const json_t *schema)
{
    if (json_object_get(schema, "default"))
        return json_deep_copy(json_object_get(schema, "default"));
    json_t *en = json_object_get(schema, "enum");
    if (json_array_size(en) > 0)
        return json_deep_copy(json_array_get(en, 0));
    const char *type = json_string_value(json_object_get(schema, "type"));
    const char *format = json_string_value(json_object_get(schema, "format"));
    char buf[64];
    if (format && strcmp(format, "date-time") == 0) {
        kumo__rfc3339(kumo__epoch_ms() * 1000, buf, sizeof(buf));
        return json_string(buf);
    }
    if (format && strcmp(format, "date") == 0) {
        kumo__rfc3339(kumo__epoch_ms() * 1000, buf, sizeof(buf));
        buf[10] = '\0';
        return json_string(buf);
    }
    if (format && strcmp(format, "uuid") == 0) {
        make_uuid(s, buf);
        return json_string(buf);
    }
    if (type == NULL)
        return NULL;
    if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0) {
        json_t *min = json_object_get(schema, "minimum");
        return json_is_number(min) ? json_deep_copy(min) : json_integer(0);
    }
    if (strcmp(type, "boolean") == 0)
        return json_false();
    if (strcmp(type, "string") == 0 && !json_object_get(schema, "minLength") && !json_object_get(schema, "pattern"))
        return json_string("");
    if (strcmp(type, "array") == 0 && !json_object_get(schema, "minItems"))
        return json_array();
    return NULL;
}

typedef struct ro_ctx {
    kumo__mock_state *s;
    const collection *c;
    json_t *item;      /* fill: absent readOnly properties are made */
    const json_t *old; /* keep: readOnly properties come from the stored item */
} ro_ctx;

static void fill_read_only(void *ud, const char *name, const json_t *sub)
{
    ro_ctx *r = ud;
    if (!json_is_true(json_object_get(sub, "readOnly")) || (r->c->id_prop && strcmp(name, r->c->id_prop) == 0))
        return;
    if (r->old) {
        json_t *v = json_object_get(r->old, name);
        if (v)
            json_object_set(r->item, name, v);
        else
            json_object_del(r->item, name);
        return;
    }
    if (json_object_get(r->item, name))
        return;
    /* A date or time the server makes is when it made it; the rest comes
     * from the engine's generator when there is one. */
    const char *format = json_string_value(json_object_get(sub, "format"));
    int when = format && (strcmp(format, "date-time") == 0 || strcmp(format, "date") == 0);
    json_t *v = r->s->gen && !when ? r->s->gen(r->s->gen_ud, sub, ++r->s->made) : builtin_value(r->s, sub);
    if (v)
        json_object_set_new(r->item, name, v);
}

/* Gives `item` its id (and, on create, its other readOnly properties).
 * `given`: a seeded item's own id, or NULL to make one. */
static int assign_id(kumo__mock_state *s, const collection *c, const char *coll_path, json_t *item, char *id,
                     size_t id_len)
{
    json_t *given = c->id_prop && json_is_object(item) ? json_object_get(item, c->id_prop) : NULL;
    char key[2048];
    snprintf(key, sizeof(key), "n" SEP "%s", coll_path);
    int rc = 0;
    if (given && id_text(given, id, id_len) == 0) {
        if (c->id_kind == ID_INT && json_is_integer(given))
            rc = counter_raise(s, key, json_integer_value(given));
        return rc;
    }
    json_t *idv;
    if (c->id_kind == ID_UUID) {
        char u[37];
        make_uuid(s, u);
        idv = json_string(u);
    } else {
        int64_t n;
        if ((rc = counter_next(s, key, 0, &n)) != 0)
            return rc;
        if (c->id_kind == ID_INT) {
            idv = json_integer(n);
        } else {
            char t[32];
            snprintf(t, sizeof(t), "%" PRId64, n);
            idv = json_string(t);
        }
    }
    if (idv == NULL)
        return KUMO_ENOMEM;
    id_text(idv, id, id_len);
    if (c->id_prop && json_is_object(item))
        json_object_set(item, c->id_prop, idv);
    json_decref(idv);
    return 0;
}

static int store_item(kumo__mock_state *s, const char *coll_path, const char *id, int64_t seq, const json_t *item)
{
    char key[2048];
    snprintf(key, sizeof(key), "i" SEP "%s" SEP "%s", coll_path, id);
    json_t *wrap = json_pack("{s:I, s:O}", "s", (json_int_t)seq, "v", item);
    if (wrap == NULL)
        return KUMO_ENOMEM;
    int rc = kv_put(s, key, wrap);
    json_decref(wrap);
    return rc;
}

/* Creates `item` in coll_path (a deep copy is stored): its id in `id`. */
static int create(kumo__mock_state *s, const collection *c, const char *coll_path, json_t *item, char *id,
                  size_t id_len)
{
    int64_t seq;
    int rc = assign_id(s, c, coll_path, item, id, id_len);
    if (rc == 0 && json_is_object(item) && c->item_schema) {
        ro_ctx r = {s, c, item, NULL};
        each_prop(s->refs, c->item_schema, 0, fill_read_only, &r);
    }
    if (rc == 0)
        rc = counter_next(s, "q", 0, &seq);
    if (rc == 0)
        rc = store_item(s, coll_path, id, seq, item);
    return rc;
}

/* ---- seed and reset ------------------------------------------------------------- */

/* Does `path` (concrete) fit the template `tmpl`? */
static int fits(const char *tmpl, const char *path)
{
    while (*tmpl && *path) {
        if (*tmpl == '{') {
            const char *end = strchr(tmpl, '}');
            if (end == NULL)
                return 0;
            size_t seg = strcspn(path, "/");
            if (seg == 0)
                return 0;
            tmpl = end + 1;
            path += seg;
        } else if (*tmpl++ != *path++) {
            return 0;
        }
    }
    return *tmpl == '\0' && *path == '\0';
}

static int load_seed(kumo__mock_state *s, kumo__error *err)
{
    if (s->seed_doc == NULL)
        return 0;
    const kumo__doc *doc = s->seed_doc;
    json_t *root = kumo__doc_root(doc);
    if (!json_is_object(root)) {
        kumo__doc_error(err, doc, root,
                        "seed data is a mapping of collection paths to lists of items, e.g. "
                        "{\"/pets\": [{\"name\": \"Rex\"}]}");
        return -EINVAL;
    }
    const char *path;
    json_t *items;
    json_object_foreach(root, path, items)
    {
        int ci = -1;
        for (size_t c = 0; c < s->ncolls && ci < 0; c++)
            if (fits(s->colls[c].tmpl, path) && strchr(path, '\x1f') == NULL)
                ci = (int)c;
        if (ci < 0) {
            kumo__doc_key_error(err, doc, root, path,
                                "'%s' is not a collection of the document; its collections are: %s", path,
                                s->describe[0] ? s->describe : "(none)");
            return -EINVAL;
        }
        if (!json_is_array(items)) {
            kumo__doc_value_error(err, doc, root, path, "the items of '%s' must be a list", path);
            return -EINVAL;
        }
        const collection *c = &s->colls[ci];
        for (size_t i = 0; i < json_array_size(items); i++) {
            json_t *it = json_array_get(items, i);
            if (!json_is_object(it)) {
                kumo__doc_error(err, doc, it, "item %zu of '%s' must be a mapping", i, path);
                return -EINVAL;
            }
            if (c->compiled) {
                kumo__violations v = {0};
                if (kumo__schema_validate(c->compiled, it, KUMO__DIR_ANY, &v) == 1 && v.count > 0) {
                    kumo__doc_error(err, doc, it, "item %zu of '%s' breaks the document: %s%s%s", i, path,
                                    v.items[0].instance, v.items[0].instance[0] ? ": " : "", v.items[0].message);
                    kumo__violations_free(&v);
                    return -EINVAL;
                }
                kumo__violations_free(&v);
            }
            json_t *copy = json_deep_copy(it);
            char id[512];
            int rc = copy ? create(s, c, path, copy, id, sizeof(id)) : KUMO_ENOMEM;
            json_decref(copy);
            if (rc != 0) {
                kumo__error_set(err, -EIO, "storing the seed item %zu of '%s': %s", i, path, kumo_strerror(rc));
                return -EIO;
            }
        }
    }
    return 0;
}

static int clear_all(kumo__mock_state *s)
{
    int rc = 0;
    for (int round = 0; round < 1000000 && rc == 0; round++) {
        kumo__arena a;
        kumo__arena_init(&a);
        kumo_kv_page page = {0};
        rc = kv_of(s)->driver->list(kv_of(s), &a, "", NULL, 1000, 0, &page);
        for (size_t i = 0; rc == 0 && i < page.count; i++) {
            rc = kv_of(s)->driver->del(kv_of(s), page.items[i].key, strlen(page.items[i].key));
            rc = rc == KUMO_ENOTFOUND ? 0 : rc;
        }
        size_t n = page.count;
        kumo__arena_free(&a);
        if (n == 0)
            break;
    }
    return rc;
}

int kumo__mock_state_reset(kumo__mock_state *s, kumo__error *err)
{
    pthread_mutex_lock(&s->lock);
    int rc = clear_all(s);
    if (rc != 0)
        kumo__error_set(err, -EIO, "emptying the mock's store: %s", kumo_strerror(rc));
    else
        rc = load_seed(s, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ---- a reload ---------------------------------------------------------------------- */

/* Whether the two states have the same collections: the same paths, item
 * parameters, id properties and id kinds, so that the keys of one mean
 * the same in the other. */
static int same_collections(const kumo__mock_state *a, const kumo__mock_state *b)
{
    if (a->ncolls != b->ncolls)
        return 0;
    for (size_t i = 0; i < a->ncolls; i++) {
        const collection *x = &a->colls[i], *y = &b->colls[i];
        if (strcmp(x->tmpl, y->tmpl) != 0 || strcmp(x->id_param, y->id_param) != 0 || x->id_kind != y->id_kind ||
            (x->id_prop == NULL) != (y->id_prop == NULL) || (x->id_prop && strcmp(x->id_prop, y->id_prop) != 0))
            return 0;
    }
    return 1;
}

/* Copies every entry of `from`'s store (items and counters) into s's,
 * under from's lock: a snapshot, so that a write the old generation takes
 * while the new one is built is not half copied. Returns the entries
 * copied, or a negative kumo status. */
static long carry_over(kumo__mock_state *s, kumo__mock_state *from)
{
    long n = 0;
    int rc = 0;
    pthread_mutex_lock(&from->lock);
    const char *cursor = NULL;
    kumo__arena a;
    kumo__arena_init(&a);
    for (int round = 0; round < 1000000 && rc == 0; round++) {
        kumo_kv_page page = {0};
        rc = kv_of(from)->driver->list(kv_of(from), &a, "", cursor, 1000, 1, &page);
        for (size_t i = 0; rc == 0 && i < page.count; i++) {
            const kumo_kv_item *it = &page.items[i];
            uint64_t version;
            rc = kv_of(s)->driver->put(kv_of(s), it->key, strlen(it->key), it->value, it->len, UINT64_MAX, 0, &version);
            n++;
        }
        if (rc != 0 || page.next == NULL)
            break;
        cursor = page.next; /* in the arena, which lives until the end */
    }
    kumo__arena_free(&a);
    pthread_mutex_unlock(&from->lock);
    return rc != 0 ? rc : n;
}

long kumo__mock_state_carried(const kumo__mock_state *s)
{
    return s ? s->carried : 0;
}

/* ---- open and free ----------------------------------------------------------------- */

void kumo__mock_state_free(kumo__mock_state *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->ncolls; i++) {
        free(s->colls[i].tmpl);
        free(s->colls[i].id_param);
        free(s->colls[i].id_prop);
        kumo__schema_free(s->colls[i].compiled);
    }
    free(s->colls);
    free(s->op_coll);
    free(s->op_role);
    free(s->describe);
    kumo__doc_free(s->seed_doc);
    kumo__store_close(s->store);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int kumo__mock_state_open(const kumo__spec *spec, const kumo__mock_state_options *opts, kumo__mock_state **out,
                          kumo__error *err)
{
    *out = NULL;
    kumo__mock_state *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->spec = spec;
    s->refs = opts && opts->refs ? opts->refs : spec->refs;
    s->seed = opts ? opts->seed : 0;
    s->gen = opts ? opts->gen : NULL;
    s->gen_ud = opts ? opts->gen_ud : NULL;
    size_t nops = spec->nops ? spec->nops : 1;
    int rc = 0;
    s->op_coll = calloc(nops, sizeof(int));
    s->op_role = calloc(nops, sizeof(enum kumo__mock_role));
    if (s->op_coll == NULL || s->op_role == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = infer(s, err)) != 0)
        goto out;
    char url[4200];
    snprintf(url, sizeof(url), "sqlite:%s", opts && opts->state_file ? opts->state_file : ":memory:");
    kumo__error e = {0};
    if (kumo__store_open(&kumo__kv_kind, url, "mock", &s->store, &e) != 0) {
        kumo__error_set(err, -EIO, "opening the mock's state: %s", e.msg);
        rc = -EIO;
        goto out;
    }
    if (opts && opts->carry && !opts->state_file) {
        kumo__mock_state *from = (kumo__mock_state *)opts->carry; /* its lock only */
        if (!same_collections(s, from)) {
            s->carried = -1;
        } else {
            long n = carry_over(s, from);
            if (n < 0) {
                kumo__error_set(err, -EIO, "taking over the mock's state from the generation before: %s",
                                kumo_strerror((int)n));
                rc = -EIO;
                goto out;
            }
            s->carried = n;
        }
    }
    if (opts && opts->seed_file) {
        if ((rc = kumo__doc_load(opts->seed_file, &s->seed_doc, err)) != 0)
            goto out;
        if (s->carried > 0)
            goto out; /* the items of the generation before, not the seed again */
        kumo__arena a;
        kumo__arena_init(&a);
        json_t *seq = NULL;
        rc = kv_get(s, &a, "q", &seq);
        kumo__arena_free(&a);
        /* A state file kept from an earlier run is not seeded twice. */
        if (rc == 0 && seq == NULL)
            rc = load_seed(s, err);
        else if (rc != 0)
            kumo__error_set(err, -EIO, "reading the mock's state: %s", kumo_strerror(rc));
        json_decref(seq);
        if (rc != 0)
            kumo__error_wrap(err, "loading the seed data");
    }
out:
    if (rc != 0)
        kumo__mock_state_free(s);
    else
        *out = s;
    return rc;
}

enum kumo__mock_role kumo__mock_state_role(const kumo__mock_state *s, size_t op_index)
{
    return s && op_index < s->spec->nops ? s->op_role[op_index] : KUMO__MOCK_NONE;
}

const char *kumo__mock_state_describe(const kumo__mock_state *s)
{
    return s && s->describe ? s->describe : "";
}

/* ---- answering ---------------------------------------------------------------------- */

void kumo__mock_state_reply_clear(kumo__mock_state_reply *a)
{
    free(a->body);
    memset(a, 0, sizeof(*a));
}

static int answer_json(kumo__mock_state_reply *out, int status, json_t *v)
{
    out->status = status;
    if (v == NULL)
        return 0;
    out->body = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (out->body == NULL)
        return KUMO_ENOMEM;
    out->body_len = strlen(out->body);
    out->content_type = "application/json";
    return 0;
}

static int answer_problem(kumo__mock_state_reply *out, int status, const char *title, const char *detail)
{
    out->status = status;
    out->body = kumo__problem_json(status, title, detail, NULL, 0, NULL, NULL, &out->body_len);
    out->content_type = "application/problem+json";
    return out->body ? 0 : KUMO_ENOMEM;
}

/* The stored item of `key`: its value (new reference) and sequence. */
static int read_item(kumo__mock_state *s, const char *key, json_t **item, int64_t *seq)
{
    kumo__arena a;
    kumo__arena_init(&a);
    json_t *wrap = NULL;
    int rc = kv_get(s, &a, key, &wrap);
    kumo__arena_free(&a);
    *item = NULL;
    if (rc == 0 && wrap) {
        *item = json_incref(json_object_get(wrap, "v"));
        *seq = json_integer_value(json_object_get(wrap, "s"));
        if (*item == NULL)
            rc = KUMO_EIO;
    }
    json_decref(wrap);
    return rc;
}

/* RFC 7396 merge patch. */
static void merge_patch(json_t *target, const json_t *patch)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v)
    {
        if (json_is_null(v)) {
            json_object_del(target, k);
        } else if (json_is_object(v) && json_is_object(json_object_get(target, k))) {
            merge_patch(json_object_get(target, k), v);
        } else {
            json_t *copy = json_deep_copy(v);
            json_object_set_new(target, k, copy);
        }
    }
}

static int cmp_seq(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "s"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "s"));
    return x < y ? -1 : x > y;
}

static int declares_query(const kumo__operation *op, const char *name)
{
    for (size_t i = 0; i < op->nparams; i++)
        if (op->params[i].in == KUMO__IN_QUERY && strcmp(op->params[i].name, name) == 0)
            return 1;
    return 0;
}

static int matches_filter(const json_t *have, const json_t *want)
{
    if (json_is_array(want)) {
        for (size_t i = 0; i < json_array_size(want); i++)
            if (matches_filter(have, json_array_get(want, i)))
                return 1;
        return 0;
    }
    if (json_equal(have, want))
        return 1;
    if (json_is_number(have) && json_is_number(want))
        return json_number_value(have) == json_number_value(want);
    return 0;
}

static int list(kumo__mock_state *s, const kumo__operation *op, const collection *c, const char *coll_path,
                const json_t *query, kumo__mock_state_reply *out)
{
    static const char *const paging[] = {"limit", "offset", "page", "per_page", "pageSize", "page_size", NULL};
    char prefix[2048];
    snprintf(prefix, sizeof(prefix), "i" SEP "%s" SEP, coll_path);
    json_t *all = json_array();
    int rc = all ? 0 : KUMO_ENOMEM;
    char cursor[KUMO_KV_KEY_MAX + 1] = "";
    while (rc == 0 && json_array_size(all) < LIST_MAX) {
        kumo__arena a;
        kumo__arena_init(&a);
        kumo_kv_page page = {0};
        rc = kv_of(s)->driver->list(kv_of(s), &a, prefix, cursor[0] ? cursor : NULL, 1000, 1, &page);
        for (size_t i = 0; rc == 0 && i < page.count; i++) {
            json_t *w = json_loadb(page.items[i].value, page.items[i].len, 0, NULL);
            if (w)
                json_array_append_new(all, w);
        }
        int more = rc == 0 && page.next != NULL && page.count > 0;
        if (more)
            snprintf(cursor, sizeof(cursor), "%s", page.next);
        kumo__arena_free(&a);
        if (!more)
            break;
    }
    if (rc != 0) {
        json_decref(all);
        return rc;
    }
    size_t n = json_array_size(all);
    json_t **ws = malloc((n ? n : 1) * sizeof(json_t *));
    if (ws == NULL) {
        json_decref(all);
        return KUMO_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        ws[i] = json_array_get(all, i);
    qsort(ws, n, sizeof(json_t *), cmp_seq);
    /* Filters: declared query parameters naming a property. */
    json_t *kept = json_array();
    for (size_t i = 0; kept && i < n; i++) {
        json_t *item = json_object_get(ws[i], "v");
        const char *k;
        json_t *want;
        int ok = 1;
        json_object_foreach((json_t *)query, k, want)
        {
            int is_paging = 0;
            for (size_t p = 0; paging[p]; p++)
                is_paging |= strcmp(k, paging[p]) == 0;
            if (is_paging || !c->item_schema || !prop_schema(s->refs, c->item_schema, k, 0))
                continue;
            ok &= matches_filter(json_object_get(item, k), want);
        }
        if (ok)
            json_array_append(kept, item);
    }
    free(ws);
    json_decref(all);
    if (kept == NULL)
        return KUMO_ENOMEM;
    size_t total = json_array_size(kept), from = 0, count = total;
    json_int_t limit = -1, offset = 0, page = 1, per_page = -1;
    if (declares_query(op, "limit") && json_is_integer(json_object_get(query, "limit")))
        limit = json_integer_value(json_object_get(query, "limit"));
    if (declares_query(op, "offset") && json_is_integer(json_object_get(query, "offset")))
        offset = json_integer_value(json_object_get(query, "offset"));
    const char *pp = declares_query(op, "per_page")    ? "per_page"
                     : declares_query(op, "pageSize")  ? "pageSize"
                     : declares_query(op, "page_size") ? "page_size"
                                                       : NULL;
    if (declares_query(op, "page")) {
        if (json_is_integer(json_object_get(query, "page")))
            page = json_integer_value(json_object_get(query, "page"));
        per_page = pp && json_is_integer(json_object_get(query, pp)) ? json_integer_value(json_object_get(query, pp))
                                                                     : PAGE_DEFAULT;
        if (page < 1)
            page = 1;
        if (per_page < 1)
            per_page = PAGE_DEFAULT;
        offset = (page - 1) * per_page;
        limit = per_page;
    }
    if (offset > 0)
        from = (size_t)offset < total ? (size_t)offset : total;
    count = total - from;
    if (limit >= 0 && (size_t)limit < count)
        count = (size_t)limit;
    json_t *items = json_array();
    for (size_t i = 0; items && i < count; i++)
        json_array_append(items, json_array_get(kept, from + i));
    json_decref(kept);
    if (items == NULL)
        return KUMO_ENOMEM;
    /* The shape the document answers with: a list, or an object holding
     * the list (and its total, page... when it declares them). */
    const kumo__response *r = success(op, "200");
    const kumo__media *m = r ? json_media(r->content, r->ncontent) : NULL;
    const json_t *schema = m ? deref(s->refs, m->schema) : NULL;
    json_t *body = items;
    const char *type = json_string_value(json_object_get(schema, "type"));
    if (schema && (type == NULL || strcmp(type, "array") != 0) && json_object_get(schema, "properties")) {
        const char *k;
        json_t *v, *wrap = json_object();
        json_object_foreach(json_object_get(schema, "properties"), k, v)
        {
            const json_t *sub = deref(s->refs, v);
            const char *t = json_string_value(json_object_get(sub, "type"));
            if (t && strcmp(t, "array") == 0 && json_object_get(wrap, k) == NULL && body == items)
                json_object_set(wrap, k, items), body = wrap;
            else if (t && strcmp(t, "integer") == 0 &&
                     (strcmp(k, "total") == 0 || strcmp(k, "count") == 0 || strcmp(k, "total_count") == 0 ||
                      strcmp(k, "totalCount") == 0))
                json_object_set_new(wrap, k, json_integer((json_int_t)total));
            else if (t && strcmp(t, "integer") == 0 && json_is_integer(json_object_get(query, k)))
                json_object_set(wrap, k, json_object_get(query, k));
        }
        if (body != wrap)
            json_decref(wrap);
    }
    strip_write_only(s->refs, schema, body, 0);
    rc = answer_json(out, status_of(r, 200), body);
    if (body != items)
        json_decref(body);
    json_decref(items);
    return rc;
}

int kumo__mock_state_answer(kumo__mock_state *s, size_t op_index, const json_t *params, const json_t *body,
                            kumo__mock_state_reply *out)
{
    memset(out, 0, sizeof(*out));
    enum kumo__mock_role role = kumo__mock_state_role(s, op_index);
    if (role == KUMO__MOCK_NONE)
        return 1;
    const kumo__operation *op = &s->spec->ops[op_index];
    const collection *c = &s->colls[s->op_coll[op_index]];
    const json_t *path_params = json_object_get(params, "path"), *query = json_object_get(params, "query");
    char coll_path[1024], id[512], key[2048], detail[1200];
    if (concrete(c, path_params, coll_path, sizeof(coll_path)) != 0)
        return answer_problem(out, 404, "Not Found", "the path's parameters name no collection");
    const kumo__response *r;
    json_t *item = NULL, *old = NULL;
    int64_t seq = 0;
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    switch (role) {
    case KUMO__MOCK_LIST: rc = list(s, op, c, coll_path, query, out); break;
    case KUMO__MOCK_CREATE:
        item = body ? json_deep_copy(body) : json_object();
        if (item == NULL) {
            rc = KUMO_ENOMEM;
            break;
        }
        if ((rc = create(s, c, coll_path, item, id, sizeof(id))) != 0)
            break;
        r = success(op, "201");
        snprintf(out->location, sizeof(out->location), "%s%s/%s", s->spec->base_path ? s->spec->base_path : "",
                 coll_path, id);
        strip_write_only(s->refs, c->item_schema, item, 0);
        rc = answer_json(out, status_of(r, 201), r && r->ncontent ? item : NULL);
        break;
    default: {
        /* The item's parameter as this operation names it ({petId}). */
        const char *last = strrchr(op->path, '/') + 2;
        char pname[256];
        snprintf(pname, sizeof(pname), "%.*s", (int)strcspn(last, "}"), last);
        if (id_text(json_object_get(path_params, pname), id, sizeof(id)) != 0) {
            rc = answer_problem(out, 404, "Not Found", "no such item");
            break;
        }
        snprintf(key, sizeof(key), "i" SEP "%s" SEP "%s", coll_path, id);
        if ((rc = read_item(s, key, &old, &seq)) != 0)
            break;
        if (old == NULL) {
            snprintf(detail, sizeof(detail), "%s has no item %s (%s); create one with POST %s", coll_path, id,
                     c->id_param, coll_path);
            rc = answer_problem(out, 404, "Not Found", detail);
            break;
        }
        if (role == KUMO__MOCK_GET) {
            r = success(op, "200");
            strip_write_only(s->refs, c->item_schema, old, 0);
            rc = answer_json(out, status_of(r, 200), old);
        } else if (role == KUMO__MOCK_DELETE) {
            kumo__kv *kv = kv_of(s);
            rc = kv->driver->del(kv, key, strlen(key));
            r = success(op, "204");
            strip_write_only(s->refs, c->item_schema, old, 0);
            if (rc == 0)
                rc = answer_json(out, status_of(r, 204), r && r->ncontent ? old : NULL);
        } else {
            /* PUT replaces, PATCH merges (RFC 7396); the id and the other
             * readOnly properties stay what the server made. */
            item = role == KUMO__MOCK_REPLACE ? (body ? json_deep_copy(body) : json_object()) : json_deep_copy(old);
            if (item == NULL) {
                rc = KUMO_ENOMEM;
                break;
            }
            if (role == KUMO__MOCK_PATCH && json_is_object(body) && json_is_object(item))
                merge_patch(item, body);
            else if (role == KUMO__MOCK_PATCH && body)
                json_decref(item), item = json_deep_copy(body);
            if (json_is_object(item) && json_is_object(old)) {
                if (c->id_prop && json_object_get(old, c->id_prop))
                    json_object_set(item, c->id_prop, json_object_get(old, c->id_prop));
                ro_ctx rr = {s, c, item, old};
                if (c->item_schema)
                    each_prop(s->refs, c->item_schema, 0, fill_read_only, &rr);
            }
            if ((rc = store_item(s, coll_path, id, seq, item)) != 0)
                break;
            r = success(op, "200");
            strip_write_only(s->refs, c->item_schema, item, 0);
            rc = answer_json(out, status_of(r, 200), r && r->ncontent ? item : NULL);
        }
        break;
    }
    }
    pthread_mutex_unlock(&s->lock);
    json_decref(item);
    json_decref(old);
    if (rc != 0) {
        kumo__mock_state_reply_clear(out);
        return rc < 0 ? rc : -EIO;
    }
    return 0;
}
