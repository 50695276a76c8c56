/*
 * test_epoll_defer.c: epoll_defer.c's epoll_ctl, epoll_wait and close,
 * seen from the caller (the kernel's answers) and from the kernel (what
 * /proc/self/fdinfo says the epoll holds).
 */
#include "check.h"
#include "gateway/epoll_defer.c"

#include <stdio.h>
#include <sys/socket.h>

/* 1 when the kernel's epoll `ep` has `fd` registered. */
static int kernel_has(int ep, int fd)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ep);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    int found = 0, tfd;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "tfd: %d", &tfd) == 1 && tfd == fd)
            found = 1;
    if (f)
        fclose(f);
    return found;
}

static struct epoll_event ev_of(uint32_t events, uint64_t data)
{
    struct epoll_event ev = {.events = events};
    ev.data.u64 = data;
    return ev;
}

int main(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC), sv[2];
    CHECK(ep >= 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    struct epoll_event ev = ev_of(EPOLLIN, 7), got[4];

    /* Not enabled yet: straight to the kernel. */
    CHECK_INT(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev), 0);
    CHECK_INT(epoll_ctl(ep, EPOLL_CTL_DEL, sv[0], NULL), 0);
    CHECK(!kernel_has(ep, sv[0]));

    kumo__epoll_defer_enable();

    /* A DEL is deferred: the kernel keeps it; the caller cannot MOD or
     * DEL it again (ENOENT, as the kernel would say). */
    CHECK_INT(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev), 0);
    CHECK_INT(epoll_ctl(ep, EPOLL_CTL_DEL, sv[0], NULL), 0);
    CHECK(kernel_has(ep, sv[0]));
    CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, sv[0], &ev) == -1 && errno == ENOENT);
    CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, sv[0], NULL) == -1 && errno == ENOENT);

    /* The same ADD again: nothing to tell the kernel, and events come. */
    CHECK_INT(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev), 0);
    CHECK(write(sv[1], "x", 1) == 1);
    CHECK_INT(epoll_wait(ep, got, 4, 1000), 1);
    CHECK(got[0].data.u64 == 7);

    /* Deferred while data waits: the caller is not told (a bounded wait
     * answers as a timeout), and the DEL is made then. */
    CHECK_INT(epoll_ctl(ep, EPOLL_CTL_DEL, sv[0], NULL), 0);
    CHECK_INT(epoll_wait(ep, got, 4, 50), 0);
    CHECK(!kernel_has(ep, sv[0]));
    /* Added back, level-triggered: the waiting byte is reported. */
    CHECK_INT(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev), 0);
    CHECK(kernel_has(ep, sv[0]));
    CHECK_INT(epoll_wait(ep, got, 4, 1000), 1);
    char c;
    CHECK(read(sv[0], &c, 1) == 1);

    /* Another socket's events pass while one is deferred. */
    struct epoll_event ev2 = ev_of(EPOLLIN, 9);
    CHECK_INT(epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev2), 0);
    CHECK_INT(epoll_ctl(ep, EPOLL_CTL_DEL, sv[0], NULL), 0);
    CHECK(write(sv[0], "y", 1) == 1);
    CHECK_INT(epoll_wait(ep, got, 4, 1000), 1);
    CHECK(got[0].data.u64 == 9);
    CHECK(read(sv[1], &c, 1) == 1);

    /* An ADD with other data is a MOD: events carry the new data. */
    struct epoll_event ev3 = ev_of(EPOLLIN, 11);
    CHECK(write(sv[1], "z", 1) == 1);
    CHECK_INT(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev3), 0);
    CHECK_INT(epoll_wait(ep, got, 4, 1000), 1);
    CHECK(got[0].data.u64 == 11);
    CHECK(read(sv[0], &c, 1) == 1);

    /* close() of a deferred descriptor makes the DEL first, even while
     * another descriptor (a child's, between fork and exec) holds the
     * file: the kernel would otherwise keep reporting it. */
    int held = dup(sv[0]);
    CHECK(held >= 0);
    CHECK_INT(epoll_ctl(ep, EPOLL_CTL_DEL, sv[0], NULL), 0);
    CHECK(kernel_has(ep, sv[0]));
    int was = sv[0];
    CHECK_INT(close(sv[0]), 0);
    CHECK(!kernel_has(ep, was));
    CHECK(write(sv[1], "w", 1) == 1);
    CHECK_INT(epoll_wait(ep, got, 4, 50), 0);

    /* The number comes back for a new socket: an ADD registers it. */
    int sv2[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv2) == 0);
    if (sv2[0] != was) { /* make the reused number the one just closed */
        CHECK(dup2(sv2[0], was) == was);
        close(sv2[0]);
        sv2[0] = was;
    }
    CHECK_INT(epoll_ctl(ep, EPOLL_CTL_ADD, sv2[0], &ev), 0);
    CHECK(kernel_has(ep, sv2[0]));
    CHECK(write(sv2[1], "v", 1) == 1);
    CHECK_INT(epoll_wait(ep, got, 4, 1000), 1);
    CHECK(got[0].data.u64 == 7);

    /* Edge-triggered registrations are not deferred: the DEL is made. */
    struct epoll_event et = ev_of(EPOLLIN | EPOLLET, 13);
    CHECK_INT(epoll_ctl(ep, EPOLL_CTL_ADD, sv2[1], &et), 0);
    CHECK_INT(epoll_ctl(ep, EPOLL_CTL_DEL, sv2[1], NULL), 0);
    CHECK(!kernel_has(ep, sv2[1]));

    close(held);
    close(sv[1]);
    close(sv2[0]);
    close(sv2[1]);
    close(ep);
    return check_report();
}
