/*
 * test_recording.c: record and replay (src/gateway/recording.c) over
 * fixtures/mockpets.yaml: the files written (one per pair, numbered, in
 * the operation's directory, readable JSON), credentials and declared
 * secret fields redacted in both directions; replay's matching (by
 * parameters, then body; equal recordings played in turn), the unmatched
 * request's detail and report, drift against the document, and refusals
 * of a bad recording with file:line:column.
 */
#include "check.h"
#include "gateway/recording.h"
#include "base/fs.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define S(lit) ((kumo__slice){lit, sizeof(lit) - 1})
#define H(n, v) ((kumo__header_view){S(n), S(v)})

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static size_t op_index(const kumo__spec *spec, const char *id)
{
    for (size_t i = 0; i < spec->nops; i++)
        if (spec->ops[i].operation_id && strcmp(spec->ops[i].operation_id, id) == 0)
            return i;
    return (size_t)-1;
}

static kumo__rec_message request(const char *method, const char *path, const char *query, const kumo__header_view *h,
                                 size_t nh, const char *body)
{
    kumo__rec_message m = {0};
    m.method = method;
    m.path = (kumo__slice){path, strlen(path)};
    m.query = (kumo__slice){query, query ? strlen(query) : 0};
    m.headers = h;
    m.nheaders = nh;
    if (body)
        m.body = (kumo__slice){body, strlen(body)};
    return m;
}

static kumo__rec_message response(int status, const kumo__header_view *h, size_t nh, const char *body)
{
    kumo__rec_message m = {0};
    m.status = status;
    m.headers = h;
    m.nheaders = nh;
    if (body)
        m.body = (kumo__slice){body, strlen(body)};
    return m;
}

static int refused(const char *name, const char *text, const char *want)
{
    char op[256];
    kumo__recorded rec;
    json_t *req = NULL;
    kumo__error err = {0};
    int rc = kumo__recording_parse(name, text, strlen(text), op, sizeof(op), &rec, &req, &err);
    int ok = rc != 0 && strstr(err.msg, want) != NULL && req == NULL;
    if (!ok)
        fprintf(stderr, "  for %s\n  got: %s\n  want: %s\n", text, err.msg, want);
    if (rc == 0) {
        kumo__recorded_clear(&rec);
        json_decref(req);
    }
    return ok;
}

int main(void)
{
    kumo__error err = {0};
    kumo__spec *spec = NULL;
    if (kumo__spec_load("gateway/fixtures/mockpets.yaml", &spec, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
        return check_report();
    }
    char dir[] = "/tmp/kumo-rec-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char recdir[300], path[600];
    snprintf(recdir, sizeof(recdir), "%s/recordings", dir);
    const char *extra[] = {"X-Service-Token", NULL};
    size_t get_pet = op_index(spec, "getPet"), create_pet = op_index(spec, "createPet"),
           list_pets = op_index(spec, "listPets"), create_note = op_index(spec, "createNote"),
           health = op_index(spec, "health");

    /* ---- recording ---- */
    kumo__recordings *r = NULL;
    CHECK_INT(kumo__recordings_open(recdir, spec, extra, 0, &r, &err), 0);
    kumo__header_view rqh[] = {H("accept", "application/json"), H("authorization", "Bearer sk_live_1234"),
                               H("x-api-key", "key-5678"), H("x-service-token", "tok-9"), H("host", "example")};
    kumo__header_view rsh[] = {H("content-type", "application/json"), H("set-cookie", "sid=abcdef"),
                               H("x-request-id", "r1"), H("content-length", "99")};
    kumo__rec_message q = request("GET", "/pets/2", NULL, rqh, 5, NULL);
    kumo__rec_message a = response(200, rsh, 4, "{\"id\":2,\"name\":\"Rex\",\"token\":\"t0k3n-value\"}");
    CHECK_INT(kumo__recordings_write(r, get_pet, &q, &a, path, sizeof(path)), 0);
    CHECK(strstr(path, "/recordings/getPet/0001.json") != NULL);
    char *text = slurp(path);
    CHECK(text != NULL);
    if (text) {
        CHECK(strstr(text, "sk_live_1234") == NULL);
        CHECK(strstr(text, "key-5678") == NULL);
        CHECK(strstr(text, "tok-9") == NULL);
        CHECK(strstr(text, "abcdef") == NULL);
        CHECK(strstr(text, "t0k3n-value") == NULL);
        CHECK(strstr(text, "\"<redacted>\"") != NULL);
        CHECK(strstr(text, "\"host\"") == NULL); /* hop-by-hop and length are not kept */
        CHECK(strstr(text, "\"content-length\"") == NULL);
        CHECK(strstr(text, "\"x-request-id\": \"r1\"") != NULL);
        CHECK(strstr(text, "\"name\": \"Rex\"") != NULL); /* readable: indented JSON, the body as JSON */
        json_t *j = json_loads(text, 0, NULL);
        CHECK_STR(json_string_value(json_object_get(j, "operation")), "getPet");
        CHECK_STR(json_string_value(
                      json_object_get(json_object_get(json_object_get(j, "request"), "headers"), "authorization")),
                  "<redacted>");
        json_decref(j);
    }

    /* A request body's secret fields (format: password; x-kumo-secret
     * inside a $ref'd nested object), a query apiKey. */
    kumo__header_view jh[] = {H("content-type", "application/json")};
    q = request("POST", "/pets", NULL, jh, 1, "{\"name\":\"Ada\",\"password\":\"hunter2\"}");
    a = response(201, jh, 1, "{\"id\":7,\"name\":\"Ada\"}");
    CHECK_INT(kumo__recordings_write(r, create_pet, &q, &a, path, sizeof(path)), 0);
    text = slurp(path);
    CHECK(text && strstr(text, "hunter2") == NULL && strstr(text, "\"password\": \"<redacted>\"") != NULL);
    q = request("POST", "/notes", NULL, jh, 1, "{\"text\":\"hi\",\"owner\":{\"login\":\"al\",\"secret\":\"xyzzy\"}}");
    a = response(201, jh, 1, "{\"noteId\":\"0b4c2d1e-0000-4000-8000-000000000000\",\"text\":\"hi\"}");
    CHECK_INT(kumo__recordings_write(r, create_note, &q, &a, path, sizeof(path)), 0);
    text = slurp(path);
    CHECK(text && strstr(text, "xyzzy") == NULL && strstr(text, "\"login\": \"al\"") != NULL);
    q = request("GET", "/pets", "limit=2&api_key=qk-secret", NULL, 0, NULL);
    a = response(200, jh, 1, "[{\"id\":1,\"name\":\"A\"}]");
    CHECK_INT(kumo__recordings_write(r, list_pets, &q, &a, path, sizeof(path)), 0);
    text = slurp(path);
    CHECK(text && strstr(text, "qk-secret") == NULL && strstr(text, "\"limit\": \"2\"") != NULL);
    /* The same list again, another answer: played back in order. */
    a = response(200, jh, 1, "[{\"id\":1,\"name\":\"A\"},{\"id\":2,\"name\":\"B\"}]");
    CHECK_INT(kumo__recordings_write(r, list_pets, &q, &a, path, sizeof(path)), 0);
    CHECK(strstr(path, "listPets/0002.json") != NULL);
    /* Two creates with different bodies: the body picks. */
    q = request("POST", "/pets", NULL, jh, 1, "{\"name\":\"Bob\",\"tag\":\"dog\"}");
    a = response(201, jh, 1, "{\"id\":8,\"name\":\"Bob\",\"tag\":\"dog\"}");
    CHECK_INT(kumo__recordings_write(r, create_pet, &q, &a, path, sizeof(path)), 0);
    /* A text body, and binary one. */
    kumo__header_view th[] = {H("content-type", "text/plain")};
    q = request("GET", "/health", NULL, NULL, 0, NULL);
    a = response(200, th, 1, "ok\n");
    CHECK_INT(kumo__recordings_write(r, health, &q, &a, path, sizeof(path)), 0);
    text = slurp(path);
    CHECK(text && strstr(text, "\"body_text\": \"ok\\n\"") != NULL);
    kumo__recordings_free(r);

    /* A recording made by hand that breaks the document: drift. */
    snprintf(path, sizeof(path), "%s/getPet/0002.json", recdir);
    spit(path, "{\"kumo_recording\": 1, \"operation\": \"getPet\",\n"
               " \"request\": {\"method\": \"GET\", \"path\": \"/pets/9\"},\n"
               " \"response\": {\"status\": 200, \"body\": {\"id\": \"nine\", \"name\": \"Nine\"}}}\n");
    /* And a directory of an operation the document no longer has. */
    snprintf(path, sizeof(path), "%s/oldOperation", recdir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/oldOperation/0001.json", recdir);
    spit(path, "{\"kumo_recording\": 1, \"operation\": \"oldOperation\", \"request\": {\"method\": \"GET\", "
               "\"path\": \"/old\"}, \"response\": {\"status\": 200}}");

    /* ---- replay ---- */
    CHECK_INT(kumo__recordings_open(recdir, spec, extra, 1, &r, &err), 0);
    if (r == NULL) {
        fprintf(stderr, "%s\n", err.msg);
        return check_report();
    }
    CHECK_INT(kumo__recordings_count(r), 8); /* oldOperation/ is not loaded */
    char detail[600];
    kumo__header_view other[] = {H("authorization", "Bearer another"), H("accept", "application/json")};
    q = request("GET", "/pets/2", NULL, other, 2, NULL);
    const kumo__recorded *got = kumo__recordings_match(r, get_pet, &q, detail, sizeof(detail));
    CHECK(got != NULL);
    if (got) {
        CHECK_INT(got->status, 200);
        CHECK(got->body && strstr(got->body, "\"name\":\"Rex\"") != NULL);
        CHECK_STR(json_string_value(json_object_get(got->headers, "content-type")), "application/json");
        CHECK_STR(got->file, "getPet/0001.json");
    }
    /* No recording for /pets/3: the detail names the closest. */
    q = request("GET", "/pets/3", NULL, NULL, 0, NULL);
    CHECK(kumo__recordings_match(r, get_pet, &q, detail, sizeof(detail)) == NULL);
    CHECK(strstr(detail, "no recording of getPet matches GET /pets/3") != NULL);
    CHECK(strstr(detail, "the closest is getPet/0001.json (the path differs") != NULL);
    CHECK(kumo__recordings_match(r, get_pet, &q, detail, sizeof(detail)) == NULL);
    /* An operation with no recordings at all. */
    q = request("GET", "/owners/1/toys", NULL, NULL, 0, NULL);
    CHECK(kumo__recordings_match(r, op_index(spec, "listToys"), &q, detail, sizeof(detail)) == NULL);
    CHECK(strstr(detail, "listToys/ has none") != NULL);

    /* The query matched with a wildcard for the redacted api key; the two
     * equal recordings in turn, then the last again. */
    q = request("GET", "/pets", "api_key=a-different-key&limit=2", NULL, 0, NULL);
    got = kumo__recordings_match(r, list_pets, &q, detail, sizeof(detail));
    CHECK(got && strcmp(got->file, "listPets/0001.json") == 0);
    got = kumo__recordings_match(r, list_pets, &q, detail, sizeof(detail));
    CHECK(got && strcmp(got->file, "listPets/0002.json") == 0);
    got = kumo__recordings_match(r, list_pets, &q, detail, sizeof(detail));
    CHECK(got && strcmp(got->file, "listPets/0002.json") == 0);
    q = request("GET", "/pets", "limit=3", NULL, 0, NULL);
    CHECK(kumo__recordings_match(r, list_pets, &q, detail, sizeof(detail)) == NULL);
    CHECK(strstr(detail, "the query differs") != NULL);

    /* The body decides among creates: exact, then the fewest differences;
     * a password sent matches the redacted one. */
    q = request("POST", "/pets", NULL, jh, 1, "{\"tag\":\"dog\",\"name\":\"Bob\"}");
    got = kumo__recordings_match(r, create_pet, &q, detail, sizeof(detail));
    CHECK(got && strstr(got->body, "Bob") != NULL);
    q = request("POST", "/pets", NULL, jh, 1, "{\"name\":\"Ada\",\"password\":\"other\"}");
    got = kumo__recordings_match(r, create_pet, &q, detail, sizeof(detail));
    CHECK(got && strstr(got->body, "Ada") != NULL);
    q = request("POST", "/pets", NULL, jh, 1, "{\"name\":\"Bobby\",\"tag\":\"dog\"}");
    got = kumo__recordings_match(r, create_pet, &q, detail, sizeof(detail));
    CHECK(got && strstr(got->body, "Bob") != NULL);
    q = request("GET", "/health", NULL, NULL, 0, NULL);
    got = kumo__recordings_match(r, health, &q, detail, sizeof(detail));
    CHECK(got && got->body_len == 3 && memcmp(got->body, "ok\n", 3) == 0);

    /* The report: unmatched requests counted, drift found at load. */
    json_t *rep = kumo__recordings_report(r);
    CHECK_INT(json_integer_value(json_object_get(rep, "unmatched_requests")), 4);
    json_t *un = json_object_get(rep, "unmatched");
    CHECK_INT(json_array_size(un), 3);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(un, 0), "count")), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(un, 0), "closest")), "getPet/0001.json");
    json_t *drift = json_object_get(rep, "drift");
    CHECK_INT(json_array_size(drift), 2);
    char *dumped = json_dumps(drift, 0);
    CHECK(dumped && strstr(dumped, "getPet/0002.json") != NULL && strstr(dumped, "/body/id") != NULL);
    CHECK(dumped && strstr(dumped, "oldOperation") != NULL && strstr(dumped, "no such operation") != NULL);
    free(dumped);
    json_decref(rep);
    char *rtext = kumo__recordings_report_text(r);
    CHECK(rtext && strstr(rtext, "GET /pets/3 (getPet) x2, closest: getPet/0001.json") != NULL);
    CHECK(rtext && strstr(rtext, "getPet/0002.json: /body/id: must be an integer") != NULL);
    free(rtext);
    kumo__recordings_free(r);

    /* Recording again continues the numbering. */
    CHECK_INT(kumo__recordings_open(recdir, spec, NULL, 0, &r, &err), 0);
    q = request("GET", "/pets/2", NULL, NULL, 0, NULL);
    a = response(200, jh, 1, "{\"id\":2,\"name\":\"Rex\"}");
    CHECK_INT(kumo__recordings_write(r, get_pet, &q, &a, path, sizeof(path)), 0);
    CHECK(strstr(path, "getPet/0003.json") != NULL);
    kumo__recordings_free(r);

    /* A broken recording refuses the replay, naming file:line:column. */
    snprintf(path, sizeof(path), "%s/getPet/0004.json", recdir);
    spit(path, "{\"kumo_recording\": 1, \"operation\": \"getPet\",\n \"request\": {\"method\": \"GET\", \"path\": "
               "\"/pets/1\"},\n \"response\": {\"status\": 200, \"bdy\": 1}}\n");
    CHECK(kumo__recordings_open(recdir, spec, NULL, 1, &r, &err) != 0);
    CHECK(strstr(err.msg, "getPet/0004.json:3:30: unknown key 'bdy' in the response") != NULL);
    snprintf(path, sizeof(path), "%s/getPet/0004.json", recdir);
    spit(path, "{\"kumo_recording\": 1, \"operation\": \"listPets\", \"request\": {\"method\": \"GET\", \"path\": "
               "\"/pets/1\"}, \"response\": {\"status\": 200}}");
    CHECK(kumo__recordings_open(recdir, spec, NULL, 1, &r, &err) != 0);
    CHECK(strstr(err.msg, "says operation 'listPets' but is in the directory of 'getPet'") != NULL);
    CHECK(kumo__recordings_open("/nonexistent/recs", spec, NULL, 1, &r, &err) != 0);
    CHECK(strstr(err.msg, "no such directory of recordings") != NULL);

    CHECK(refused("r.json", "[]", "r.json:1:1: a recording is a mapping"));
    CHECK(refused("r.json", "{\"kumo_recording\": 2}", "r.json:1:20: kumo_recording must be 1"));
    CHECK(refused("r.json", "{\"kumo_recording\": 1, \"operation\": \"x\", \"request\": {}, \"response\": {}}",
                  "the request's method must be"));
    CHECK(refused("r.json",
                  "{\"kumo_recording\": 1, \"operation\": \"x\", \"request\": {\"method\": \"GET\", \"path\": \"p\"}, "
                  "\"response\": {}}",
                  "path must start with /"));
    CHECK(refused("r.json",
                  "{\"kumo_recording\": 1, \"operation\": \"x\", \"request\": {\"method\": \"GET\", \"path\": \"/\"}, "
                  "\"response\": {\"status\": 99}}",
                  "status must be a number from 100 to 599"));
    CHECK(refused("r.json",
                  "{\"kumo_recording\": 1, \"operation\": \"x\", \"request\": {\"method\": \"GET\", \"path\": \"/\", "
                  "\"query\": {\"a\": [1]}}, \"response\": {\"status\": 200}}",
                  "query parameter 'a' must be a string"));
    CHECK(refused("r.json",
                  "{\"kumo_recording\": 1, \"operation\": \"x\", \"request\": {\"method\": \"GET\", \"path\": \"/\"}, "
                  "\"response\": {\"status\": 200, \"body\": 1, \"body_text\": \"1\"}}",
                  "more than one of body, body_text and body_base64"));
    CHECK(refused("r.json",
                  "{\"kumo_recording\": 1, \"operation\": \"x\", \"request\": {\"method\": \"GET\", \"path\": \"/\"}, "
                  "\"response\": {\"status\": 200, \"body_base64\": \"abc\"}}",
                  "body_base64 must be base64"));
    CHECK(refused("r.json",
                  "{\"kumo_recording\": 1, \"operation\": \"x\", \"request\": {\"method\": \"GET\", \"path\": \"/\", "
                  "\"headers\": {\"a\": 1}}, \"response\": {\"status\": 200}}",
                  "header 'a' must be a string"));
    /* base64 round trip */
    {
        char op[256];
        kumo__recorded rec;
        json_t *req = NULL;
        const char *t = "{\"kumo_recording\": 1, \"operation\": \"x\", \"request\": {\"method\": \"GET\", \"path\": "
                        "\"/\"}, \"response\": {\"status\": 200, \"body_base64\": \"AAEC/w==\"}}";
        CHECK_INT(kumo__recording_parse("r.json", t, strlen(t), op, sizeof(op), &rec, &req, &err), 0);
        CHECK(rec.body_len == 4 && memcmp(rec.body, "\x00\x01\x02\xff", 4) == 0);
        kumo__recorded_clear(&rec);
        json_decref(req);
    }

    kumo__rmtree(dir);
    kumo__spec_free(spec);
    return check_report();
}
