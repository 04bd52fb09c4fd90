/* jobenv.h - which environment variables never reach a job: the client's credentials (what
 * colossus submit never exports) and the agent's own (what the launcher never passes on from
 * its environment), one rule for both. */
#ifndef COLOSSUS_UTIL_JOBENV_H
#define COLOSSUS_UTIL_JOBENV_H

#include <stdbool.h>
#include <stddef.h>

/* The n bytes at name are COLOSSUS_TOKEN, COLOSSUS_KEY, COLOSSUS_IDENTITY or a
 * COLOSSUS_*_FILE (where a credential may be read from). */
bool cl_env_secret_name(const char *name, size_t n);

#endif
