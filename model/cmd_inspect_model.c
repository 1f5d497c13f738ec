/* model/cmd_inspect_model.c — `vlmc inspect MODEL_DIR [--forward ...]` (not built yet). */
#include "model/model_cli.h"

#include "core/cli.h"

int model_inspect_dir_main(int argc, char **argv) {
    return cli_not_built("inspect",
                         "usage: vlmc inspect MODEL_DIR [--forward INPUTS.safetensors --out OUT.safetensors]\n",
                         argc, argv);
}
