/* core/config.c — schema walks over a config struct: defaults, freeing,
 * printing as YAML, help and equality (contract in config.h; YAML input is in
 * config_yaml.c). Printing invariant: cfg_print's output, loaded onto a
 * cfg_init'ed struct, yields a struct cfg_equal to the printed one. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/config_impl.h"

const char *cfg__type_name(CfgType t) {
    static const char *const n[] = {"int", "int64", "float", "double", "bool", "string", "enum", "struct", "list", "string list"};
    return (unsigned)t < sizeof n / sizeof n[0] ? n[t] : "?";
}

int cfg_init(const CfgSchema *s, void *obj, VStatus *st) {
    memset(obj, 0, s->size);
    for (size_t i = 0; i < s->nfields; i++) {
        const CfgField *f = &s->fields[i];
        int rc = 0;
        if (f->type == CFG_T_STRUCT) rc = cfg_init(f->sub, (char *)obj + f->offset, st);
        else if (f->def) rc = cfg__apply_default(f, obj, st);
        if (rc) {
            vs_prefix(st, "config schema '%s'", s->name);
            cfg_free(s, obj);
            return rc;
        }
    }
    return 0;
}

void cfg__free_strlist(CfgStrList *l) {
    for (int i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

void cfg__free_list(const CfgSchema *item, CfgList *l) {
    for (int i = 0; i < l->n; i++) cfg_free(item, (char *)l->items + (size_t)i * item->size);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

void cfg_free(const CfgSchema *s, void *obj) {
    for (size_t i = 0; i < s->nfields; i++) {
        const CfgField *f = &s->fields[i];
        void *p = (char *)obj + f->offset;
        switch (f->type) {
        case CFG_T_STRING: free(*(char **)p); *(char **)p = NULL; break;
        case CFG_T_STRUCT: cfg_free(f->sub, p); break;
        case CFG_T_LIST: cfg__free_list(f->sub, p); break;
        case CFG_T_STRLIST: cfg__free_strlist(p); break;
        default: break;
        }
    }
}

/* ---- printing ---------------------------------------------------------- */

/* Shortest %g form that reads back to the same value (digits: 9 float, 17 double). */
static void fmt_real(char *buf, size_t n, double v, int is_float) {
    if (isinf(v)) {
        snprintf(buf, n, v < 0 ? "-.inf" : ".inf");
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, v);
        double back = strtod(buf, NULL);
        if (is_float ? (float)back == (float)v : back == v) break;
    }
    /* "1" would read back as an int-looking scalar; fine for our parser, but keep it visibly real */
    if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", n - strlen(buf) - 1);
}

static void print_str(FILE *out, const char *s) {
    if (!s) {
        fputs("null", out);
        return;
    }
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(out, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", out);
        else if (*p == '\t') fputs("\\t", out);
        else if (*p < 0x20 || *p == 0x7f) fprintf(out, "\\x%02x", *p);
        else fputc(*p, out);
    }
    fputc('"', out);
}

static void print_scalar(FILE *out, const CfgField *f, const void *p) {
    char buf[64];
    switch (f->type) {
    case CFG_T_INT: fprintf(out, "%d", *(const int *)p); break;
    case CFG_T_INT64: fprintf(out, "%lld", (long long)*(const int64_t *)p); break;
    case CFG_T_FLOAT: fmt_real(buf, sizeof buf, *(const float *)p, 1); fputs(buf, out); break;
    case CFG_T_DOUBLE: fmt_real(buf, sizeof buf, *(const double *)p, 0); fputs(buf, out); break;
    case CFG_T_BOOL: fputs(*(const int *)p ? "true" : "false", out); break;
    case CFG_T_STRING: print_str(out, *(char *const *)p); break;
    case CFG_T_ENUM: {
        int v = *(const int *)p, k = 0;
        while (f->enum_names[k] && k < v) k++;
        fputs(v >= 0 && f->enum_names[k] ? f->enum_names[k] : "~invalid~", out);
        break;
    }
    default: VLMC_PANIC("print_scalar: type %d", (int)f->type);
    }
}

/* Fields at `indent` spaces; a list item's first field gets "- " in the two columns before. */
static void print_fields(FILE *out, const CfgSchema *s, const void *obj, int indent, int list_item) {
    if (list_item && s->nfields == 0) fprintf(out, "%*s- {}\n", indent - 2, "");
    for (size_t i = 0; i < s->nfields; i++) {
        const CfgField *f = &s->fields[i];
        const void *p = (const char *)obj + f->offset;
        if (list_item && i == 0) fprintf(out, "%*s- %s:", indent - 2, "", f->key);
        else fprintf(out, "%*s%s:", indent, "", f->key);
        if (f->type == CFG_T_STRUCT) {
            fputc('\n', out);
            print_fields(out, f->sub, p, indent + 2, 0);
        } else if (f->type == CFG_T_LIST) {
            const CfgList *l = p;
            if (l->n == 0) fputs(" []\n", out);
            else fputc('\n', out);
            for (int k = 0; k < l->n; k++) print_fields(out, f->sub, (const char *)l->items + (size_t)k * f->sub->size, indent + 4, 1);
        } else if (f->type == CFG_T_STRLIST) {
            const CfgStrList *l = p;
            fputs(" [", out);
            for (int k = 0; k < l->n; k++) {
                if (k) fputs(", ", out);
                print_str(out, l->items[k]);
            }
            fputs("]\n", out);
        } else {
            fputc(' ', out);
            print_scalar(out, f, p);
            fputc('\n', out);
        }
    }
}

int cfg_print(const CfgSchema *s, const void *obj, FILE *out) {
    print_fields(out, s, obj, 0, 0);
    return ferror(out) ? VS_EIO : 0;
}

/* ---- help ---------------------------------------------------------------- */

static void help_fields(const CfgSchema *s, const char *prefix, FILE *out) {
    for (size_t i = 0; i < s->nfields; i++) {
        const CfgField *f = &s->fields[i];
        char key[512];
        snprintf(key, sizeof key, "%s%s", prefix, f->key);
        if (f->type == CFG_T_STRUCT || f->type == CFG_T_LIST) {
            char sub[520];
            snprintf(sub, sizeof sub, f->type == CFG_T_LIST ? "%s.N." : "%s.", key);
            if (f->type == CFG_T_LIST) fprintf(out, "  %-28s list of %s  %s\n", key, f->sub->name, f->help ? f->help : "");
            help_fields(f->sub, sub, out);
            continue;
        }
        fprintf(out, "  %-28s %-6s", key, cfg__type_name(f->type));
        if (f->def) fprintf(out, " = %s", f->def);
        if (f->type == CFG_T_ENUM) {
            fputs(" (", out);
            for (int k = 0; f->enum_names[k]; k++) fprintf(out, "%s%s", k ? "|" : "", f->enum_names[k]);
            fputc(')', out);
        } else if (f->min <= f->max) {
            fprintf(out, " [%.15g, %.15g]", f->min, f->max);
        }
        fprintf(out, "  %s\n", f->help ? f->help : "");
    }
}

void cfg_help(const CfgSchema *s, FILE *out) { help_fields(s, "", out); }

/* ---- equality ------------------------------------------------------------ */

static int str_eq(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

int cfg_equal(const CfgSchema *s, const void *a, const void *b) {
    for (size_t i = 0; i < s->nfields; i++) {
        const CfgField *f = &s->fields[i];
        const void *pa = (const char *)a + f->offset, *pb = (const char *)b + f->offset;
        int eq = 1;
        switch (f->type) {
        case CFG_T_INT: case CFG_T_BOOL: case CFG_T_ENUM: eq = *(const int *)pa == *(const int *)pb; break;
        case CFG_T_INT64: eq = *(const int64_t *)pa == *(const int64_t *)pb; break;
        case CFG_T_FLOAT: eq = *(const float *)pa == *(const float *)pb; break;
        case CFG_T_DOUBLE: eq = *(const double *)pa == *(const double *)pb; break;
        case CFG_T_STRING: eq = str_eq(*(char *const *)pa, *(char *const *)pb); break;
        case CFG_T_STRUCT: eq = cfg_equal(f->sub, pa, pb); break;
        case CFG_T_LIST: {
            const CfgList *la = pa, *lb = pb;
            eq = la->n == lb->n;
            for (int k = 0; eq && k < la->n; k++)
                eq = cfg_equal(f->sub, (const char *)la->items + (size_t)k * f->sub->size,
                               (const char *)lb->items + (size_t)k * f->sub->size);
            break;
        }
        case CFG_T_STRLIST: {
            const CfgStrList *la = pa, *lb = pb;
            eq = la->n == lb->n;
            for (int k = 0; eq && k < la->n; k++) eq = str_eq(la->items[k], lb->items[k]);
            break;
        }
        }
        if (!eq) return 0;
    }
    return 1;
}
