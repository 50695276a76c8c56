/*
 * kumo_test.h: testing a project's handlers in process, without HTTP.
 *
 * A test file (the project's tests/NAME.c, run by `kumo test`) includes this
 * header and defines tests:
 *
 *     #include <kumo_test.h>
 *
 *     KUMO_TEST(create_then_get)
 *     {
 *         kumo_test_response *r = kumo_test_post_json(t, "/todos", "{\"title\":\"milk\"}");
 *         KUMO_ASSERT_STATUS(r, 201);
 *         const char *id = kumo_test_json_string(r, "/id");
 *         KUMO_ASSERT(id != NULL);
 *         r = kumo_test_get(t, kumo_test_sprintf(t, "/todos/%s", id));
 *         KUMO_ASSERT_STATUS(r, 200);
 *         KUMO_ASSERT_STR_EQ(kumo_test_json_string(r, "/title"), "milk");
 *     }
 *
 * Each request goes through what kumo up runs before a handler (the
 * same code: routing, the credentials the document asks for, rate limits,
 * parameter and body validation, the problem documents) and then to the
 * handler, loaded from the project's built unit into the test's process.
 * The handler's response is checked against the OpenAPI document as
 * `kumo up --dev` does; a response that breaks it fails the test at the
 * request's line (kumo_test_allow_contract_violations turns that off).
 *
 * Every test runs in a process of its own, with its stores on a fresh
 * embedded backend in a temporary folder (SQLite files and a blob folder,
 * whatever kumo.yaml or KUMO_STORE_* say), so tests do not see each
 * other's data and a crash fails one test only.
 *
 * Memory: requests, responses and every string the harness returns belong
 * to the test and are freed when it ends; a test frees nothing. docs/testing.md.
 */
#ifndef KUMO_TEST_H
#define KUMO_TEST_H

#include <stddef.h>
#include <stdio.h>  /* for tests: printf */
#include <string.h> /* for tests: strlen, strcmp */

#include <kumo.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kumo_test kumo_test;
typedef struct kumo_test_request kumo_test_request;
typedef struct kumo_test_response kumo_test_response;

typedef void kumo_test_fn(kumo_test *t);

/* Registers a test (KUMO_TEST does it when the test file is loaded). */
KUMO_API void kumo_test_register(const char *name, kumo_test_fn *fn, const char *file, int line);

/* Defines the test NAME: a function taking `kumo_test *t`. */
#define KUMO_TEST(NAME)                                                                                                \
    static void kumo_test_body_##NAME(kumo_test *t);                                                                   \
    __attribute__((constructor)) static void kumo_test_register_##NAME(void)                                           \
    {                                                                                                                  \
        kumo_test_register(#NAME, kumo_test_body_##NAME, __FILE__, __LINE__);                                          \
    }                                                                                                                  \
    static void kumo_test_body_##NAME(kumo_test *t)

/* ---- requests ------------------------------------------------------------ */

/* A request to send: `target` is the path as a client sends it, with its
 * query string if any ("/todos?limit=2"), percent-encoded. */
KUMO_API kumo_test_request *kumo_test_new(kumo_test *t, const char *method, const char *target);
/* Adds a query parameter, percent-encoding name and value. */
KUMO_API void kumo_test_query(kumo_test_request *rq, const char *name, const char *value);
/* Adds a header (the name in any case). */
KUMO_API void kumo_test_header(kumo_test_request *rq, const char *name, const char *value);
/* Sets the body and its Content-Type (content_type NULL: no header). */
KUMO_API void kumo_test_body(kumo_test_request *rq, const void *body, size_t len, const char *content_type);
/* Sets a JSON body (application/json): `json` is the text, sent as is. */
KUMO_API void kumo_test_json(kumo_test_request *rq, const char *json);

/* Sends the request through kumo's checks to its handler and returns the
 * answer (never NULL). A response that breaks the document fails the test
 * here, naming file:line. */
#define kumo_test_send(rq) kumo_test_send_at((rq), __FILE__, __LINE__)
KUMO_API kumo_test_response *kumo_test_send_at(kumo_test_request *rq, const char *file, int line);

/* Shorthands: one call, one answer. */
#define kumo_test_get(t, target) kumo_test_send(kumo_test_new((t), "GET", (target)))
#define kumo_test_delete(t, target) kumo_test_send(kumo_test_new((t), "DELETE", (target)))
#define kumo_test_post_json(t, target, json) kumo_test_send_json_at((t), "POST", (target), (json), __FILE__, __LINE__)
#define kumo_test_put_json(t, target, json) kumo_test_send_json_at((t), "PUT", (target), (json), __FILE__, __LINE__)
#define kumo_test_patch_json(t, target, json) kumo_test_send_json_at((t), "PATCH", (target), (json), __FILE__, __LINE__)
KUMO_API kumo_test_response *kumo_test_send_json_at(kumo_test *t, const char *method, const char *target,
                                                    const char *json, const char *file, int line);

/* Delivers one event of kumo.yaml's `events:` to its handler, as a
 * platform pushes it (a CloudEvent in binary mode: ce-id, ce-type
 * "kumo.test", ce-source "kumo-test", ce-specversion 1.0), with `data`
 * (NULL: none) of `content_type` (NULL: application/json when there is
 * data). A schedule event is one tick. The answer is the handler's. */
#define kumo_test_event(t, name, data, len, content_type)                                                              \
    kumo_test_event_at((t), (name), (data), (len), (content_type), __FILE__, __LINE__)
KUMO_API kumo_test_response *kumo_test_event_at(kumo_test *t, const char *name, const void *data, size_t len,
                                                const char *content_type, const char *file, int line);

/* A context for the test's own SDK calls: kumo_kv_put to seed a store,
 * kumo_queue_receive to see what a handler sent, ... on the same (fresh)
 * stores the handlers see. What those calls return lives until the test
 * ends. */
KUMO_API kumo_ctx *kumo_test_ctx(kumo_test *t);

/* A response that breaks the document no longer fails the test (a test
 * of a handler's failure paths); kumo_test_contract still tells. */
KUMO_API void kumo_test_allow_contract_violations(kumo_test *t);

/* ---- responses ----------------------------------------------------------- */

KUMO_API int kumo_test_status(const kumo_test_response *r);
/* A response header by name (any case), NULL when absent. */
KUMO_API const char *kumo_test_response_header(const kumo_test_response *r, const char *name);
/* The body (NUL-terminated; *len its length, len may be NULL). */
KUMO_API const char *kumo_test_body_text(const kumo_test_response *r, size_t *len);
/* The body parsed as JSON (borrowed: the response keeps it), NULL when it
 * is not JSON. */
KUMO_API json_t *kumo_test_body_json(const kumo_test_response *r);
/* The value at a JSON Pointer ("" the whole body, "/items/0/id"), borrowed;
 * NULL when the body is not JSON or has nothing there. */
KUMO_API json_t *kumo_test_json_at(const kumo_test_response *r, const char *pointer);
/* The string at a pointer, NULL when absent or not a string. */
KUMO_API const char *kumo_test_json_string(const kumo_test_response *r, const char *pointer);
/* The integer at a pointer; `fallback` when absent or not an integer. */
KUMO_API long long kumo_test_json_int(const kumo_test_response *r, const char *pointer, long long fallback);
/* How the response breaks the document ("" when it does not; "status 418
 * is not declared", "/title: ..."). */
KUMO_API const char *kumo_test_contract(const kumo_test_response *r);

/* printf into memory the test owns (freed when it ends). */
KUMO_API char *kumo_test_sprintf(kumo_test *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- assertions ---------------------------------------------------------- */

/* Fails the test here: the message is reported with file:line, and the
 * test stops (the rest of its body does not run). */
KUMO_API void kumo_test_fail_at(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)))
__attribute__((noreturn));

#define KUMO_FAIL(...) kumo_test_fail_at(__FILE__, __LINE__, __VA_ARGS__)

#define KUMO_ASSERT(cond)                                                                                              \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            kumo_test_fail_at(__FILE__, __LINE__, "assertion failed: %s", #cond);                                      \
    } while (0)

#define KUMO_ASSERT_INT_EQ(a, b)                                                                                       \
    do {                                                                                                               \
        long long kumo_a_ = (long long)(a), kumo_b_ = (long long)(b);                                                  \
        if (kumo_a_ != kumo_b_)                                                                                        \
            kumo_test_fail_at(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, kumo_a_, kumo_b_);                 \
    } while (0)

/* Two strings equal (NULL equals only NULL). */
#define KUMO_ASSERT_STR_EQ(a, b) kumo_test_str_eq_at((a), (b), #a, #b, __FILE__, __LINE__)
KUMO_API void kumo_test_str_eq_at(const char *a, const char *b, const char *a_text, const char *b_text,
                                  const char *file, int line);

/* `haystack` contains `needle` (a NULL haystack contains nothing). */
#define KUMO_ASSERT_CONTAINS(haystack, needle)                                                                         \
    kumo_test_contains_at((haystack), (needle), #haystack, __FILE__, __LINE__)
KUMO_API void kumo_test_contains_at(const char *haystack, const char *needle, const char *text, const char *file,
                                    int line);

/* The response's status; on failure the message shows its body. */
#define KUMO_ASSERT_STATUS(r, status) kumo_test_status_at((r), (status), __FILE__, __LINE__)
KUMO_API void kumo_test_status_at(const kumo_test_response *r, int status, const char *file, int line);

#ifdef __cplusplus
}
#endif

#endif
