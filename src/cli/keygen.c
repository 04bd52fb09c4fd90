/* keygen.c - `colossus keygen`: print a new cluster key (keep it private, mode 0600). */
#include <stdio.h>
#include <string.h>

#include "proto/frame.h"

int cmd_keygen(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: colossus keygen > FILE\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "colossus keygen: unexpected argument '%s' (usage: colossus keygen > FILE)\n",
                argv[1]);
        return 2;
    }
    char line[128];
    if (cl_crypto_init() < 0 || cl_key_generate(line, sizeof line) < 0) {
        fprintf(stderr, "colossus keygen: cannot initialise libsodium\n");
        return 1;
    }
    fputs(line, stdout);
    return fflush(stdout) == 0 ? 0 : 1;
}
