/*
 * check.h: an operation's request and response contract, enforced.
 *
 * At start-up kumo__opcheck_build compiles every schema an operation uses
 * (parameters, request body media types, responses). Per request,
 * kumo__opcheck_request parses the parameters by their style and explode
 * (path, query, header, cookie), coerces them to their schemas' types,
 * parses the body by its media type (JSON, form, multipart, text), checks
 * the media type (415) and Accept (406), and validates everything against
 * the schemas, collecting every violation. The result carries the typed
 * values the handler reads. kumo__opcheck_response checks what a handler
 * answered (kumo up --dev). Nothing here knows h2o: the gateway fills a
 * kumo__http_view.
 */
#ifndef KUMO_OPCHECK_H
#define KUMO_OPCHECK_H

#include <jansson.h>
#include <stddef.h>

#include "openapi/openapi.h"
#include "openapi/schema.h"

typedef struct kumo__slice {
    const char *base;
    size_t len;
} kumo__slice;

typedef struct kumo__header_view {
    kumo__slice name; /* lower case */
    kumo__slice value;
} kumo__header_view;

typedef struct kumo__http_view {
    kumo__slice method;
    kumo__slice query; /* raw, without '?'; len 0 when none */
    const kumo__header_view *headers;
    size_t nheaders;
    const kumo__route_match *match; /* path parameters, raw (percent-encoded) */
    kumo__slice body;               /* base NULL when the request has no body */
    int untyped;                    /* 1: checked only, kumo__checked.params left NULL (a stateless mock) */
} kumo__http_view;

/* One part of a multipart/form-data body: slices into the body. */
typedef struct kumo__part {
    kumo__slice name, filename, content_type, data; /* filename.base NULL for a plain field */
} kumo__part;

typedef struct kumo__checked {
    json_t *params;           /* {"path":{},"query":{},"header":{},"cookie":{}}: typed values, owned; NULL if untyped or
                                 when the operation has no parameters (params_none) */
    int params_none;          /* typed, and the operation has no parameters: KUMO__PARAMS_NONE is the values' text */
    json_t *body;             /* the body as an instance (JSON; form and multipart as an object;
                                 text as a string), owned; NULL when there is no body */
    const kumo__media *media; /* the request media type matched, or NULL */
    kumo__part *parts;        /* multipart parts (malloc'd array), else NULL */
    size_t nparts;
    const char *response_type; /* what Accept chose among the 2xx responses' types, or NULL */
} kumo__checked;

/* The typed values of an operation without parameters, as JSON text. */
#define KUMO__PARAMS_NONE "{\"path\":{},\"query\":{},\"header\":{},\"cookie\":{}}"

void kumo__checked_free(kumo__checked *c);

typedef struct kumo__opcheck kumo__opcheck;

/* Compiles the schemas of spec->ops[op_index]. Errors name the document
 * position of the schema that does not compile. */
int kumo__opcheck_build(const kumo__spec *spec, size_t op_index, kumo__opcheck **out, kumo__error *err);
/* kumo__opcheck_build for every operation into checks[0..spec->nops)
 * (zeroed by the caller; on an error the ones built stay there for the
 * caller to free). The heap gets room for them first (base/heap.h): 400
 * operations compile to some 30 MB. */
int kumo__opcheck_build_all(const kumo__spec *spec, kumo__opcheck **checks, kumo__error *err);
void kumo__opcheck_free(kumo__opcheck *c);

/* Outcomes of kumo__opcheck_request: the HTTP status to answer with. */
enum {
    KUMO__CHECK_OK = 0,
    KUMO__CHECK_INVALID = 400, /* violations filled */
    KUMO__CHECK_UNSUPPORTED =
        415, /* a body of a media type the operation does not accept, or a body where none is declared */
    KUMO__CHECK_NOT_ACCEPTABLE = 406, /* no declared response type satisfies Accept */
};

/* Checks one request. On KUMO__CHECK_OK *out holds the typed values (free
 * with kumo__checked_free whatever the outcome). `detail` gets a one-line
 * explanation for 415/406. Thread-safe. Negative: out of memory. */
int kumo__opcheck_request(const kumo__opcheck *c, const kumo__http_view *req, kumo__checked *out,
                          kumo__violations *violations, char *detail, size_t detail_len);

/* Checks a response: its status must be declared (or a range or default),
 * its Content-Type among that response's content, its body valid against
 * the schema (direction: response, so writeOnly properties are refused).
 * 0 valid, 1 violations appended. */
int kumo__opcheck_response(const kumo__opcheck *c, int status, kumo__slice content_type, kumo__slice body,
                           kumo__violations *violations);

#endif
