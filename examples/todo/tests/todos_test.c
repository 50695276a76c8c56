/*
 * todos_test.c: the todo API's handlers tested in process by `kumo test`
 * (docs/testing.md): each request goes through kumo's routing and
 * contract checks to functions/todos.c, each answer is checked against
 * openapi.yaml, and every test starts with empty stores.
 */
#include <kumo_test.h>

/* Creates a todo titled `title` and returns its id. */
static const char *create(kumo_test *t, const char *title)
{
    kumo_test_response *r = kumo_test_post_json(t, "/todos", kumo_test_sprintf(t, "{\"title\":\"%s\"}", title));
    KUMO_ASSERT_STATUS(r, 201);
    const char *id = kumo_test_json_string(r, "/id");
    KUMO_ASSERT(id != NULL);
    KUMO_ASSERT_STR_EQ(kumo_test_response_header(r, "location"), kumo_test_sprintf(t, "/todos/%s", id));
    return id;
}

KUMO_TEST(create_update_delete)
{
    const char *id = create(t, "buy milk");
    const char *path = kumo_test_sprintf(t, "/todos/%s", id);

    kumo_test_response *r = kumo_test_patch_json(t, path, "{\"done\":true}");
    KUMO_ASSERT_STATUS(r, 200);
    KUMO_ASSERT(json_is_true(kumo_test_json_at(r, "/done")));
    KUMO_ASSERT_STR_EQ(kumo_test_json_string(r, "/title"), "buy milk");

    KUMO_ASSERT_STATUS(kumo_test_delete(t, path), 204);
    KUMO_ASSERT_STATUS(kumo_test_get(t, path), 404);
}

KUMO_TEST(pages_oldest_first)
{
    create(t, "one");
    create(t, "two");
    create(t, "three");
    kumo_test_response *r = kumo_test_get(t, "/todos?limit=2");
    KUMO_ASSERT_STATUS(r, 200);
    KUMO_ASSERT_INT_EQ(json_array_size(kumo_test_json_at(r, "/items")), 2);
    KUMO_ASSERT_STR_EQ(kumo_test_json_string(r, "/items/0/title"), "one");
    const char *next = kumo_test_json_string(r, "/next");
    KUMO_ASSERT(next != NULL);

    kumo_test_request *rq = kumo_test_new(t, "GET", "/todos");
    kumo_test_query(rq, "limit", "2");
    kumo_test_query(rq, "cursor", next);
    r = kumo_test_send(rq);
    KUMO_ASSERT_STATUS(r, 200);
    KUMO_ASSERT_INT_EQ(json_array_size(kumo_test_json_at(r, "/items")), 1);
    KUMO_ASSERT_STR_EQ(kumo_test_json_string(r, "/items/0/title"), "three");
    KUMO_ASSERT(json_is_null(kumo_test_json_at(r, "/next")));
}

KUMO_TEST(attachment_round_trip)
{
    const char *id = create(t, "with a file");
    kumo_test_request *rq = kumo_test_new(t, "PUT", kumo_test_sprintf(t, "/todos/%s/attachment", id));
    kumo_test_body(rq, "hello, attachment", 17, "text/plain");
    KUMO_ASSERT_STATUS(kumo_test_send(rq), 200);

    kumo_test_response *r = kumo_test_get(t, kumo_test_sprintf(t, "/todos/%s/attachment", id));
    KUMO_ASSERT_STATUS(r, 200);
    KUMO_ASSERT_STR_EQ(kumo_test_body_text(r, NULL), "hello, attachment");
    KUMO_ASSERT_STR_EQ(kumo_test_response_header(r, "x-content-type-options"), "nosniff");
}

KUMO_TEST(every_write_is_notified)
{
    const char *id = create(t, "tell me");
    kumo_test_response *r = kumo_test_get(t, "/notifications");
    KUMO_ASSERT_STATUS(r, 200);
    KUMO_ASSERT_INT_EQ(json_array_size(kumo_test_json_at(r, "/items")), 1);
    KUMO_ASSERT_STR_EQ(kumo_test_json_string(r, "/items/0/event"), "created");
    KUMO_ASSERT_STR_EQ(kumo_test_json_string(r, "/items/0/todo/id"), id);
}

KUMO_TEST(checked_before_the_handler)
{
    kumo_test_response *r = kumo_test_post_json(t, "/todos", "{\"title\":42}");
    KUMO_ASSERT_STATUS(r, 400);
    KUMO_ASSERT_CONTAINS(kumo_test_body_text(r, NULL), "/title");
    KUMO_ASSERT_STATUS(kumo_test_get(t, "/todos?limit=0"), 400);
    KUMO_ASSERT_STATUS(kumo_test_get(t, "/nothing/here"), 404);
}
