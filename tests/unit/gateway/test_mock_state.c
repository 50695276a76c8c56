/*
 * test_mock_state.c: the stateful mock (src/gateway/mock_state.c) over
 * fixtures/mockpets.yaml: the collections inferred from the paths; create
 * with server-made ids (increasing integers, seeded uuids) and readOnly
 * fields, writeOnly never answered; get, replace, merge-patch, delete and
 * their 404s; lists in creation order, paged (limit/offset, page/per_page
 * into an object with its total) and filtered; nested collections; the
 * seed file (refusals with line:column), reset, and a state file kept
 * across runs.
 */
#include "check.h"
#include "base/fs.h"
#include "gateway/mock_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const kumo__spec *spec;

static size_t op(const char *id)
{
    for (size_t i = 0; i < spec->nops; i++)
        if (spec->ops[i].operation_id && strcmp(spec->ops[i].operation_id, id) == 0)
            return i;
    fprintf(stderr, "no operation %s\n", id);
    return (size_t)-1;
}

/* Answers operationId with params (JSON text) and body (JSON text or
 * NULL): the status, the body parsed into *out (NULL when none). */
static int call(kumo__mock_state *s, const char *id, const char *params, const char *body, json_t **out,
                kumo__mock_state_reply *keep)
{
    json_t *p = json_loads(params, 0, NULL), *b = body ? json_loads(body, JSON_DECODE_ANY, NULL) : NULL;
    kumo__mock_state_reply a;
    int rc = kumo__mock_state_answer(s, op(id), p, b, &a);
    json_decref(p);
    json_decref(b);
    if (out)
        *out = a.body ? json_loadb(a.body, a.body_len, JSON_DECODE_ANY, NULL) : NULL;
    int status = rc == 0 ? a.status : rc > 0 ? -1000 : rc;
    if (keep)
        *keep = a;
    else
        kumo__mock_state_reply_clear(&a);
    return status;
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static int refused(const char *seed_path, const char *text, const char *want)
{
    spit(seed_path, text);
    kumo__mock_state_options o = {.seed_file = seed_path};
    kumo__mock_state *s = NULL;
    kumo__error err = {0};
    int rc = kumo__mock_state_open(spec, &o, &s, &err);
    int ok = rc != 0 && s == NULL && strstr(err.msg, want) != NULL;
    if (!ok)
        fprintf(stderr, "  for %s\n  got: %s\n  want: %s\n", text, err.msg, want);
    kumo__mock_state_free(s);
    return ok;
}

/* The engine's generator stands here: a date-time is never asked of it
 * (the time of the create is), so this marks every other value. */
static int gen_calls;
static json_t *gen_marker(void *ud, const json_t *schema, uint64_t n)
{
    (void)ud;
    gen_calls++;
    return NULL;
}

int main(void)
{
    kumo__error err = {0};
    kumo__spec *loaded = NULL;
    if (kumo__spec_load("gateway/fixtures/mockpets.yaml", &loaded, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
        return check_report();
    }
    spec = loaded;
    kumo__mock_state *s = NULL;
    kumo__mock_state_options opts = {.seed = 42};
    CHECK_INT(kumo__mock_state_open(spec, &opts, &s, &err), 0);
    if (s == NULL) {
        fprintf(stderr, "%s\n", err.msg);
        return check_report();
    }

    /* ---- inference ---- */
    CHECK_INT(kumo__mock_state_role(s, op("listPets")), KUMO__MOCK_LIST);
    CHECK_INT(kumo__mock_state_role(s, op("createPet")), KUMO__MOCK_CREATE);
    CHECK_INT(kumo__mock_state_role(s, op("getPet")), KUMO__MOCK_GET);
    CHECK_INT(kumo__mock_state_role(s, op("replacePet")), KUMO__MOCK_REPLACE);
    CHECK_INT(kumo__mock_state_role(s, op("updatePet")), KUMO__MOCK_PATCH);
    CHECK_INT(kumo__mock_state_role(s, op("deletePet")), KUMO__MOCK_DELETE);
    CHECK_INT(kumo__mock_state_role(s, op("getNote")), KUMO__MOCK_GET);
    CHECK_INT(kumo__mock_state_role(s, op("createToy")), KUMO__MOCK_CREATE);
    CHECK_INT(kumo__mock_state_role(s, op("getToy")), KUMO__MOCK_GET);
    CHECK_INT(kumo__mock_state_role(s, op("health")), KUMO__MOCK_NONE);
    CHECK_STR(kumo__mock_state_describe(s), "/pets, /notes, /owners/{ownerId}/toys");
    json_t *j = NULL;
    CHECK_INT(call(s, "health", "{}", NULL, NULL, NULL), -1000); /* not ours: the static mock answers */

    /* ---- create, get ---- */
    kumo__mock_state_reply a;
    CHECK_INT(call(s, "createPet", "{\"path\":{},\"query\":{}}",
                   "{\"name\":\"Rex\",\"tag\":\"dog\",\"password\":\"pw\"}", &j, &a),
              201);
    CHECK_STR(a.location, "/pets/1");
    CHECK_STR(a.content_type, "application/json");
    kumo__mock_state_reply_clear(&a);
    CHECK_INT(json_integer_value(json_object_get(j, "id")), 1);
    CHECK_STR(json_string_value(json_object_get(j, "name")), "Rex");
    CHECK(json_object_get(j, "password") == NULL); /* writeOnly: never answered */
    char created[64] = "";
    snprintf(created, sizeof(created), "%s",
             json_string_value(json_object_get(j, "created")) ? json_string_value(json_object_get(j, "created")) : "");
    CHECK(strlen(created) >= 20 && created[4] == '-' && created[10] == 'T'); /* a readOnly date-time */
    json_decref(j);
    CHECK_INT(call(s, "createPet", "{}", "{\"name\":\"Tom\",\"tag\":\"cat\"}", &j, NULL), 201);
    CHECK_INT(json_integer_value(json_object_get(j, "id")), 2);
    json_decref(j);
    CHECK_INT(call(s, "createPet", "{}", "{\"name\":\"Fido\",\"tag\":\"dog\"}", NULL, NULL), 201);
    CHECK_INT(call(s, "getPet", "{\"path\":{\"petId\":1}}", NULL, &j, NULL), 200);
    CHECK_STR(json_string_value(json_object_get(j, "name")), "Rex");
    CHECK(json_object_get(j, "password") == NULL);
    json_decref(j);
    CHECK_INT(call(s, "getPet", "{\"path\":{\"petId\":9}}", NULL, &j, &a), 404);
    CHECK_STR(a.content_type, "application/problem+json");
    CHECK(strstr(json_string_value(json_object_get(j, "detail")), "/pets has no item 9 (petId)") != NULL);
    kumo__mock_state_reply_clear(&a);
    json_decref(j);

    /* ---- list: creation order, paging, filters ---- */
    CHECK_INT(call(s, "listPets", "{\"query\":{}}", NULL, &j, NULL), 200);
    CHECK_INT(json_array_size(j), 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(j, 2), "name")), "Fido");
    CHECK(json_object_get(json_array_get(j, 0), "password") == NULL);
    json_decref(j);
    CHECK_INT(call(s, "listPets", "{\"query\":{\"limit\":1,\"offset\":1}}", NULL, &j, NULL), 200);
    CHECK_INT(json_array_size(j), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(j, 0), "name")), "Tom");
    json_decref(j);
    CHECK_INT(call(s, "listPets", "{\"query\":{\"tag\":\"dog\"}}", NULL, &j, NULL), 200);
    CHECK_INT(json_array_size(j), 2);
    json_decref(j);
    CHECK_INT(call(s, "listPets", "{\"query\":{\"tag\":\"dog\",\"limit\":1,\"offset\":1}}", NULL, &j, NULL), 200);
    CHECK_STR(json_string_value(json_object_get(json_array_get(j, 0), "name")), "Fido");
    json_decref(j);
    CHECK_INT(call(s, "listPets", "{\"query\":{\"offset\":50}}", NULL, &j, NULL), 200);
    CHECK_INT(json_array_size(j), 0);
    json_decref(j);

    /* ---- replace, patch, delete ---- */
    CHECK_INT(call(s, "replacePet", "{\"path\":{\"petId\":1}}", "{\"name\":\"Max\"}", &j, NULL), 200);
    CHECK_INT(json_integer_value(json_object_get(j, "id")), 1);
    CHECK_STR(json_string_value(json_object_get(j, "name")), "Max");
    CHECK(json_object_get(j, "tag") == NULL);                             /* replaced */
    CHECK_STR(json_string_value(json_object_get(j, "created")), created); /* readOnly kept */
    json_decref(j);
    CHECK_INT(call(s, "updatePet", "{\"path\":{\"petId\":2}}", "{\"tag\":null,\"name\":\"Tim\"}", &j, NULL), 200);
    CHECK_STR(json_string_value(json_object_get(j, "name")), "Tim");
    CHECK(json_object_get(j, "tag") == NULL);
    CHECK_INT(json_integer_value(json_object_get(j, "id")), 2);
    json_decref(j);
    CHECK_INT(call(s, "replacePet", "{\"path\":{\"petId\":77}}", "{\"name\":\"X\"}", NULL, NULL), 404);
    CHECK_INT(call(s, "deletePet", "{\"path\":{\"petId\":1}}", NULL, &j, &a), 204);
    CHECK(j == NULL && a.body == NULL);
    kumo__mock_state_reply_clear(&a);
    CHECK_INT(call(s, "getPet", "{\"path\":{\"petId\":1}}", NULL, NULL, NULL), 404);
    CHECK_INT(call(s, "deletePet", "{\"path\":{\"petId\":1}}", NULL, NULL, NULL), 404);
    CHECK_INT(call(s, "listPets", "{\"query\":{}}", NULL, &j, NULL), 200);
    CHECK_INT(json_array_size(j), 2);
    json_decref(j);
    CHECK_INT(call(s, "createPet", "{}", "{\"name\":\"New\"}", &j, NULL), 201);
    CHECK_INT(json_integer_value(json_object_get(j, "id")), 4); /* ids are not reused */
    json_decref(j);

    /* ---- uuid ids; page/per_page into an object with its total ---- */
    char first_uuid[64] = "";
    for (int i = 0; i < 5; i++) {
        char body[64];
        snprintf(body, sizeof(body), "{\"text\":\"note %d\"}", i);
        CHECK_INT(call(s, "createNote", "{}", body, &j, &a), 201);
        const char *u = json_string_value(json_object_get(j, "noteId"));
        CHECK(u && strlen(u) == 36 && u[14] == '4' && strchr("89ab", u[19]) != NULL);
        if (i == 0 && u)
            snprintf(first_uuid, sizeof(first_uuid), "%s", u);
        CHECK(u && strstr(a.location, u) != NULL);
        kumo__mock_state_reply_clear(&a);
        json_decref(j);
    }
    char params[200];
    snprintf(params, sizeof(params), "{\"path\":{\"noteId\":\"%s\"}}", first_uuid);
    CHECK_INT(call(s, "getNote", params, NULL, &j, NULL), 200);
    CHECK_STR(json_string_value(json_object_get(j, "text")), "note 0");
    json_decref(j);
    CHECK_INT(call(s, "listNotes", "{\"query\":{\"page\":2,\"per_page\":2}}", NULL, &j, NULL), 200);
    CHECK_INT(json_integer_value(json_object_get(j, "total")), 5);
    CHECK_INT(json_array_size(json_object_get(j, "items")), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(j, "items"), 0), "text")), "note 2");
    json_decref(j);
    /* The same seed, the same uuids. */
    kumo__mock_state *s2 = NULL;
    CHECK_INT(kumo__mock_state_open(spec, &opts, &s2, &err), 0);
    CHECK_INT(call(s2, "createNote", "{}", "{\"text\":\"x\"}", &j, NULL), 201);
    CHECK_STR(json_string_value(json_object_get(j, "noteId")), first_uuid);
    json_decref(j);
    kumo__mock_state_free(s2);

    /* ---- nested collections: one per owner ---- */
    CHECK_INT(call(s, "createToy", "{\"path\":{\"ownerId\":1}}", "{\"kind\":\"ball\"}", &j, &a), 201);
    CHECK_INT(json_integer_value(json_object_get(j, "id")), 1);
    CHECK_STR(a.location, "/owners/1/toys/1");
    kumo__mock_state_reply_clear(&a);
    json_decref(j);
    CHECK_INT(call(s, "createToy", "{\"path\":{\"ownerId\":2}}", "{\"kind\":\"rope\"}", &j, NULL), 201);
    CHECK_INT(json_integer_value(json_object_get(j, "id")), 1);
    json_decref(j);
    CHECK_INT(call(s, "listToys", "{\"path\":{\"ownerId\":1}}", NULL, &j, NULL), 200);
    CHECK_INT(json_array_size(j), 1);
    json_decref(j);
    CHECK_INT(call(s, "getToy", "{\"path\":{\"ownerId\":2,\"toyId\":1}}", NULL, &j, NULL), 200);
    CHECK_STR(json_string_value(json_object_get(j, "kind")), "rope");
    json_decref(j);
    CHECK_INT(call(s, "getToy", "{\"path\":{\"ownerId\":3,\"toyId\":1}}", NULL, NULL, NULL), 404);
    kumo__mock_state_free(s);

    /* ---- seed, reset, generator ---- */
    char dir[] = "/tmp/kumo-mockstate-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char seed[300], state[300];
    snprintf(seed, sizeof(seed), "%s/seed.yaml", dir);
    snprintf(state, sizeof(state), "%s/state/mock.db", dir);
    spit(seed, "/pets:\n"
               "  - {id: 10, name: Seeded, tag: old}\n"
               "  - {name: Second}\n"
               "/owners/5/toys:\n"
               "  - {kind: ball}\n");
    kumo__mock_state_options so = {.seed_file = seed, .seed = 1, .gen = gen_marker};
    CHECK_INT(kumo__mock_state_open(spec, &so, &s, &err), 0);
    if (s == NULL) {
        fprintf(stderr, "%s\n", err.msg);
        return check_report();
    }
    CHECK_INT(call(s, "listPets", "{\"query\":{}}", NULL, &j, NULL), 200);
    CHECK_INT(json_array_size(j), 2);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(j, 0), "id")), 10);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(j, 1), "id")), 11); /* after the seeded id */
    CHECK(json_string_value(json_object_get(json_array_get(j, 1), "created")) != NULL);
    CHECK_INT(gen_calls, 0); /* Pet's only readOnly field besides the id is a date-time */
    json_decref(j);
    CHECK_INT(call(s, "listToys", "{\"path\":{\"ownerId\":5}}", NULL, &j, NULL), 200);
    CHECK_INT(json_array_size(j), 1);
    json_decref(j);
    CHECK_INT(call(s, "createPet", "{}", "{\"name\":\"Later\"}", &j, NULL), 201);
    CHECK_INT(json_integer_value(json_object_get(j, "id")), 12);
    json_decref(j);
    CHECK_INT(call(s, "deletePet", "{\"path\":{\"petId\":10}}", NULL, NULL, NULL), 204);
    CHECK_INT(kumo__mock_state_reset(s, &err), 0);
    CHECK_INT(call(s, "listPets", "{\"query\":{}}", NULL, &j, NULL), 200);
    CHECK_INT(json_array_size(j), 2); /* the seed again, and only it */
    CHECK_STR(json_string_value(json_object_get(json_array_get(j, 0), "name")), "Seeded");
    json_decref(j);
    CHECK_INT(call(s, "createPet", "{}", "{\"name\":\"Later\"}", &j, NULL), 201);
    CHECK_INT(json_integer_value(json_object_get(j, "id")), 12); /* counters reset too */
    json_decref(j);
    kumo__mock_state_free(s);

    /* A state file keeps items across runs, and is not seeded twice. */
    so.state_file = state;
    CHECK_INT(kumo__mock_state_open(spec, &so, &s, &err), 0);
    CHECK_INT(call(s, "createPet", "{}", "{\"name\":\"Kept\"}", NULL, NULL), 201);
    kumo__mock_state_free(s);
    CHECK_INT(kumo__mock_state_open(spec, &so, &s, &err), 0);
    CHECK_INT(call(s, "listPets", "{\"query\":{}}", NULL, &j, NULL), 200);
    CHECK_INT(json_array_size(j), 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(j, 2), "name")), "Kept");
    json_decref(j);
    kumo__mock_state_free(s);

    /* Refusals of seed files name line and column. */
    char bad[300];
    snprintf(bad, sizeof(bad), "%s/bad.yaml", dir);
    CHECK(refused(bad, "/pets: []\n/cats: []\n",
                  "bad.yaml:2:1: '/cats' is not a collection of the document; its "
                  "collections are: /pets, /notes, /owners/{ownerId}/toys"));
    CHECK(refused(bad, "/pets: {name: x}\n", "bad.yaml:1:8: the items of '/pets' must be a list"));
    CHECK(refused(bad, "/pets:\n  - {name: ok}\n  - {name: 5}\n",
                  "bad.yaml:3:5: item 1 of '/pets' breaks the "
                  "document: /name: "));
    CHECK(refused(bad, "/pets:\n  - 7\n", "bad.yaml:2:5: item 0 of '/pets' must be a mapping"));
    CHECK(refused(bad, "[1]\n", "bad.yaml:1:1: seed data is a mapping"));
    snprintf(bad, sizeof(bad), "%s/missing.yaml", dir);
    kumo__mock_state_options mo = {.seed_file = bad};
    CHECK(kumo__mock_state_open(spec, &mo, &s, &err) != 0);
    CHECK(strstr(err.msg, "missing.yaml") != NULL);

    kumo__rmtree(dir);
    kumo__spec_free(loaded);
    return check_report();
}
