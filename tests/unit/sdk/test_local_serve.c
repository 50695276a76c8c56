/*
 * test_local_serve.c: a worker's frame loop (kumo__local_serve in
 * src/sdk/adapters/local.c) driven over a socketpair, with the loop in a
 * forked child as in a real worker. Requests are pipelined, several frames
 * in one write, as the pool sends them when it sends calls ahead of a busy
 * worker's current one. Checks that the answers come back in order with
 * their ids; that a request whose KF_DEADLINE_MS has passed when its turn
 * comes is answered with KF_EXPIRED and the "past its deadline" KF_ERROR
 * without its handler being looked up; that requests without a deadline
 * or with a future one are not marked expired (the previous request's
 * deadline does not stay behind); and that the loop returns 0 at EOF.
 * A primed spare's loop (kumo__local_serve_primed) takes its unit from a
 * first ASSIGN frame read with the requests behind it, and ends with an
 * error on a refused unit or a first frame that is not an ASSIGN.
 * A spare's rehearsal (kumo__local_rehearse) gets the answer it expects
 * from its own request and writes nothing to any descriptor, in a child
 * whose stdout and stderr are a pipe.
 *
 * The unit is the test executable itself (dlopen(NULL)) and every symbol
 * asked for is missing, so no handler has to be exported.
 */
#include "check.h"
#include "proto/frame.h"
#include "sdk/sdk.h"

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define UNIT_NAME "serve_test"
#define READ_WAIT_MS 10000

static uint64_t epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Appends one request frame to w as the gateway builds it (dispatch.c):
 * method, path, operation, symbol, request id, and a deadline unless 0. */
static void put_request(kumo__frame_writer *w, uint32_t id, const char *symbol, uint64_t deadline_ms)
{
    char rid[32];
    snprintf(rid, sizeof(rid), "req-%u", id);
    kumo__frame_begin(w, 0, KUMO__FRAME_REQUEST, id);
    kumo__frame_put_str(w, KF_METHOD, "GET");
    kumo__frame_put_str(w, KF_PATH, "/nope");
    kumo__frame_put_str(w, KF_OPERATION, "nope_op");
    kumo__frame_put_str(w, KF_SYMBOL, symbol);
    kumo__frame_put_str(w, KF_REQUEST_ID, rid);
    if (deadline_ms)
        kumo__frame_put_u64(w, KF_DEADLINE_MS, deadline_ms);
    CHECK_INT(kumo__frame_end(w), 0);
}

/* Reads exactly len bytes, waiting at most READ_WAIT_MS for each piece:
 * 0, or -1 on EOF, error or a worker that went quiet. */
static int read_exact(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rc = poll(&p, 1, READ_WAIT_MS);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return -1;
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

/* What one response frame said. */
typedef struct answer {
    uint8_t type;
    uint32_t id;
    int expired; /* KF_EXPIRED present */
    int has_status;
    uint32_t status;
    char error[512]; /* KF_ERROR, "" when absent */
} answer;

static int read_answer(int fd, answer *a)
{
    unsigned char head[KUMO__FRAME_HEADER_SIZE];
    kumo__frame_header h;
    char *payload = NULL;
    int rc = -1;

    memset(a, 0, sizeof(*a));
    if (read_exact(fd, head, sizeof(head)) != 0 || kumo__frame_header_decode(head, sizeof(head), 0, &h) != 0)
        goto out;
    if ((payload = malloc(h.length + 1)) == NULL || read_exact(fd, payload, h.length) != 0)
        goto out;
    a->type = h.type;
    a->id = h.id;
    kumo__frame_reader r;
    kumo__frame_field f;
    kumo__frame_reader_init(&r, payload, h.length);
    while ((rc = kumo__frame_next(&r, &f)) > 0) {
        if (f.tag == KF_EXPIRED) {
            a->expired = 1;
            CHECK_INT(f.len, 0);
        } else if (f.tag == KF_STATUS) {
            a->has_status = kumo__frame_u32(&f, &a->status) == 0;
        } else if (f.tag == KF_ERROR) {
            size_t n = f.len < sizeof(a->error) - 1 ? f.len : sizeof(a->error) - 1;
            memcpy(a->error, f.data, n);
            a->error[n] = '\0';
        }
    }
out:
    free(payload);
    return rc < 0 ? -1 : 0;
}

/* A primed spare's loop (kumo__local_serve_primed): its unit comes in the
 * first frame, an ASSIGN. The callback makes the process that unit's
 * worker: here it checks the index (7) and names the unit, which the
 * answers' errors then carry. */
#define PRIMED_UNIT 7

static int assign_cb(void *ctx, int unit_index, void **unit, const char **function)
{
    if (unit_index != PRIMED_UNIT)
        return -EINVAL;
    *unit = ctx;
    *function = "primed_unit";
    return 0;
}

/* Forks a worker serving sv[1] (primed: kumo__local_serve_primed, its
 * unit from an ASSIGN); returns its pid (the parent keeps sv[0]). */
static pid_t start_worker(int sv[2], int primed)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    close(sv[0]);
    alarm(60); /* a worker that never sees EOF must not outlive the test */
    void *unit = dlopen(NULL, RTLD_NOW);
    int rc = -1;
    if (unit)
        rc = primed ? kumo__local_serve_primed(sv[1], assign_cb, unit) : kumo__local_serve(sv[1], unit, UNIT_NAME);
    if (unit)
        dlclose(unit);
    close(sv[1]);
    exit(rc == 0 ? 0 : 1);
}

static int finish_worker(pid_t pid, int fd)
{
    int status = -1;
    shutdown(fd, SHUT_WR);
    close(fd);
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return status;
}

/* Three requests in one write: an expired one, one without a deadline and
 * one with a future deadline, all for a symbol the unit does not have. */
static void test_pipelined_expired_first(void)
{
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = start_worker(sv, 0);
    CHECK(pid > 0);
    if (pid <= 0)
        return;
    close(sv[1]);

    kumo__frame_writer w = {0};
    uint64_t now = epoch_ms();
    put_request(&w, 1, "nope", now - 10000);
    put_request(&w, 2, "nope", 0);
    put_request(&w, 3, "nope", now + 60000);
    CHECK_INT(write(sv[0], w.buf, w.len), (long long)w.len);
    kumo__frame_writer_free(&w);

    static const struct {
        uint32_t id;
        int expired;
    } want[] = {{1, 1}, {2, 0}, {3, 0}};
    const char *undefined = "handler 'nope' is not defined in function unit '" UNIT_NAME "'";
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        answer a;
        CHECK_INT(read_answer(sv[0], &a), 0);
        CHECK_INT(a.type, KUMO__FRAME_RESPONSE);
        CHECK_INT(a.id, want[i].id);
        CHECK_INT(a.expired, want[i].expired);
        CHECK(!a.has_status);
        if (want[i].expired)
            CHECK_STR(a.error, "the invocation waited for its worker past its deadline");
        else
            CHECK_STR(a.error, undefined);
    }

    int status = finish_worker(pid, sv[0]);
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 0);
}

/* The other way round, in two writes: a request without a deadline, then
 * (once it is answered) two more pipelined, the second of them expired;
 * the one after an expired one is still run. */
static void test_expired_between(void)
{
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = start_worker(sv, 0);
    CHECK(pid > 0);
    if (pid <= 0)
        return;
    close(sv[1]);

    kumo__frame_writer w = {0};
    answer a;
    put_request(&w, 7, "missing_a", 0);
    CHECK_INT(write(sv[0], w.buf, w.len), (long long)w.len);
    CHECK_INT(read_answer(sv[0], &a), 0);
    CHECK_INT(a.id, 7);
    CHECK_INT(a.expired, 0);
    CHECK_STR(a.error, "handler 'missing_a' is not defined in function unit '" UNIT_NAME "'");

    kumo__frame_reset(&w);
    uint64_t now = epoch_ms();
    put_request(&w, 8, "missing_b", now - 1);
    put_request(&w, 9, "missing_c", now + 60000);
    CHECK_INT(write(sv[0], w.buf, w.len), (long long)w.len);
    kumo__frame_writer_free(&w);
    CHECK_INT(read_answer(sv[0], &a), 0);
    CHECK_INT(a.id, 8);
    CHECK_INT(a.expired, 1);
    CHECK_STR(a.error, "the invocation waited for its worker past its deadline");
    CHECK_INT(read_answer(sv[0], &a), 0);
    CHECK_INT(a.id, 9);
    CHECK_INT(a.expired, 0);
    CHECK_STR(a.error, "handler 'missing_c' is not defined in function unit '" UNIT_NAME "'");

    int status = finish_worker(pid, sv[0]);
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 0);
}

static void put_assign(kumo__frame_writer *w, uint32_t unit)
{
    kumo__frame_begin(w, 0, KUMO__FRAME_ASSIGN, 0);
    kumo__frame_put_u32(w, KF_UNIT, unit);
    CHECK_INT(kumo__frame_end(w), 0);
}

/* A primed worker sent `w` (may be empty) and then EOF: its exit status;
 * *answered: whether an answer came first. */
static int primed_ends(const kumo__frame_writer *w, int *answered)
{
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = start_worker(sv, 1);
    CHECK(pid > 0);
    if (pid <= 0)
        return -1;
    close(sv[1]);
    if (w->len)
        CHECK_INT(write(sv[0], w->buf, w->len), (long long)w->len);
    answer a;
    *answered = w->len && read_answer(sv[0], &a) == 0;
    return finish_worker(pid, sv[0]);
}

static void test_primed_assign(void)
{
    /* the ASSIGN and two requests behind it in one write: both answered as
     * the assigned unit's, in order */
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = start_worker(sv, 1);
    CHECK(pid > 0);
    if (pid <= 0)
        return;
    close(sv[1]);
    kumo__frame_writer w = {0};
    put_assign(&w, PRIMED_UNIT);
    put_request(&w, 1, "nope_a", 0);
    put_request(&w, 2, "nope_b", 0);
    CHECK_INT(write(sv[0], w.buf, w.len), (long long)w.len);
    answer a;
    CHECK_INT(read_answer(sv[0], &a), 0);
    CHECK_INT(a.id, 1);
    CHECK_STR(a.error, "handler 'nope_a' is not defined in function unit 'primed_unit'");
    CHECK_INT(read_answer(sv[0], &a), 0);
    CHECK_INT(a.id, 2);
    CHECK_STR(a.error, "handler 'nope_b' is not defined in function unit 'primed_unit'");
    int status = finish_worker(pid, sv[0]);
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 0);

    /* an index the callback refuses: no answer, the loop ends with its error */
    int answered = -1;
    kumo__frame_reset(&w);
    put_assign(&w, PRIMED_UNIT + 1);
    put_request(&w, 3, "nope", 0);
    status = primed_ends(&w, &answered);
    CHECK(!answered);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);

    /* a request first, no ASSIGN: a protocol error, no answer */
    kumo__frame_reset(&w);
    put_request(&w, 4, "nope", 0);
    status = primed_ends(&w, &answered);
    CHECK(!answered);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);

    /* EOF before any ASSIGN (the loop let the spare go): a clean end */
    kumo__frame_reset(&w);
    status = primed_ends(&w, &answered);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    kumo__frame_writer_free(&w);
}

static void test_rehearse(void)
{
    CHECK(kumo__local_rehearse() == 0);
    CHECK(kumo__local_rehearse() == 0); /* again: nothing left behind */

    int p[2];
    CHECK(pipe(p) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        _exit(kumo__local_rehearse() == 0 ? 0 : 3);
    }
    close(p[1]);
    char buf[256];
    ssize_t n = read(p[0], buf, sizeof(buf));
    close(p[0]);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(n == 0); /* EOF: the child wrote nothing */
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_rehearse();
    test_pipelined_expired_first();
    test_expired_between();
    test_primed_assign();
    return check_report();
}
