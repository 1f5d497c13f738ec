/* eval/cmd_eval.c — `vlmc generate | eval | sbs | pipeline` (not built yet). */
#include "eval/eval.h"

#include "core/cli.h"

int eval_generate_main(int argc, char **argv) {
    return cli_not_built("generate", "usage: vlmc generate CHECKPOINT --prompt TEXT [--image FILE]\n", argc, argv);
}
int eval_eval_main(int argc, char **argv) {
    return cli_not_built("eval", "usage: vlmc eval CHECKPOINT SUITE.yaml\n", argc, argv);
}
int eval_sbs_main(int argc, char **argv) {
    return cli_not_built("sbs", "usage: vlmc sbs CHECKPOINT_A CHECKPOINT_B SUITE.yaml\n", argc, argv);
}
int eval_pipeline_main(int argc, char **argv) {
    return cli_not_built("pipeline", "usage: vlmc pipeline PIPELINE.yaml\n", argc, argv);
}
