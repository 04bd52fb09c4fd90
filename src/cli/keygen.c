/* keygen.c - `colossus keygen`: print a new cluster key (keep it private, mode 0600). */
#include <stdio.h>

#include "util/flags.h"
#include "proto/frame.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: colossus keygen > FILE\n"
               "Print a new random cluster key; every controller, agent and client of a\n"
               "cluster uses the same one. Keep the file private (chmod 600).\n"
               "  -h, --help              this text\n");
}

int cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {CL_FLAGS_HELP, {0, 0, 0, 0}};
    cl_flags_t f = {.cmd = "keygen", .shorts = "h", .longs = opts, .usage = usage};
    if (cl_flags_next(&f, argc, argv) == CL_FLAGS_DONE) return f.exit;
    if (cl_flags_args(&f, argc, argv, 0, 0, NULL) < 0) return 2;
    char line[128];
    if (cl_crypto_init() < 0 || cl_key_generate(line, sizeof line) < 0) {
        fprintf(stderr, "colossus keygen: cannot initialise libsodium\n");
        return 1;
    }
    fputs(line, stdout);
    return fflush(stdout) == 0 ? 0 : 1;
}
