/*
 * http.c: see http.h.
 */
#include "base/http.h"

#include <stdio.h>
#include <string.h>

const char *kumo__http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default:
        if (status >= 500)
            return "Server Error";
        if (status >= 400)
            return "Client Error";
        if (status >= 300)
            return "Redirection";
        return status >= 200 ? "Success" : "Informational";
    }
}

int kumo__http_token(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        if (c == 0 || strchr("!#$%&'*+-.^_`|~", c) == NULL)
            return 0;
    }
    return 1;
}

int kumo__http_field_value(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

time_t kumo__http_date_parse(const char *s)
{
    static const char days[] = "SunMonTueWedThuFriSat", months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char mon[4];
    int day, year, h, m, sec, end = 0;
    /* "Sun, 06 Nov 1994 08:49:37 GMT": a weekday, a comma and a space first */
    if (s == NULL || strlen(s) < 5 || s[3] != ',' || s[4] != ' ')
        return -1;
    int wd = -1;
    for (int i = 0; i < 7; i++)
        if (strncmp(s, days + 3 * i, 3) == 0)
            wd = i;
    if (wd < 0 || sscanf(s + 5, "%2d %3s %4d %2d:%2d:%2d GMT%n", &day, mon, &year, &h, &m, &sec, &end) != 6 ||
        end == 0 || s[5 + end] != '\0' || strlen(mon) != 3)
        return -1;
    int mo = -1;
    for (int i = 0; i < 12; i++)
        if (strncmp(mon, months + 3 * i, 3) == 0)
            mo = i;
    if (mo < 0 || day < 1 || day > 31 || year < 1970 || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60)
        return -1;
    struct tm tm = {.tm_year = year - 1900, .tm_mon = mo, .tm_mday = day, .tm_hour = h, .tm_min = m, .tm_sec = sec};
    return timegm(&tm);
}
