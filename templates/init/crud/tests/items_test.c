/*
 * items_test.c: the item operations, tested in process by `kumo test`
 * (docs/testing.md). Every test starts with an empty store.
 */
#include <kumo_test.h>

KUMO_TEST(starts_empty)
{
    kumo_test_response *r = kumo_test_get(t, "/items");
    KUMO_ASSERT_STATUS(r, 200);
    KUMO_ASSERT_INT_EQ(json_array_size(kumo_test_json_at(r, "/items")), 0);
}

KUMO_TEST(create_read_delete)
{
    kumo_test_response *r = kumo_test_post_json(t, "/items", "{\"name\":\"milk\"}");
    KUMO_ASSERT_STATUS(r, 201);
    const char *id = kumo_test_json_string(r, "/id");
    KUMO_ASSERT(id != NULL);
    KUMO_ASSERT_STR_EQ(kumo_test_response_header(r, "location"), kumo_test_sprintf(t, "/items/%s", id));

    r = kumo_test_get(t, kumo_test_sprintf(t, "/items/%s", id));
    KUMO_ASSERT_STATUS(r, 200);
    KUMO_ASSERT_STR_EQ(kumo_test_json_string(r, "/name"), "milk");

    r = kumo_test_get(t, "/items");
    KUMO_ASSERT_INT_EQ(json_array_size(kumo_test_json_at(r, "/items")), 1);

    r = kumo_test_delete(t, kumo_test_sprintf(t, "/items/%s", id));
    KUMO_ASSERT_STATUS(r, 204);
    r = kumo_test_get(t, kumo_test_sprintf(t, "/items/%s", id));
    KUMO_ASSERT_STATUS(r, 404);
}

KUMO_TEST(refuses_a_bad_item)
{
    /* the document's NewItem schema: kumo answers 400 before the handler */
    kumo_test_response *r = kumo_test_post_json(t, "/items", "{\"name\":\"\"}");
    KUMO_ASSERT_STATUS(r, 400);
    KUMO_ASSERT_CONTAINS(kumo_test_body_text(r, NULL), "/name");
}
