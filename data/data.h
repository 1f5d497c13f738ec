/* data/data.h — entry points of data/'s subcommands. */
#ifndef VLMC_DATA_DATA_H
#define VLMC_DATA_DATA_H
int data_prepare_main(int argc, char **argv);
/* `prepare --format shapes` (data/shapes_prepare.c) */
int data_prepare_shapes_main(int argc, char **argv);
/* argv[0] = "inspect", argv[1] = a tokenizer.json */
int data_inspect_tokenizer_main(int argc, char **argv);
#endif
