/* jobenv.c - variables that never reach a job (jobenv.h). */
#include "util/jobenv.h"

#include <string.h>

bool cl_env_secret_name(const char *s, size_t n)
{
    static const char *const names[] = {"COLOSSUS_TOKEN", "COLOSSUS_KEY", "COLOSSUS_IDENTITY"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == n && !memcmp(s, names[i], n)) return true;
    return n > 14 && !memcmp(s, "COLOSSUS_", 9) && !memcmp(s + n - 5, "_FILE", 5);
}
