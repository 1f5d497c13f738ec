/* core/config_yaml.c — applying YAML (files, defaults, override values) onto
 * a struct described by a CfgSchema (contract in config.h). The YAML is
 * loaded as a libyaml document; apply_* walk the document and the schema
 * side by side, building the dotted key as they go so that every error names
 * the full key and the source line. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "core/config.h"
#include "core/config_impl.h"

#define CFG_MAX_FILE (16u << 20)
#define KEY_MAX 512

typedef struct Ctx {
    yaml_document_t *doc;
    const char *src;   /* file name, or the override / default text */
    int kind;          /* 0 file, 1 override, 2 schema default */
    VStatus *st;
} Ctx;

static int err(Ctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...) VLMC_PRINTF(4, 5);
static int err(Ctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...) {
    char reason[VS_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (c->kind == 0)
        return vs_set(c->st, VS_EINVAL, "%s:%zu: key '%s': %s", c->src, n ? n->start_mark.line + 1 : 0, key, reason);
    return vs_set(c->st, VS_EINVAL, "%s '%s': key '%s': %s", c->kind == 1 ? "override" : "schema default", c->src, key,
                  reason);
}

static const char *node_kind(const yaml_node_t *n) {
    return n->type == YAML_MAPPING_NODE ? "a mapping" : n->type == YAML_SEQUENCE_NODE ? "a sequence" : "a scalar";
}

static int is_null(const yaml_node_t *n) {
    if (!n) return 1;
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *v = (const char *)n->data.scalar.value;
    return n->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
           strcmp(v, "NULL") == 0;
}

static void child_key(char *out, const char *parent, const char *key) {
    if (parent[0]) snprintf(out, KEY_MAX, "%s.%s", parent, key);
    else snprintf(out, KEY_MAX, "%s", key);
}

static int parse_scalar(Ctx *c, const CfgField *f, void *p, const yaml_node_t *n, const char *key) {
    static const char *const type_names[] = {"an integer", "an integer", "a number", "a number", "a boolean",
                                             "a string", "one of the names"};
    if (!n || n->type != YAML_SCALAR_NODE)
        return err(c, n, key, "expected %s, got %s", type_names[f->type], n ? node_kind(n) : "nothing");
    const char *v = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    if (f->type != CFG_T_STRING && is_null(n)) return err(c, n, key, "expected %s, got no value", type_names[f->type]);
    if (strlen(v) != len) return err(c, n, key, "value contains a NUL byte");
    int has_range = f->min <= f->max;
    switch (f->type) {
    case CFG_T_INT:
    case CFG_T_INT64: {
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        long long lo = f->type == CFG_T_INT ? INT_MIN : LLONG_MIN, hi = f->type == CFG_T_INT ? INT_MAX : LLONG_MAX;
        if (end == v || *end) return err(c, n, key, "expected an integer, got '%s'", v);
        if (errno == ERANGE || x < lo || x > hi) return err(c, n, key, "%s does not fit in %s", v,
                                                            f->type == CFG_T_INT ? "int" : "int64");
        if (has_range && ((double)x < f->min || (double)x > f->max))
            return err(c, n, key, "%lld is out of range [%.15g, %.15g]", x, f->min, f->max);
        if (f->type == CFG_T_INT) *(int *)p = (int)x;
        else *(int64_t *)p = (int64_t)x;
        return 0;
    }
    case CFG_T_FLOAT:
    case CFG_T_DOUBLE: {
        double x;
        const char *s = v + (v[0] == '+' || v[0] == '-');
        if (strcasecmp(s, ".inf") == 0 || strcasecmp(s, "inf") == 0) {
            x = v[0] == '-' ? -INFINITY : INFINITY;
        } else {
            char *end;
            errno = 0;
            x = strtod(v, &end);
            if (end == v || *end || isnan(x)) return err(c, n, key, "expected a number, got '%s'", v);
            if (errno == ERANGE && fabs(x) > 1) return err(c, n, key, "%s overflows a double", v);
        }
        if (f->type == CFG_T_FLOAT && isfinite(x) && fabs(x) > 3.4028234663852886e38)
            return err(c, n, key, "%s overflows a float", v);
        if (has_range && (x < f->min || x > f->max))
            return err(c, n, key, "%s is out of range [%.15g, %.15g]", v, f->min, f->max);
        if (f->type == CFG_T_FLOAT) *(float *)p = (float)x;
        else *(double *)p = x;
        return 0;
    }
    case CFG_T_BOOL: {
        static const char *const t[] = {"true", "yes", "on"}, *const fl[] = {"false", "no", "off"};
        for (int i = 0; i < 3; i++) {
            if (strcasecmp(v, t[i]) == 0) { *(int *)p = 1; return 0; }
            if (strcasecmp(v, fl[i]) == 0) { *(int *)p = 0; return 0; }
        }
        return err(c, n, key, "expected a boolean (true/false), got '%s'", v);
    }
    case CFG_T_STRING: {
        char *s = NULL;
        if (!is_null(n) && !(s = strdup(v))) return err(c, n, key, "out of memory");
        free(*(char **)p);
        *(char **)p = s;
        return 0;
    }
    case CFG_T_ENUM: {
        char names[400] = "";
        size_t o = 0;
        for (int i = 0; f->enum_names[i]; i++) {
            if (strcmp(v, f->enum_names[i]) == 0) { *(int *)p = i; return 0; }
            if (o < sizeof names) o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "", f->enum_names[i]);
        }
        return err(c, n, key, "'%s' is not one of: %s", v, names);
    }
    default: VLMC_PANIC("parse_scalar: type %d", (int)f->type);
    }
}

static int apply_mapping(Ctx *c, const CfgSchema *s, void *obj, yaml_node_t *n, const char *key);

static int apply_field(Ctx *c, const CfgField *f, void *base, yaml_node_t *n, const char *key) {
    void *p = (char *)base + f->offset;
    switch (f->type) {
    case CFG_T_STRUCT:
        if (is_null(n)) return 0;
        return apply_mapping(c, f->sub, p, n, key);
    case CFG_T_LIST: {
        CfgList *l = p, nl = {0};
        if (!is_null(n) && n->type != YAML_SEQUENCE_NODE)
            return err(c, n, key, "expected a sequence (list of %s), got %s", f->sub->name, node_kind(n));
        int cnt = is_null(n) ? 0 : (int)(n->data.sequence.items.top - n->data.sequence.items.start);
        if (cnt && !(nl.items = calloc((size_t)cnt, f->sub->size))) return err(c, n, key, "out of memory");
        int rc = 0;
        for (int i = 0; i < cnt && !rc; i++) {
            char k[KEY_MAX];
            snprintf(k, sizeof k, "%s.%d", key, i);
            void *item = (char *)nl.items + (size_t)i * f->sub->size;
            nl.n = i + 1;
            if ((rc = cfg_init(f->sub, item, c->st))) break;
            yaml_node_t *in = yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);
            if (!is_null(in)) rc = apply_mapping(c, f->sub, item, in, k);
        }
        if (rc) {
            cfg__free_list(f->sub, &nl);
            return rc;
        }
        cfg__free_list(f->sub, l);
        *l = nl;
        return 0;
    }
    case CFG_T_STRLIST: {
        CfgStrList *l = p, nl = {0};
        if (!is_null(n) && n->type != YAML_SEQUENCE_NODE)
            return err(c, n, key, "expected a sequence of strings, got %s", node_kind(n));
        int cnt = is_null(n) ? 0 : (int)(n->data.sequence.items.top - n->data.sequence.items.start);
        if (cnt && !(nl.items = calloc((size_t)cnt, sizeof *nl.items))) return err(c, n, key, "out of memory");
        for (int i = 0; i < cnt; i++) {
            yaml_node_t *in = yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);
            char k[KEY_MAX];
            snprintf(k, sizeof k, "%s.%d", key, i);
            int rc = 0;
            if (in->type != YAML_SCALAR_NODE) rc = err(c, in, k, "expected a string, got %s", node_kind(in));
            else if (strlen((const char *)in->data.scalar.value) != in->data.scalar.length)
                rc = err(c, in, k, "value contains a NUL byte");
            else if (!(nl.items[i] = strdup((const char *)in->data.scalar.value))) rc = err(c, in, k, "out of memory");
            nl.n = i + 1;
            if (rc) {
                cfg__free_strlist(&nl);
                return rc;
            }
        }
        cfg__free_strlist(l);
        *l = nl;
        return 0;
    }
    default:
        return parse_scalar(c, f, p, n, key);
    }
}

static const CfgField *find_field(const CfgSchema *s, const char *k) {
    for (size_t i = 0; i < s->nfields; i++)
        if (strcmp(s->fields[i].key, k) == 0) return &s->fields[i];
    return NULL;
}

/* "lr, warmup, ..." for unknown-key messages */
static void key_list(const CfgSchema *s, char *buf, size_t n) {
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < s->nfields && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%s", i ? ", " : "", s->fields[i].key);
}

static int apply_mapping(Ctx *c, const CfgSchema *s, void *obj, yaml_node_t *n, const char *key) {
    if (n->type != YAML_MAPPING_NODE)
        return err(c, n, key[0] ? key : "(top level)", "expected a mapping (%s), got %s", s->name, node_kind(n));
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = yaml_document_get_node(c->doc, pr->key), *vn = yaml_document_get_node(c->doc, pr->value);
        if (kn->type != YAML_SCALAR_NODE) return err(c, kn, key[0] ? key : "(top level)", "a mapping key is not a scalar");
        const char *k = (const char *)kn->data.scalar.value;
        char full[KEY_MAX];
        child_key(full, key, k);
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < pr; q++) {
            yaml_node_t *qk = yaml_document_get_node(c->doc, q->key);
            if (qk->type == YAML_SCALAR_NODE && strcmp((const char *)qk->data.scalar.value, k) == 0)
                return err(c, kn, full, "duplicate key (first at line %zu)", qk->start_mark.line + 1);
        }
        const CfgField *f = find_field(s, k);
        if (!f) {
            char keys[600];
            key_list(s, keys, sizeof keys);
            return err(c, kn, full, "unknown key (%s has: %s)", key[0] ? key : s->name, keys);
        }
        int rc = apply_field(c, f, obj, vn, full);
        if (rc) return rc;
    }
    return 0;
}

/* Loads text as one YAML document; NULL root for an empty one. */
static int load_doc(yaml_document_t *doc, const char *text, size_t len, Ctx *c) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return vs_set(c->st, VS_ENOMEM, "%s: out of memory", c->src);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int ok = yaml_parser_load(&parser, doc);
    int rc = 0;
    if (!ok) {
        const char *what = parser.problem ? parser.problem : "unknown error";
        if (c->kind == 0)
            rc = vs_set(c->st, VS_EINVAL, "%s:%zu: YAML syntax error: %s%s%s", c->src, parser.problem_mark.line + 1,
                        what, parser.context ? " " : "", parser.context ? parser.context : "");
        else
            rc = vs_set(c->st, VS_EINVAL, "%s '%s': value is not valid YAML: %s", c->kind == 1 ? "override" : "schema default",
                        c->src, what);
    }
    yaml_parser_delete(&parser);
    return rc;
}

int cfg_load_string(const CfgSchema *s, void *obj, const char *text, size_t len, const char *name, VStatus *st) {
    Ctx c = {NULL, name, 0, st};
    yaml_document_t doc;
    if (load_doc(&doc, text, len, &c)) return st ? st->code : VS_EINVAL;
    c.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc = is_null(root) ? 0 : apply_mapping(&c, s, obj, root, "");
    yaml_document_delete(&doc);
    return rc;
}

int cfg_load_file(const CfgSchema *s, void *obj, const char *path, VStatus *st) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return vs_set(st, VS_EIO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = malloc(CFG_MAX_FILE + 1);
    if (!buf) {
        fclose(fp);
        return vs_set(st, VS_ENOMEM, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, CFG_MAX_FILE + 1, fp);
    int rd_err = ferror(fp);
    fclose(fp);
    int rc;
    if (rd_err) rc = vs_set(st, VS_EIO, "%s: read error", path);
    else if (n > CFG_MAX_FILE) rc = vs_set(st, VS_EINVAL, "%s: larger than %u bytes, not a config", path, CFG_MAX_FILE);
    else rc = cfg_load_string(s, obj, buf, n, path, st);
    free(buf);
    return rc;
}

/* Applies YAML text to one field (defaults and override values). */
static int apply_text(Ctx *c, const CfgField *f, void *base, const char *text, const char *key) {
    yaml_document_t doc;
    if (load_doc(&doc, text, strlen(text), c)) return c->st ? c->st->code : VS_EINVAL;
    c->doc = &doc;
    int rc = apply_field(c, f, base, yaml_document_get_root_node(&doc), key);
    yaml_document_delete(&doc);
    return rc;
}

int cfg__apply_default(const CfgField *f, void *base, VStatus *st) {
    Ctx c = {NULL, f->def, 2, st};
    return apply_text(&c, f, base, f->def, f->key);
}

/* "tags.1=VALUE": the scalar's text verbatim, as items read from a file are */
static int set_str_item(Ctx *c, char **item, const char *text, const char *key) {
    yaml_document_t doc;
    if (load_doc(&doc, text, strlen(text), c)) return c->st ? c->st->code : VS_EINVAL;
    yaml_node_t *n = yaml_document_get_root_node(&doc);
    int rc = 0;
    char *v = NULL;
    if (n && n->type != YAML_SCALAR_NODE) rc = err(c, n, key, "expected a string, got %s", node_kind(n));
    else if (n && strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
        rc = err(c, n, key, "value contains a NUL byte");
    else if (!(v = strdup(n ? (const char *)n->data.scalar.value : ""))) rc = err(c, n, key, "out of memory");
    if (!rc) {
        free(*item);
        *item = v;
    }
    yaml_document_delete(&doc);
    return rc;
}

static int is_index(const char *s, int *out) {
    if (!*s) return 0;
    long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > 100000000) return 0;
        v = v * 10 + (*p - '0');
    }
    *out = (int)v;
    return 1;
}

int cfg_override(const CfgSchema *s, void *obj, const char *assignment, VStatus *st) {
    Ctx c = {NULL, assignment, 1, st};
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment) return vs_set(st, VS_EINVAL, "override '%s': expected KEY=VALUE", assignment);
    char path[KEY_MAX], done[KEY_MAX] = "", *tok[64];
    size_t klen = (size_t)(eq - assignment);
    if (klen >= sizeof path) return vs_set(st, VS_EINVAL, "override '%s': key too long", assignment);
    memcpy(path, assignment, klen);
    path[klen] = 0;
    int nt = 0;
    char *save = NULL;
    for (char *t = strtok_r(path, ".", &save); t && nt < 64; t = strtok_r(NULL, ".", &save)) tok[nt++] = t;
    if (nt == 0) return vs_set(st, VS_EINVAL, "override '%s': empty key", assignment);
    const CfgSchema *cur = s;
    void *base = obj;
    for (int i = 0; i < nt; i++) {
        char full[KEY_MAX];
        child_key(full, done, tok[i]);
        const CfgField *f = find_field(cur, tok[i]);
        if (!f) {
            char keys[600];
            key_list(cur, keys, sizeof keys);
            return err(&c, NULL, full, "unknown key (%s has: %s)", done[0] ? done : cur->name, keys);
        }
        snprintf(done, sizeof done, "%s", full);
        if (i == nt - 1) return apply_text(&c, f, base, eq + 1, done);
        void *p = (char *)base + f->offset;
        if (f->type == CFG_T_STRUCT) {   /* the next token is a key of the sub-struct */
            cur = f->sub;
            base = p;
            continue;
        }
        if (f->type != CFG_T_LIST && f->type != CFG_T_STRLIST)
            return err(&c, NULL, done, "a %s has no sub-keys", cfg__type_name(f->type));
        /* a list: the next token is an item index */
        int idx, n = f->type == CFG_T_LIST ? ((CfgList *)p)->n : ((CfgStrList *)p)->n;
        child_key(full, done, tok[++i]);
        snprintf(done, sizeof done, "%s", full);
        if (!is_index(tok[i], &idx)) return err(&c, NULL, done, "'%s' is not a list index", tok[i]);
        if (idx >= n) return err(&c, NULL, done, "index %d out of range (the list has %d items)", idx, n);
        if (f->type == CFG_T_STRLIST) {
            if (i != nt - 1) return err(&c, NULL, done, "a string list item has no sub-keys");
            return set_str_item(&c, &((CfgStrList *)p)->items[idx], eq + 1, done);
        }
        if (i == nt - 1) {   /* "stages.1={lr: 1e-3}": merge a mapping into the item */
            yaml_document_t doc;
            if (load_doc(&doc, eq + 1, strlen(eq + 1), &c)) return st ? st->code : VS_EINVAL;
            c.doc = &doc;
            yaml_node_t *root = yaml_document_get_root_node(&doc);
            void *item = (char *)((CfgList *)p)->items + (size_t)idx * f->sub->size;
            int rc = is_null(root) ? 0 : apply_mapping(&c, f->sub, item, root, done);
            yaml_document_delete(&doc);
            return rc;
        }
        cur = f->sub;
        base = (char *)((CfgList *)p)->items + (size_t)idx * f->sub->size;
    }
    return vs_set(st, VS_EINVAL, "override '%s': empty key", assignment);
}

int cfg_load(const CfgSchema *s, void *obj, const char *path, int noverrides, char *const *overrides, VStatus *st) {
    int rc = cfg_init(s, obj, st);
    if (!rc && path) rc = cfg_load_file(s, obj, path, st);
    for (int i = 0; !rc && i < noverrides; i++) rc = cfg_override(s, obj, overrides[i], st);
    if (rc) cfg_free(s, obj);
    return rc;
}
