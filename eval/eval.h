/* eval/eval.h — entry points of the evaluation subcommands. */
#ifndef VLMC_EVAL_EVAL_H
#define VLMC_EVAL_EVAL_H
int eval_generate_main(int argc, char **argv);
int eval_eval_main(int argc, char **argv);
int eval_sbs_main(int argc, char **argv);
int eval_pipeline_main(int argc, char **argv);
#endif
