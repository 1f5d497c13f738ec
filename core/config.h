/* core/config.h — typed configuration from YAML files and dotted overrides.
 *
 * A module declares its config as a plain C struct plus a field table (a
 * CfgSchema) saying, for each member, its YAML key, type, offset, default
 * (as YAML text, parsed like the file is), range and help:
 *
 *   typedef struct Optim { double lr; int warmup; } Optim;
 *   static const CfgField optim_fields[] = {
 *       CFG_DOUBLE(Optim, lr, "3e-4", 0, 1, "peak learning rate"),
 *       CFG_INT(Optim, warmup, "100", 0, INT_MAX, "warm-up steps"),
 *   };
 *   static const CfgSchema optim_schema = CFG_SCHEMA("optim", Optim, optim_fields);
 *
 * Field types: int, int64, float, double, bool (int member), string (char *,
 * owned), enum (int member, value = index into a NULL-terminated name list),
 * nested struct (member of the sub-schema's type), list of structs (CfgList)
 * and list of strings (CfgStrList).
 *
 * Contract:
 *  - cfg_init zeroes the struct and applies every default; a config is then
 *    loaded from a file (cfg_load_file) and dotted overrides are applied on
 *    top (cfg_override: "optim.lr=3e-4", "stages.1.lr=1e-3", the value being
 *    YAML text, so "data.sources=[a, b]" sets a list).
 *  - A mapping merges into the struct it sets (keys not given keep their
 *    values); a sequence replaces a list, each new item starting from the
 *    item schema's defaults.
 *  - Unknown keys, duplicate keys, wrong types (a mapping for a number, "3.5"
 *    for an int, an unknown enum name) and out-of-range values are errors;
 *    the message names "FILE:LINE: key 'full.dotted.key': reason" (lines from
 *    libyaml marks, 1-based), or "override 'TEXT': key '...': reason".
 *    On error the struct stays valid (it can be printed or freed) but may hold
 *    some of the new values.
 *  - cfg_print writes the whole resolved config as YAML that cfg_load_* reads
 *    back into an equal struct (cfg_equal): numbers print in the shortest form
 *    that round-trips, strings double-quoted, a NULL string as `null`.
 *  - cfg_free releases owned strings and lists (the struct itself is the caller's).
 */
#ifndef VLMC_CORE_CONFIG_H
#define VLMC_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

typedef enum CfgType {
    CFG_T_INT = 0, CFG_T_INT64, CFG_T_FLOAT, CFG_T_DOUBLE, CFG_T_BOOL, CFG_T_STRING, CFG_T_ENUM,
    CFG_T_STRUCT, CFG_T_LIST, CFG_T_STRLIST,
} CfgType;

/* A list of structs: items points to n consecutive structs of the item schema. */
typedef struct CfgList {
    void *items;
    int n;
} CfgList;

typedef struct CfgStrList {
    char **items;
    int n;
} CfgStrList;

typedef struct CfgSchema CfgSchema;

typedef struct CfgField {
    const char *key;
    CfgType type;
    size_t offset;
    double min, max;                 /* numeric range, inclusive; none when min > max */
    const char *def;                 /* default as YAML text; NULL: zero / NULL / empty */
    const char *help;
    const char *const *enum_names;   /* CFG_T_ENUM: NULL-terminated */
    const CfgSchema *sub;            /* CFG_T_STRUCT, CFG_T_LIST */
} CfgField;

struct CfgSchema {
    const char *name;   /* type name for help and messages ("stage") */
    size_t size;        /* sizeof the struct */
    const CfgField *fields;
    size_t nfields;
};

#define CFG_SCHEMA(name, T, fields) {name, sizeof(T), fields, sizeof(fields) / sizeof((fields)[0])}

/* Field-table entries; def is YAML text ("3e-4", "true", "cosine") or NULL. */
#define CFG_INT(T, m, def, lo, hi, help) {#m, CFG_T_INT, offsetof(T, m), lo, hi, def, help, NULL, NULL}
#define CFG_INT64(T, m, def, lo, hi, help) {#m, CFG_T_INT64, offsetof(T, m), lo, hi, def, help, NULL, NULL}
#define CFG_FLOAT(T, m, def, lo, hi, help) {#m, CFG_T_FLOAT, offsetof(T, m), lo, hi, def, help, NULL, NULL}
#define CFG_DOUBLE(T, m, def, lo, hi, help) {#m, CFG_T_DOUBLE, offsetof(T, m), lo, hi, def, help, NULL, NULL}
#define CFG_BOOL(T, m, def, help) {#m, CFG_T_BOOL, offsetof(T, m), 1, 0, def, help, NULL, NULL}
#define CFG_STRING(T, m, def, help) {#m, CFG_T_STRING, offsetof(T, m), 1, 0, def, help, NULL, NULL}
#define CFG_ENUM(T, m, names, def, help) {#m, CFG_T_ENUM, offsetof(T, m), 1, 0, def, help, names, NULL}
#define CFG_STRUCT(T, m, schema, help) {#m, CFG_T_STRUCT, offsetof(T, m), 1, 0, NULL, help, NULL, schema}
#define CFG_LIST(T, m, schema, help) {#m, CFG_T_LIST, offsetof(T, m), 1, 0, NULL, help, NULL, schema}
#define CFG_STRLIST(T, m, def, help) {#m, CFG_T_STRLIST, offsetof(T, m), 1, 0, def, help, NULL, NULL}

/* Zeroes obj and applies the defaults. Errors only when a default in the
 * table is invalid (a bug in the table; the message names the key). */
int cfg_init(const CfgSchema *s, void *obj, VStatus *st);
void cfg_free(const CfgSchema *s, void *obj);

/* Applies a YAML file (or text; `name` is used in messages) onto obj. An
 * empty document changes nothing. */
int cfg_load_file(const CfgSchema *s, void *obj, const char *path, VStatus *st);
int cfg_load_string(const CfgSchema *s, void *obj, const char *text, size_t len, const char *name, VStatus *st);

/* Applies one "dotted.key=YAML value" (list items by index: "stages.1.lr=..."). */
int cfg_override(const CfgSchema *s, void *obj, const char *assignment, VStatus *st);

/* cfg_init + cfg_load_file (when path != NULL) + each override in order. On
 * error obj is freed (nothing to release for the caller). */
int cfg_load(const CfgSchema *s, void *obj, const char *path, int noverrides, char *const *overrides, VStatus *st);

/* The resolved config as YAML (what a run saves next to its checkpoints). */
int cfg_print(const CfgSchema *s, const void *obj, FILE *out);
/* One line per key: dotted key, type, default, range or enum names, help. */
void cfg_help(const CfgSchema *s, FILE *out);
/* Deep equality (strings by content, floats bitwise-equal values). */
int cfg_equal(const CfgSchema *s, const void *a, const void *b);

#endif
