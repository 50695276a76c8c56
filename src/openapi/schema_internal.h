/*
 * schema_internal.h: private to the schema validator: the compiled form that
 * schema.c (the compiler) builds and schema_validate.c (the validator)
 * walks. Nothing outside src/openapi/schema*.c includes this.
 */
#ifndef KUMO_SCHEMA_INT_H
#define KUMO_SCHEMA_INT_H

#include <stdatomic.h>
#include <jansson.h>
#include <stddef.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "openapi/pcre2_lazy.h" /* after PCRE2's: kumo-lambda loads it on demand */

#include "openapi/schema.h"
#include "openapi/schema_format.h"

#define KUMO__SCHEMA_MAX_DEPTH 512 /* nested evaluations during validation */
#define SCAN_MAX_DEPTH 512         /* schema nesting, for the $id/$anchor scan */
#define DEFAULT_BASE "kumo://schema/root.json"
#define BRANCH_DETAIL_MAX 3 /* oneOf/anyOf: show the best branch when it has this few errors */
#define STEP_LIMIT 2000000  /* evaluations per validation: oneOf/anyOf through $ref can explode */

/* ---- compiled form ----------------------------------------------------- */

enum {
    T_NULL = 1,
    T_BOOLEAN = 2,
    T_OBJECT = 4,
    T_ARRAY = 8,
    T_NUMBER = 16,
    T_STRING = 32,
    T_INTEGER = 64,
};

enum {
    N_FALSE = 1 << 0, /* the schema `false`: nothing validates */
    N_TRUE = 1 << 1,  /* `true` or an empty schema: everything validates */
    N_MULTIPLE = 1 << 2,
    N_MAX = 1 << 3,
    N_EMAX = 1 << 4,
    N_MIN = 1 << 5,
    N_EMIN = 1 << 6,
    N_CONST = 1 << 7,
    N_UNIQUE = 1 << 8,
    N_READONLY = 1 << 9,
    N_WRITEONLY = 1 << 10,
    N_NULLABLE = 1 << 11, /* OAS 3.0: null passes type and enum */
};

typedef struct num {
    double d;
    json_int_t i;
    int is_int; /* integral and within json_int_t */
} num;

typedef struct snode snode;
typedef struct sprop {
    const char *name;
    snode *schema;
    size_t len; /* sorted by length, then bytes: most probes end on the length */
} sprop;
typedef struct spat {
    pcre2_code *re;
    const char *src;
    snode *schema;
} spat;
typedef struct sdep {
    const char *name;
    const char **names; /* dependentRequired */
    size_t n;
    snode *schema; /* dependentSchemas */
} sdep;

typedef struct resource {
    const char *uri; /* absolute, no fragment */
    const json_t *root;
    const char *loc;
    int local; /* fragments resolve inside `root` */
} resource;

typedef struct anchor {
    const char *base, *name, *loc;
    const json_t *node;
    int dynamic;
    snode *compiled; /* dynamic anchors: compiled eagerly */
} anchor;

struct snode {
    const json_t *src;
    const char *loc;
    const resource *res;
    unsigned flags, types;
    num multiple, maximum, emax, minimum, emin;
    long long max_len, min_len, max_items, min_items, max_props, min_props, min_contains, max_contains;
    const json_t *enum_vals, *const_val;
    const json_t *multiple_of; /* the multipleOf value, for decimal arithmetic */
    pcre2_code *pattern;
    const char *pattern_src;
    enum kumo__format format;
    const char *format_name;
    sprop *props;
    size_t nprops;
    spat *pats;
    size_t npats;
    snode *additional, *prop_names;
    const char **required;
    size_t nrequired;
    sdep *dep_req, *dep_sch;
    size_t ndep_req, ndep_sch;
    snode **all_of, **any_of, **one_of, **prefix;
    size_t nall, nany, none, nprefix;
    snode *not_, *if_, *then_, *else_, *items, *contains, *uneval_props, *uneval_items;
    snode *ref, *dynref;
    const char *dyn_name;  /* $dynamicRef to a dynamic anchor: resolved in the dynamic scope */
    const char *disc_prop; /* discriminator.propertyName */
    sprop *disc;           /* value -> branch, sorted */
    size_t ndisc;
};

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} chunk;

struct kumo__schema {
    kumo__dialect dialect;
    snode *root;
    chunk *arena;
    pcre2_code **codes;
    size_t ncodes, capcodes;
    resource **res;
    size_t nres, capres;
    anchor *anchors;
    size_t nanchors, capanchors;
    int has_dynamic;
    /* shared (schema.h, kumo__schema_cache): the references held on this
     * schema, and the shared schemas whose nodes this one's point into */
    atomic_int refs;
    struct kumo__schema **deps;
    size_t ndeps, capdeps;
};

static inline int kumo__schema_cmp_prop(const void *a, const void *b)
{
    const sprop *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->name, y->name, x->len);
}

#endif
