/*
 * pcre2_lazy.h: PCRE2, loaded when a schema first needs a regular
 * expression (`pattern`, `patternProperties`, the `regex` format), in
 * kumo-lambda's openapi layer (kumo_openapi_lambda, built with
 * KUMO_PCRE2_LAZY; CMakeLists.txt). Elsewhere this header changes nothing.
 *
 * Why: a Lambda package whose documents have no regular expression need
 * not carry libpcre2 (a third of the todo package) nor map it at every
 * cold start. kumo__regex_compile (schema_regex.c), the one place a
 * regular expression is compiled, loads it first; no other PCRE2 call
 * happens without a compiled expression, so a missing library is that
 * schema's error ("...: libpcre2-8.so.0: cannot open shared object
 * file"), said when the document is loaded. kumo__pcre2 aborts with that
 * message if an entry were used before, which nothing reaches.
 * `kumo build` puts libpcre2 in a package whose documents can have one
 * (deploy/bundle.c).
 */
#ifndef KUMO_OPENAPI_PCRE2_LAZY_H
#define KUMO_OPENAPI_PCRE2_LAZY_H

#include <stddef.h>

/* 0 when PCRE2's functions are there (linked, or loaded now); else -1
 * with why in why (why_len bytes). Thread-safe; loads once. */
int kumo__pcre2_load(char *why, size_t why_len);

#if KUMO_PCRE2_LAZY

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

/* clang-format off */
#define KUMO__PCRE2_FNS(X) \
    X(pcre2_code_free_8) \
    X(pcre2_compile_8) \
    X(pcre2_get_error_message_8) \
    X(pcre2_jit_compile_8) \
    X(pcre2_match_8) \
    X(pcre2_match_context_create_8) \
    X(pcre2_match_context_free_8) \
    X(pcre2_match_data_create_8) \
    X(pcre2_match_data_free_8) \
    X(pcre2_set_depth_limit_8) \
    X(pcre2_set_match_limit_8)
/* clang-format on */

typedef struct kumo__pcre2_api {
#define X(f) __typeof__(&f) f;
    KUMO__PCRE2_FNS(X)
#undef X
} kumo__pcre2_api;

/* The table, filled; aborts when kumo__pcre2_load has not succeeded. */
const kumo__pcre2_api *kumo__pcre2(void);

/* clang-format off */
#define pcre2_code_free_8 (kumo__pcre2()->pcre2_code_free_8)
#define pcre2_compile_8 (kumo__pcre2()->pcre2_compile_8)
#define pcre2_get_error_message_8 (kumo__pcre2()->pcre2_get_error_message_8)
#define pcre2_jit_compile_8 (kumo__pcre2()->pcre2_jit_compile_8)
#define pcre2_match_8 (kumo__pcre2()->pcre2_match_8)
#define pcre2_match_context_create_8 (kumo__pcre2()->pcre2_match_context_create_8)
#define pcre2_match_context_free_8 (kumo__pcre2()->pcre2_match_context_free_8)
#define pcre2_match_data_create_8 (kumo__pcre2()->pcre2_match_data_create_8)
#define pcre2_match_data_free_8 (kumo__pcre2()->pcre2_match_data_free_8)
#define pcre2_set_depth_limit_8 (kumo__pcre2()->pcre2_set_depth_limit_8)
#define pcre2_set_match_limit_8 (kumo__pcre2()->pcre2_set_match_limit_8)
/* clang-format on */

#endif
#endif
