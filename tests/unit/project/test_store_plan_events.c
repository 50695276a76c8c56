/*
 * test_store_plan_events.c: the events= parameter the store plan gives a
 * file: blob store watched by blob events (src/project/store_plan.c; the
 * driver, src/sdk/stores/file_blob.c, reads it): one NAME:ON:PREFIX:SUFFIX
 * per event of that store, in kumo.yaml's order, with the filters
 * percent-encoded where they would end a field; none for a store nobody
 * watches nor for a store that is not file: (a deploy target's s3:); a
 * URL that sets events= itself is refused; and a reload that changes the
 * events changes the parameter without counting as a move of the store.
 */
#include "project/project.h"
#include "project/store_plan.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/kumo-test-plan-events-XXXXXX";

static kumo__project *load(const char *yaml)
{
    char path[256];
    kumo__project *p = NULL;
    kumo__error err = {0};
    snprintf(path, sizeof path, "%s/kumo.yaml", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return NULL;
    fputs(yaml, f);
    fclose(f);
    if (kumo__project_load(dir, &p, &err) != 0)
        fprintf(stderr, "load: %s\n", err.msg);
    return p;
}

static const char head[] = "name: x\napi: api.yaml\nfunctions:\n  media: {sources: [api.yaml]}\n"
                           "stores: {blob: [photos, docs, quiet]}\n"
                           "environments:\n  prod: {target: aws, region: eu-west-1, stores: {docs: \"s3://bucket\"}}\n";

static int nmoved;
static void count_moved(const kumo__store_place *kept, const char *wanted)
{
    (void)kept, (void)wanted;
    nmoved++;
}

int main(void)
{
    char path[256], yaml[2048], want[1024];
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(path, sizeof path, "%s/api.yaml", dir);
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
    unsetenv("KUMO_STORE_PHOTOS");
    unsetenv("KUMO_STORE_DOCS");
    unsetenv("KUMO_STORE_QUIET");

    snprintf(yaml, sizeof yaml,
             "%sevents:\n"
             "  thumbs: {blob: photos, on: [created], prefix: img/, suffix: .png, handler: media.thumb}\n"
             "  odd: {blob: photos, on: deleted, prefix: \"a b;c:%%&#\", handler: media.thumb}\n"
             "  audit: {blob: photos, handler: media.thumb}\n"
             "  index: {blob: docs, handler: media.thumb}\n",
             head);
    kumo__project *p = load(yaml);
    CHECK(p != NULL);
    if (p == NULL)
        return check_report();
    kumo__store_plan plan, prod, again;
    kumo__error err = {0};
    CHECK_INT(kumo__store_plan_build(p, NULL, NULL, NULL, NULL, &plan, &err), 0);
    const kumo__store_place *s = kumo__store_plan_find(&plan, "photos");
    snprintf(want, sizeof want,
             "file:%s/.kumo/data/blob?events=thumbs:created:img/:.png;odd:deleted:a%%20b%%3Bc%%3A%%25%%26%%23:;"
             "audit:created,deleted::",
             p->dir);
    CHECK(s != NULL);
    CHECK_STR(s->url, want);
    CHECK_STR(s->shown, want);
    s = kumo__store_plan_find(&plan, "quiet");
    snprintf(want, sizeof want, "file:%s/.kumo/data/blob", p->dir);
    CHECK_STR(s->url, want); /* no event watches it */
    s = kumo__store_plan_find(&plan, "docs");
    CHECK(s != NULL && strstr(s->url, "?events=index:created,deleted::") != NULL);

    /* prod places docs on s3: no events= (on aws, S3 notifications) */
    CHECK_INT(kumo__store_plan_build(p, "prod", NULL, NULL, NULL, &prod, &err), 0);
    CHECK_STR(kumo__store_plan_find(&prod, "docs")->url, "s3://bucket");
    kumo__store_plan_free(&prod);

    /* a reload with other events: the store stays, its events= follows */
    kumo__project *p2 = load(head);
    CHECK(p2 != NULL);
    nmoved = 0;
    CHECK_INT(kumo__store_plan_build(p2, NULL, NULL, &plan, count_moved, &again, &err), 0);
    CHECK_INT(nmoved, 0);
    s = kumo__store_plan_find(&again, "photos");
    snprintf(want, sizeof want, "file:%s/.kumo/data/blob", p->dir);
    CHECK(s != NULL && s->kept);
    CHECK_STR(s->url, want);
    kumo__store_plan_free(&again);
    CHECK_INT(kumo__store_plan_build(p, NULL, NULL, &plan, count_moved, &again, &err), 0);
    CHECK_INT(nmoved, 0);
    CHECK_STR(kumo__store_plan_find(&again, "photos")->url, kumo__store_plan_find(&plan, "photos")->url);
    kumo__store_plan_free(&again);
    kumo__project_free(p2);

    /* a URL with its own query: events= comes after it, and a reload
     * compares the URLs without it */
    char *created[] = {"KUMO_STORE_PHOTOS=file:/tmp/kumo-plan-x?create=false", NULL};
    kumo__store_plan first, second;
    CHECK_INT(kumo__store_plan_build(p, NULL, created, NULL, NULL, &first, &err), 0);
    CHECK_STR(kumo__store_plan_find(&first, "photos")->url,
              "file:/tmp/kumo-plan-x?create=false&events=thumbs:created:img/:.png;odd:deleted:a%20b%3Bc%3A%25%26%23:;"
              "audit:created,deleted::");
    nmoved = 0;
    CHECK_INT(kumo__store_plan_build(p, NULL, created, &first, count_moved, &second, &err), 0);
    CHECK_INT(nmoved, 0);
    CHECK_STR(kumo__store_plan_find(&second, "photos")->url, kumo__store_plan_find(&first, "photos")->url);
    kumo__store_plan_free(&second);
    char *elsewhere[] = {"KUMO_STORE_PHOTOS=file:/tmp/kumo-plan-y", NULL};
    CHECK_INT(kumo__store_plan_build(p, NULL, elsewhere, &first, count_moved, &second, &err), 0);
    CHECK_INT(nmoved, 1); /* a real move is still said, and not made */
    CHECK(strncmp(kumo__store_plan_find(&second, "photos")->url, "file:/tmp/kumo-plan-x?create=false&events=", 42) ==
          0);
    kumo__store_plan_free(&second);
    kumo__store_plan_free(&first);

    /* events= is kumo's: a URL that sets it is refused */
    char *vars[] = {"KUMO_STORE_PHOTOS=file:/tmp/x?events=a:created::", NULL};
    CHECK(kumo__store_plan_build(p, NULL, vars, NULL, NULL, &again, &err) != 0);
    CHECK(strstr(err.msg, "blob store 'photos': its URL sets events=") != NULL);
    CHECK(strstr(err.msg, "remove it from KUMO_STORE_PHOTOS") != NULL);

    kumo__store_plan_free(&plan);
    kumo__project_free(p);
    unlink(path);
    snprintf(path, sizeof path, "%s/kumo.yaml", dir);
    unlink(path);
    rmdir(dir);
    return check_report();
}
