/*
 * errors.c: kumo_strerror, the description of every KUMO_E* code of kumo.h,
 * for handlers and for the store layer's messages (kumo_store_error falls
 * back to it when a backend said nothing).
 */
#include "sdk/sdk.h"

const char *kumo_strerror(int code)
{
    switch (code) {
    case KUMO_OK: return "success";
    case KUMO_ENOTFOUND: return "not found";
    case KUMO_ECONFLICT: return "version conflict";
    case KUMO_ETOOBIG: return "key or value too big";
    case KUMO_EUNAVAILABLE: return "backend unavailable";
    case KUMO_ETIMEDOUT: return "backend timed out";
    case KUMO_EINVAL: return "invalid argument";
    case KUMO_ENOMEM: return "out of memory";
    case KUMO_EIO: return "backend I/O error";
    case KUMO_EDENIED: return "destination not declared; declare the service in kumo.yaml services:";
    default: return "unknown error";
    }
}
