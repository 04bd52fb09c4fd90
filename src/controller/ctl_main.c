/* ctl_main.c - the controller daemon: options, topology, journal recovery, the listener and
 * handshake, and the loop turn that schedules, commits the journal and only then lets the
 * resulting replies and commands out (journal before acknowledge). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <sodium.h>

#include "controller/ctl.h"

double ctl_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

void ctl_fatal(ctl_t *c, const char *what, const cl_error_t *err)
{
    cl_daemon_log(c->who, "fatal: %s: %s", what, err ? err->msg : "");
    exit(70);
}

void ctl_send(ctl_conn_t *c, Colossus__Msg *m)
{
    if (cl_uconn_send(&c->u, m) < 0)
        return;
    if (!c->dirty) {
        c->dirty = true;
        c->dirty_next = c->ctl->dirty;
        c->ctl->dirty = c;
    }
}

void ctl_send_node(ctl_t *c, uint32_t node, Colossus__Msg *m)
{
    if (node < c->nnodes && c->nodes[node].conn)
        ctl_send(c->nodes[node].conn, m);
}

/* One loop turn's end: schedule, make the journal durable, then send what it caused. Runs
 * before the loop blocks (prepare) and after I/O (check). */
static void ctl_turn(ctl_t *c)
{
    if (c->sched_needed && !c->recovering) {
        c->sched_needed = false;
        ctl_schedule(c);
    }
    cl_error_t err;
    if (cl_store_commit(c->store, c->batch, &err) < 0)
        ctl_fatal(c, "journal commit failed; refusing to acknowledge anything", &err);
    cl_store_batch_clear(c->batch);
    while (c->dirty) {
        ctl_conn_t *k = c->dirty;
        c->dirty = k->dirty_next;
        k->dirty = false;
        cl_uconn_flush(&k->u);
    }
}

static void on_prepare(uv_prepare_t *p)
{
    ctl_turn(p->data);
}

static void on_check(uv_check_t *p)
{
    ctl_nodes_judge(p->data); /* after this turn's reads: see ctl_t.suspects */
    ctl_turn(p->data);
}

static void conn_closed_timer(uv_handle_t *h)
{
    free(h->data);
}

static void on_conn_closed(cl_uconn_t *u)
{
    ctl_conn_t *k = (ctl_conn_t *)u;
    ctl_t *c = k->ctl;
    /* Log fetches waiting on a node this connection carried will never be answered. */
    for (ctl_logreq_t **p = &c->logreqs; *p;) {
        ctl_logreq_t *q = *p;
        if (k->kind == CONN_AGENT && c->nodes[q->node].conn == k) {
            *p = q->next;
            if (q->client)
                ctl_respond_error(q->client, q->client_req, "node %s went away before sending the log",
                                  c->nodes[q->node].name);
            free(q);
            continue;
        }
        if (q->client == k)
            q->client = NULL;
        p = &q->next;
    }
    if (k->kind == CONN_AGENT)
        ctl_nodes_conn_closed(c, k);
    ctl_conn_forget_waiters(c, k);
    ctl_health_conn_closed(c, k);
    if (k->prev)
        k->prev->next = k->next;
    else
        c->conns = k->next;
    if (k->next)
        k->next->prev = k->prev;
    if (k->dirty) { /* unlink from the flush list */
        for (ctl_conn_t **p = &c->dirty; *p; p = &(*p)->dirty_next)
            if (*p == k) {
                *p = k->dirty_next;
                break;
            }
    }
    uv_timer_stop(&k->auth_timer);
    k->auth_timer.data = k;
    uv_close((uv_handle_t *)&k->auth_timer, conn_closed_timer);
}

static void on_auth_timeout(uv_timer_t *t)
{
    ctl_conn_t *k = t->data;
    cl_uconn_close(&k->u, "no authentication within 10 s");
}

static void handle_auth(ctl_t *c, ctl_conn_t *k, const Colossus__Auth *a)
{
    uint8_t proof[32];
    if (a->nonce.len != CL_NONCE_BYTES || a->proof.len != 32) {
        cl_uconn_close(&k->u, "malformed authentication");
        return;
    }
    cl_auth_proof(c->key, "colossus-client", k->nonce, a->nonce.data, proof);
    if (!cl_auth_equal(proof, a->proof.data, 32)) {
        cl_daemon_log(c->who, "refused %s (%s): wrong cluster key", k->u.peer, a->peer);
        cl_uconn_close(&k->u, NULL);
        return;
    }
    if (a->role != COLOSSUS__ROLE__ROLE_AGENT && a->role != COLOSSUS__ROLE__ROLE_CLIENT) {
        cl_uconn_close(&k->u, "unknown role");
        return;
    }
    cl_auth_proof(c->key, "colossus-server", k->nonce, a->nonce.data, proof);
    Colossus__AuthOk ok = COLOSSUS__AUTH_OK__INIT;
    ok.proof.data = proof;
    ok.proof.len = 32;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_AUTH_OK;
    m.auth_ok = &ok;
    ctl_send(k, &m);
    cl_sess_rekey(&k->u.sess, c->key, k->nonce, a->nonce.data);
    k->kind = a->role == COLOSSUS__ROLE__ROLE_AGENT ? CONN_AGENT : CONN_CLIENT;
    uv_timer_stop(&k->auth_timer);
    if (k->kind == CONN_AGENT)
        cl_daemon_log(c->who, "agent connection from %s (%s)", k->u.peer, a->peer);
}

static void on_msg(cl_uconn_t *u, Colossus__Msg *m)
{
    ctl_conn_t *k = (ctl_conn_t *)u;
    ctl_t *c = k->ctl;
    switch (k->kind) {
    case CONN_HANDSHAKE:
        if (m->body_case == COLOSSUS__MSG__BODY_AUTH)
            handle_auth(c, k, m->auth);
        else
            cl_uconn_close(u, "expected authentication");
        return;
    case CONN_AGENT:
        switch (m->body_case) {
        case COLOSSUS__MSG__BODY_REGISTER: ctl_node_register(c, k, m->register_); return;
        case COLOSSUS__MSG__BODY_HEARTBEAT:
            ctl_node_heartbeat(c, k, m->heartbeat);
            ctl_health_heartbeat(c, k, m->heartbeat);
            return;
        case COLOSSUS__MSG__BODY_EXITED: ctl_job_exited(c, k, m->exited); return;
        case COLOSSUS__MSG__BODY_STARTED: ctl_job_ranks_started(c, k, m->started); return;
        case COLOSSUS__MSG__BODY_LOG_DATA: ctl_log_data(c, k, m->log_data); return;
        default: break;
        }
        break;
    case CONN_CLIENT:
        if (m->body_case == COLOSSUS__MSG__BODY_REQUEST) {
            ctl_request(c, k, m->request);
            return;
        }
        break;
    }
    char why[80];
    snprintf(why, sizeof why, "unexpected message %d", m->body_case);
    cl_uconn_close(u, why);
}

static void on_connection(uv_stream_t *srv, int status)
{
    ctl_t *c = srv->data;
    if (status < 0) {
        cl_daemon_log(c->who, "accept: %s", uv_strerror(status));
        return;
    }
    ctl_conn_t *k = calloc(1, sizeof *k);
    if (!k)
        return;
    k->ctl = c;
    cl_uconn_init(c->loop, &k->u, on_msg, on_conn_closed, c);
    if (uv_accept(srv, (uv_stream_t *)&k->u.tcp) < 0) {
        uv_close((uv_handle_t *)&k->u.tcp, conn_closed_timer); /* tcp.data is k */
        return;
    }
    k->next = c->conns;
    if (c->conns)
        c->conns->prev = k;
    c->conns = k;
    cl_sess_init_handshake(&k->u.sess, true);
    cl_uconn_start(&k->u);
    uv_timer_init(c->loop, &k->auth_timer);
    k->auth_timer.data = k;
    uv_timer_start(&k->auth_timer, on_auth_timeout, 10000, 0);
    randombytes_buf(k->nonce, sizeof k->nonce);
    Colossus__Hello h = COLOSSUS__HELLO__INIT;
    h.proto_version = CL_PROTO_VERSION;
    h.nonce.data = k->nonce;
    h.nonce.len = sizeof k->nonce;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_HELLO;
    m.hello = &h;
    ctl_send(k, &m);
}

static void on_tick(uv_timer_t *t)
{
    ctl_t *c = t->data;
    if (c->recovering && ctl_now() >= c->recover_until) {
        c->recovering = false;
        ctl_jobs_reconcile(c);
        c->sched_needed = true;
    }
    ctl_jobs_tick(c);
}

static void on_signal(uv_signal_t *s, int signum)
{
    ctl_t *c = s->data;
    cl_daemon_log(c->who, "signal %d: exiting (jobs keep running on the agents)", signum);
    ctl_turn(c);
    uv_stop(c->loop);
}

static cl_topo_t *make_topo(const char *preset, const char *topofile, long nodes, long gpn,
                            cl_error_t *err)
{
    if (preset)
        return cl_topo_preset(preset, (uint32_t)(nodes > 0 ? nodes : 0),
                              (uint32_t)(gpn > 0 ? gpn : 0), err);
    if (topofile) {
        FILE *f = fopen(topofile, "r");
        if (!f) {
            snprintf(err->msg, sizeof err->msg, "cannot read %.200s: %.40s", topofile,
                     strerror(errno));
            return NULL;
        }
        char *buf = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&buf, &len);
        char chunk[8192];
        size_t r;
        while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
            fwrite(chunk, 1, r, mem);
        fclose(f);
        fclose(mem);
        cl_topo_t *t = cl_topo_parse_slurm(buf, len, topofile, (uint32_t)(gpn > 0 ? gpn : 8), err);
        free(buf);
        return t;
    }
    cl_topo_shape_t sh = {.nodes = (uint32_t)(nodes > 0 ? nodes : 64),
                          .gpus_per_node = (uint32_t)(gpn > 0 ? gpn : 8),
                          .nodes_per_domain = 1,
                          .nodes_per_leaf = 8,
                          .leaves_per_pod = 8};
    return cl_topo_create(&sh, "node", err);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: colossus controller --state-dir DIR --listen HOST:PORT --key FILE\n"
            "         [--heartbeat-ms N] [--dead-after-ms N] [--preset NAME | --topology FILE]\n"
            "         [--nodes N] [--gpus-per-node G] [--spare-fraction F]\n"
            "         [--address-file FILE] [--sync full|normal] [--checkpoint-dir DIR]\n"
            "         [--keep-finished SECONDS]\n"
            "  --checkpoint-dir: root of the per-job COLOSSUS_CHECKPOINT_DIR, as the nodes see it\n"
            "                    (shared storage on a real cluster; default STATE-DIR/checkpoints)\n"
            "  --keep-finished:  how long a finished job stays in memory (default 300); after\n"
            "                    that `show`, `wait` and `logs` read it from the journal\n");
}

static int num_opt(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "colossus controller: %s must be a number in %ld..%ld, not '%s'\n", opt,
                lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cmd_controller(int argc, char **argv)
{
    enum { CO_STATE = 1000, CO_LISTEN, CO_KEY, CO_HB, CO_DEAD, CO_PRESET, CO_TOPO, CO_NODES, CO_GPN,
           CO_SPARE, CO_ADDRFILE, CO_SYNC, CO_CKPT, CO_KEEP };
    static const struct option opts[] = {
        {"state-dir", required_argument, 0, CO_STATE},   {"listen", required_argument, 0, CO_LISTEN},
        {"key", required_argument, 0, CO_KEY},           {"heartbeat-ms", required_argument, 0, CO_HB},
        {"dead-after-ms", required_argument, 0, CO_DEAD}, {"preset", required_argument, 0, CO_PRESET},
        {"topology", required_argument, 0, CO_TOPO},     {"nodes", required_argument, 0, CO_NODES},
        {"gpus-per-node", required_argument, 0, CO_GPN}, {"spare-fraction", required_argument, 0, CO_SPARE},
        {"address-file", required_argument, 0, CO_ADDRFILE}, {"sync", required_argument, 0, CO_SYNC},
        {"checkpoint-dir", required_argument, 0, CO_CKPT},
        {"keep-finished", required_argument, 0, CO_KEEP},
        {"help", no_argument, 0, 'h'},                  {0, 0, 0, 0}};
    const char *state = NULL, *listen_s = NULL, *keyfile = NULL, *preset = NULL, *topo = NULL,
               *addrfile = NULL, *ckpt = NULL;
    long hb = 1000, dead = 0, nodes = 0, gpn = 0, keep = 300;
    double spare = 0;
    bool sync_full = true;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case CO_STATE: state = optarg; break;
        case CO_LISTEN: listen_s = optarg; break;
        case CO_KEY: keyfile = optarg; break;
        case CO_HB: if (num_opt("--heartbeat-ms", optarg, 10, 600000, &hb) < 0) return 2; break;
        case CO_DEAD: if (num_opt("--dead-after-ms", optarg, 20, 3600000, &dead) < 0) return 2; break;
        case CO_PRESET: preset = optarg; break;
        case CO_TOPO: topo = optarg; break;
        case CO_NODES: if (num_opt("--nodes", optarg, 1, 10000000, &nodes) < 0) return 2; break;
        case CO_KEEP: if (num_opt("--keep-finished", optarg, 0, 100000000, &keep) < 0) return 2; break;
        case CO_GPN: if (num_opt("--gpus-per-node", optarg, 1, CL_MAX_GPUS_PER_NODE, &gpn) < 0) return 2; break;
        case CO_SPARE: {
            char *end;
            spare = strtod(optarg, &end);
            if (*end || end == optarg || spare < 0 || spare > 0.5) {
                fprintf(stderr, "colossus controller: --spare-fraction must be 0..0.5, not '%s'\n", optarg);
                return 2;
            }
            break;
        }
        case CO_ADDRFILE: addrfile = optarg; break;
        case CO_CKPT:
            if (optarg[0] != '/' || strlen(optarg) >= sizeof ((ctl_t *)0)->ckpt_root) {
                fprintf(stderr, "colossus controller: --checkpoint-dir must be an absolute path "
                                "(as the nodes see it, e.g. on a shared file system)\n");
                return 2;
            }
            ckpt = optarg;
            break;
        case CO_SYNC:
            if (strcmp(optarg, "full") && strcmp(optarg, "normal")) {
                fprintf(stderr, "colossus controller: --sync must be full or normal\n");
                return 2;
            }
            sync_full = !strcmp(optarg, "full");
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "colossus controller: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!state || !listen_s || !keyfile) {
        fprintf(stderr, "colossus controller: --state-dir, --listen and --key are required\n");
        usage(stderr);
        return 2;
    }
    if (preset && topo) {
        fprintf(stderr, "colossus controller: give --preset or --topology, not both\n");
        return 2;
    }
    if (!dead)
        dead = hb * 3;
    if (dead <= hb) {
        fprintf(stderr, "colossus controller: --dead-after-ms (%ld) must exceed --heartbeat-ms (%ld)\n",
                dead, hb);
        return 2;
    }
    static ctl_t C;
    ctl_t *c = &C;
    memset(c, 0, sizeof *c);
    c->who = "controller";
    c->hb_ms = (uint32_t)hb;
    c->dead_ms = (uint32_t)dead;
    c->keep_finished_s = (double)keep;
    char host[256];
    int port;
    cl_error_t aerr;
    if (cl_addr_parse(listen_s, host, sizeof host, &port, &aerr) < 0) {
        fprintf(stderr, "colossus controller: --listen: %s\n", aerr.msg);
        return 2;
    }
    if (cl_crypto_init() < 0 || cl_key_load(keyfile, c->key, &aerr) < 0) {
        fprintf(stderr, "colossus controller: %s\n", aerr.msg);
        return 2;
    }
    cl_error_t cerr = {{0}};
    cl_topo_t *t = make_topo(preset, topo, nodes, gpn, &cerr);
    if (!t) {
        fprintf(stderr, "colossus controller: topology: %s\n", cerr.msg);
        return 2;
    }
    cl_cluster_opts_t copts;
    cl_cluster_opts_default(&copts);
    copts.spare_fraction = spare;
    c->cluster = cl_cluster_create(t, &copts, &cerr);
    if (!c->cluster) {
        fprintf(stderr, "colossus controller: %s\n", cerr.msg);
        return 2;
    }
    if (mkdir(state, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "colossus controller: cannot create %s: %s\n", state, strerror(errno));
        return 1;
    }
    char real[4096];
    if (!realpath(state, real) || strlen(real) >= sizeof c->state_dir - 16) {
        fprintf(stderr, "colossus controller: state dir %s: %s\n", state, strerror(errno));
        return 1;
    }
    memcpy(c->state_dir, real, strlen(real) + 1); /* length checked above */
    if (ckpt) {
        memcpy(c->ckpt_root, ckpt, strlen(ckpt) + 1); /* length checked with the option */
    } else {
        memcpy(c->ckpt_root, real, strlen(real));
        memcpy(c->ckpt_root + strlen(real), "/checkpoints", 13);
        mkdir(c->ckpt_root, 0755);
    }
    char url[sizeof c->state_dir + 8] = "sqlite:";
    memcpy(url + 7, c->state_dir, strlen(c->state_dir) + 1); /* length checked above */
    c->store = cl_store_open(url, &(cl_store_opts_t){.sync_full = sync_full}, &cerr);
    if (!c->store) {
        fprintf(stderr, "colossus controller: %s\n", cerr.msg);
        return 1;
    }
    c->batch = cl_store_batch_new();
    signal(SIGPIPE, SIG_IGN);
    c->loop = uv_default_loop();
    uv_idle_init(c->loop, &c->judge_idle); /* liveness: ctl_nodes.c */
    uv_timer_init(c->loop, &c->dead_timer);
    c->dead_timer.data = c;
    c->deadq[0].elem = c->deadq[1].elem = sizeof(struct ctl_deadline);
    c->finished.elem = sizeof(uint64_t);
    if (ctl_nodes_init(c) < 0 || ctl_jobs_recover(c, &cerr) < 0 || ctl_health_init(c) < 0) {
        fprintf(stderr, "colossus controller: recovery from %s failed: %s\n", c->state_dir,
                cerr.msg);
        return 1;
    }
    if (cl_store_commit(c->store, c->batch, &cerr) < 0) {
        fprintf(stderr, "colossus controller: %s\n", cerr.msg);
        return 1;
    }
    cl_store_batch_clear(c->batch);
    struct sockaddr_storage sa;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&sa) < 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa) < 0) {
        fprintf(stderr, "colossus controller: --listen: '%s' is not an IP address\n", host);
        return 2;
    }
    uv_tcp_init(c->loop, &c->listener);
    c->listener.data = c;
    int rc = uv_tcp_bind(&c->listener, (struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&c->listener, 1024, on_connection);
    if (rc < 0) {
        fprintf(stderr, "colossus controller: cannot listen on %s: %s\n", listen_s, uv_strerror(rc));
        return 1;
    }
    int slen = sizeof sa;
    uv_tcp_getsockname(&c->listener, (struct sockaddr *)&sa, &slen);
    char bound[300], ip[64] = "";
    if (sa.ss_family == AF_INET) {
        uv_ip4_name((struct sockaddr_in *)&sa, ip, sizeof ip);
        snprintf(bound, sizeof bound, "%s:%d", ip, ntohs(((struct sockaddr_in *)&sa)->sin_port));
    } else {
        uv_ip6_name((struct sockaddr_in6 *)&sa, ip, sizeof ip);
        snprintf(bound, sizeof bound, "[%s]:%d", ip, ntohs(((struct sockaddr_in6 *)&sa)->sin6_port));
    }
    if (addrfile) {
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp", addrfile);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%s\n", bound) < 0 || fclose(f) != 0 || rename(tmp, addrfile) < 0) {
            fprintf(stderr, "colossus controller: cannot write %s: %s\n", addrfile, strerror(errno));
            return 1;
        }
    }
    uv_prepare_init(c->loop, &c->prepare);
    uv_check_init(c->loop, &c->check);
    c->prepare.data = c->check.data = c;
    uv_prepare_start(&c->prepare, on_prepare);
    uv_check_start(&c->check, on_check);
    uv_timer_init(c->loop, &c->tick);
    c->tick.data = c;
    uv_timer_start(&c->tick, on_tick, 100, 100);
    uv_signal_init(c->loop, &c->sigterm);
    uv_signal_init(c->loop, &c->sigint);
    c->sigterm.data = c->sigint.data = c;
    uv_signal_start(&c->sigterm, on_signal, SIGTERM);
    uv_signal_start(&c->sigint, on_signal, SIGINT);
    cl_daemon_log(c->who, "listening on %s; %u node slots x %u GPUs; heartbeat %u ms, dead after %u ms; state in %s",
                  bound, c->nnodes, c->gpus_per_node, c->hb_ms, c->dead_ms, c->state_dir);
    uv_run(c->loop, UV_RUN_DEFAULT);
    cl_store_close(c->store);
    cl_store_batch_free(c->batch);
    return 0;
}
