/* ckpt.c - checkpoint-interval formulas: Young (1974), Daly (2006, FGCS 22(3), eq. 37) and
 * Daly's expected wall time for exponential failures. */
#include <math.h>

#include "sim/sim.h"

double cl_young_interval(double delta, double m)
{
    return sqrt(2.0 * delta * m);
}

double cl_daly_interval(double delta, double m)
{
    if (delta >= 2.0 * m) return m;
    double x = delta / (2.0 * m);
    double t = sqrt(2.0 * delta * m) * (1.0 + sqrt(x) / 3.0 + x / 9.0) - delta;
    return t > 0 ? t : m;
}

double cl_daly_walltime_ratio(double tau, double delta, double m, double down)
{
    /* T_w / T_s = M e^(R/M) (e^((tau+delta)/M) - 1) / tau; expm1 keeps precision when
     * failures are rare */
    return m * exp(down / m) * expm1((tau + delta) / m) / tau;
}
