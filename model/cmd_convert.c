/* model/cmd_convert.c — `vlmc convert` (not built yet). */
#include "model/model_cli.h"

#include "core/cli.h"

int model_convert_main(int argc, char **argv) {
    return cli_not_built("convert", "usage: vlmc convert SRC DST [--to hf|vlmc]\n", argc, argv);
}
