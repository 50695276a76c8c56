/*
 * yaml_lazy.h: libyaml, loaded when a document is first read as YAML, in
 * kumo-lambda's openapi layer (kumo_openapi_lambda, built with
 * KUMO_YAML_LAZY; CMakeLists.txt). Elsewhere this header changes nothing.
 *
 * Why: `kumo build` writes the documents of a kumo-lambda package
 * (kumo.yaml and every file of the API) as JSON (deploy/bundle.c), which
 * doc.c reads with its own JSON reader. Such a package need not carry
 * libyaml, and its bootstrap does not map it at every cold start. A file
 * that is YAML after all (a package edited by hand) loads it: parse_yaml
 * (doc.c), the one place libyaml is called, asks kumo__yaml_load first and
 * says that document's error when the library is missing. kumo__yaml
 * aborts if an entry were used before, which nothing reaches.
 */
#ifndef KUMO_OPENAPI_YAML_LAZY_H
#define KUMO_OPENAPI_YAML_LAZY_H

#include <stddef.h>

/* 0 when libyaml's functions are there (linked, or loaded now); else -1
 * with why in why (why_len bytes). Thread-safe; loads once. */
int kumo__yaml_load(char *why, size_t why_len);

#if KUMO_YAML_LAZY

#include <yaml.h>

/* clang-format off */
#define KUMO__YAML_FNS(X) \
    X(yaml_event_delete) \
    X(yaml_parser_delete) \
    X(yaml_parser_initialize) \
    X(yaml_parser_parse) \
    X(yaml_parser_set_input) \
    X(yaml_parser_set_input_string)
/* clang-format on */

typedef struct kumo__yaml_api {
#define X(f) __typeof__(&f) f;
    KUMO__YAML_FNS(X)
#undef X
} kumo__yaml_api;

/* The table, filled; aborts when kumo__yaml_load has not succeeded. */
const kumo__yaml_api *kumo__yaml(void);

/* clang-format off */
#define yaml_event_delete (kumo__yaml()->yaml_event_delete)
#define yaml_parser_delete (kumo__yaml()->yaml_parser_delete)
#define yaml_parser_initialize (kumo__yaml()->yaml_parser_initialize)
#define yaml_parser_parse (kumo__yaml()->yaml_parser_parse)
#define yaml_parser_set_input (kumo__yaml()->yaml_parser_set_input)
#define yaml_parser_set_input_string (kumo__yaml()->yaml_parser_set_input_string)
/* clang-format on */

#endif
#endif
