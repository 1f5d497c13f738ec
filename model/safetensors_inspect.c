/* model/safetensors_inspect.c — `vlmc inspect FILE.safetensors` (not built yet). */
#include "model/model_cli.h"

#include "core/cli.h"

int model_inspect_safetensors_main(int argc, char **argv) {
    return cli_not_built("inspect", "usage: vlmc inspect FILE.safetensors\n", argc, argv);
}
