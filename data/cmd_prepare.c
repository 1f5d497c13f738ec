/* data/cmd_prepare.c — `vlmc prepare` (not built yet). */
#include "data/data.h"

#include "core/cli.h"

int data_prepare_main(int argc, char **argv) {
    return cli_not_built("prepare", "usage: vlmc prepare --format FMT --out DIR INPUT...\n", argc, argv);
}
