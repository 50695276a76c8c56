/*
 * hello_test.c: the handler of GET /hello, tested in process by
 * `kumo test` (docs/testing.md): each request goes through kumo's routing
 * and validation, then to the handler; its answer is checked against
 * openapi.yaml.
 */
#include <kumo_test.h>

KUMO_TEST(greets_the_world)
{
    kumo_test_response *r = kumo_test_get(t, "/hello");
    KUMO_ASSERT_STATUS(r, 200);
    KUMO_ASSERT_STR_EQ(kumo_test_json_string(r, "/message"), "hello, world");
}

KUMO_TEST(greets_by_name)
{
    kumo_test_request *rq = kumo_test_new(t, "GET", "/hello");
    kumo_test_query(rq, "name", "kumo");
    kumo_test_response *r = kumo_test_send(rq);
    KUMO_ASSERT_STATUS(r, 200);
    KUMO_ASSERT_STR_EQ(kumo_test_json_string(r, "/message"), "hello, kumo");
}

KUMO_TEST(refuses_an_empty_name)
{
    /* minLength: 1 in openapi.yaml: kumo answers 400 before the handler runs */
    kumo_test_response *r = kumo_test_get(t, "/hello?name=");
    KUMO_ASSERT_STATUS(r, 400);
}
