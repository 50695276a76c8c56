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

    /* what createJob sent to the queue, delivered to the event "work" */
    const char *msg = kumo_test_sprintf(t, "{\"id\":\"%s\",\"input\":\"hello\"}", id);
    r = kumo_test_event(t, "work", msg, strlen(msg), "application/json");
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
}

KUMO_TEST(unknown_job)
{
    kumo_test_response *r = kumo_test_get(t, "/jobs/nope");
    KUMO_ASSERT_STATUS(r, 404);
}
