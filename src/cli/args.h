/* args.h - what the service commands (tenant, user, qos, token, node-token, node, history,
 * usage, audit) share: a command with subcommands ("tenant add"), the values of their
 * options checked before anything is sent (names, durations, times, hostlists, limits that
 * may be "none", one of a few words), and the list of fields a "set" changes.
 *
 * Every checker prints "colossus CMD: <what is wrong>" on stderr and returns -1 on a bad
 * value (the command then exits 2), else 0 with the value in *out. */
#ifndef COLOSSUS_CLI_ARGS_H
#define COLOSSUS_CLI_ARGS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

#include "cli/cmds.h"

/* The longest tenant, user, QOS or node name the controller keeps (docs/security.md). */
#define CL_CLI_NAME_MAX 63

/* One subcommand of a command: its name, its entry point (argv[0] is the subcommand's name),
 * one line of help. */
typedef struct cl_cli_sub {
    const char *name;
    cl_cmd_f *fn;
    const char *help;
} cl_cli_sub_t;

/* "colossus CMD: <message>" on stderr, the message escaped (it quotes what was typed). */
void cl_cli_vbad(const char *cmd, const char *fmt, va_list ap);

/* Run the subcommand argv[1] of cmd: "colossus CMD --help" lists them (stdout, 0); none or
 * an unknown one is bad usage (the list on stderr, 2). */
int cl_cli_dispatch(const char *cmd, int argc, char **argv, const cl_cli_sub_t *subs, size_t n);

/* A name (what: "tenant name", "--parent"): 1..CL_CLI_NAME_MAX bytes of UTF-8 without
 * control characters, and none of the characters in forbid (may be NULL); "" only when
 * empty_ok (a "set" that clears it). */
int cl_arg_name(const char *cmd, const char *what, const char *s, const char *forbid,
                bool empty_ok);
/* A duration (when.h) of at least min_s seconds. */
int cl_arg_duration(const char *cmd, const char *flag, const char *s, double min_s,
                    double *out);
/* A point in time (when.h), relative to now. */
int cl_arg_time(const char *cmd, const char *flag, const char *s, double *out);
/* A whole number in 0..hi, or the word none_word (e.g. "none", "all") for -1. */
int cl_arg_limit(const char *cmd, const char *flag, const char *s, const char *none_word,
                 long hi, int64_t *out);
/* A hostlist (util/hostlist.h). */
int cl_arg_hostlist(const char *cmd, const char *flag, const char *s);
/* One of the words in choices (NULL-terminated). */
int cl_arg_oneof(const char *cmd, const char *flag, const char *s, const char *const *choices);

/* The fields a tenant, user or QOS "set" changes, in the order given, each once (what
 * TenantSpec.set, UserSpec.set and QosSpec.set carry). */
#define CL_CLI_SET_MAX 16
typedef struct cl_cli_set {
    char *v[CL_CLI_SET_MAX];
    size_t n;
} cl_cli_set_t;
void cl_cli_set_add(cl_cli_set_t *s, const char *field);
bool cl_cli_set_has(const cl_cli_set_t *s, const char *field);
/* One of a pair of switches (--preemptible / --no-preemptible): *v = value and field into
 * set; -1 (said, naming yes and no) when the other one of the pair came before. */
int cl_arg_switch(const char *cmd, cl_cli_set_t *set, const char *field, protobuf_c_boolean *v,
                  bool value, const char *yes, const char *no);

/* Text of the accounting views: a time in UTC ("2026-11-01T12:00:00Z", "-" for none), a
 * duration as sacct writes it ("1-02:03:04", "02:03:04"), a number of FLOPs with an SI
 * prefix ("1.2 EFLOP", "-" for none). */
void cl_cli_fmt_utc(double t, char *buf, size_t len);
/* The same in local time, "2026-11-01 13:00:00" (the job views). */
void cl_cli_fmt_local(double t, char *buf, size_t len);
void cl_cli_fmt_elapsed(double s, char *buf, size_t len);
void cl_cli_fmt_flops(double flops, char *buf, size_t len);

#endif
