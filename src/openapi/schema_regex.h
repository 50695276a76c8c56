/*
 * schema_regex.h: private to the schema validator (schema.c and
 * schema_format.c): JSON Schema's regular expressions are ECMA-262 with
 * the u flag; kumo matches them with PCRE2 after translating them here.
 */
#ifndef KUMO_SCHEMA_REGEX_H
#define KUMO_SCHEMA_REGEX_H

#include <stddef.h>

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include "openapi/pcre2_lazy.h" /* after PCRE2's: kumo-lambda loads it on demand */

#define KUMO__REGEX_MAX 65536 /* bytes of one pattern; longer ones are refused */

/* Compiles the ECMA-262 pattern `src` (`len` bytes of UTF-8) into *out
 * (the caller frees it with pcre2_code_free), unanchored, with `$` only at
 * the very end. Returns 0; -EINVAL with a reason in `why` that ends with
 * "at offset N" (N counts bytes of `src`) when the pattern is not one kumo
 * can match as ECMA-262 would; -ENOMEM. Not JIT-compiled. */
int kumo__regex_compile(const char *src, size_t len, pcre2_code **out, char *why, size_t why_len);

#define PCRE_MATCH_LIMIT 1000000 /* backtracking budget per pattern match */
#define PCRE_DEPTH_LIMIT 10000   /* and its depth */

/* The match context every match uses: the backtracking and depth budgets
 * (a pattern cannot take a request's time). One for the process, made by
 * the first kumo__regex_compile, which fails with -ENOMEM when it cannot
 * be; NULL before that, when there is nothing to match. */
pcre2_match_context *kumo__regex_match_context(void);

#endif
