/* data/shapes_prepare.c — `vlmc prepare --format shapes --out DIR [--seed N]
 * [--samples N] [--heldout N] [--shard-size N]`: writes the shapes world's
 * shards (data/shapes_data.h). Reached from data/cmd_prepare.c when the
 * arguments say --format shapes. Exit codes per core/cli.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "data/data.h"
#include "data/shapes_data.h"

static const char usage[] =
    "usage: vlmc prepare --format shapes --out DIR [--seed N] [--samples N] [--heldout N] [--shard-size N]\n"
    "  Writes the synthetic shapes world as WebDataset tar shards (pairs, interleaved,\n"
    "  instruct, sft, dpo, heldout, repeat), every text in English and Russian.\n"
    "  --seed N        seed (default 1)\n"
    "  --samples N     scenes for pairs and instruct; interleaved N/4, sft N/2 + N/8 text-only,\n"
    "                  dpo N/4, repeat 2N text-only \"Repeat: WORDS\" instructions (default 4000)\n"
    "  --heldout N     held-out questions per (type, language) (default 50)\n"
    "  --shard-size N  records per shard (default 1000)\n";

static int parse_ll(const char *s, long long lo, long long *out) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < lo) return 1;
    *out = v;
    return 0;
}

int data_prepare_shapes_main(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CLI_OK;
    }
    ShWriteOpts o = {.seed = 1, .samples = 4000, .heldout = 50, .shard_size = 1000};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) return cli_usage_error("prepare", usage, "unexpected argument '%s'", a);
        const char *v = argv[++i];
        long long x = 0;
        if (!strcmp(a, "--format")) {
            if (strcmp(v, "shapes")) return cli_usage_error("prepare", usage, "--format must be shapes here");
        } else if (!strcmp(a, "--out")) {
            o.out = v;
        } else if (!strcmp(a, "--seed")) {
            if (parse_ll(v, 0, &x)) return cli_usage_error("prepare", usage, "--seed: '%s' is not an integer >= 0", v);
            o.seed = (uint64_t)x;
        } else if (!strcmp(a, "--samples") || !strcmp(a, "--heldout") || !strcmp(a, "--shard-size")) {
            long long lo = a[2] == 's' && a[3] == 'a' ? 8 : 1;
            if (parse_ll(v, lo, &x) || x > 100000000)
                return cli_usage_error("prepare", usage, "%s: '%s' is not an integer in [%lld, 1e8]", a, v, lo);
            if (a[2] == 's' && a[3] == 'a') o.samples = (int)x;
            else if (a[2] == 'h') o.heldout = (int)x;
            else o.shard_size = (int)x;
        } else {
            return cli_usage_error("prepare", usage, "unknown option %s", a);
        }
    }
    if (!o.out) return cli_usage_error("prepare", usage, "missing --out");
    ShWriteSummary s;
    VStatus st = {0};
    if (sh_write_dataset(&o, &s, &st)) {
        fprintf(stderr, "vlmc prepare: %s\n", st.msg);
        return CLI_FAIL;
    }
    printf("prepare: shapes seed %llu -> %s: pairs %lld, interleaved %lld, instruct %lld, sft %lld (+%lld text-only), "
           "dpo %lld, heldout %lld (+%lld text-only), repeat %lld, %.1f MB\n",
           (unsigned long long)o.seed, o.out, (long long)s.pairs, (long long)s.interleaved, (long long)s.instruct,
           (long long)s.sft, (long long)s.sft_text, (long long)s.dpo, (long long)s.heldout, (long long)s.heldout_text,
           (long long)s.repeat, (double)s.bytes / 1e6);
    return CLI_OK;
}
