/*
 * test_targets.c: kumo__deploy_other (src/deploy/targets.c and
 * target_*.c) on a copy of examples/todo, --dry-run only: nothing runs,
 * nothing reaches the network.
 *
 * The copy gets an environment "prod" placing `todos` at a PostgreSQL URL
 * with a password, `notifications` at a Redis URL without one, and
 * `attachments` nowhere; its images are stand-in OCI layouts (an
 * index.json naming a manifest digest) and its azure package a stand-in
 * zip, so no build runs. For each target the test reads the files back
 * (kumo's YAML/JSON reader, and python3's yaml for every YAML file) and
 * checks kinds, names, images by digest, ports, env, scale and
 * concurrency, and the printed commands; the password appears in no file
 * and not in what was printed. Apply without the tool on PATH fails
 * naming the tool and --dry-run.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

#include "check.h"
#include "deploy/deploy.h"
#include "openapi/openapi.h"

#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SECRET "s3cret"

static char dir[] = "/tmp/kumo-targets-XXXXXX";
static char out[65536]; /* what the last deploy printed */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

static int sh(const char *fmt, const char *arg)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, fmt, arg, arg, arg);
    return system(cmd);
}

static void setup(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cp -r ../../examples/todo/kumo.yaml ../../examples/todo/openapi.yaml ../../examples/todo/functions %s/",
             dir);
    if (system(cmd) != 0)
        exit(1);
    char path[4200];
    snprintf(path, sizeof path, "%s/kumo.yaml", dir);
    FILE *f = fopen(path, "a");
    fputs("environments:\n"
          "  prod:\n"
          "    region: europe-west1\n"
          "    stores: {todos: 'postgres://u:" SECRET "@db.internal/todo', notifications: "
          "'redis://queue.internal:6379/0'}\n"
          "    embedded: [attachments]\n",
          f);
    fclose(f);
    const char *targets[] = {"gcp", "knative", "openfaas", "kubernetes"};
    for (int i = 0; i < 4; i++) {
        snprintf(cmd, sizeof cmd, "mkdir -p %s/.kumo/build/%s/todos", dir, targets[i]);
        if (system(cmd) != 0)
            exit(1);
        snprintf(path, sizeof path, "%s/.kumo/build/%s/todos/index.json", dir, targets[i]);
        write_file(path,
                   "{\"schemaVersion\": 2, \"manifests\": [{\"mediaType\": "
                   "\"application/vnd.oci.image.manifest.v1+json\", \"digest\": \"" DIGEST "\", \"size\": 1}]}\n");
    }
    snprintf(cmd, sizeof cmd, "mkdir -p %s/.kumo/build/azure/app", dir);
    if (system(cmd) != 0)
        exit(1);
    snprintf(path, sizeof path, "%s/.kumo/build/azure/app.zip", dir);
    write_file(path, "PK\005\006 stand-in");
    snprintf(path, sizeof path, "%s/.kumo/build/azure/app/host.json", dir);
    write_file(path, "{\"version\": \"2.0\", \"extensions\": {\"http\": {\"routePrefix\": \"\"}}}\n");
    setenv("GOOGLE_CLOUD_PROJECT", "demo-proj", 1);
    setenv("KUMO_REGISTRY", "registry.test:5000", 1);
    unsetenv("CLOUDSDK_RUN_REGION");
    unsetenv("AZURE_RESOURCE_GROUP");
}

/* Runs kumo__deploy_other with stdout captured into `out`. */
static int deploy(const char *target, int dry_run, int destroy, kumo__error *err)
{
    kumo__deploy_opts o = {.dir = dir, .target = target, .env = "prod", .dry_run = dry_run, .destroy = destroy};
    char path[4200];
    snprintf(path, sizeof path, "%s/stdout.txt", dir);
    fflush(stdout);
    int saved = dup(1), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    close(fd);
    int rc = kumo__deploy_other(&o, err);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    char *s = read_all(path);
    snprintf(out, sizeof out, "%s", s ? s : "");
    free(s);
    unlink(path);
    if (rc < 0)
        fprintf(stderr, "deploy %s: %s\n", target, err->msg);
    return rc;
}

static json_t *load(const char *target, const char *file, kumo__doc **doc)
{
    char path[4200];
    kumo__error err = {0};
    snprintf(path, sizeof path, "%s/.kumo/deploy/%s/%s", dir, target, file);
    if (kumo__doc_load(path, doc, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        *doc = NULL;
        return NULL;
    }
    return kumo__doc_root(*doc);
}

/* A value by a path of keys and indexes: "spec.template.spec.containers.0.image". */
static json_t *at(json_t *v, const char *path)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); v && k; k = strtok_r(NULL, ".", &save)) {
        if (json_is_array(v))
            v = json_array_get(v, (size_t)atoi(k));
        else
            v = json_object_get(v, k);
    }
    return v;
}

/* One key, for names holding dots (annotations, labels), which at() would split. */
static json_t *get(json_t *obj, const char *key)
{
    return json_object_get(obj, key);
}

static json_t *env_named(json_t *env, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(env, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
            return e;
    }
    return NULL;
}

static void has(const char *what)
{
    int found = strstr(out, what) != NULL;
    CHECK(found);
    if (!found)
        fprintf(stderr, "not printed: %s\n", what);
}

static void test_gcp(void)
{
    kumo__error err = {0};
    CHECK_INT(deploy("gcp", 1, 0, &err), 0);
    kumo__doc *doc = NULL;
    json_t *svc = load("gcp", "service-todos.yaml", &doc);
    CHECK(svc != NULL);
    CHECK_STR(json_string_value(at(svc, "apiVersion")), "serving.knative.dev/v1");
    CHECK_STR(json_string_value(at(svc, "kind")), "Service");
    CHECK_STR(json_string_value(at(svc, "metadata.name")), "todo-todos");
    json_t *c = at(svc, "spec.template.spec.containers.0");
    CHECK_STR(json_string_value(at(c, "image")), "europe-west1-docker.pkg.dev/demo-proj/kumo/todos@" DIGEST);
    CHECK_INT(json_integer_value(at(c, "ports.0.containerPort")), 8080);
    CHECK_STR(json_string_value(at(c, "resources.limits.memory")), "128Mi");
    json_t *env = at(c, "env");
    CHECK_STR(json_string_value(at(env_named(env, "KUMO_STORE_TODOS"), "valueFrom.secretKeyRef.name")),
              "kumo-todo-stores-todos");
    CHECK_STR(json_string_value(at(env_named(env, "KUMO_STORE_TODOS"), "valueFrom.secretKeyRef.key")), "latest");
    CHECK(at(env_named(env, "KUMO_STORE_TODOS"), "value") == NULL);
    CHECK_STR(json_string_value(at(env_named(env, "KUMO_STORE_NOTIFICATIONS"), "value")),
              "redis://queue.internal:6379/0");
    CHECK(env_named(env, "KUMO_STORE_ATTACHMENTS") == NULL);
    CHECK_INT(json_integer_value(at(svc, "spec.template.spec.timeoutSeconds")), 10);
    CHECK_INT(json_integer_value(at(svc, "spec.template.spec.containerConcurrency")), 1);
    json_t *ann = at(svc, "spec.template.metadata.annotations");
    CHECK_STR(json_string_value(get(ann, "autoscaling.knative.dev/minScale")), "0");
    CHECK_STR(json_string_value(get(ann, "autoscaling.knative.dev/maxScale")), "8");
    kumo__doc_free(doc);

    json_t *api = load("gcp", "api-config.yaml", &doc);
    CHECK_STR(json_string_value(at(api, "swagger")), "2.0");
    const char *path;
    json_t *item;
    int ops = 0;
    json_object_foreach(at(api, "paths"), path, item)
    {
        const char *m;
        json_t *op;
        json_object_foreach(item, m, op)
        {
            if (strcmp(m, "parameters") == 0)
                continue;
            ops++;
            CHECK_STR(json_string_value(at(op, "x-google-backend.address")), "${KUMO_URL_TODOS}");
            CHECK_STR(json_string_value(at(op, "x-google-backend.path_translation")), "APPEND_PATH_TO_ADDRESS");
            CHECK(json_is_string(at(op, "operationId")));
        }
    }
    CHECK_INT(ops, 9); /* examples/todo's operations */
    kumo__doc_free(doc);
    /* kumo's own loader reads the config */
    char p[4200];
    snprintf(p, sizeof p, "%s/.kumo/deploy/gcp/api-config.yaml", dir);
    kumo__spec *spec = NULL;
    CHECK_INT(kumo__spec_load(p, &spec, &err), 0);
    CHECK_INT(spec ? (long long)spec->nops : -1, 9);
    kumo__spec_free(spec);

    has("skopeo copy --preserve-digests oci:");
    has("/.kumo/build/gcp/todos");
    has("gcloud run services replace ");
    has("/.kumo/deploy/gcp/service-todos.yaml");
    has("KUMO_URL_TODOS=$(gcloud run services describe todo-todos");
    has("--format='value(status.url)'");
    has("gcloud api-gateway api-configs create \"$CONFIG\" --api=todo --openapi-spec=");
    has("gcloud api-gateway gateways create todo");
    has("gcloud api-gateway gateways update todo");
    has("printf %s \"$KUMO_STORE_TODOS\" | gcloud secrets versions add kumo-todo-stores-todos --data-file=-");
    has("note: store 'attachments' keeps its embedded default (environments.prod.embedded)");

    /* no project: a clear error */
    unsetenv("GOOGLE_CLOUD_PROJECT");
    unsetenv("CLOUDSDK_CORE_PROJECT");
    kumo__error e2 = {0};
    CHECK(deploy("gcp", 1, 0, &e2) < 0);
    CHECK(strstr(e2.msg, "GOOGLE_CLOUD_PROJECT") != NULL);
    setenv("GOOGLE_CLOUD_PROJECT", "demo-proj", 1);
}

/* Two units: each operation's backend is the Cloud Run service of the
 * unit that exports its operationId (bound as kumo up binds, after
 * compiling the units), and each service carries its own unit's tuning. */
static void test_gcp_two_units(void)
{
    char d2[4200], path[4300], cmd[4400];
    snprintf(d2, sizeof d2, "%s/two", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s/.kumo/build/gcp/a %s/.kumo/build/gcp/b_unit", d2, d2);
    CHECK_INT(system(cmd), 0);
    snprintf(path, sizeof path, "%s/kumo.yaml", d2);
    write_file(path, "name: two-units\napi: openapi.yaml\nfunctions:\n"
                     "  a: {sources: [a.c], timeout: 3s}\n"
                     "  b_unit: {sources: [b.c], memory: 256Mi, min: 1, max: 2, concurrency: 4}\n");
    snprintf(path, sizeof path, "%s/openapi.yaml", d2);
    write_file(path, "openapi: 3.0.3\ninfo: {title: two, version: '1'}\npaths:\n"
                     "  /hello: {get: {operationId: hello, responses: {'200': {description: ok}}}}\n"
                     "  /bye: {post: {operationId: bye, responses: {'204': {description: gone}}}}\n");
    snprintf(path, sizeof path, "%s/a.c", d2);
    write_file(path, "#include <kumo.h>\nint hello(kumo_ctx *c, const kumo_request *q, kumo_response *r)\n"
                     "{ (void)c; (void)q; (void)r; return 0; }\n");
    snprintf(path, sizeof path, "%s/b.c", d2);
    write_file(path, "#include <kumo.h>\nint bye(kumo_ctx *c, const kumo_request *q, kumo_response *r)\n"
                     "{ (void)c; (void)q; (void)r; return 0; }\n");
    const char *units[] = {"a", "b_unit"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/.kumo/build/gcp/%s/index.json", d2, units[i]);
        write_file(path, "{\"manifests\": [{\"digest\": \"" DIGEST "\"}]}\n");
    }
    kumo__deploy_opts o = {.dir = d2, .target = "gcp", .dry_run = 1};
    kumo__error err = {0};
    fflush(stdout);
    int saved = dup(1), fd = open("/dev/null", O_WRONLY);
    dup2(fd, 1);
    close(fd);
    int rc = kumo__deploy_other(&o, &err);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    CHECK_INT(rc, 0);
    if (rc < 0) {
        fprintf(stderr, "two units: %s\n", err.msg);
        return;
    }
    kumo__doc *doc = NULL;
    snprintf(path, sizeof path, "%s/.kumo/deploy/gcp/api-config.yaml", d2);
    CHECK_INT(kumo__doc_load(path, &doc, &err), 0);
    json_t *paths = at(kumo__doc_root(doc), "paths");
    CHECK_STR(json_string_value(at(json_object_get(paths, "/hello"), "get.x-google-backend.address")), "${KUMO_URL_A}");
    CHECK_STR(json_string_value(at(json_object_get(paths, "/bye"), "post.x-google-backend.address")),
              "${KUMO_URL_B_UNIT}");
    CHECK(json_real_value(at(json_object_get(paths, "/hello"), "get.x-google-backend.deadline")) == 3.0);
    kumo__doc_free(doc);
    snprintf(path, sizeof path, "%s/.kumo/deploy/gcp/service-b_unit.yaml", d2);
    CHECK_INT(kumo__doc_load(path, &doc, &err), 0);
    json_t *svc = kumo__doc_root(doc);
    CHECK_STR(json_string_value(at(svc, "metadata.name")), "two-units-b-unit");
    CHECK_STR(json_string_value(at(svc, "spec.template.spec.containers.0.image")),
              "us-central1-docker.pkg.dev/demo-proj/kumo/b-unit@" DIGEST);
    CHECK_STR(json_string_value(at(svc, "spec.template.spec.containers.0.resources.limits.memory")), "256Mi");
    CHECK_INT(json_integer_value(at(svc, "spec.template.spec.containerConcurrency")), 4);
    json_t *ann = at(svc, "spec.template.metadata.annotations");
    CHECK_STR(json_string_value(get(ann, "autoscaling.knative.dev/minScale")), "1");
    CHECK_STR(json_string_value(get(ann, "autoscaling.knative.dev/maxScale")), "2");
    kumo__doc_free(doc);
    snprintf(path, sizeof path, "%s/.kumo/deploy/gcp/service-a.yaml", d2);
    CHECK_INT(kumo__doc_load(path, &doc, &err), 0);
    CHECK_INT(json_integer_value(at(kumo__doc_root(doc), "spec.template.spec.timeoutSeconds")), 3);
    kumo__doc_free(doc);
    snprintf(path, sizeof path, "%s/.kumo/deploy/gcp/deploy.sh", d2);
    char *script = read_all(path);
    CHECK(script &&
          strstr(script, "-e \"s|\\${KUMO_URL_A}|$KUMO_URL_A|g\" -e \"s|\\${KUMO_URL_B_UNIT}|$KUMO_URL_B_UNIT|g\""));
    CHECK(script && strstr(script, "KUMO_URL_B_UNIT=$(gcloud run services describe two-units-b-unit"));
    free(script);
}

static void test_azure(void)
{
    kumo__error err = {0};
    CHECK_INT(deploy("azure", 1, 0, &err), 0);
    kumo__doc *doc = NULL;
    json_t *t = load("azure", "azuredeploy.json", &doc);
    CHECK(t != NULL);
    CHECK_STR(json_string_value(at(t, "parameters.kumoStoreTodos.type")), "securestring");
    const char *types[] = {"Microsoft.Storage/storageAccounts", "Microsoft.Web/serverfarms", "Microsoft.Web/sites",
                           "Microsoft.ApiManagement/service", "Microsoft.ApiManagement/service/apis"};
    json_t *res = at(t, "resources");
    CHECK_INT(json_array_size(res), 5);
    for (size_t i = 0; i < 5; i++)
        CHECK_STR(json_string_value(at(json_array_get(res, i), "type")), types[i]);
    json_t *settings = at(json_array_get(res, 2), "properties.siteConfig.appSettings");
    CHECK_STR(json_string_value(at(env_named(settings, "FUNCTIONS_WORKER_RUNTIME"), "value")), "custom");
    CHECK_STR(json_string_value(at(env_named(settings, "KUMO_STORE_TODOS"), "value")),
              "[parameters('kumoStoreTodos')]");
    CHECK_STR(json_string_value(at(env_named(settings, "KUMO_STORE_NOTIFICATIONS"), "value")),
              "redis://queue.internal:6379/0");
    json_t *api = at(json_array_get(res, 4), "properties");
    CHECK_STR(json_string_value(at(api, "format")), "openapi+json");
    json_t *spec = json_loads(json_string_value(at(api, "value")), 0, NULL);
    CHECK_STR(json_string_value(at(spec, "openapi")), "3.0.3");
    CHECK(json_object_get(json_object_get(spec, "paths"), "/todos/{id}") != NULL);
    json_decref(spec);
    kumo__doc_free(doc);
    has("az deployment group create --name kumo-todo --resource-group \"$RESOURCE_GROUP\" --template-file ");
    has(" kumoStoreTodos=KUMO_STORE_TODOS |");
    has("--parameters @/dev/stdin");
    has("az functionapp deployment source config-zip --resource-group \"$RESOURCE_GROUP\" --name \"$APP\" --src ");
    has("/.kumo/build/azure/app.zip");
}

static void test_knative(void)
{
    kumo__error err = {0};
    CHECK_INT(deploy("knative", 1, 0, &err), 0);
    kumo__doc *doc = NULL;
    json_t *svc = load("knative", "service-todos.yaml", &doc);
    CHECK_STR(json_string_value(at(svc, "kind")), "Service");
    CHECK_STR(json_string_value(at(svc, "metadata.name")), "todo-todos");
    json_t *ann = at(svc, "spec.template.metadata.annotations");
    CHECK_STR(json_string_value(get(ann, "autoscaling.knative.dev/min-scale")), "0");
    CHECK_STR(json_string_value(get(ann, "autoscaling.knative.dev/max-scale")), "8");
    CHECK_STR(json_string_value(get(ann, "autoscaling.knative.dev/target")), "1");
    json_t *c = at(svc, "spec.template.spec.containers.0");
    CHECK_STR(json_string_value(at(c, "image")), "registry.test:5000/todo-todos@" DIGEST);
    CHECK_INT(json_integer_value(at(c, "ports.0.containerPort")), 8080);
    CHECK(at(c, "ports.1") == NULL); /* Knative takes one port: /metrics is not exposed, and a note says so */
    has("kumo-host's /metrics (KUMO_METRICS_PORT) is not exposed");
    json_t *env = at(c, "env");
    CHECK_STR(json_string_value(at(env_named(env, "KUMO_STORE_TODOS"), "valueFrom.secretKeyRef.name")),
              "kumo-todo-stores");
    CHECK_STR(json_string_value(at(env_named(env, "KUMO_STORE_TODOS"), "valueFrom.secretKeyRef.key")),
              "KUMO_STORE_TODOS");
    kumo__doc_free(doc);
    has("metadata: {name: kumo-todo-stores,");
    has("  echo \"  KUMO_STORE_TODOS: $(printf %s \"$KUMO_STORE_TODOS\" | base64 | tr -d '\\n')\"");
    has("} | kubectl apply -f -");
    has("kubectl apply -f ");
    has("skopeo copy --preserve-digests oci:");
    has("docker://registry.test:5000/todo-todos:sha256-");
}

static void test_openfaas(void)
{
    kumo__error err = {0};
    CHECK_INT(deploy("openfaas", 1, 0, &err), 0);
    kumo__doc *doc = NULL;
    json_t *st = load("openfaas", "stack.yml", &doc);
    CHECK_STR(json_string_value(at(st, "version")), "1.0");
    CHECK_STR(json_string_value(at(st, "provider.name")), "openfaas");
    json_t *fn = json_object_get(at(st, "functions"), "todo-todos");
    CHECK_STR(json_string_value(at(fn, "image")), "registry.test:5000/todo-todos@" DIGEST);
    CHECK_STR(json_string_value(at(fn, "limits.memory")), "128Mi");
    CHECK_STR(json_string_value(at(fn, "requests.memory")), "128Mi");
    CHECK_STR(json_string_value(get(at(fn, "labels"), "com.openfaas.scale.min")), "1");
    CHECK_STR(json_string_value(get(at(fn, "labels"), "com.openfaas.scale.max")), "8");
    CHECK_STR(json_string_value(at(fn, "environment.KUMO_STORE_NOTIFICATIONS")), "redis://queue.internal:6379/0");
    CHECK(at(fn, "environment.KUMO_STORE_TODOS") == NULL);
    CHECK_STR(json_string_value(at(fn, "secrets.0")), "kumo-todo-stores-todos");
    kumo__doc_free(doc);
    json_t *crd = load("openfaas", "function-todos.yaml", &doc);
    CHECK_STR(json_string_value(at(crd, "apiVersion")), "openfaas.com/v1");
    CHECK_STR(json_string_value(at(crd, "kind")), "Function");
    CHECK_STR(json_string_value(at(crd, "spec.name")), "todo-todos");
    CHECK_STR(json_string_value(at(crd, "spec.image")), "registry.test:5000/todo-todos@" DIGEST);
    kumo__doc_free(doc);
    has("faas-cli deploy -f ");
    has("faas-cli secret create kumo-todo-stores-todos");
}

/* Every YAML file parses with python3's yaml; the kubernetes one holds a
 * Deployment, a Service and an autoscaling/v2 HPA with the unit's values. */
static void test_kubernetes_and_python_yaml(void)
{
    kumo__error err = {0};
    CHECK_INT(deploy("kubernetes", 1, 0, &err), 0);
    has("kubectl apply -f ");
    has("metadata: {name: kumo-todo-stores,");
    has("kubectl apply -f ");
    char script[4200];
    snprintf(script, sizeof script, "%s/check.py", dir);
    write_file(script, "import glob, sys, yaml\n"
                       "d = sys.argv[1]\n"
                       "files = glob.glob(d + '/.kumo/deploy/*/*.yaml') + glob.glob(d + '/.kumo/deploy/*/*.yml')\n"
                       "assert len(files) >= 6, files\n"
                       "for f in files:\n"
                       "    docs = [x for x in yaml.safe_load_all(open(f)) if x is not None]\n"
                       "    assert docs, f\n"
                       "k = [x for x in yaml.safe_load_all(open(d + '/.kumo/deploy/kubernetes/todos.yaml')) if x]\n"
                       "assert [x['kind'] for x in k] == ['Deployment', 'Service', 'HorizontalPodAutoscaler'], k\n"
                       "dep, svc, hpa = k\n"
                       "c = dep['spec']['template']['spec']['containers'][0]\n"
                       "assert c['image'] == 'registry.test:5000/todo-todos@" DIGEST "', c['image']\n"
                       "assert c['ports'][0]['containerPort'] == 8080\n"
                       "assert c['ports'][1] == {'name': 'metrics', 'containerPort': 9090}, c['ports']\n"
                       "a = dep['spec']['template']['metadata']['annotations']\n"
                       "assert a == {'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090', "
                       "'prometheus.io/path': '/metrics'}, a\n"
                       "assert c['resources']['limits']['memory'] == '128Mi'\n"
                       "env = {e['name']: e for e in c['env']}\n"
                       "assert env['KUMO_STORE_TODOS']['valueFrom']['secretKeyRef'] == {'name': 'kumo-todo-stores', "
                       "'key': 'KUMO_STORE_TODOS'}\n"
                       "assert env['KUMO_STORE_NOTIFICATIONS']['value'] == 'redis://queue.internal:6379/0'\n"
                       "assert env['KUMO_METRICS_PORT']['value'] == '9090'\n"
                       "assert dep['spec']['selector']['matchLabels'] == dep['spec']['template']['metadata']['labels'] "
                       "or all(dep['spec']['template']['metadata']['labels'][k] == v for k, v in "
                       "dep['spec']['selector']['matchLabels'].items())\n"
                       "assert svc['spec']['ports'][0]['targetPort'] == 8080\n"
                       "assert hpa['apiVersion'] == 'autoscaling/v2'\n"
                       "assert hpa['spec']['scaleTargetRef']['name'] == 'todo-todos'\n"
                       "assert hpa['spec']['minReplicas'] == 1 and hpa['spec']['maxReplicas'] == 8\n"
                       "g = yaml.safe_load(open(d + '/.kumo/deploy/gcp/api-config.yaml'))\n"
                       "assert g['paths']['/todos']['get']['x-google-backend']['address'] == '${KUMO_URL_TODOS}'\n"
                       "print('python yaml: %d files ok' % len(files))\n");
    char cmd[8500];
    snprintf(cmd, sizeof cmd, "python3 %s %s", script, dir);
    if (system("python3 -c 'import yaml' 2>/dev/null") != 0) {
        check_skip("python3 with yaml is not installed; the YAML files were not parsed by python");
        return;
    }
    CHECK_INT(system(cmd), 0);
}

/* The password is in no generated file. */
static void test_no_secret(void)
{
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "grep -r -l '" SECRET "' %s/.kumo/deploy", dir);
    CHECK(system(cmd) != 0); /* grep found nothing */
    CHECK(strstr(out, SECRET) == NULL);
}

static void test_apply_without_tool(void)
{
    char empty[4200], *path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    snprintf(empty, sizeof empty, "%s/empty-bin", dir);
    mkdir(empty, 0755);
    setenv("PATH", empty, 1);
    kumo__error err = {0};
    int rc = deploy("kubernetes", 0, 0, &err);
    if (path) {
        setenv("PATH", path, 1);
        free(path);
    }
    CHECK(rc < 0);
    CHECK(strstr(err.msg, "'kubectl' is not on PATH") != NULL);
    CHECK(strstr(err.msg, "--dry-run") != NULL);
}

static void test_destroy_and_unknown(void)
{
    kumo__error err = {0};
    CHECK_INT(deploy("kubernetes", 1, 1, &err), 0);
    has("kubectl delete hpa/todo-todos service/todo-todos deployment/todo-todos --ignore-not-found");
    char p[4200];
    snprintf(p, sizeof p, "%s/.kumo/deploy/kubernetes/destroy.sh", dir);
    CHECK(access(p, X_OK) == 0);
    kumo__error e2 = {0};
    CHECK(deploy("heroku", 1, 0, &e2) < 0);
    CHECK(strstr(e2.msg, "unknown target 'heroku'") != NULL);
    CHECK(strstr(e2.msg, "kubernetes") != NULL);
    kumo__error e3 = {0};
    kumo__deploy_opts o = {.dir = dir, .target = "knative", .env = "staging", .dry_run = 1};
    CHECK(kumo__deploy_other(&o, &e3) < 0);
    CHECK(strstr(e3.msg, "staging") != NULL);
}

/* env: on azure: plain values as app settings, secrets as Key Vault
 * references, the vault readable by the app's own identity, each secret a
 * securestring parameter that deploy.sh computes; the value nowhere. */
static void test_azure_env(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/kumo.yaml", dir);
    FILE *f = fopen(path, "a");
    fputs("env:\n  GREETING: hello\n  API_TOKEN: \"${env:TODO_TOKEN}\"\n", f);
    fclose(f);
    setenv("TODO_TOKEN", "tok-azure-" SECRET, 1);
    snprintf(path, sizeof path, "%s/.kumo/build/azure/app.zip", dir);
    utime(path, NULL); /* newer than kumo.yaml: no rebuild */
    kumo__error err = {0};
    CHECK_INT(deploy("azure", 1, 0, &err), 0);
    kumo__doc *doc = NULL;
    json_t *t = load("azure", "azuredeploy.json", &doc);
    CHECK(t != NULL);
    json_t *res = at(t, "resources");
    CHECK_INT(json_array_size(res), 7);
    CHECK_STR(json_string_value(at(json_array_get(res, 2), "identity.type")), "SystemAssigned");
    json_t *settings = at(json_array_get(res, 2), "properties.siteConfig.appSettings");
    CHECK_STR(json_string_value(at(env_named(settings, "GREETING"), "value")), "hello");
    CHECK_STR(json_string_value(at(env_named(settings, "API_TOKEN"), "value")),
              "[concat('@Microsoft.KeyVault(VaultName=', variables('vaultName'), ';SecretName=API-TOKEN)')]");
    CHECK_STR(json_string_value(at(json_array_get(res, 5), "type")), "Microsoft.KeyVault/vaults");
    CHECK_STR(json_string_value(at(json_array_get(res, 5), "properties.accessPolicies.0.permissions.secrets.0")),
              "get");
    CHECK_STR(json_string_value(at(json_array_get(res, 6), "type")), "Microsoft.KeyVault/vaults/secrets");
    CHECK_STR(json_string_value(at(json_array_get(res, 6), "properties.value")), "[parameters('envApiToken')]");
    CHECK_STR(json_string_value(at(t, "parameters.envApiToken.type")), "securestring");
    CHECK_STR(json_string_value(at(t, "variables.vaultName")), "[concat('kv', variables('suffix'))]");
    kumo__doc_free(doc);
    has("KUMO_SECRET_1=\"${TODO_TOKEN}\"; export KUMO_SECRET_1");
    has(" envApiToken=KUMO_SECRET_1");
    has(": \"${TODO_TOKEN?export TODO_TOKEN first");
    CHECK(strstr(out, "tok-azure-") == NULL);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "grep -rq tok-azure- %s/.kumo/deploy", dir);
    CHECK(system(cmd) != 0);
}

int main(void)
{
    setup();
    test_gcp();
    test_gcp_two_units();
    test_azure();
    test_knative();
    test_openfaas();
    test_kubernetes_and_python_yaml();
    test_no_secret();
    test_apply_without_tool();
    test_destroy_and_unknown();
    test_azure_env();
    if (sh("rm -rf %s", dir) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
