/*
 * http.h: HTTP facts shared by the gateway and the SDK.
 */
#ifndef KUMO_UTIL_HTTP_H
#define KUMO_UTIL_HTTP_H

#include <stddef.h>
#include <time.h>

/* The reason phrase of a status ("Not Found"); for a status without one,
 * "Informational", "Success", "Redirection", "Client Error" or
 * "Server Error" by its class. */
const char *kumo__http_reason(int status);

/* Whether s[0..len) is a header name (an RFC 9110 token: one or more of
 * a-z A-Z 0-9 ! # $ % & ' * + - . ^ _ ` | ~). */
int kumo__http_token(const char *s, size_t len);
/* Whether s[0..len) may be sent as a header value: no control character
 * but horizontal tab (so no CR, LF or NUL that would end the header or the
 * response early), no DEL. */
int kumo__http_field_value(const char *s, size_t len);

/* An HTTP date (RFC 9110's IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT",
 * what S3's Last-Modified carries) as seconds since 1970; -1 when `s` is
 * not one. The obsolete RFC 850 and asctime forms are not read. */
time_t kumo__http_date_parse(const char *s);

#endif
