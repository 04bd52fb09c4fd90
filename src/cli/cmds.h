/* cmds.h - entry points of the colossus subcommands, each defined in its module.
 * Each takes argv with argv[0] the subcommand name, returns the process exit status. */
#ifndef COLOSSUS_CLI_CMDS_H
#define COLOSSUS_CLI_CMDS_H

typedef int cl_cmd_f(int argc, char **argv);

#define CL_CMD(name) extern cl_cmd_f name __attribute__((weak))
CL_CMD(cmd_up);
CL_CMD(cmd_down);
CL_CMD(cmd_submit);
CL_CMD(cmd_run);
CL_CMD(cmd_jobs);
CL_CMD(cmd_show);
CL_CMD(cmd_cancel);
CL_CMD(cmd_hold);
CL_CMD(cmd_release);
CL_CMD(cmd_requeue);
CL_CMD(cmd_wait);
CL_CMD(cmd_logs);
CL_CMD(cmd_nodes);
CL_CMD(cmd_drain);
CL_CMD(cmd_resume);
CL_CMD(cmd_upgrade);
CL_CMD(cmd_tenants);
CL_CMD(cmd_tenant);
CL_CMD(cmd_user);
CL_CMD(cmd_qos);
CL_CMD(cmd_power);
CL_CMD(cmd_reserve);
CL_CMD(cmd_token);
CL_CMD(cmd_node_token);
CL_CMD(cmd_node);
CL_CMD(cmd_history);
CL_CMD(cmd_usage);
CL_CMD(cmd_audit);
CL_CMD(cmd_whoami);
CL_CMD(cmd_controller);
CL_CMD(cmd_agent);
CL_CMD(cmd_relay);
CL_CMD(cmd_keygen);
CL_CMD(cmd_gpu);
CL_CMD(cmd_sim);
CL_CMD(cmd_bench);
CL_CMD(cmd_topo);
#undef CL_CMD

#endif
