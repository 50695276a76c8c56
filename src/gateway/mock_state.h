/*
 * mock_state.h: the stateful mode of `kumo mock --stateful` (and
 * `--state FILE`): collections inferred from the document's paths, kept
 * in a kumo kv store (docs/mocks.md, "Stateful mocks").
 *
 * A collection is a path P and an item path P/{param} of the document
 * (POST P creates, GET P lists, GET/PUT/PATCH/DELETE P/{param} act on one
 * item); P may itself hold parameters (/owners/{ownerId}/toys: one
 * collection per owner). A create stores the validated body with the
 * fields the server makes: the id (from the item parameter's schema: an
 * increasing integer, a uuid, or an increasing number as a string) and
 * the other readOnly properties; writeOnly properties are never answered.
 * Lists page by the parameters the operation declares (limit/offset or
 * page/per_page) and filter by declared query parameters that name a
 * property. Seed data comes from a JSON or YAML file ({"/pets": [{...}]}),
 * and reset (POST /__kumo/reset) empties the store and seeds it again.
 *
 * The store is sqlite in memory by default, a file with `--state FILE`
 * (kept across runs). One mutex serialises the operations: a mock's writes
 * are few and this keeps read-modify-write (PUT, PATCH) simple.
 */
#ifndef KUMO_GATEWAY_MOCK_STATE_H
#define KUMO_GATEWAY_MOCK_STATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "openapi/openapi.h"

typedef struct kumo__mock_state kumo__mock_state;

enum kumo__mock_role {
    KUMO__MOCK_NONE = 0, /* not part of a collection: the static mock answers */
    KUMO__MOCK_LIST,
    KUMO__MOCK_CREATE,
    KUMO__MOCK_GET,
    KUMO__MOCK_REPLACE,
    KUMO__MOCK_PATCH,
    KUMO__MOCK_DELETE,
};

/* Makes a value for a readOnly property on create: a new reference valid
 * against `schema`, or NULL to leave the property out. `n` differs per
 * call. The mock engine passes its example generator; NULL uses a small
 * built-in one (formats date-time, date, uuid; type defaults). */
typedef json_t *(*kumo__mock_gen_fn)(void *ud, const json_t *schema, uint64_t n);

typedef struct kumo__mock_state_options {
    const char *state_file; /* NULL: in memory */
    const char *seed_file;  /* NULL: start empty */
    uint64_t seed;          /* uuids and generated values */
    kumo__mock_gen_fn gen;
    void *gen_ud;
    const struct kumo__refs *refs; /* the $ref resolver used from the loops (the engine's locked one); NULL:
                                      spec->refs */
    /* A reload: the state of the generation before, whose items an
     * in-memory state starts with instead of the seed, when the document
     * still has the same collections (same paths and id kinds); NULL:
     * none. Not used with state_file (the file keeps them). */
    const struct kumo__mock_state *carry;
} kumo__mock_state_options;

/* Infers the collections of `spec` (borrowed; it must outlive the state),
 * opens the store and loads the seed (or takes opts->carry's items). Refusals name the seed file's
 * line:column. *out is the caller's (kumo__mock_state_free). */
int kumo__mock_state_open(const kumo__spec *spec, const kumo__mock_state_options *opts, kumo__mock_state **out,
                          kumo__error *err);
void kumo__mock_state_free(kumo__mock_state *s);

enum kumo__mock_role kumo__mock_state_role(const kumo__mock_state *s, size_t op_index);
/* The collections, for the start-up line: "/pets, /owners/{ownerId}/toys"
 * ("" when none). */
const char *kumo__mock_state_describe(const kumo__mock_state *s);

/* An answer. body malloc'd (NULL: none). */
typedef struct kumo__mock_state_reply {
    int status;
    char *body;
    size_t body_len;
    const char *content_type; /* static: application/json or application/problem+json; NULL with no body */
    char location[1024];      /* a create's Location header, "" when none */
} kumo__mock_state_reply;

void kumo__mock_state_reply_clear(kumo__mock_state_reply *a);

/* Answers spec->ops[op_index] from the state. `params` is the contract
 * check's typed values ({"path": {...}, "query": {...}}), `body` the
 * checked body (NULL: none). 0 answered; 1 the operation is not part of a
 * collection (the static mock answers); negative: the store failed (500). */
int kumo__mock_state_answer(kumo__mock_state *s, size_t op_index, const json_t *params, const json_t *body,
                            kumo__mock_state_reply *out);

/* What became of opts->carry in the last kumo__mock_state_open: the
 * number of store entries taken over, or -1 when the collections differ
 * (the state started over). */
long kumo__mock_state_carried(const kumo__mock_state *s);

/* Empties the store and loads the seed again. */
int kumo__mock_state_reset(kumo__mock_state *s, kumo__error *err);

#endif
