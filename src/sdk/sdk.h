/*
 * sdk.h: libkumo's internals shared across its files (kumo__ prefix).
 *
 * An adapter (adapters/local.c for kumo's runtime; lambda and http later)
 * fills a kumo_request from its transport, with every string pointing into
 * memory that lives as long as the invocation (the frame buffer or the
 * arena), calls the handler, then reads the kumo_response back out. Nothing
 * here is seen by a function author.
 */
#ifndef KUMO_SDK_H
#define KUMO_SDK_H

#include <kumo.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- arena: one per invocation, reset after the response is sent ---- */

typedef struct kumo__arena_chunk kumo__arena_chunk;
typedef struct kumo__arena {
    kumo__arena_chunk *head;
    size_t used;      /* bytes handed out, for limits and tests */
} kumo__arena;

void kumo__arena_init(kumo__arena *a);
/* 16-byte aligned; NULL only when malloc fails. */
void *kumo__arena_alloc(kumo__arena *a, size_t size);
char *kumo__arena_strndup(kumo__arena *a, const char *s, size_t len);
/* Frees every chunk but the first, which is kept for the next invocation. */
void kumo__arena_reset(kumo__arena *a);
void kumo__arena_free(kumo__arena *a);

/* ---- request / response --------------------------------------------- */

typedef struct kumo__pair {
    const char *name;   /* NUL-terminated */
    const char *value;  /* NUL-terminated */
} kumo__pair;

typedef struct kumo__part_view {
    const char *name, *filename, *content_type;   /* NUL-terminated copies */
    const char *data;           size_t len;       /* in the frame */
} kumo__part_view;

struct kumo_request {
    const char *method, *path, *query_string;
    const kumo__pair *params;   size_t nparams;   /* path parameters, decoded */
    const kumo__pair *headers;  size_t nheaders;  /* names lower case */
    kumo__pair *query;          size_t nquery;    /* decoded lazily by kumo__request_parse_query */
    int query_parsed;
    const char *body;           size_t body_len;  /* NUL after body_len */
    json_t *json;               /* parsed lazily; decref'd by kumo__invocation_clear */
    int json_parsed;
    /* What the gateway's contract check produced (NULL when it did not run):
     * JSON texts parsed on first use, like the body. */
    const char *typed_text, *form_text;
    json_t *typed, *form;
    int typed_parsed, form_parsed;
    kumo__part_view *parts;     size_t nparts;    /* multipart files, in the arena */
    const char *response_type;
    kumo_ctx *ctx;              /* for lazy allocations */
};

struct kumo_response {
    int status;                 /* 0 until set: the adapter sends 200 */
    kumo__pair *headers;        size_t nheaders, cap_headers;  /* in the arena */
    const char *body;           size_t body_len;               /* in the arena */
    kumo_ctx *ctx;
};

/* Ceilings of what a handler may produce (the gateway has its own). */
#define KUMO_RESPONSE_HEADERS_MAX 100
#define KUMO_LOG_LINE_MAX 8192

struct kumo_ctx {
    kumo__arena arena;
    const char *request_id;
    const char *operation;
    const char *function;       /* the unit's name, for log lines */
    uint64_t deadline_ms;       /* epoch ms; 0: none */
    /* Stores (src/sdk/stores): the backend's message of the invocation's last
     * failed store call ("" when none), and the blob writers and readers the
     * handler left open, released by kumo__invocation_clear. */
    char store_error[256];
    struct kumo__blob_open *blob_streams;
};

/* Prepares ctx/req/res for one invocation (arena must be initialised). */
void kumo__invocation_init(kumo_ctx *ctx, kumo_request *req, kumo_response *res);
/* Releases what the invocation holds (JSON body), and resets the arena. */
void kumo__invocation_clear(kumo_ctx *ctx, kumo_request *req, kumo_response *res);

/* Percent-decodes in place-safe fashion into the arena; `plus` turns '+'
 * into ' ' (query strings). NULL on a malformed escape or no memory. */
char *kumo__percent_decode(kumo__arena *a, const char *s, size_t len, int plus);

/* ---- stores: drivers behind a versioned table of operations ---------- */

#define KUMO_KV_DRIVER_VERSION 2   /* 2: put takes a TTL; get_many */

typedef struct kumo__kv kumo__kv;   /* a driver's open store; extends this base */
struct kumo__kv {
    const struct kumo__kv_driver *driver;
    char *name;                       /* the store's name in kumo.yaml */
    char error[256];                  /* the backend's last message */
};

typedef struct kumo__kv_driver {
    int version;                      /* KUMO_KV_DRIVER_VERSION */
    const char *scheme;               /* "sqlite" */
    /* Opens the store at `url`; on failure returns a KUMO_E* code and
     * writes a message into err (size errlen). */
    int (*open)(const char *url, kumo__kv **out, char *err, size_t errlen);
    void (*close)(kumo__kv *kv);
    /* Values are allocated in `a`. */
    int (*get)(kumo__kv *kv, kumo__arena *a, const char *key, size_t klen, kumo_kv_item *out);
    /* expect_version: UINT64_MAX for an unconditional put, else CAS.
     * ttl_ms: 0 for no expiry; an expired key reads as absent. */
    int (*put)(kumo__kv *kv, const char *key, size_t klen, const void *val, size_t vlen, uint64_t expect_version,
               uint64_t ttl_ms, uint64_t *new_version);
    int (*del)(kumo__kv *kv, const char *key, size_t klen);
    int (*list)(kumo__kv *kv, kumo__arena *a, const char *prefix, const char *cursor, size_t limit, int values,
                kumo_kv_page *out);
    /* Optional (NULL: store.c calls get per key). */
    int (*get_many)(kumo__kv *kv, kumo__arena *a, const char *const *keys, size_t n, kumo_kv_item *out);
} kumo__kv_driver;

/* Every driver table (kv, blob, queue) starts with these two fields, so
 * that one lookup serves them all. */
typedef struct kumo__driver_head {
    int version;
    const char *scheme;
} kumo__driver_head;

/* The driver among `drivers` (n tables that start with a
 * kumo__driver_head) whose scheme is `url`'s, at `version`; NULL with err
 * set (never quoting the URL: it may hold a password). `kind` ("kv",
 * "blob", "queue") names them in messages. */
const void *kumo__driver_for_url(const char *url, const void *const *drivers, size_t n, int version,
                                 const char *kind, char *err, size_t errlen);

/* Every driver's open() takes the URL and a buffer for the backend's
 * message; every call returns 0 or a KUMO_E* code, and may leave the
 * backend's message in the handle's `error` (see kumo_store_error). A
 * driver that lost its connection reconnects on the next call. */

/* ---- blob drivers ---- */

#define KUMO_BLOB_DRIVER_VERSION 1

typedef struct kumo__blob kumo__blob;
struct kumo__blob {
    const struct kumo__blob_driver *driver;
    char *name;
    char error[256];                  /* the backend's last message */
};

typedef struct kumo__blob_stream kumo__blob_stream; /* a driver's open writer or reader */

typedef struct kumo__blob_driver {
    int version;                      /* KUMO_BLOB_DRIVER_VERSION */
    const char *scheme;               /* "file", "s3" */
    int (*open)(const char *url, kumo__blob **out, char *err, size_t errlen);
    void (*close)(kumo__blob *b);
    int (*put)(kumo__blob *b, const char *key, const void *data, size_t len, const char *content_type);
    int (*get)(kumo__blob *b, kumo__arena *a, const char *key, const void **data, size_t *len, kumo_blob_info *info);
    int (*head)(kumo__blob *b, kumo__arena *a, const char *key, kumo_blob_info *info);
    int (*del)(kumo__blob *b, const char *key);
    int (*list)(kumo__blob *b, kumo__arena *a, const char *prefix, const char *cursor, size_t limit,
                kumo_blob_page *out);
    /* Streaming: a writer's data is invisible until commit. */
    int (*writer_open)(kumo__blob *b, const char *key, const char *content_type, kumo__blob_stream **out);
    int (*write)(kumo__blob_stream *s, const void *data, size_t len);
    int (*commit)(kumo__blob_stream *s);   /* frees s */
    void (*abort)(kumo__blob_stream *s);   /* frees s */
    int (*reader_open)(kumo__blob *b, kumo__arena *a, const char *key, kumo__blob_stream **out, kumo_blob_info *info);
    int (*read)(kumo__blob_stream *s, void *buf, size_t cap, size_t *got);
    void (*reader_close)(kumo__blob_stream *s);
} kumo__blob_driver;

/* ---- queue drivers ---- */

#define KUMO_QUEUE_DRIVER_VERSION 1

typedef struct kumo__queue kumo__queue;
struct kumo__queue {
    const struct kumo__queue_driver *driver;
    char *name;
    unsigned max_receives;            /* dead-letter after this many (URL max_receives=, default 5) */
    char error[256];
};

/* A backend that cannot tell a stale receipt from a current one (SQS: an
 * ack with an old receipt "succeeds" and may or may not delete). */
#define KUMO__QUEUE_STALE_RECEIPTS_UNDETECTED 1u

typedef struct kumo__queue_driver {
    int version;                      /* KUMO_QUEUE_DRIVER_VERSION */
    const char *scheme;               /* "sqlite", "redis", "postgres", "sqs" */
    int (*open)(const char *url, const char *name, kumo__queue **out, char *err, size_t errlen);
    void (*close)(kumo__queue *q);
    int (*send)(kumo__queue *q, kumo__arena *a, const void *body, size_t len, uint64_t delay_ms, const char **id);
    int (*receive)(kumo__queue *q, kumo__arena *a, size_t max, uint64_t visibility_ms, kumo_queue_message *out,
                   size_t *count);
    int (*ack)(kumo__queue *q, const char *receipt);
    int (*nack)(kumo__queue *q, const char *receipt, uint64_t delay_ms);
    /* What the backend cannot do, so that callers (and the conformance
     * suite) know: KUMO__QUEUE_* bits below; 0 for a full driver. */
    unsigned limits;
} kumo__queue_driver;

/* KUMO_STORE_<NAME> for a store name into buf: 0, or KUMO_EINVAL when the
 * name is empty, too long, or has other than letters, digits, '-', '_'. */
int kumo__store_env_name(const char *name, char *buf, size_t size);
/* The value of `key` in a store URL's query (after '?', '&'-separated,
 * undecoded) copied into buf: 1 when present, 0 when absent. */
int kumo__url_query(const char *url, const char *key, char *buf, size_t size);
/* Records a failed call's message in ctx->store_error (msg "" or NULL: the
 * code's kumo_strerror). */
void kumo__store_error_set(kumo_ctx *ctx, int code, const char *msg);
/* Aborts the writers and closes the readers an invocation left open. */
void kumo__blob_streams_release(kumo_ctx *ctx);

/* Stores by name, as kumo__kv_store: opened from KUMO_STORE_<NAME>, cached. */
kumo__blob *kumo__blob_store(const char *name, int *err);
kumo__queue *kumo__queue_store(const char *name, int *err);
int kumo__blob_open_url(const char *url, const char *name, kumo__blob **out, char *err, size_t errlen);
int kumo__queue_open_url(const char *url, const char *name, kumo__queue **out, char *err, size_t errlen);

/* The per-process cache of open stores of one kind (kv, blob, queue):
 * opened by name on first use from KUMO_STORE_<NAME>, kept for the
 * process, forgotten in a forked child (the parent's handles are not its
 * own). Each kind has one, over its own open/close (store.c). */
#define KUMO__STORES_MAX 32

typedef struct kumo__store_cache {
    const char *kind;          /* for messages: "kv store", "blob store", "queue" */
    int (*open_url)(const char *url, const char *name, void **out, char *err, size_t errlen);
    void (*close)(void *handle);
    pthread_mutex_t lock;
    struct {
        char name[128];
        void *handle;
    } entries[KUMO__STORES_MAX];
    size_t n;
    pid_t pid;                 /* the process that opened the entries */
} kumo__store_cache;

#define KUMO__STORE_CACHE_INIT(kind_, open_, close_) \
    {.kind = (kind_), .open_url = (open_), .close = (close_), .lock = PTHREAD_MUTEX_INITIALIZER}

/* The open store named `name`, or NULL with *err (a KUMO_E* code) and
 * msg set (also logged; the URL is never in it: it may hold a password). */
void *kumo__store_cache_get(kumo__store_cache *c, const char *name, int *err, char *msg, size_t msglen);
void kumo__store_cache_close_all(kumo__store_cache *c);

/* The store named `name`: opened on first use from the URL in the
 * environment variable KUMO_STORE_<NAME> (upper case, '-' as '_'), cached
 * for the process. NULL and a KUMO_E* code in *err when it cannot be. */
kumo__kv *kumo__kv_store(const char *name, int *err);
/* Opens a kv store from a URL directly (tests, tools). */
int kumo__kv_open_url(const char *url, const char *name, kumo__kv **out, char *err, size_t errlen);
void kumo__kv_close(kumo__kv *kv);
void kumo__blob_close(kumo__blob *b);
void kumo__queue_close(kumo__queue *q);
/* Closes every cached store, kv, blob and queue (worker exit). */
void kumo__kv_close_all(void);
void kumo__blob_close_all(void);
void kumo__queue_close_all(void);

extern const kumo__kv_driver kumo__kv_sqlite_driver;
/* A SQLite result code as a KUMO_E* code (busy: timed out; cannot open:
 * unavailable; ...), for the sqlite kv and queue drivers. */
int kumo__sqlite_status(int rc);
/* SQLite answers SQLITE_BUSY without calling its busy handler in a few
 * WAL cases (another connection running recovery or cleaning up as the
 * last one out). Given a result and the retries so far, sleeps a little and
 * returns 1 when the caller should run the statement again, 0 when the
 * result stands (not busy, or the busy timeout is spent). */
int kumo__sqlite_busy_again(int rc, unsigned *tries);
/* Both sqlite drivers: opens sqlite:PATH[?create=false] (making the
 * directory), WAL, busy timeout, and, unless create=false, runs `schema`
 * then `migrate` (may be NULL; it sets *step to what it runs) in one
 * BEGIN IMMEDIATE transaction. *created says whether create was allowed.
 * 0, or a KUMO_E* code with a message naming the path and the statement. */
struct sqlite3;
struct sqlite3_stmt;
int kumo__sqlite_open_url(const char *url, const char *schema, int (*migrate)(struct sqlite3 *db, const char **step),
                          struct sqlite3 **out, int *created, char *err, size_t errlen);
/* Steps a statement that returns no row, then resets it and clears its
 * bindings; with retry_busy, kumo__sqlite_busy_again decides retries. */
int kumo__sqlite_step(struct sqlite3_stmt *st, int retry_busy);
extern const kumo__blob_driver kumo__blob_file_driver;
extern const kumo__queue_driver kumo__queue_sqlite_driver;
/* The AWS drivers (stores/dynamodb.c, s3.c, sqs.c over stores/aws.c). */
extern const kumo__kv_driver kumo__kv_dynamodb_driver;
extern const kumo__blob_driver kumo__blob_s3_driver;
extern const kumo__queue_driver kumo__queue_sqs_driver;
/* Redis and PostgreSQL (stores/redis.c, redis_queue.c, postgres.c, postgres_queue.c). */
extern const kumo__kv_driver kumo__kv_redis_driver, kumo__kv_postgres_driver;
extern const kumo__queue_driver kumo__queue_redis_driver, kumo__queue_postgres_driver;

/* ---- the local adapter (kumo's runtime): see adapters/local.c ---------- */

/* Serves invocations read from `fd` until EOF: dispatches each request
 * frame to the handler named in it, resolved with dlsym in `unit`
 * (a dlopen handle). Returns 0 on a clean EOF, negative on a protocol
 * error. */
int kumo__local_serve(int fd, void *unit, const char *function);

/* The same, in this process (kumo-host): runs the request frame `payload`
 * (len bytes, a KUMO_FRAME_REQUEST's payload) through the handler it names
 * in `unit` and appends the whole response frame to w. 0, or a negative
 * errno when even an error frame could not be written. */
typedef struct kumo__invoker kumo__invoker;
struct kumo__frame_writer;
kumo__invoker *kumo__invoker_new(void *unit, const char *function);
int kumo__invoker_call(kumo__invoker *iv, const char *payload, size_t len, struct kumo__frame_writer *w);
void kumo__invoker_free(kumo__invoker *iv);

#endif
