/* ctl_main.c - `colossus controller`: options, the topology, the journal, and the daemon
 * (ctl_server.c) around the controller object (controller.h). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "controller/ctl_acct.h"
#include "controller/ctl_server.h"
#include "proto/cred.h"
#include "util/flags.h"
#include "util/topo_load.h"
#include "util/when.h"
#include "util/util.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: colossus controller --state-dir DIR --listen HOST:PORT --key FILE\n"
        "         [--listen HOST:PORT ...] [--http HOST:PORT ...] [--http-address-file FILE]\n"
        "         [--http-idle-timeout SECONDS] [--http-max-connections N]\n"
        "         [--http-max-per-ip N] [--http-cert FILE --http-key FILE]\n"
        "         [--http-rate N] [--web-dir DIR] [--store URL] [--sync full|normal]\n"
        "         [--heartbeat-ms N] [--dead-after-ms N] [--preset NAME | --topology FILE]\n"
        "         [--nodes N] [--gpus-per-node G] [--spare-fraction F]\n"
        "         [--address-file FILE] [--checkpoint-dir DIR] [--keep-finished SECONDS]\n"
        "         [--journal-give-up SECONDS] [--frame-timeout-ms N] [--idle-timeout-ms N]\n"
        "         [--commit auto|thread|inline] [--identity FILE]\n"
        "         [--keep-jobs-days N] [--keep-history-days N] [--keep-audit-days N]\n"
        "         [--fairshare-halflife DURATION] [--master-ports LO-HI] [--log-root DIR]\n"
        "         [--jwt-key FILE [--jwt-issuer ISS] [--jwt-audience AUD] [--jwt-claim C]\n"
        "          [--jwt-alg ALG]]\n"
        "  --listen:         a listener of the framed protocol (repeatable)\n"
        "  --http:           a listener of the REST API (repeatable; docs/api/README.md);\n"
        "                    an address other than loopback needs --http-cert; its base\n"
        "                    URL (http[s]://HOST:PORT) goes to --http-address-file\n"
        "  --http-idle-timeout: an HTTP connection silent this long, or whose request has\n"
        "                    not arrived whole after this long, is closed (default 30);\n"
        "                    --http-max-connections (default 4096) and --http-max-per-ip\n"
        "                    (1024) bound them\n"
        "  --http-cert, --http-key: HTTPS on every --http listener with this certificate\n"
        "                    (chain) and private key, PEM files read once at start\n"
        "  --http-rate:      requests a second of one user (or, unauthenticated, of one\n"
        "                    address), in bursts of twice that; more get 429 (default\n"
        "                    1000; 0: no limit)\n"
        "  --web-dir:        the dashboard's files, served at / (default: web/ beside the\n"
        "                    binary's directory, then /usr/share/colossus/web)\n"
        "  --store:          the journal: sqlite:DIR (default sqlite:STATE-DIR),\n"
        "                    postgresql://[USER[:PASSWORD]@]HOST[:PORT]/DB[?PARAMS] (libpq's\n"
        "                    URL; a Unix socket as ?host=DIR), or\n"
        "                    fault:URL?delay_ms=N&fail_at=K&fail_count=N (tests)\n"
        "  --master-ports:   the MASTER_PORTs a job's rank-0 node is given, at least 64 of\n"
        "                    them (default 15000-29999): no two jobs there get the same\n"
        "  --checkpoint-dir: root of the per-job COLOSSUS_CHECKPOINT_DIR, as the nodes see it\n"
        "                    (shared storage on a real cluster; default "
        "STATE-DIR/checkpoints)\n"
        "  --log-root:       where the agents keep rank logs (their --log-root, shared\n"
        "                    storage): the logs of a node that is not connected are read\n"
        "                    there, at most 3 MiB a reply (default: none; such logs cannot\n"
        "                    be read)\n"
        "  --frame-timeout-ms: a frame that began arriving must end within this (30000)\n"
        "  --idle-timeout-ms: a connection with nothing in flight is closed after this\n"
        "                    long without a byte (300000)\n"
        "  --journal-give-up: a journal that cannot be written this long (default 30) stops\n"
        "                    the controller (exit 70) without acknowledging what it holds\n"
        "  --keep-finished:  how long a finished job stays in memory (default 300); after\n"
        "                    that `show`, `wait` and `logs` read it from the journal\n"
        "  --commit:         where group commits run: auto (default: on the loop while\n"
        "                    they are small and fast, else on a worker thread), thread,\n"
        "                    inline (on the loop)\n"
        "  --identity:       the controller's identity key (default STATE-DIR/identity, made\n"
        "                    when missing); tokens carry its public half, which is also\n"
        "                    written to STATE-DIR/identity.pub (what JWT clients pin)\n"
        "  --keep-jobs-days: finished jobs stay in the journal this long (default 30; 0:\n"
        "                    for ever); --keep-history-days and --keep-audit-days (default\n"
        "                    400) the usage and audit records; usage rollups always stay\n"
        "  --fairshare-halflife: how fast tenants' fair-share usage decays (default 7d;\n"
        "                    e.g. 12h, 14d; 0 is refused: it would switch fair share off)\n"
        "  --jwt-key:        accept JWTs of the site's OIDC provider signed with this key (a\n"
        "                    PEM public key: RS256, or a shared secret: HS256; --jwt-alg\n"
        "                    names another); --jwt-issuer and --jwt-audience must match;\n"
        "                    --jwt-claim names the user (default sub)\n");
}

typedef struct opts {
    const char *state, *keyfile, *preset, *topo, *addrfile, *ckpt, *store, *identity, *jwt_key;
    const char *log_root;
    const char *jwt_issuer, *jwt_audience, *jwt_claim, *jwt_alg;
    const char *http_cert, *http_key;
    long hb, dead, nodes, gpn, keep, give_up, keep_jobs, keep_history, keep_audit;
    uint32_t port_lo, port_hi; /* --master-ports */
    double spare, halflife_s;
    int nframed; /* --listen given */
    bool sync_full;
    ctl_commit_mode_t commit;
    ctl_server_opts_t srv;
} opts_t;

enum {
    CO_STATE = 1000,
    CO_LISTEN,
    CO_KEY,
    CO_HB,
    CO_DEAD,
    CO_PRESET,
    CO_TOPO,
    CO_NODES,
    CO_GPN,
    CO_SPARE,
    CO_ADDRFILE,
    CO_SYNC,
    CO_CKPT,
    CO_LOG_ROOT,
    CO_KEEP,
    CO_GIVEUP,
    CO_FRAME_TO,
    CO_IDLE_TO,
    CO_STORE,
    CO_COMMIT,
    CO_IDENTITY,
    CO_KEEP_JOBS,
    CO_KEEP_HISTORY,
    CO_KEEP_AUDIT,
    CO_JWT_KEY,
    CO_JWT_ISSUER,
    CO_JWT_AUDIENCE,
    CO_JWT_CLAIM,
    CO_JWT_ALG,
    CO_HALFLIFE,
    CO_MASTER_PORTS,
    CO_HTTP,
    CO_HTTP_ADDRFILE,
    CO_HTTP_IDLE,
    CO_HTTP_MAX,
    CO_HTTP_PER_IP,
    CO_HTTP_CERT,
    CO_HTTP_KEY,
    CO_HTTP_RATE,
    CO_WEB_DIR,
};

static const struct option long_opts[] = {
    {"state-dir", required_argument, 0, CO_STATE},
    {"listen", required_argument, 0, CO_LISTEN},
    {"http", required_argument, 0, CO_HTTP},
    {"http-address-file", required_argument, 0, CO_HTTP_ADDRFILE},
    {"http-idle-timeout", required_argument, 0, CO_HTTP_IDLE},
    {"http-max-connections", required_argument, 0, CO_HTTP_MAX},
    {"http-max-per-ip", required_argument, 0, CO_HTTP_PER_IP},
    {"http-cert", required_argument, 0, CO_HTTP_CERT},
    {"http-key", required_argument, 0, CO_HTTP_KEY},
    {"http-rate", required_argument, 0, CO_HTTP_RATE},
    {"web-dir", required_argument, 0, CO_WEB_DIR},
    {"key", required_argument, 0, CO_KEY},
    {"heartbeat-ms", required_argument, 0, CO_HB},
    {"dead-after-ms", required_argument, 0, CO_DEAD},
    {"preset", required_argument, 0, CO_PRESET},
    {"topology", required_argument, 0, CO_TOPO},
    {"nodes", required_argument, 0, CO_NODES},
    {"gpus-per-node", required_argument, 0, CO_GPN},
    {"spare-fraction", required_argument, 0, CO_SPARE},
    {"address-file", required_argument, 0, CO_ADDRFILE},
    {"sync", required_argument, 0, CO_SYNC},
    {"checkpoint-dir", required_argument, 0, CO_CKPT},
    {"log-root", required_argument, 0, CO_LOG_ROOT},
    {"keep-finished", required_argument, 0, CO_KEEP},
    {"journal-give-up", required_argument, 0, CO_GIVEUP},
    {"frame-timeout-ms", required_argument, 0, CO_FRAME_TO},
    {"idle-timeout-ms", required_argument, 0, CO_IDLE_TO},
    {"store", required_argument, 0, CO_STORE},
    {"commit", required_argument, 0, CO_COMMIT},
    {"identity", required_argument, 0, CO_IDENTITY},
    {"keep-jobs-days", required_argument, 0, CO_KEEP_JOBS},
    {"keep-history-days", required_argument, 0, CO_KEEP_HISTORY},
    {"keep-audit-days", required_argument, 0, CO_KEEP_AUDIT},
    {"fairshare-halflife", required_argument, 0, CO_HALFLIFE},
    {"master-ports", required_argument, 0, CO_MASTER_PORTS},
    {"jwt-key", required_argument, 0, CO_JWT_KEY},
    {"jwt-issuer", required_argument, 0, CO_JWT_ISSUER},
    {"jwt-audience", required_argument, 0, CO_JWT_AUDIENCE},
    {"jwt-claim", required_argument, 0, CO_JWT_CLAIM},
    {"jwt-alg", required_argument, 0, CO_JWT_ALG},
    CL_FLAGS_HELP,
    {0, 0, 0, 0}};

static int choice(const char *flag, const char *s, const char *a, const char *b, bool *is_a)
{
    if (strcmp(s, a) && strcmp(s, b)) {
        fprintf(stderr, "colossus controller: %s must be %s or %s, not '%s'\n", flag, a, b, s);
        return -1;
    }
    *is_a = !strcmp(s, a);
    return 0;
}

/* --jwt-issuer, --jwt-audience, --jwt-claim, --jwt-alg: bounded, the algorithm one we verify.
 */
static int jwt_opt(opts_t *o, int opt, const char *arg)
{
    if (strlen(arg) >= (opt == CO_JWT_CLAIM ? 64 : opt == CO_JWT_ALG ? 16 : 256)) {
        fprintf(stderr, "colossus controller: --jwt-%s too long\n",
                opt == CO_JWT_ISSUER     ? "issuer"
                : opt == CO_JWT_AUDIENCE ? "audience"
                : opt == CO_JWT_CLAIM    ? "claim"
                                         : "alg");
        return -1;
    }
    if (opt == CO_JWT_ALG && strcmp(arg, "HS256") && strcmp(arg, "HS384") &&
        strcmp(arg, "HS512") && strcmp(arg, "RS256") && strcmp(arg, "RS384") &&
        strcmp(arg, "RS512") && strcmp(arg, "ES256") && strcmp(arg, "ES384") &&
        strcmp(arg, "ES512")) {
        fprintf(stderr,
                "colossus controller: --jwt-alg %s: one of HS256/384/512, "
                "RS256/384/512, ES256/384/512\n",
                arg);
        return -1;
    }
    *(opt == CO_JWT_ISSUER     ? &o->jwt_issuer
      : opt == CO_JWT_AUDIENCE ? &o->jwt_audience
      : opt == CO_JWT_CLAIM    ? &o->jwt_claim
                               : &o->jwt_alg) = arg;
    return 0;
}

/* --commit auto|thread|inline */
static int commit_opt(opts_t *o, const char *arg)
{
    if (!strcmp(arg, "auto"))
        o->commit = CTL_COMMIT_AUTO;
    else if (!strcmp(arg, "thread"))
        o->commit = CTL_COMMIT_THREAD;
    else if (!strcmp(arg, "inline"))
        o->commit = CTL_COMMIT_INLINE;
    else {
        fprintf(stderr,
                "colossus controller: --commit must be auto, thread or inline, "
                "not '%s'\n",
                arg);
        return -1;
    }
    return 0;
}

/* The HTTP listeners' options but --http (the dashboard's files too). */
static int http_opt(opts_t *o, int opt, const char *arg)
{
    static const char *cmd = "controller";
    switch (opt) {
    case CO_HTTP_ADDRFILE:
        o->srv.http_address_file = arg;
        return 0;
    case CO_HTTP_IDLE:
        return cl_flag_u32(cmd, "--http-idle-timeout", arg, 1, 3600, &o->srv.http_idle_s);
    case CO_HTTP_MAX:
        return cl_flag_u32(cmd, "--http-max-connections", arg, 1, 1000000,
                           &o->srv.http_max_conns);
    case CO_HTTP_PER_IP:
        return cl_flag_u32(cmd, "--http-max-per-ip", arg, 1, 1000000, &o->srv.http_max_per_ip);
    case CO_HTTP_CERT:
        o->http_cert = arg;
        return 0;
    case CO_HTTP_KEY:
        o->http_key = arg;
        return 0;
    case CO_WEB_DIR:
        o->srv.web_dir = arg;
        return 0;
    default: /* CO_HTTP_RATE */
        return cl_flag_u32(cmd, "--http-rate", arg, 0, 10000000, &o->srv.http_rate);
    }
}

/* After the options: TLS given whole, and a listener off loopback only with it. */
static int http_check(const opts_t *o)
{
    if (!o->http_cert != !o->http_key) {
        fprintf(stderr, "colossus controller: --http-cert and --http-key go together\n");
        return -1;
    }
    bool any = false;
    for (int i = 0; i < o->srv.nlisten; i++) {
        cl_error_t e;
        if (strcmp(o->srv.listen[i].proto, "http")) continue;
        any = true;
        if (ctl_http_addr_check(o->srv.listen[i].addr, o->http_cert != NULL, &e) < 0) {
            fprintf(stderr, "colossus controller: %s\n", e.msg);
            return -1;
        }
    }
    if (o->http_cert && !any) {
        fprintf(stderr, "colossus controller: --http-cert without an --http listener\n");
        return -1;
    }
    return 0;
}

/* One option; -1 on a bad value (reported). */
static int one_opt(opts_t *o, int opt, const char *arg)
{
    static const char *cmd = "controller";
    switch (opt) {
    case CO_STATE:
        o->state = arg;
        return 0;
    case CO_LISTEN:
    case CO_HTTP: {
        cl_error_t e;
        if (o->srv.nlisten == CTL_MAX_LISTENERS) {
            fprintf(stderr, "colossus controller: at most %d listeners\n", CTL_MAX_LISTENERS);
            return -1;
        }
        if (opt == CO_HTTP && ctl_http_addr_check(arg, true, &e) < 0) { /* the form */
            fprintf(stderr, "colossus controller: %s\n", e.msg);
            return -1;
        }
        o->srv.listen[o->srv.nlisten++] =
            (ctl_listen_t){opt == CO_HTTP ? "http" : "colossus", arg};
        o->nframed += opt == CO_LISTEN;
        return 0;
    }
    case CO_HTTP_ADDRFILE:
    case CO_HTTP_IDLE:
    case CO_HTTP_MAX:
    case CO_HTTP_PER_IP:
    case CO_HTTP_CERT:
    case CO_HTTP_KEY:
    case CO_HTTP_RATE:
    case CO_WEB_DIR:
        return http_opt(o, opt, arg);
    case CO_KEY:
        o->keyfile = arg;
        return 0;
    case CO_HB:
        return cl_flag_long(cmd, "--heartbeat-ms", arg, 10, 600000, &o->hb);
    case CO_DEAD:
        return cl_flag_long(cmd, "--dead-after-ms", arg, 20, 3600000, &o->dead);
    case CO_PRESET:
        o->preset = arg;
        return 0;
    case CO_TOPO:
        o->topo = arg;
        return 0;
    case CO_NODES:
        return cl_flag_long(cmd, "--nodes", arg, 1, 10000000, &o->nodes);
    case CO_KEEP:
        return cl_flag_long(cmd, "--keep-finished", arg, 0, 100000000, &o->keep);
    case CO_FRAME_TO:
        return cl_flag_u32(cmd, "--frame-timeout-ms", arg, 100, 3600000,
                           &o->srv.frame_timeout_ms);
    case CO_IDLE_TO:
        return cl_flag_u32(cmd, "--idle-timeout-ms", arg, 100, 86400000, &o->srv.idle_ms);
    case CO_GIVEUP:
        return cl_flag_long(cmd, "--journal-give-up", arg, 1, 86400, &o->give_up);
    case CO_GPN:
        return cl_flag_long(cmd, "--gpus-per-node", arg, 1, CL_MAX_GPUS_PER_NODE, &o->gpn);
    case CO_SPARE:
        return cl_flag_double(cmd, "--spare-fraction", arg, 0, 0.5, &o->spare);
    case CO_ADDRFILE:
        o->addrfile = arg;
        return 0;
    case CO_STORE:
        o->store = arg;
        return 0;
    case CO_CKPT:
        if (arg[0] != '/' || strlen(arg) >= sizeof((ctl_config_t *)0)->checkpoint_root - 32) {
            fprintf(stderr, "colossus controller: --checkpoint-dir must be an absolute path "
                            "(as the nodes see it, e.g. on a shared file system)\n");
            return -1;
        }
        o->ckpt = arg;
        return 0;
    case CO_LOG_ROOT:
        if (arg[0] != '/' || strlen(arg) >= sizeof((ctl_config_t *)0)->log_root - 128) {
            fprintf(stderr, "colossus controller: --log-root must be an absolute path (the "
                            "agents' --log-root, on shared storage)\n");
            return -1;
        }
        o->log_root = arg;
        return 0;
    case CO_SYNC:
        return choice("--sync", arg, "full", "normal", &o->sync_full);
    case CO_IDENTITY:
        o->identity = arg;
        return 0;
    case CO_KEEP_JOBS:
        return cl_flag_long(cmd, "--keep-jobs-days", arg, 0, 36500, &o->keep_jobs);
    case CO_KEEP_HISTORY:
        return cl_flag_long(cmd, "--keep-history-days", arg, 0, 36500, &o->keep_history);
    case CO_KEEP_AUDIT:
        return cl_flag_long(cmd, "--keep-audit-days", arg, 0, 36500, &o->keep_audit);
    case CO_HALFLIFE: {
        cl_error_t e;
        if (cl_parse_duration(arg, &o->halflife_s, &e) < 0 || !(o->halflife_s >= 60)) {
            /* kueue#11134: a half-life of 0 read as "the default" switched fair share off */
            fprintf(stderr, "colossus controller: --fairshare-halflife: %s\n",
                    o->halflife_s >= 60 ? e.msg
                                        : "must be at least 60 s (fair share needs a decay)");
            return -1;
        }
        return 0;
    }
    case CO_MASTER_PORTS: {
        unsigned lo, hi;
        int end = 0;
        if (sscanf(arg, "%5u-%5u%n", &lo, &hi, &end) != 2 || arg[end] || lo < 1024 ||
            hi > 65535 || hi < lo || hi - lo + 1 < CL_MAX_GPUS_PER_NODE) {
            fprintf(stderr,
                    "colossus controller: --master-ports %s: want LO-HI, 1024 <= LO <= HI <= "
                    "65535, at least %d ports (as many as jobs can share a node)\n",
                    arg, CL_MAX_GPUS_PER_NODE);
            return -1;
        }
        o->port_lo = lo;
        o->port_hi = hi;
        return 0;
    }
    case CO_JWT_KEY:
        o->jwt_key = arg;
        return 0;
    case CO_JWT_ISSUER:
    case CO_JWT_AUDIENCE:
    case CO_JWT_CLAIM:
    case CO_JWT_ALG:
        return jwt_opt(o, opt, arg);
    case CO_COMMIT:
        return commit_opt(o, arg);
    default: /* an option of the table without a case: a bug here, not the user's */
        fprintf(stderr, "colossus controller: option %d has no case\n", opt);
        return -1;
    }
}

/* 0 to go on, else the exit status. */
static int parse(opts_t *o, int argc, char **argv)
{
    *o = (opts_t){.hb = 1000,
                  .keep = 300,
                  .give_up = 30,
                  .sync_full = true,
                  .keep_jobs = 30,
                  .keep_history = 400,
                  .keep_audit = 400,
                  .halflife_s = 7 * 86400.0,
                  .srv = {.http_rate = CTL_HTTP_RATE_DEFAULT}};
    cl_flags_t f = {.cmd = "controller", .shorts = "h", .longs = long_opts, .usage = usage};
    int opt;
    while ((opt = cl_flags_next(&f, argc, argv)) != -1) {
        if (opt == CL_FLAGS_DONE) return f.exit ? f.exit : -1;
        if (one_opt(o, opt, optarg) < 0) return 2;
    }
    if (cl_flags_args(&f, argc, argv, 0, 0, NULL) < 0) return 2;
    if (!o->state || !o->nframed || !o->keyfile) {
        fprintf(stderr, "colossus controller: --state-dir, --listen and --key are required\n");
        usage(stderr);
        return 2;
    }
    if (o->preset && o->topo) {
        fprintf(stderr, "colossus controller: give --preset or --topology, not both\n");
        return 2;
    }
    if (http_check(o) < 0) return 2;
    if ((o->jwt_issuer || o->jwt_audience || o->jwt_claim || o->jwt_alg) && !o->jwt_key) {
        fprintf(stderr, "colossus controller: the --jwt-* options need --jwt-key\n");
        return 2;
    }
    if (!o->dead) o->dead = o->hb * 3;
    if (o->dead <= o->hb) {
        fprintf(stderr,
                "colossus controller: --dead-after-ms (%ld) must exceed --heartbeat-ms (%ld)\n",
                o->dead, o->hb);
        return 2;
    }
    return 0;
}

/* The state directory (made when missing), the checkpoint root and the store URL. */
static int prepare_dirs(opts_t *o, ctl_config_t *cfg, char *url, size_t urlen)
{
    if (mkdir(o->state, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "colossus controller: cannot create %s: %s\n", o->state,
                strerror(errno));
        return 1;
    }
    char real[4096];
    if (!realpath(o->state, real) || strlen(real) >= sizeof cfg->checkpoint_root - 32) {
        fprintf(stderr, "colossus controller: state dir %s: %s\n", o->state,
                errno ? strerror(errno) : "path too long");
        return 1;
    }
    if (o->log_root) snprintf(cfg->log_root, sizeof cfg->log_root, "%s", o->log_root);
    if (o->ckpt) {
        snprintf(cfg->checkpoint_root, sizeof cfg->checkpoint_root, "%.2000s", o->ckpt);
    } else {
        snprintf(cfg->checkpoint_root, sizeof cfg->checkpoint_root, "%.2000s/checkpoints",
                 real);
        mkdir(cfg->checkpoint_root, 0755);
    }
    snprintf(url, urlen, "%s%s", o->store ? "" : "sqlite:", o->store ? o->store : real);
    return 0;
}

/* The identity key (made in the state directory on the first start; its public half written
 * to STATE-DIR/identity.pub at every start) and a site's JWT key. 0, or the exit status after
 * saying why. */
static int credentials(opts_t *o, ctl_config_t *cfg, cl_error_t *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/identity", o->state);
    const char *id = o->identity ? o->identity : path;
    if (cl_identity_load(id, !o->identity, o->srv.identity_pk, o->srv.identity_sk, err) < 0) {
        fprintf(stderr, "colossus controller: %s\n", err->msg);
        return 1;
    }
    /* what operators hand to clients that pin it (a JWT is sent only to a pinned identity) */
    snprintf(path, sizeof path, "%s/identity.pub", o->state);
    if (cl_identity_pub_write(path, o->srv.identity_pk, err) < 0) {
        fprintf(stderr, "colossus controller: %s\n", err->msg);
        return 1;
    }
    if (!o->jwt_key) return 0;
    if (ctl_jwt_load(err) < 0) {
        fprintf(stderr, "colossus controller: --jwt-key: %s\n", err->msg);
        return 1;
    }
    size_t n;
    cfg->jwt_key = cl_read_file(o->jwt_key, &n, err);
    if (!cfg->jwt_key || !n) {
        fprintf(stderr, "colossus controller: --jwt-key: %s\n",
                cfg->jwt_key ? "the file is empty" : err->msg);
        return 2;
    }
    cfg->jwt_key_len = n;
    snprintf(cfg->jwt_issuer, sizeof cfg->jwt_issuer, "%s", o->jwt_issuer ? o->jwt_issuer : "");
    snprintf(cfg->jwt_audience, sizeof cfg->jwt_audience, "%s",
             o->jwt_audience ? o->jwt_audience : "");
    snprintf(cfg->jwt_claim, sizeof cfg->jwt_claim, "%s", o->jwt_claim ? o->jwt_claim : "");
    snprintf(cfg->jwt_alg, sizeof cfg->jwt_alg, "%s", o->jwt_alg ? o->jwt_alg : "");
    return 0;
}

/* A SIGBUS is a memory-mapped file that could not be backed (SQLite's -shm on a full or
 * read-only file system): say so before dying, never die without a word. */
static void sigbus(int sig)
{
    static const char line[] =
        "colossus controller: fatal: SIGBUS: a memory-mapped file (the journal's -shm index?) "
        "could not be read or written: is its file system full, read-only, or without shared "
        "mappings?\n";
    ssize_t w = write(2, line, sizeof line - 1);
    (void)w;
    signal(sig, SIG_DFL);
    raise(sig);
}

static void on_sigbus(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = sigbus;
    sigaction(SIGBUS, &sa, NULL);
}

/* Before listening: the journal takes a write, its WAL and shared index included, so that a
 * read-only or full state directory stops the start with a sentence instead of failing the
 * first acknowledgement seconds later. */
static int probe(cl_store_t *store, cl_error_t *err)
{
    cl_store_batch_t *b = cl_store_batch_new();
    cl_store_batch_meta(b, "last_start", (uint64_t)cl_wall_s());
    int rc = cl_store_commit(store, b, err);
    cl_store_batch_free(b);
    return rc;
}

/* A standby's word while it waits for the lease (docs/standby.md). */
struct standby {
    const char *shown;
    bool waited;
};

static void waiting(void *arg, const char *holder)
{
    struct standby *sb = arg;
    sb->waited = true;
    cl_daemon_log("controller",
                  "standby: the journal %s is led by %s: waiting to take over (not listening "
                  "meanwhile)",
                  sb->shown, holder[0] ? holder : "another controller");
}

/* Lead the journal: at once unless another controller leads it (a PostgreSQL journal shared
 * by standbys), else once it is gone; before the state is loaded and anything listens. */
static int lead(cl_store_t *store, const char *shown, cl_error_t *err)
{
    char host[64] = "?", who[128];
    gethostname(host, sizeof host - 1);
    snprintf(who, sizeof who, "%.63s pid %ld", host, (long)getpid());
    double t0 = cl_wall_s();
    struct standby sb = {shown, false};
    if (cl_store_lead(store, who, waiting, &sb, err) < 0) return -1;
    if (sb.waited)
        cl_daemon_log("controller", "took the lead of %s as %s after %.1f s of standby", shown,
                      who, cl_wall_s() - t0);
    return 0;
}

int cmd_controller(int argc, char **argv)
{
    opts_t o;
    int rc = parse(&o, argc, argv);
    if (rc) return rc < 0 ? 0 : rc;
    cl_error_t err;
    if (cl_crypto_init() < 0 || cl_key_load(o.keyfile, o.srv.key, &err) < 0) {
        fprintf(stderr, "colossus controller: %s\n", err.msg);
        return 2;
    }
    cl_topo_t *t =
        cl_topo_load(o.preset, o.topo, NULL, (uint32_t)o.nodes, (uint32_t)o.gpn, &err);
    if (!t) {
        fprintf(stderr, "colossus controller: topology: %s\n", err.msg);
        return 2;
    }
    cl_cluster_opts_t copts;
    cl_cluster_opts_default(&copts);
    copts.spare_fraction = o.spare;
    copts.fairshare_halflife_s = o.halflife_s;
    cl_cluster_t *cluster = cl_cluster_create(t, &copts, &err);
    if (!cluster) {
        fprintf(stderr, "colossus controller: %s\n", err.msg);
        return 2;
    }
    ctl_config_t cfg = {.heartbeat_ms = (uint32_t)o.hb,
                        .dead_after_ms = (uint32_t)o.dead,
                        .keep_finished_s = (double)o.keep,
                        .commit_give_up_s = (double)o.give_up,
                        .keep_jobs_s = o.keep_jobs * 86400.0,
                        .keep_history_s = o.keep_history * 86400.0,
                        .keep_audit_s = o.keep_audit * 86400.0,
                        .master_port_lo = o.port_lo,
                        .master_port_hi = o.port_hi};
    char url[4200];
    if ((rc = prepare_dirs(&o, &cfg, url, sizeof url))) {
        cl_cluster_destroy(cluster);
        return rc;
    }
    cl_store_opts_t sopts = {.sync_full = o.sync_full};
    char shown[256]; /* the URL as messages show it: a password hidden */
    cl_store_url_shown(url, shown, sizeof shown);
    on_sigbus();
    cl_store_t *store = cl_store_open(url, &sopts, &err);
    if (!store || lead(store, shown, &err) < 0 || probe(store, &err) < 0) {
        fprintf(stderr, "colossus controller: the journal %s cannot be written: %s\n", shown,
                err.msg);
        cl_store_close(store);
        cl_cluster_destroy(cluster);
        return 1;
    }
    /* after the journal, which names a state directory that cannot be written */
    if ((rc = credentials(&o, &cfg, &err))) {
        free(cfg.jwt_key);
        cl_store_close(store);
        cl_cluster_destroy(cluster);
        return rc;
    }
    /* read once: a new certificate takes a restart */
    if (o.http_cert && ctl_http_tls_load(&o.srv, o.http_cert, o.http_key, &err) < 0) {
        fprintf(stderr, "colossus controller: %s\n", err.msg);
        free(cfg.jwt_key);
        cl_store_close(store);
        cl_cluster_destroy(cluster);
        return 2;
    }
    o.srv.address_file = o.addrfile;
    o.srv.commit = o.commit;
    ctl_server_t *srv = ctl_server_create(&o.srv, store, &err);
    ctl_t *c =
        srv ? ctl_create(&cfg, cluster, store, &ctl_clock_real, ctl_server_hooks(srv), &err)
            : NULL;
    if (!c) {
        fprintf(stderr, "colossus controller: recovery from %s failed: %s\n", shown, err.msg);
        if (!srv) cl_cluster_destroy(cluster);
        ctl_server_destroy(srv);
        cl_store_close(store);
        free(cfg.jwt_key);
        ctl_http_tls_free(&o.srv);
        return 1;
    }
    ctl_set_identity(c, o.srv.identity_pk);
    rc = ctl_server_run(srv, c, &err);
    if (rc == 1) fprintf(stderr, "colossus controller: %s\n", err.msg);
    ctl_server_destroy(srv);
    ctl_destroy(c);
    cl_store_close(store);
    sodium_memzero(o.srv.identity_sk, sizeof o.srv.identity_sk);
    free(cfg.jwt_key);
    ctl_http_tls_free(&o.srv);
    return rc;
}
