/* data/cmd_prepare.c — `vlmc prepare`: argument parsing, codecs, summary.
 * The work is data/ld_prepare.c (ld_prepare). Exit codes per core/cli.h:
 * 0 done, 1 failed (I/O, or too many records skipped), 2 usage. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cli.h"
#include "data/data.h"
#include "data/loader.h"
#include "data/prepare.h"
#include "data/tokenizer.h"

static const char usage[] =
    "usage: vlmc prepare --regime REGIME --out DIR [options] INPUT...\n"
    "  INPUT                 WebDataset .tar, .jsonl, LLaVA .json (or .h5 with --format h5)\n"
    "  --regime R            pairs | interleaved | instruct | sft | dpo\n"
    "  --out DIR             output folder (created)\n"
    "  --format F            tar (default) | h5 (pre-tokenized, preprocessed images)\n"
    "                        | shapes (the synthetic world; see --format shapes --help)\n"
    "  --shard-size N        records per output shard (default 10000)\n"
    "  --tokenizer T         tokenizer.json, or 'bytes' (byte-level ids; default)\n"
    "  --chat-format F       chat template for instruct/sft/dpo (default chatml)\n"
    "  --image-preset P      clip | siglip | ... (default clip)\n"
    "  --image-size S        image side in pixels (default: the preset's)\n"
    "  --image-seq-len N     placeholder tokens per image (default 1)\n"
    "  --image-root DIR      where json/jsonl image paths are relative to (default: the input's folder)\n"
    "  --jobs N              threads (default 2)\n"
    "  --prefix NAME         output shard name prefix (default shard)\n"
    "  --max-skip-frac F     fail when more records are skipped (default 0.01)\n"
    "  --summary FILE        also write the summary as JSON\n"
    "  --quiet               no progress line\n";

static void print_summary(const LdPrepareSummary *s, FILE *f) {
    fprintf(f, "prepare: %" PRId64 " records -> %" PRId64 " samples in %d shards, %" PRId64 " images, %" PRId64
               " tokens, %" PRId64 " skipped (%.2f%%), %.1f s\n",
            s->records, s->samples, s->shards, s->images, s->tokens, s->skipped,
            s->records ? 100.0 * (double)s->skipped / (double)s->records : 0.0, s->seconds);
    for (int r = 1; r < LD_SKIP_COUNT; r++)
        if (s->by_reason[r]) fprintf(f, "  skipped %-14s %" PRId64 "\n", ld_skip_name(r), s->by_reason[r]);
}

int data_prepare_main(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i++)   /* the synthetic shapes world has its own options */
        if (!strcmp(argv[i], "--format") && !strcmp(argv[i + 1], "shapes")) return data_prepare_shapes_main(argc, argv);
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CLI_OK;
    }
    LdPrepareOpts o = {.jobs = 2, .progress = isatty(2)};
    const char *regime = NULL, *format = "tar", *tokenizer = "bytes", *chat = "chatml", *preset = "clip";
    const char *summary = NULL, *out = NULL, *shard_size = "10000", *size = "0", *seq_len = "1", *jobs = "2";
    const char *root = NULL, *prefix = NULL, *max_skip = "0.01";
    /* options that take a value, as a table */
    const struct { const char *name; const char **dst; } opts[] = {
        {"--regime", &regime}, {"--out", &out}, {"--format", &format}, {"--shard-size", &shard_size},
        {"--tokenizer", &tokenizer}, {"--chat-format", &chat}, {"--image-preset", &preset}, {"--image-size", &size},
        {"--image-seq-len", &seq_len}, {"--image-root", &root}, {"--jobs", &jobs}, {"--prefix", &prefix},
        {"--max-skip-frac", &max_skip}, {"--summary", &summary},
    };
    const char **inputs = calloc((size_t)argc, sizeof *inputs);
    if (!inputs) return CLI_FAIL;
    int n_in = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--quiet")) {
            o.progress = 0;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            inputs[n_in++] = a;
            continue;
        }
        size_t k = 0, n_opts = sizeof opts / sizeof opts[0];
        while (k < n_opts && strcmp(a, opts[k].name) != 0) k++;
        if (k == n_opts || i + 1 >= argc) {
            free(inputs);
            return cli_usage_error("prepare", usage, k == n_opts ? "unknown option %s" : "%s needs a value", a);
        }
        *opts[k].dst = argv[++i];
    }
    o.out_dir = out;
    o.image_root = root;
    o.prefix = prefix;
    o.shard_size = strtoll(shard_size, NULL, 10);
    o.jobs = atoi(jobs);
    o.max_skip_frac = atof(max_skip);
    if (o.max_skip_frac == 0) o.max_skip_frac = 1e-12;   /* "0": any skip fails (0 in LdPrepareOpts means the default) */
    LdRegime rg;
    const char *bad = !regime ? "missing --regime" : ld_regime_parse(regime, &rg) ? "unknown --regime"
                      : !o.out_dir ? "missing --out" : n_in == 0 ? "no INPUT" : o.shard_size < 1 ? "--shard-size must be >= 1"
                      : atoi(seq_len) < 1 ? "--image-seq-len must be >= 1" : o.jobs < 1 ? "--jobs must be >= 1"
                      : strcmp(format, "tar") && strcmp(format, "h5") ? "--format must be tar or h5" : NULL;
    if (bad) {
        free(inputs);
        return cli_usage_error("prepare", usage, "%s", bad);
    }
    o.regime = rg;
    o.inputs = inputs;
    o.n_inputs = n_in;
    o.to_h5 = !strcmp(format, "h5");
    VStatus st = {0};
    LdTextCodec tc;
    LdImageCodec ic;
    Tokenizer *tok = NULL;
    int rc = CLI_FAIL;
    if (!strcmp(tokenizer, "bytes")) {
        tc = ld_codec_bytes(atoi(seq_len));
    } else if (!(tok = tok_load(tokenizer, &st)) || ld_text_codec(tok, chat, atoi(seq_len), &tc, &st)) {
        fprintf(stderr, "vlmc prepare: %s\n", st.msg);
        tok_free(tok);
        free(inputs);
        return CLI_FAIL;
    }
    if (ld_image_codec(preset, atoi(size), 0, &ic, &st)) {
        fprintf(stderr, "vlmc prepare: %s\n", st.msg);
    } else {
        o.text = &tc;
        o.image = &ic;
        LdPrepareSummary s;
        int prc = ld_prepare(&o, &s, &st);
        print_summary(&s, stdout);
        VStatus st2 = {0};
        if (summary && ld_prepare_write_summary(&s, summary, &st2)) fprintf(stderr, "vlmc prepare: %s\n", st2.msg);
        if (prc) fprintf(stderr, "vlmc prepare: %s\n", st.msg);
        rc = prc || (summary && st2.code) ? CLI_FAIL : CLI_OK;
        ld_image_codec_free(&ic);
    }
    if (tok) {
        ld_text_codec_free(&tc);
        tok_free(tok);
    }
    free(inputs);
    return rc;
}
