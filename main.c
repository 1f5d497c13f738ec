/* main.c — the `vlmc` binary: git-style subcommands dispatched from one table.
 * Each subcommand lives in the folder it belongs to; this file only routes.
 * It sits above every folder (it may call train/, eval/, model/, data/). */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <string.h>

#include "core/cli.h"
#include "data/data.h"
#include "eval/eval.h"
#include "kernels/cpu/blas_core.h"
#include "kernels/ops.h"
#include "model/model_cli.h"
#include "train/train.h"

static int inspect_main(int argc, char **argv);

static const CliCommand commands[] = {
    {"train", "train a model through the stages of a run recipe (YAML)", train_cmd_main},
    {"generate", "generate text from a checkpoint for an image and a prompt", eval_generate_main},
    {"eval", "run benchmark suites on a checkpoint", eval_eval_main},
    {"sbs", "side-by-side comparison of two checkpoints", eval_sbs_main},
    {"pipeline", "captioner -> rephraser -> retrieval -> generator pipeline", eval_pipeline_main},
    {"prepare", "convert datasets into tar or HDF5 shards", data_prepare_main},
    {"convert", "import / export Hugging Face checkpoints", model_convert_main},
    {"inspect", "describe a safetensors file, tokenizer or model directory", inspect_main},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void print_usage(FILE *f) {
    fprintf(f, "usage: vlmc [--help] [--version] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'vlmc COMMAND --help' describes one command.\n");
}

static const char inspect_usage[] =
    "usage: vlmc inspect FILE.safetensors\n"
    "       vlmc inspect TOKENIZER.json (--text TEXT | --file F) [--json]\n"
    "       vlmc inspect MODEL_DIR [--forward INPUTS.safetensors --out OUT.safetensors]\n";

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Routes by what the path is: a directory is a model, *.safetensors a tensor
 * file, *.json a tokenizer. */
static int inspect_main(int argc, char **argv) {
    if (argc < 2 || (cli_wants_help(argc, argv) && argc == 2)) {
        if (argc >= 2) { fputs(inspect_usage, stdout); return CLI_OK; }
        return cli_usage_error("inspect", inspect_usage, "missing PATH");
    }
    const char *path = argv[1];
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return model_inspect_dir_main(argc, argv);
    if (ends_with(path, ".safetensors")) return model_inspect_safetensors_main(argc, argv);
    if (ends_with(path, ".json")) return data_inspect_tokenizer_main(argc, argv);
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "vlmc inspect: %s: %s\n", path, strerror(errno));
        return CLI_FAIL;
    }
    return cli_usage_error("inspect", inspect_usage, "%s: not a model directory, .safetensors or tokenizer .json", path);
}

static void print_version(void) {
    printf("vlmc %s\n", VLMC_VERSION);
    be_print_build_info(stdout);
}

int main(int argc, char **argv) {
    blas_core_ensure(argc, argv);   /* may re-execute the binary once with a better OpenBLAS core */
    if (argc < 2) {
        print_usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        print_usage(stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        print_version();
        return CLI_OK;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(cmd, commands[i].name) == 0) return commands[i].main(argc - 1, argv + 1);
    fprintf(stderr, "vlmc: unknown %s '%s'\n", cmd[0] == '-' ? "option" : "command", cmd);
    print_usage(stderr);
    return CLI_USAGE;
}
