/*
 * crc.c: zlib's crc32 of the query parameter s, and expat's version (a
 * library kumo itself does not link, so a package must carry it); the
 * unit links both through kumo.yaml's pkg_config: [zlib, expat].
 */
#include <expat.h>
#include <kumo.h>
#include <string.h>
#include <zlib.h>

int crc(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    const char *s = kumo_request_query(req, "s");
    uLong c = crc32(0L, (const Bytef *)s, (uInt)strlen(s));
    return kumo_response_json(res, 200,
                              json_pack("{s:I, s:s, s:s}", "crc32", (json_int_t)c, "zlib", zlibVersion(), "expat",
                                        XML_ExpatVersion()));
}
