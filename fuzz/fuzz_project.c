/*
 * fuzz_project.c: libFuzzer target for kumo.yaml (src/project/project.c).
 * The input is written as DIR/kumo.yaml in a scratch project that also
 * holds openapi.yaml and src/todos.c, src/util.c, src/auth.c (so `api:` and
 * `sources:` can name files that exist), and loaded twice: as `kumo up`
 * does (kumo__project_load) and as kumo-host does (_prebuilt). A refusal
 * must set err and return no project; a project that loads must answer
 * the questions later layers ask of it (store URLs in each environment,
 * the environment to pick, redacted URLs) without crashing or leaking.
 * Seeds: fuzz/corpus/project/.
 */
#include "base/fs.h"
#include "project/project.h"
#include "project/store_plan.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char dir[64], yaml_path[128];

static void cleanup(void)
{
    kumo__rmtree(dir);
}

static void put(const char *rel, const char *text)
{
    char path[192];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}

static void setup_once(void)
{
    if (dir[0])
        return;
    snprintf(dir, sizeof dir, "%s", "/tmp/kumo-fuzz-project-XXXXXX");
    if (mkdtemp(dir) == NULL)
        abort();
    char src[96];
    snprintf(src, sizeof src, "%s/src", dir);
    if (mkdir(src, 0755) != 0)
        abort();
    put("openapi.yaml", "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n");
    put("src/todos.c", "int x;\n");
    put("src/util.c", "int y;\n");
    put("src/auth.c", "int z;\n");
    snprintf(yaml_path, sizeof yaml_path, "%s/kumo.yaml", dir);
    atexit(cleanup);
}

/* What the gateway, kumo-host and the deploy targets read from a project. */
static void use(const kumo__project *p)
{
    if (p->name == NULL || p->dir == NULL || p->api_path == NULL || p->doc == NULL)
        __builtin_trap();
    for (size_t i = 0; i < p->nunits; i++) {
        const kumo__unit *u = &p->units[i];
        if (u->name == NULL || u->so_path == NULL || u->nsources == 0 || kumo__project_unit(p, u->name) == NULL)
            __builtin_trap();
        for (size_t j = 0; j < u->nsources; j++)
            if (u->sources[j] == NULL)
                __builtin_trap();
    }
    const char *picked;
    kumo__error err = {0};
    kumo__project_pick_environment(p, NULL, &picked, &err);
    kumo__project_pick_environment(p, "nope", &picked, &err);
    char red[512];
    for (size_t i = 0; i < p->nstores; i++)
        if (kumo__project_store_kind(p, p->stores[i].name) == NULL)
            __builtin_trap(); /* a declared store has a kind */
    /* the store plan in every environment, and a reload's plan over it */
    kumo__store_plan first = {0};
    int have_first = kumo__store_plan_build(p, NULL, NULL, NULL, NULL, &first, &err) == 0;
    for (size_t e = 0; e < p->nenvironments; e++) {
        kumo__store_plan plan;
        if (kumo__store_plan_build(p, p->environments[e].name, NULL, have_first ? &first : NULL, NULL, &plan, &err) !=
            0)
            continue;
        if (plan.n != p->nstores)
            __builtin_trap(); /* every store is placed */
        for (size_t i = 0; i < plan.n; i++) {
            if (plan.stores[i].url == NULL || plan.stores[i].shown == NULL)
                __builtin_trap();
            kumo__store_url_redact(plan.stores[i].url, red, sizeof red);
        }
        char **envp = kumo__store_plan_envp(&plan, NULL);
        free(envp);
        kumo__store_plan_free(&plan);
    }
    if (have_first)
        kumo__store_plan_free(&first);
    for (size_t e = 0; e < p->nenvironments; e++) {
        const kumo__environment *env = &p->environments[e];
        if (kumo__project_environment(p, env->name) == NULL)
            __builtin_trap();
        for (size_t s = 0; s < env->nstores; s++) {
            if (kumo__project_store_kind(p, env->stores[s].store) == NULL)
                __builtin_trap(); /* a placed store is declared */
            kumo__store_url_redact(env->stores[s].url, red, sizeof red);
            kumo__store_url_redact(env->stores[s].url, red, 8);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    FILE *f = fopen(yaml_path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    for (int prebuilt = 0; prebuilt < 2; prebuilt++) {
        kumo__project *p = NULL;
        kumo__error err = {0};
        int rc = prebuilt ? kumo__project_load_prebuilt(dir, &p, &err) : kumo__project_load(dir, &p, &err);
        if (rc < 0) {
            if (p != NULL || err.code == 0 || err.msg[0] == '\0')
                __builtin_trap(); /* a refusal says why and returns nothing */
            continue;
        }
        if (rc != 0 || p == NULL)
            __builtin_trap();
        use(p);
        kumo__project_free(p);
    }
    return 0;
}
