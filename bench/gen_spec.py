#!/usr/bin/env python3
"""gen_spec.py: writes a large single-file OpenAPI 3.0 YAML document (about
2 MB, 400 operations) for bench/spec-load.sh: 80 resources, each with a
collection (list, create) and an item (get, replace, delete), component
schemas with many properties, shared parameters and responses through
$refs, request bodies, and inline examples.

Usage: gen_spec.py OUT.yaml [RESOURCES]
"""
import sys


def prop_lines(i, r):
    kinds = [
        ("string", "maxLength: 200"),
        ("integer", "minimum: 0"),
        ("number", "maximum: 1000000"),
        ("boolean", None),
        ("string", "format: date-time"),
        ("string", "enum: [draft, active, archived]"),
    ]
    out = []
    for p in range(48):
        t, extra = kinds[p % len(kinds)]
        out.append(f"        field{p}:")
        out.append(f"          type: {t}")
        if extra:
            out.append(f"          {extra}")
        out.append(f"          description: Field {p} of resource {r}; a sentence long enough to look like real "
                   f"documentation written by a person who cares about the readers of this API.")
    out.append("        tags:")
    out.append("          type: array")
    out.append("          items: {$ref: '#/components/schemas/Tag'}")
    out.append("        parent:")
    out.append(f"          $ref: '#/components/schemas/Res{r}'")
    return out


def example_lines(indent, r, n):
    pad = " " * indent
    out = []
    for k in range(n):
        out.append(f"{pad}- id: {k}")
        out.append(f"{pad}  field0: example text number {k} for resource {r}")
        out.append(f"{pad}  field1: {k * 7}")
        out.append(f"{pad}  field2: {k * 3.5}")
        out.append(f"{pad}  field3: {'true' if k % 2 else 'false'}")
        out.append(f"{pad}  field4: '2024-01-0{k % 9 + 1}T10:00:00Z'")
        out.append(f"{pad}  field5: active")
        out.append(f"{pad}  tags: [{{name: a{k}}}, {{name: b{k}}}]")
    return out


def main():
    out = sys.argv[1]
    nres = int(sys.argv[2]) if len(sys.argv) > 2 else 80
    L = ["openapi: 3.0.3", "info:", "  title: Big generated API", "  version: '1.0'",
         "servers:", "  - url: https://api.example.com/v1", "paths:"]
    for r in range(nres):
        L += [f"  /res{r}:",
              "    get:",
              f"      operationId: listRes{r}",
              f"      summary: List resource {r}",
              "      parameters:",
              "        - $ref: '#/components/parameters/Limit'",
              "        - $ref: '#/components/parameters/Cursor'",
              "        - {name: filter, in: query, style: deepObject, explode: true, schema: {type: object}}",
              "        - {name: X-Request-Id, in: header, schema: {type: string, format: uuid}}",
              "      responses:",
              "        '200':",
              "          description: a page",
              "          headers:",
              "            X-Next: {schema: {type: string}}",
              "          content:",
              "            application/json:",
              "              schema:",
              "                type: array",
              f"                items: {{$ref: '#/components/schemas/Res{r}'}}",
              "              example:"]
        L += example_lines(16, r, 20)
        L += ["        default: {$ref: '#/components/responses/Problem'}",
              "    post:",
              f"      operationId: createRes{r}",
              f"      x-kumo-handler: res{r % 10}.create_res{r}",
              f"      requestBody: {{$ref: '#/components/requestBodies/Res{r}'}}",
              "      responses:",
              "        '201':",
              "          description: created",
              f"          content: {{application/json: {{schema: {{$ref: '#/components/schemas/Res{r}'}}}}}}",
              "        '4XX': {$ref: '#/components/responses/Problem'}",
              f"  /res{r}/{{id}}:",
              "    parameters:",
              "      - $ref: '#/components/parameters/Id'"]
        for m, code in (("get", "200"), ("put", "200"), ("delete", "204")):
            L += [f"    {m}:",
                  f"      operationId: {m}Res{r}",
                  "      parameters:",
                  "        - {name: fields, in: query, style: form, explode: false, schema: {type: array, items: {type: string}}}"]
            if m == "put":
                L += ["      requestBody:", "        required: true", "        content:",
                      "          application/json:",
                      f"            schema: {{$ref: '#/components/schemas/Res{r}'}}",
                      "          application/x-www-form-urlencoded:",
                      f"            schema: {{$ref: '#/components/schemas/Res{r}'}}"]
            L += ["      responses:", f"        '{code}':", "          description: done"]
            if code == "200":
                L += ["          content:", "            application/json:",
                      f"              schema: {{$ref: '#/components/schemas/Res{r}'}}",
                      "              examples:", "                one:", "                  value:"]
                L += example_lines(20, r, 8)
            L += ["        '404': {$ref: '#/components/responses/Problem'}"]
    L += ["components:", "  parameters:",
          "    Limit: {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 500, default: 50}}",
          "    Cursor: {name: cursor, in: query, schema: {type: string}}",
          "    Id: {name: id, in: path, required: true, schema: {type: integer, minimum: 1}}",
          "  responses:",
          "    Problem:",
          "      description: a problem",
          "      content:",
          "        application/problem+json:",
          "          schema: {$ref: '#/components/schemas/Problem'}",
          "  requestBodies:"]
    for r in range(nres):
        L += [f"    Res{r}:", "      required: true", "      content:",
              f"        application/json: {{schema: {{$ref: '#/components/schemas/Res{r}'}}}}"]
    L += ["  schemas:",
          "    Tag: {type: object, properties: {name: {type: string}}}",
          "    Problem:", "      type: object", "      properties:",
          "        type: {type: string}", "        title: {type: string}", "        status: {type: integer}"]
    for r in range(nres):
        L += [f"    Res{r}:", "      type: object", "      required: [field0, field1]", "      properties:"]
        L += prop_lines(r, r)
    with open(out, "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
