/* core/cli.h — shared command-line conventions for every subcommand.
 *
 * Exit codes: 0 success, 1 runtime failure (bad data, I/O), 2 usage error
 * (unknown flag, missing argument, subcommand not built). A usage error
 * prints one line "vlmc CMD: <reason>" and the usage text to stderr. */
#ifndef VLMC_CORE_CLI_H
#define VLMC_CORE_CLI_H

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

typedef int (*CliMain)(int argc, char **argv);   /* argv[0] is the subcommand name */

typedef struct CliCommand {
    const char *name;
    const char *summary;   /* one line for `vlmc --help` */
    CliMain main;
} CliCommand;

/* Prints "vlmc CMD: reason" + usage to stderr; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* True when argv has -h or --help (before any "--"). */
int cli_wants_help(int argc, char **argv);
/* For subcommands that do not exist yet: says so, exits 2, never fakes success. */
int cli_not_built(const char *cmd, const char *usage, int argc, char **argv);

#endif
