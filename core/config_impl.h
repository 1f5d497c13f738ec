/* core/config_impl.h — helpers shared by config.c (schema walks: init, free,
 * print, help, equal) and config_yaml.c (YAML application). Not public. */
#ifndef VLMC_CORE_CONFIG_IMPL_H
#define VLMC_CORE_CONFIG_IMPL_H

#include "core/config.h"

/* Applies f->def (YAML text) to the field of the struct at base. */
int cfg__apply_default(const CfgField *f, void *base, VStatus *st);
/* Free a list's items (each item freed with the item schema) and reset it. */
void cfg__free_list(const CfgSchema *item, CfgList *l);
void cfg__free_strlist(CfgStrList *l);
const char *cfg__type_name(CfgType t);

#endif
