/* train/train.h — the trainer's entry point (`vlmc train`). */
#ifndef VLMC_TRAIN_TRAIN_H
#define VLMC_TRAIN_TRAIN_H
int train_cmd_main(int argc, char **argv);
#endif
