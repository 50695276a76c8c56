/*
 * test_event_data.c: an event's data: schema (src/project/event_data.c):
 * resolved in the OpenAPI document and compiled (with $refs), a pointer to
 * nothing refused at kumo.yaml:line:column naming the schemas there are,
 * and messages checked against it with the validator's wording.
 */
#include "project/event_data.h"

#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char spec_text[] = "openapi: 3.0.3\n"
                                "info: {title: t, version: '1'}\n"
                                "paths: {}\n"
                                "components:\n"
                                "  schemas:\n"
                                "    Title: {type: string, maxLength: 10}\n"
                                "    Note:\n"
                                "      type: object\n"
                                "      required: [title]\n"
                                "      properties:\n"
                                "        title: {$ref: '#/components/schemas/Title'}\n"
                                "        n: {type: integer}\n";

static kumo__spec *load_spec(char *dir)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/openapi.yaml", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return NULL;
    fputs(spec_text, f);
    fclose(f);
    kumo__spec *spec = NULL;
    kumo__error err = {0};
    if (kumo__spec_load(path, &spec, &err) != 0)
        fprintf(stderr, "spec: %s\n", err.msg);
    return spec;
}

static void test_compile_and_check(kumo__spec *spec, char *dir)
{
    kumo__event_decl events[3] = {
        {.name = "plain"},
        {.name = "notes", .data = "#/components/schemas/Note", .data_line = 7, .data_col = 12},
        {.name = "titles", .data = "#/components/schemas/Title", .data_line = 9, .data_col = 3},
    };
    kumo__project p = {.dir = dir, .api_path = "openapi.yaml", .events = events, .nevents = 3};
    kumo__schema **all = NULL;
    kumo__error err = {0};
    int rc = kumo__event_data_compile(&p, spec, &all, &err);
    if (rc != 0)
        fprintf(stderr, "unexpected: %s\n", err.msg);
    CHECK_INT(rc, 0);
    if (all == NULL)
        return;
    CHECK(all[0] == NULL && all[1] != NULL && all[2] != NULL);
    char why[512];
    static const char good[] = "{\"title\": \"ok\", \"n\": 3}";
    CHECK_INT(kumo__event_data_check(all[1], good, strlen(good), why, sizeof(why)), 0);
    static const char bad[] = "{\"title\": \"far too long a title\", \"n\": \"x\"}";
    CHECK_INT(kumo__event_data_check(all[1], bad, strlen(bad), why, sizeof(why)), 1);
    CHECK(strstr(why, "/data/title: must be at most 10 characters long") != NULL);
    CHECK(strstr(why, "; /data/n: ") != NULL);
    static const char missing[] = "{}";
    CHECK_INT(kumo__event_data_check(all[1], missing, 2, why, sizeof(why)), 1);
    CHECK(strstr(why, "/data: missing required property 'title'") != NULL);
    CHECK_INT(kumo__event_data_check(all[1], "not json", 8, why, sizeof(why)), 1);
    CHECK(strncmp(why, "the data is not JSON: ", 22) == 0);
    /* A bare JSON value is data too. */
    CHECK_INT(kumo__event_data_check(all[2], "\"short\"", 7, why, sizeof(why)), 0);
    CHECK_INT(kumo__event_data_check(all[2], "42", 2, why, sizeof(why)), 1);
    /* A tiny buffer is cut, never overrun. */
    char small[8];
    CHECK_INT(kumo__event_data_check(all[1], bad, strlen(bad), small, sizeof(small)), 1);
    CHECK(strlen(small) < sizeof(small));
    kumo__event_data_free(all, p.nevents);
}

static void test_unknown(kumo__spec *spec, char *dir)
{
    kumo__event_decl events[1] = {
        {.name = "notes", .data = "#/components/schemas/Nope", .data_line = 7, .data_col = 12},
    };
    kumo__project p = {.dir = dir, .api_path = "openapi.yaml", .events = events, .nevents = 1};
    kumo__schema **all = (kumo__schema **)&p; /* must be reset to NULL */
    kumo__error err = {0};
    CHECK(kumo__event_data_compile(&p, spec, &all, &err) < 0);
    CHECK(all == NULL);
    CHECK_STR(err.msg, "kumo.yaml:7:12: events.notes.data: nothing at '#/components/schemas/Nope' in openapi.yaml; "
                       "the schemas under #/components/schemas are: Title, Note; name one of them");
    /* Pointing at something that is not a schema. */
    events[0].data = "#/info/title";
    CHECK(kumo__event_data_compile(&p, spec, &all, &err) < 0);
    CHECK(strstr(err.msg, "kumo.yaml:7:12: events.notes.data: no schema at '#/info/title'") != NULL);
    /* Percent-encoded and escaped tokens are read as a $ref's fragment. */
    events[0].data = "#/components/schemas/N%6Fte";
    CHECK_INT(kumo__event_data_compile(&p, spec, &all, &err), 0);
    kumo__event_data_free(all, p.nevents);
}

int main(void)
{
    char dir[] = "/tmp/kumo-event-data-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    kumo__spec *spec = load_spec(dir);
    CHECK(spec != NULL);
    if (spec) {
        test_compile_and_check(spec, dir);
        test_unknown(spec, dir);
        kumo__spec_free(spec);
    }
    char path[300];
    snprintf(path, sizeof(path), "%s/openapi.yaml", dir);
    unlink(path);
    rmdir(dir);
    return check_report();
}
