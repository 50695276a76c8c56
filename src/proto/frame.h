/*
 * frame.h: the wire protocol between the gateway and a worker process.
 *
 * A frame is a 12-byte header and a payload of tagged fields, all
 * little-endian, sent over a SOCK_STREAM socketpair:
 *
 *     0  'K' 'F'          magic
 *     2  u8  version      KUMO__FRAME_VERSION; a peer refuses others
 *     3  u8  type         enum kumo__frame_type
 *     4  u32 length       payload bytes after the header
 *     8  u32 id           the invocation's sequence number, echoed back
 *    12  fields: u16 tag, u32 len, len bytes; repeated to `length`
 *
 * A pair field (header, parameter) is u32 name_len, name, value. Every
 * reader is given a ceiling when it is made (KUMO__FRAME_MAX by default), and
 * a header announcing more is refused before anything is allocated. Both
 * sides, gateway (src/runtime/pool.c) and worker (src/sdk/adapters/local.c),
 * use only this codec.
 */
#ifndef KUMO_FRAME_H
#define KUMO_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define KUMO__FRAME_VERSION 1
#define KUMO__FRAME_HEADER_SIZE 12
#define KUMO__FRAME_MAX (64u << 20)

enum kumo__frame_type {
    KUMO__FRAME_REQUEST = 1,     /* gateway -> worker: one invocation */
    KUMO__FRAME_RESPONSE = 2,    /* worker -> gateway: its answer */
    KUMO__FRAME_HELLO = 3,       /* worker -> gateway: loaded and ready (or KF_ERROR) */
    KUMO__FRAME_HTTP_CALL = 4,   /* worker -> gateway: an outbound HTTP call of the running invocation */
    KUMO__FRAME_HTTP_RESULT = 5, /* gateway -> worker: its answer, with the call's id */
    KUMO__FRAME_CRASH = 6,       /* worker -> gateway: it dies of a fatal signal (worker/crash.c); the
                                    socket closes next */
    KUMO__FRAME_ASSIGN = 7,      /* gateway -> a primed spare, first of all: KF_UNIT, the unit it becomes
                                    (proto/fsproto.h, KUMO__FS_PRIME) */
};

enum kumo__frame_tag {
    KF_METHOD = 1,
    KF_PATH = 2,
    KF_QUERY = 3,
    KF_OPERATION = 4,
    KF_SYMBOL = 5,
    KF_REQUEST_ID = 6,
    KF_PARAM = 7,  /* pair */
    KF_HEADER = 8, /* pair */
    KF_BODY = 9,
    KF_DEADLINE_MS = 10,   /* u64: milliseconds since the epoch */
    KF_PARAMS_JSON = 11,   /* the parameters as the spec types them: {"path":{},"query":{},...} */
    KF_FORM_JSON = 12,     /* a form or multipart body's fields as a JSON object */
    KF_PART = 13,          /* a multipart part: u32+name, u32+filename, u32+content type, then data */
    KF_RESPONSE_TYPE = 14, /* the media type Accept chose among the operation's responses */
    KF_STATUS = 20,        /* u32 */
    KF_ERROR = 21,         /* text: the handler failed, or the worker could not start */
    KF_PID = 22,           /* u32 */
    KF_RETIRE = 23,        /* empty, in a response: the worker asks to be stopped (it leaks) */
    KF_EXPIRED = 24,       /* empty, in a response with KF_ERROR: the request's deadline passed
                              before its turn came, so its handler did not run */
    KF_STORE_SPAN = 25,    /* in a response, repeated: one store call the handler made while the
                              request was traced (proto/tracectx.h has the layout) */
    KF_SERVICE = 26,       /* HTTP_CALL, HTTP_RESULT: the service's name */
    KF_URL = 27,           /* HTTP_CALL: the path or absolute URL; HTTP_RESULT: the URL called, no query */
    KF_TIMEOUT_MS = 28,    /* HTTP_CALL: u32, the caller's own timeout (0: none) */
    KF_RETRIES = 29,       /* HTTP_CALL: u32 */
    KF_ERRCODE = 30,       /* HTTP_RESULT: u32, minus the KUMO_E* code, with KF_ERROR's message */
    KF_AUTH_SCHEME = 31,   /* REQUEST: the security scheme that authenticated the caller (absent: anonymous) */
    KF_AUTH_SUBJECT = 32,  /* REQUEST: who called: the API key's name, the Basic user, a token's sub */
    KF_AUTH_CLAIMS = 33,   /* REQUEST: a verified token's claims, JSON text */
    KF_SIGNAL = 34,        /* CRASH: u32, the fatal signal */
    KF_FAULT_ADDR = 35,    /* CRASH: u64, the faulting address (si_addr) */
    KF_CRASH_PC = 36,      /* CRASH, repeated, innermost first: u64 offset in the object, u8 1 when it is
                              the faulting instruction (else a return address), then the object's path */
    KF_CORE_DIR = 37,      /* CRASH: the directory the worker moved to for its core dump */
    KF_UNIT = 38,          /* ASSIGN: u32, the unit's index in the fork server's list */
};

typedef struct kumo__frame_header {
    uint8_t version;
    uint8_t type;
    uint32_t length;
    uint32_t id;
} kumo__frame_header;

/* A growable output buffer with a ceiling. Zero-initialise, then begin. */
typedef struct kumo__frame_writer {
    char *buf;
    size_t len, cap, max;
    size_t start; /* offset of the frame being written */
    int err;      /* sticky: first error of a put; end() returns it */
} kumo__frame_writer;

/* Starts a frame after whatever the buffer holds; `max` bounds this
 * frame's payload (0: KUMO__FRAME_MAX). */
void kumo__frame_begin(kumo__frame_writer *w, size_t max, uint8_t type, uint32_t id);
void kumo__frame_put(kumo__frame_writer *w, uint16_t tag, const void *data, size_t len);
void kumo__frame_put_str(kumo__frame_writer *w, uint16_t tag, const char *s);
void kumo__frame_put_u32(kumo__frame_writer *w, uint16_t tag, uint32_t v);
void kumo__frame_put_u64(kumo__frame_writer *w, uint16_t tag, uint64_t v);
void kumo__frame_put_pair(kumo__frame_writer *w, uint16_t tag, const char *name, size_t name_len, const char *value,
                          size_t value_len);
/* A part field: name, filename and content type each as u32 length and
 * bytes, then the data to the field's end. */
void kumo__frame_put_part(kumo__frame_writer *w, uint16_t tag, const char *name, size_t name_len, const char *filename,
                          size_t filename_len, const char *ctype, size_t ctype_len, const char *data, size_t data_len);
/* Stamps `id` into the header of the finished frame at `frame` (`len`
 * bytes of it): the gateway numbers a request when it hands it to a
 * worker, after it was built. 0, or -EINVAL when `len` is shorter than a
 * header. */
int kumo__frame_set_id(void *frame, size_t len, uint32_t id);
/* Finishes the frame: 0, or -ENOMEM / -EMSGSIZE if any put failed. */
int kumo__frame_end(kumo__frame_writer *w);
/* A worker's HELLO (its pid, and the error that keeps it from serving,
 * or NULL), written whole to fd. 0, or -1 when it could not be written. */
int kumo__frame_send_hello(int fd, uint32_t pid, const char *error);
/* Forgets the content, keeps the memory. */
void kumo__frame_reset(kumo__frame_writer *w);
void kumo__frame_writer_free(kumo__frame_writer *w);

/* Decodes a header from `len` bytes at `buf`: 0 and *out filled;
 * -EAGAIN when fewer than KUMO__FRAME_HEADER_SIZE bytes; -EPROTO for a bad
 * magic or version; -EMSGSIZE when the payload is over `max` (0: default). */
int kumo__frame_header_decode(const void *buf, size_t len, size_t max, kumo__frame_header *out);

/* Iterates the fields of a complete payload. */
typedef struct kumo__frame_reader {
    const uint8_t *p, *end;
} kumo__frame_reader;

typedef struct kumo__frame_field {
    uint16_t tag;
    const char *data;
    uint32_t len;
} kumo__frame_field;

void kumo__frame_reader_init(kumo__frame_reader *r, const void *payload, size_t len);
/* 1 and *f set; 0 at the clean end; -EPROTO for a truncated field. */
int kumo__frame_next(kumo__frame_reader *r, kumo__frame_field *f);
/* Splits a pair field: 0, or -EPROTO when malformed. */
int kumo__frame_pair(const kumo__frame_field *f, const char **name, size_t *name_len, const char **value,
                     size_t *value_len);
typedef struct kumo__frame_part_view {
    const char *name, *filename, *ctype, *data;
    size_t name_len, filename_len, ctype_len, data_len;
} kumo__frame_part_view;

/* Splits a part field: 0, or -EPROTO when malformed. */
int kumo__frame_part(const kumo__frame_field *f, kumo__frame_part_view *out);
/* Reads fixed-size numbers: 0, or -EPROTO for a wrong length. */
int kumo__frame_u32(const kumo__frame_field *f, uint32_t *v);
int kumo__frame_u64(const kumo__frame_field *f, uint64_t *v);

#endif
