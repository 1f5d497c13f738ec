/* model/safetensors_inspect.c — `vlmc inspect FILE.safetensors [--json]`:
 * validates the file with st_open and lists its metadata and tensors (name,
 * dtype, shape, bytes, offsets) as a table or as one JSON object. A file that
 * fails validation prints "vlmc inspect: FILE: reason" and exits 1. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/cli.h"
#include "model/model_cli.h"
#include "model/safetensors.h"

static const char usage[] =
    "usage: vlmc inspect FILE.safetensors [--json]\n"
    "  Validates a safetensors file and lists its metadata and tensors\n"
    "  (name, dtype, shape, bytes). --json prints one JSON object instead.\n";

static void shape_str(const StTensor *t, char *buf, size_t n) {
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < t->ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

static void print_table(const StFile *f) {
    printf("%s: %zu tensors, %zu data bytes, %zu header bytes\n", st_path(f), st_count(f), st_data_bytes(f),
           st_header_bytes(f));
    if (st_meta_count(f)) {
        printf("metadata:\n");
        for (size_t i = 0; i < st_meta_count(f); i++) printf("  %s: %s\n", st_meta_key(f, i), st_meta_value(f, i));
    }
    size_t w = 4;
    for (size_t i = 0; i < st_count(f); i++) {
        size_t l = strlen(st_tensor(f, i)->name);
        if (l > w) w = l;
    }
    if (w > 80) w = 80;
    printf("%-*s  %-5s  %-24s %14s\n", (int)w, "name", "dtype", "shape", "bytes");
    for (size_t i = 0; i < st_count(f); i++) {
        const StTensor *t = st_tensor(f, i);
        char s[256];
        shape_str(t, s, sizeof s);
        printf("%-*s  %-5s  %-24s %14zu\n", (int)w, t->name, dt_name(t->dtype), s, t->nbytes);
    }
}

static int print_json(const StFile *f) {
    json_t *root = json_object(), *meta = json_object(), *list = json_array();
    int bad = !root || !meta || !list;
    bad |= json_object_set_new(root, "file", json_string(st_path(f)));
    bad |= json_object_set_new(root, "header_bytes", json_integer((json_int_t)st_header_bytes(f)));
    bad |= json_object_set_new(root, "data_bytes", json_integer((json_int_t)st_data_bytes(f)));
    bad |= json_object_set_new(root, "metadata", meta);
    bad |= json_object_set_new(root, "tensors", list);
    for (size_t i = 0; !bad && i < st_meta_count(f); i++)
        bad |= json_object_set_new(meta, st_meta_key(f, i), json_string(st_meta_value(f, i)));
    for (size_t i = 0; !bad && i < st_count(f); i++) {
        const StTensor *t = st_tensor(f, i);
        json_t *e = json_object(), *shape = json_array(), *offs = json_array();
        bad |= !e || !shape || !offs;
        for (int d = 0; !bad && d < t->ndim; d++) bad |= json_array_append_new(shape, json_integer(t->shape[d]));
        bad |= json_array_append_new(offs, json_integer((json_int_t)t->offset));
        bad |= json_array_append_new(offs, json_integer((json_int_t)(t->offset + t->nbytes)));
        bad |= json_object_set_new(e, "name", json_string(t->name));
        bad |= json_object_set_new(e, "dtype", json_string(dt_name(t->dtype)));
        bad |= json_object_set_new(e, "shape", shape);
        bad |= json_object_set_new(e, "bytes", json_integer((json_int_t)t->nbytes));
        bad |= json_object_set_new(e, "data_offsets", offs);
        bad |= json_array_append_new(list, e);
    }
    if (bad) {
        json_decref(root);
        fprintf(stderr, "vlmc inspect: %s: out of memory building the JSON listing\n", st_path(f));
        return CLI_FAIL;
    }
    int rc = json_dumpf(root, stdout, JSON_INDENT(2)) == 0 ? CLI_OK : CLI_FAIL;
    json_decref(root);
    putchar('\n');
    return rc;
}

int model_inspect_safetensors_main(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CLI_OK;
    }
    const char *path = NULL;
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) as_json = 1;
        else if (argv[i][0] == '-') return cli_usage_error("inspect", usage, "unknown option '%s'", argv[i]);
        else if (!path) path = argv[i];
        else return cli_usage_error("inspect", usage, "unexpected argument '%s'", argv[i]);
    }
    if (!path) return cli_usage_error("inspect", usage, "missing FILE");
    VStatus st = {0};
    StFile *f = st_open(path, &st);
    if (!f) {
        fprintf(stderr, "vlmc inspect: %s\n", st.msg);
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    if (as_json) rc = print_json(f);
    else print_table(f);
    st_close(f);
    return rc;
}
