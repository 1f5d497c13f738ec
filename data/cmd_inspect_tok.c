/* data/cmd_inspect_tok.c — `vlmc inspect TOKENIZER.json --text ...` (not built yet). */
#include "data/data.h"

#include "core/cli.h"

int data_inspect_tokenizer_main(int argc, char **argv) {
    return cli_not_built("inspect", "usage: vlmc inspect TOKENIZER.json (--text TEXT | --file F) [--json]\n", argc,
                         argv);
}
