/*
 * egress_supervisor.c: the fork server's side of the egress rules
 * (sandbox/egress.h, docs/sandbox.md "Egress rules").
 *
 * A worker whose stores live on servers runs in an empty net namespace of
 * its own, like every worker, and its seccomp filter hands two calls to
 * this supervisor through a user-notification listener (seccomp_unotify(2))
 * the worker sends to its fork server as it enters the sandbox:
 *
 *   socket(AF_INET or AF_INET6, SOCK_STREAM, 0 or IPPROTO_TCP): the
 *       supervisor makes the socket in its own (the host's) net namespace
 *       and puts it in the worker (SECCOMP_IOCTL_NOTIF_ADDFD, which also
 *       answers the call with the new descriptor). It is the only way a
 *       worker gets a socket that reaches outside: its own sockets live in
 *       its empty namespace. A TCP socket sends nowhere until connected
 *       (the filter refuses sendto with an address and MSG_FASTOPEN).
 *   connect(fd, addr, len): the supervisor copies the address out of the
 *       worker once (process_vm_readv), tests its copy against the rules,
 *       takes the worker's socket (pidfd_getfd: the same open socket) and
 *       connects it itself with that copy. So no other thread of the
 *       worker can change the address between the test and the connect
 *       (the TOCTOU that SECCOMP_USER_NOTIF_FLAG_CONTINUE would leave),
 *       and the call is never let through unchecked. Refused: EACCES, and
 *       one warn line per (unit, destination).
 *
 * The worker's socket keeps its flags, options and descriptor: a
 * non-blocking connect answers EINPROGRESS at once and the worker polls as
 * it would; a blocking one is started non-blocking here and answered when
 * it completes, so the fork server never waits on the network. Allowed
 * connections cost one round trip to this process each (a store connects
 * once and keeps its connection); reads and writes are not supervised.
 *
 * Reading a worker's memory and taking its descriptors needs what ptrace
 * needs (the workers are not dumpable): CAP_SYS_PTRACE. Without it the
 * fork server does not supervise, and says why (kumo__egress_can_supervise).
 */
#include "worker/egress_supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/log.h"

#define MAX_WARNED 256 /* (unit, destination) pairs remembered for the once-only warn line */

typedef struct pending {
    int sock; /* our copy of the worker's socket, connecting */
    uint64_t id;
} pending;

typedef struct supervised {
    pid_t pid;
    int pidfd, listener;
    const char *unit; /* NULL: a spare not yet assigned */
    int gone;         /* its listener hung up: no task is left behind the filter */
    pending *pend;
    size_t npend, cappend;
} supervised;

struct kumo__egress_supervisor {
    const kumo__egress_rules *rules;
    supervised *w;
    size_t nw, capw;
    char *warned[MAX_WARNED];
    size_t nwarned;
};

int kumo__egress_can_supervise(char *why, size_t len)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &hdr, data) != 0) {
        snprintf(why, len, "capget: %s", strerror(errno));
        return 0;
    }
    if (!(data[CAP_SYS_PTRACE / 32].effective & (1u << (CAP_SYS_PTRACE % 32)))) {
        snprintf(why, len, "the fork server has no CAP_SYS_PTRACE to read the workers' connect calls");
        return 0;
    }
    /* pidfd_getfd (5.6) and ADDFD's SEND flag (5.14) came after
     * user notification itself (5.0). */
    struct seccomp_notif_sizes sizes;
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0 ||
        (syscall(SYS_pidfd_getfd, -1, 0, 0) != 0 && errno == ENOSYS)) {
        snprintf(why, len, "the kernel has no seccomp user notification with pidfd_getfd (Linux 5.14 or later)");
        return 0;
    }
    char scope[8] = "";
    FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
    if (f != NULL) {
        if (fgets(scope, sizeof(scope), f) == NULL)
            scope[0] = '\0';
        fclose(f);
    }
    if (scope[0] == '3') {
        snprintf(why, len, "kernel.yama.ptrace_scope is 3: no process may read another's memory");
        return 0;
    }
    return 1;
}

kumo__egress_supervisor *kumo__egress_supervisor_new(const kumo__egress_rules *rules)
{
    kumo__egress_supervisor *s = calloc(1, sizeof(*s));
    if (s != NULL)
        s->rules = rules;
    return s;
}

static void drop_pending(supervised *w)
{
    for (size_t i = 0; i < w->npend; i++)
        close(w->pend[i].sock);
    free(w->pend);
    w->pend = NULL;
    w->npend = w->cappend = 0;
}

static void drop(kumo__egress_supervisor *s, size_t i)
{
    supervised *w = &s->w[i];
    drop_pending(w);
    close(w->listener);
    if (w->pidfd >= 0)
        close(w->pidfd);
    s->w[i] = s->w[--s->nw];
}

void kumo__egress_supervisor_free(kumo__egress_supervisor *s)
{
    if (s == NULL)
        return;
    while (s->nw > 0)
        drop(s, s->nw - 1);
    free(s->w);
    for (size_t i = 0; i < s->nwarned; i++)
        free(s->warned[i]);
    free(s);
}

int kumo__egress_supervisor_add(kumo__egress_supervisor *s, pid_t pid, int listener, const char *unit)
{
    if (s->nw == s->capw) {
        size_t cap = s->capw ? 2 * s->capw : 16;
        supervised *w = realloc(s->w, cap * sizeof(*w));
        if (w == NULL) {
            close(listener);
            return -ENOMEM;
        }
        s->w = w;
        s->capw = cap;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        int rc = -errno;
        close(listener);
        return rc; /* gone already: its calls fail with ENOSYS, it serves nothing */
    }
    fcntl(listener, F_SETFD, FD_CLOEXEC);
    s->w[s->nw++] = (supervised){.pid = pid, .pidfd = pidfd, .listener = listener, .unit = unit};
    return 0;
}

void kumo__egress_supervisor_assign(kumo__egress_supervisor *s, pid_t pid, const char *unit)
{
    for (size_t i = 0; i < s->nw; i++)
        if (s->w[i].pid == pid)
            s->w[i].unit = unit;
}

void kumo__egress_supervisor_forget(kumo__egress_supervisor *s, pid_t pid)
{
    for (size_t i = 0; i < s->nw; i++)
        if (s->w[i].pid == pid) {
            drop(s, i);
            return;
        }
}

size_t kumo__egress_supervisor_nfds(const kumo__egress_supervisor *s)
{
    size_t n = 0;
    for (size_t i = 0; s && i < s->nw; i++)
        n += 1 + s->w[i].npend;
    return n;
}

size_t kumo__egress_supervisor_pollfds(const kumo__egress_supervisor *s, struct pollfd *pfd, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nw && n < max; i++) {
        pfd[n++] = (struct pollfd){s->w[i].listener, POLLIN, 0};
        for (size_t j = 0; j < s->w[i].npend && n < max; j++)
            pfd[n++] = (struct pollfd){s->w[i].pend[j].sock, POLLOUT, 0};
    }
    return n;
}

static void respond(int listener, uint64_t id, int64_t val, int error)
{
    struct seccomp_notif_resp r;
    memset(&r, 0, sizeof(r));
    r.id = id;
    r.val = val;
    r.error = error;
    /* ENOENT: the call is gone (the worker died or a signal interrupted
     * it); it will be asked again if it is restarted. */
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &r) != 0 && errno != ENOENT)
        kumo__log_event("error", "egress supervisor: SECCOMP_IOCTL_NOTIF_SEND: %s", strerror(errno));
}

/* The once-per-(unit, destination) warn line for a refused connect. */
static void warn_refused(kumo__egress_supervisor *s, const supervised *w, const char *dest)
{
    const char *unit = w->unit ? w->unit : "?";
    char key[400];
    snprintf(key, sizeof(key), "%s\n%s", unit, dest);
    for (size_t i = 0; i < s->nwarned; i++)
        if (strcmp(s->warned[i], key) == 0)
            return;
    if (s->nwarned < MAX_WARNED) {
        char *k = strdup(key);
        if (k != NULL)
            s->warned[s->nwarned++] = k;
    }
    char msg[600];
    int n = snprintf(msg, sizeof(msg),
                     "function '%s' connected to %s, which no store of the project declares: refused (EACCES); "
                     "declare it as a store or a service in kumo.yaml",
                     unit, dest);
    kumo__logline l;
    kumo__logline_begin(&l, "warn", msg, n > 0 && (size_t)n < sizeof(msg) ? (size_t)n : strlen(msg));
    kumo__logline_cstr(&l, "function", unit);
    kumo__logline_cstr(&l, "destination", dest);
    kumo__logline_int(&l, "worker_pid", w->pid);
    kumo__logline_write(&l, 2);
}

static void on_socket(const supervised *w, const struct seccomp_notif *n)
{
    int domain = (int)n->data.args[0], type = (int)n->data.args[1], protocol = (int)n->data.args[2];
    if (protocol != 0 && protocol != IPPROTO_TCP) {
        respond(w->listener, n->id, 0, -EPROTONOSUPPORT);
        return;
    }
    int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
    if (fd < 0) {
        respond(w->listener, n->id, 0, -errno);
        return;
    }
    struct seccomp_notif_addfd add;
    memset(&add, 0, sizeof(add));
    add.id = n->id;
    add.flags = SECCOMP_ADDFD_FLAG_SEND; /* answers the call with the new fd */
    add.srcfd = (uint32_t)fd;
    add.newfd_flags = (type & SOCK_CLOEXEC) ? O_CLOEXEC : 0;
    if (ioctl(w->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add) < 0 && errno != ENOENT)
        respond(w->listener, n->id, 0, -errno); /* EMFILE: the worker's RLIMIT_NOFILE */
    close(fd);
}

static void on_connect(kumo__egress_supervisor *s, supervised *w, const struct seccomp_notif *n)
{
    struct sockaddr_storage addr;
    socklen_t len = (socklen_t)n->data.args[2];
    int sock = -1;
    if (n->data.args[2] > sizeof(addr) || len < (socklen_t)sizeof(sa_family_t)) {
        respond(w->listener, n->id, 0, -EINVAL);
        return;
    }
    memset(&addr, 0, sizeof(addr));
    struct iovec local = {&addr, len}, remote = {(void *)(uintptr_t)n->data.args[1], len};
    if (process_vm_readv(n->pid, &local, 1, &remote, 1, 0) != (ssize_t)len) {
        respond(w->listener, n->id, 0, -EFAULT);
        return;
    }
    /* The address was read from the process that made this call (not one
     * that took its pid since). */
    if (ioctl(w->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &n->id) != 0)
        return;
    if (!kumo__egress_allows(s->rules, (const struct sockaddr *)&addr, len)) {
        /* A unix path that is not there is what the worker would have
         * found anyway (glibc tries nscd's socket on its own): ENOENT, no
         * warn line. */
        const struct sockaddr_un *un = (const struct sockaddr_un *)&addr;
        char path[sizeof(un->sun_path) + 1];
        struct stat st;
        if (addr.ss_family == AF_UNIX && len > (socklen_t)offsetof(struct sockaddr_un, sun_path) &&
            un->sun_path[0] != '\0') {
            size_t plen = (size_t)len - offsetof(struct sockaddr_un, sun_path);
            if (plen > sizeof(un->sun_path))
                plen = sizeof(un->sun_path);
            memcpy(path, un->sun_path, plen);
            path[plen] = '\0';
            if (stat(path, &st) != 0 && errno == ENOENT) {
                respond(w->listener, n->id, 0, -ENOENT);
                return;
            }
        }
        char dest[160];
        kumo__egress_describe((const struct sockaddr *)&addr, len, dest, sizeof(dest));
        warn_refused(s, w, dest);
        respond(w->listener, n->id, 0, -EACCES);
        return;
    }
    if ((sock = (int)syscall(SYS_pidfd_getfd, w->pidfd, (int)n->data.args[0], 0)) < 0) {
        respond(w->listener, n->id, 0, -errno);
        return;
    }
    int flags = fcntl(sock, F_GETFL);
    int blocking = flags >= 0 && !(flags & O_NONBLOCK);
    /* The worker's socket is the same open file: made non-blocking only
     * for the connect, so that this process never waits on the network. */
    if (blocking)
        fcntl(sock, F_SETFL, flags | O_NONBLOCK);
    int rc = connect(sock, (const struct sockaddr *)&addr, len) == 0 ? 0 : -errno;
    if (blocking)
        fcntl(sock, F_SETFL, flags);
    /* EALREADY: a blocking connect interrupted by a signal and restarted
     * (a new notification) while its first attempt is still under way. */
    if ((rc == -EINPROGRESS || rc == -EALREADY) && blocking) {
        if (w->npend == w->cappend) {
            size_t cap = w->cappend ? 2 * w->cappend : 4;
            pending *p = realloc(w->pend, cap * sizeof(*p));
            if (p == NULL) {
                close(sock);
                respond(w->listener, n->id, 0, -ENOMEM);
                return;
            }
            w->pend = p;
            w->cappend = cap;
        }
        w->pend[w->npend++] = (pending){sock, n->id};
        return; /* answered when it completes (kumo__egress_supervisor_handle) */
    }
    if (rc == -EAGAIN && blocking)
        rc = -ECONNREFUSED; /* a unix socket's full backlog, as a blocking connect would wait: refuse */
    close(sock);
    respond(w->listener, n->id, 0, rc);
}

static void on_notification(kumo__egress_supervisor *s, supervised *w)
{
    struct seccomp_notif n;
    memset(&n, 0, sizeof(n));
    if (ioctl(w->listener, SECCOMP_IOCTL_NOTIF_RECV, &n) != 0)
        return; /* ENOENT: the caller went away meanwhile */
    if (n.data.nr == SYS_socket)
        on_socket(w, &n);
    else if (n.data.nr == SYS_connect)
        on_connect(s, w, &n);
    else
        respond(w->listener, n.id, 0, -ENOSYS);
}

static void on_connected(supervised *w, size_t j)
{
    pending p = w->pend[j];
    w->pend[j] = w->pend[--w->npend];
    int e = 0;
    socklen_t el = sizeof(e);
    if (getsockopt(p.sock, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
        e = errno;
    close(p.sock);
    respond(w->listener, p.id, 0, -e);
}

void kumo__egress_supervisor_handle(kumo__egress_supervisor *s, const struct pollfd *pfd, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (pfd[k].revents == 0)
            continue;
        for (size_t i = 0; i < s->nw; i++) {
            supervised *w = &s->w[i];
            if (pfd[k].fd == w->listener) {
                if (pfd[k].revents & POLLIN)
                    on_notification(s, w);
                else
                    w->gone = 1; /* dropped below: its fds may be matched again in this pass */
                break;
            }
            size_t j;
            for (j = 0; j < w->npend && w->pend[j].sock != pfd[k].fd; j++)
                ;
            if (j < w->npend) {
                on_connected(w, j);
                break;
            }
        }
    }
    for (size_t i = s->nw; i-- > 0;)
        if (s->w[i].gone)
            drop(s, i);
}
