/*
 * test_access_log.c: the access line (src/gateway/access_log.c) that kumo
 * up and kumo-host write: its fields, its level by status, and the trace
 * context (trace_id, span_id) when the request was traced.
 */
#include "check.h"
#include "gateway/access_log.h"

#include <jansson.h>

static json_t *line_of(kumo__logline *l)
{
    size_t n = kumo__logline_end(l);
    CHECK(n > 0 && l->buf[n - 1] == '\n');
    return json_loadb(l->buf, n, 0, NULL);
}

int main(void)
{
    kumo__logline l;
    kumo__access_line(&l, "r-1", "GET", 3, "/todos?x=1", 6, "listTodos", 200, 93, "4bf92f3577b34da6a3ce929d0e0e4736",
                      "00f067aa0ba902b7");
    json_t *j = line_of(&l);
    CHECK(json_is_object(j));
    CHECK_STR(json_string_value(json_object_get(j, "level")), "info");
    CHECK_STR(json_string_value(json_object_get(j, "msg")), "request");
    CHECK_STR(json_string_value(json_object_get(j, "request_id")), "r-1");
    CHECK_STR(json_string_value(json_object_get(j, "path")), "/todos");
    CHECK_STR(json_string_value(json_object_get(j, "operation")), "listTodos");
    CHECK_INT(json_integer_value(json_object_get(j, "status")), 200);
    CHECK_INT(json_integer_value(json_object_get(j, "duration_us")), 93);
    CHECK_STR(json_string_value(json_object_get(j, "trace_id")), "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK_STR(json_string_value(json_object_get(j, "span_id")), "00f067aa0ba902b7");
    json_decref(j);

    /* Not traced: no trace fields, never null. */
    kumo__access_line(&l, "r-2", "POST", 4, "/todos", 6, NULL, 503, 5, NULL, NULL);
    j = line_of(&l);
    CHECK_STR(json_string_value(json_object_get(j, "level")), "warn");
    CHECK_STR(json_string_value(json_object_get(j, "operation")), "");
    CHECK(json_object_get(j, "trace_id") == NULL && json_object_get(j, "span_id") == NULL);
    json_decref(j);
    CHECK_STR(kumo__access_level(500), "error");
    CHECK_STR(kumo__access_level(404), "info");
    return check_report();
}
