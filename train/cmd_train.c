/* train/cmd_train.c — `vlmc train RUN.yaml`. */
#include "train/train.h"

#include "core/cli.h"

static const char usage[] =
    "usage: vlmc train RUN.yaml [key=value ...] [--out DIR] [--max-steps N] [--resume] [--print-config]\n"
    "  Runs the stages of a run recipe (configs/shapes.yaml is the embedded default).\n";

int train_cmd_main(int argc, char **argv) { return cli_not_built("train", usage, argc, argv); }
