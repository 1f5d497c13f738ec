/* data/cmd_inspect_tok.c — `vlmc inspect TOKENIZER.json (--text T | --file F) [--json] [--no-special]`.
 *
 * Prints the tokenizer's identity (vocab size, tok_hash) and, for each input,
 * its ids and pieces. --json prints one {"ids": [...], "tokens": [...]}
 * object per input (per line of --file, newline removed) and nothing else,
 * so other tools can compare. Special tokens (BOS/EOS) are added as the
 * tokenizer's post-processor says unless --no-special. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/cli.h"
#include "data/data.h"
#include "data/tokenizer.h"

static const char usage[] =
    "usage: vlmc inspect TOKENIZER.json (--text TEXT | --file F) [--json] [--no-special]\n"
    "  --text TEXT    encode TEXT\n"
    "  --file F       encode each line of F (newline removed)\n"
    "  --json         one {\"ids\": [...], \"tokens\": [...]} object per input\n"
    "  --no-special   do not add the post-processor's special tokens (BOS/EOS)\n";

static int show(const Tokenizer *t, const char *text, size_t len, int json, int special) {
    VStatus st = {0};
    TokIds ids = {0};
    if (tok_encode(t, text, len, special, &ids, &st)) {
        fprintf(stderr, "vlmc inspect: %s\n", st.msg);
        tok_ids_free(&ids);
        return CLI_FAIL;
    }
    if (json) {
        json_t *o = json_object(), *ji = json_array(), *jt = json_array();
        for (size_t i = 0; i < ids.n; i++) {
            json_array_append_new(ji, json_integer(ids.ids[i]));
            json_array_append_new(jt, tok_id_token(t, ids.ids[i]) ? json_string(tok_id_token(t, ids.ids[i])) : json_null());
        }
        json_object_set_new(o, "ids", ji);
        json_object_set_new(o, "tokens", jt);
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        puts(s ? s : "{}");
        free(s);
        json_decref(o);
    } else {
        printf("%zu tokens:", ids.n);
        for (size_t i = 0; i < ids.n; i++) printf(" %d", ids.ids[i]);
        printf("\n");
        for (size_t i = 0; i < ids.n; i++) {
            json_t *tmp = tok_id_token(t, ids.ids[i]) ? json_string(tok_id_token(t, ids.ids[i])) : json_null();
            char *piece = json_dumps(tmp, JSON_ENCODE_ANY);   /* quoted and escaped, so whitespace shows */
            json_decref(tmp);
            printf("  %6zu %8d %s\n", i, ids.ids[i], piece ? piece : "?");
            free(piece);
        }
    }
    tok_ids_free(&ids);
    return CLI_OK;
}

int data_inspect_tokenizer_main(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { fputs(usage, stdout); return CLI_OK; }
    const char *text = NULL, *file = NULL;
    int json = 0, special = 1;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--text") && i + 1 < argc) text = argv[++i];
        else if (!strcmp(argv[i], "--file") && i + 1 < argc) file = argv[++i];
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--no-special")) special = 0;
        else return cli_usage_error("inspect", usage, "unknown or incomplete argument '%s'", argv[i]);
    }
    if (!!text + !!file != 1) return cli_usage_error("inspect", usage, "give exactly one of --text or --file");
    VStatus st = {0};
    Tokenizer *t = tok_load(argv[1], &st);
    if (!t) {
        fprintf(stderr, "vlmc inspect: %s\n", st.msg);
        return CLI_FAIL;
    }
    if (!json)
        printf("tokenizer %s: %d tokens, hash %016llx\n", argv[1], tok_vocab_size(t), (unsigned long long)tok_hash(t));
    int rc = CLI_OK;
    if (text) {
        rc = show(t, text, strlen(text), json, special);
    } else {
        FILE *f = fopen(file, "rb");
        if (!f) {
            fprintf(stderr, "vlmc inspect: %s: cannot open\n", file);
            tok_free(t);
            return CLI_FAIL;
        }
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while (rc == CLI_OK && (n = getline(&line, &cap, f)) >= 0) {
            if (n > 0 && line[n - 1] == '\n') n--;
            rc = show(t, line, (size_t)n, json, special);
        }
        free(line);
        fclose(f);
    }
    tok_free(t);
    return rc;
}
