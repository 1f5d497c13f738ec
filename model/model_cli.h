/* model/model_cli.h — entry points of model/'s subcommands. */
#ifndef VLMC_MODEL_MODEL_CLI_H
#define VLMC_MODEL_MODEL_CLI_H
int model_convert_main(int argc, char **argv);
/* argv[0] = "inspect", argv[1] = the .safetensors file */
int model_inspect_safetensors_main(int argc, char **argv);
/* argv[1] = a Hugging Face or vlmc model directory */
int model_inspect_dir_main(int argc, char **argv);
#endif
