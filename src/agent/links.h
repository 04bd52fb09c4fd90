/* links.h - the node's network links as sysfs shows them (issue 16): Ethernet interfaces'
 * carrier (/sys/class/net/NAME/carrier, operstate) and InfiniBand or RoCE ports' state
 * (/sys/class/infiniband/DEV/ports/P/state), read by the agent every LINK_POLL_MS so that a
 * lost link is a health event in seconds rather than a dead node after the heartbeat timeout
 * or a hung collective. */
#ifndef COLOSSUS_AGENT_LINKS_H
#define COLOSSUS_AGENT_LINKS_H

#include <stddef.h>

#include "util/util.h"

typedef struct ag_links ag_links_t;

/* Open the links under root (a sysfs mount: "/sys", or a test's tree). spec: "auto" (every
 * physical interface, one with a `device` entry, and every InfiniBand port, each watched
 * once it has been seen up: a port never cabled is not a failure), "none" (NULL returned,
 * no error), or a list "eth0,mlx5_0/1" (interfaces, and IB ports as DEV/PORT, watched from
 * the start: one that is not there is an error). NULL with err set on error. */
ag_links_t *ag_links_open(const char *root, const char *spec, cl_error_t *err);
void ag_links_free(ag_links_t *l);
/* How many links it watches or may watch. */
size_t ag_links_count(const ag_links_t *l);
/* Read them all: 1 with a sentence in why (each link that is down, "was up") when a watched
 * link is down, else 0. */
int ag_links_poll(ag_links_t *l, char *why, size_t len);

#endif
