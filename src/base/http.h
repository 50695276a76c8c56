/*
 * http.h: HTTP facts shared by the gateway and the SDK.
 */
#ifndef KUMO_UTIL_HTTP_H
#define KUMO_UTIL_HTTP_H

/* The reason phrase of a status ("Not Found"); for a status without one,
 * "Informational", "Success", "Redirection", "Client Error" or
 * "Server Error" by its class. */
const char *kumo__http_reason(int status);

#endif
