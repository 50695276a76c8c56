/*
 * jobs_test.c: the job API and its events, tested in process by
 * `kumo test` (docs/testing.md). kumo_test_event delivers one event to
 * its handler as the platform would; every test starts with empty stores.
 */
#include <kumo_test.h>

KUMO_TEST(a_job_runs_when_its_message_arrives)
{
    kumo_test_response *r = kumo_test_post_json(t, "/jobs", "{\"input\":\"hello\"}");
    KUMO_ASSERT_STATUS(r, 202);
    const char *id = kumo_test_json_string(r, "/id");
    KUMO_ASSERT(id != NULL);
    const char *path = kumo_test_sprintf(t, "/jobs/%s", id);

    r = kumo_test_get(t, path);
    KUMO_ASSERT_STATUS(r, 200);
    KUMO_ASSERT_STR_EQ(kumo_test_json_string(r, "/state"), "queued");

    /* the message createJob sent, taken from the queue and delivered to
     * the event "work" as kumo up's consumer would */
    kumo_queue_message m;
    size_t n = 0;
    KUMO_ASSERT_INT_EQ(kumo_queue_receive(kumo_test_ctx(t), "work", 1, 30000, &m, &n), 0);
    KUMO_ASSERT_INT_EQ(n, 1);
    r = kumo_test_event(t, "work", m.body, m.len, "application/json");
    KUMO_ASSERT_STATUS(r, 204);

    r = kumo_test_get(t, path);
    KUMO_ASSERT_STATUS(r, 200);
    KUMO_ASSERT_STR_EQ(kumo_test_json_string(r, "/state"), "done");
    KUMO_ASSERT_STR_EQ(kumo_test_json_string(r, "/output"), "HELLO");
}

KUMO_TEST(a_bad_message_is_dropped)
{
    kumo_test_response *r = kumo_test_event(t, "work", "{}", 2, "application/json");
    KUMO_ASSERT_STATUS(r, 204);
}

KUMO_TEST(ticks_count)
{
    kumo_test_response *r = kumo_test_event(t, "tick", NULL, 0, NULL);
    KUMO_ASSERT_STATUS(r, 204);
    r = kumo_test_event(t, "tick", NULL, 0, NULL);
    KUMO_ASSERT_STATUS(r, 204);
    kumo_kv_item it; /* what the handler stored, read with the test's own context */
    KUMO_ASSERT_INT_EQ(kumo_kv_get(kumo_test_ctx(t), "jobs", "ticks", &it), 0);
    KUMO_ASSERT_STR_EQ(it.value, "2");
}

KUMO_TEST(unknown_job)
{
    kumo_test_response *r = kumo_test_get(t, "/jobs/nope");
    KUMO_ASSERT_STATUS(r, 404);
}
