/*
 * h2o_floor.c: the floor under kumo mock's requests/s: libh2o-evloop
 * 2.2.5 alone, N loops on one port (SO_REUSEPORT, as kumo's gateway),
 * answering every request with a fixed 138-byte JSON body and the
 * headers kumo mock sends (content-type, x-request-id). No routing, no
 * checks, no log: what h2o and the kernel cost per request on this
 * machine. Built and run by bench/mock_instr.sh.
 *
 *   h2o_floor PORT [LOOPS]
 */
#define H2O_USE_LIBUV 0 /* libh2o-evloop */
#include <h2o.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static h2o_globalconf_t conf;
static int port;
static const char body[] = "{\"id\":88,\"name\":\"hotel\",\"tag\":\"dog\",\"born\":\"2024-11-21\",\"owner\":{\"email\":"
                           "\"hotel@example.com\",\"id\":\"25cb4ca4-7af6-485f-96f5-2618ded4ca18\"}}";

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL,
                          H2O_STRLIT("a5f3deb8-0-00000001"));
    h2o_send_inline(req, body, sizeof(body) - 1);
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    h2o_socket_t *sock;
    if (err == NULL && (sock = h2o_evloop_socket_accept(listener)) != NULL)
        h2o_accept(listener->data, sock);
}

static void *run(void *arg)
{
    (void)arg;
    h2o_context_t ctx;
    h2o_accept_ctx_t actx;
    memset(&actx, 0, sizeof(actx));
    h2o_evloop_t *loop = h2o_evloop_create();
    h2o_context_init(&ctx, loop, &conf);
    actx.ctx = &ctx;
    actx.hosts = conf.hosts;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(0x7f000001);
    int fd = socket(AF_INET, SOCK_STREAM, 0), on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 || bind(fd, (void *)&sa, sizeof(sa)) != 0 ||
        listen(fd, 1024) != 0) {
        perror("h2o_floor: listen");
        exit(1);
    }
    h2o_socket_t *s = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    s->data = &actx;
    h2o_socket_read_start(s, on_accept);
    while (h2o_evloop_run(loop, INT32_MAX) == 0)
        ;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    port = atoi(argv[1]);
    int n = argc > 2 ? atoi(argv[2]) : 2;
    if (n < 1 || n > 16)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    h2o_config_init(&conf);
    h2o_hostconf_t *host = h2o_config_register_host(&conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *h = h2o_create_handler(path, sizeof(*h));
    h->on_req = on_req;
    pthread_t t[16];
    for (int i = 0; i < n; i++)
        pthread_create(&t[i], NULL, run, NULL);
    pthread_join(t[0], NULL);
    return 0;
}
