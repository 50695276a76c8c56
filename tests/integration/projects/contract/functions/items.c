/* Handlers of the contract test project: they echo what the gateway typed. */
#include <kumo.h>
#include <string.h>

int list_items(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    json_t *params = kumo_request_params(req);
    const char *type = kumo_request_response_type(req);
    if (type && strcmp(type, "text/plain") == 0) {
        json_t *limit = kumo_request_typed(req, "query", "limit");
        char *text = kumo_sprintf(ctx, "limit=%lld", limit ? (long long)json_integer_value(limit) : -1LL);
        return kumo_response_body(res, text, strlen(text), "text/plain");
    }
    return kumo_response_json(res, 200, json_pack("{s:O}", "params", params ? params : json_null()));
}

int create_item(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    json_t *item = json_deep_copy(kumo_request_json(req));
    json_object_set_new(item, "id", json_integer(7));
    return kumo_response_json(res, 201, item);
}

int get_item(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    json_t *id = kumo_request_typed(req, "path", "id");
    return kumo_response_json(res, 200, json_pack("{s:O, s:s, s:f}", "id", id, "name", "thing", "price", 1.5));
}

int upload(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    size_t len = 0;
    const char *filename = NULL, *ctype = NULL;
    const void *data = kumo_request_file(req, "file", &len, &filename, &ctype);
    json_t *form = kumo_request_form(req);
    return kumo_response_json(res, 200, json_pack("{s:b, s:I, s:s?, s:s?, s:O}", "found", data != NULL, "size",
                                                  (json_int_t)len, "filename", filename, "content_type", ctype,
                                                  "form", form ? form : json_null()));
}

int form(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    json_t *f = kumo_request_form(req);
    return kumo_response_json(res, 200, json_pack("{s:O}", "form", f ? f : json_null()));
}

int no_params(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    json_t *params = kumo_request_params(req);
    return kumo_response_json(res, 200, json_pack("{s:O}", "params", params ? params : json_null()));
}

int broken(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    return kumo_response_json(res, 200, json_pack("{s:i}", "nom", 1));
}
