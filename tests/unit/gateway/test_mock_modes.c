/*
 * test_mock_modes.c: kumo mock's flags that go together or not
 * (kumo__mock_modes_check, src/gateway/mock_modes.c) and the --proxy URL
 * check (src/gateway/mock_proxy.c): each refusal names the fix.
 */
#include "check.h"
#include "gateway/mock_modes.h"
#include "gateway/mock_proxy.h"

#define USAGE (-1002)

static int refused(kumo__mock_modes m, const char *want)
{
    kumo__error err = {0};
    int rc = kumo__mock_modes_check(&m, USAGE, &err);
    int ok = rc == USAGE && err.code == USAGE && strstr(err.msg, want) != NULL;
    if (!ok)
        fprintf(stderr, "  got %d: %s\n  want: %s\n", rc, err.msg, want);
    return ok;
}

int main(void)
{
    kumo__error err = {0};
    kumo__mock_modes ok1 = {.stateful = 1, .data_file = "seed.json", .faults_file = "f.yaml"};
    CHECK_INT(kumo__mock_modes_check(&ok1, USAGE, &err), 0);
    kumo__mock_modes ok2 = {.record_dir = "r", .proxy_url = "https://api.example.com/v1"};
    CHECK_INT(kumo__mock_modes_check(&ok2, USAGE, &err), 0);
    kumo__mock_modes ok3 = {.replay_dir = "r", .faults_file = "f.yaml"};
    CHECK_INT(kumo__mock_modes_check(&ok3, USAGE, &err), 0);

    CHECK(refused((kumo__mock_modes){.record_dir = "r", .replay_dir = "r", .proxy_url = "http://x"},
                  "--record and --replay go one at a time"));
    CHECK(refused((kumo__mock_modes){.record_dir = "r"}, "--record needs --proxy URL"));
    CHECK(refused((kumo__mock_modes){.proxy_url = "http://x"}, "--proxy goes with --record DIR"));
    CHECK(
        refused((kumo__mock_modes){.data_file = "s.json", .replay_dir = "r"}, "a stateful mock answers from its own"));
    CHECK(refused((kumo__mock_modes){.state_file = "s.db", .record_dir = "r", .proxy_url = "http://x"},
                  "a stateful mock answers from its own"));
    CHECK(refused((kumo__mock_modes){.redact = {"X-Token"}}, "--redact names headers the recordings leave out"));
    kumo__mock_modes ok4 = {.replay_dir = "r", .redact = {"X-Token", NULL}};
    CHECK_INT(kumo__mock_modes_check(&ok4, USAGE, &err), 0);
    CHECK(
        refused((kumo__mock_modes){.record_dir = "r", .proxy_url = "ftp://x"}, "--proxy 'ftp://x' is not a base URL"));

    CHECK_INT(kumo__proxy_url_check("http://127.0.0.1:8080", &err), 0);
    CHECK_INT(kumo__proxy_url_check("https://api.example.com/v1/", &err), 0);
    CHECK(kumo__proxy_url_check("api.example.com", &err) != 0);
    CHECK(kumo__proxy_url_check("http://", &err) != 0);
    CHECK(kumo__proxy_url_check("http://x/?a=1", &err) != 0);
    CHECK(kumo__proxy_url_check("http:///path", &err) != 0);
    CHECK(strstr(err.msg, "write the real service's origin") != NULL);

    /* A service that is not there: the call fails with a reason, fast. */
    kumo__rec_message req = {.method = "GET", .path = {"/pets", 5}};
    kumo__proxy_response res;
    char why[300];
    CHECK(kumo__mock_proxy("http://127.0.0.1:1", &req, &res, why, sizeof(why)) != 0);
    CHECK(strstr(why, "GET http://127.0.0.1:1/pets") != NULL);
    return check_report();
}
