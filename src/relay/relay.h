/* relay.h - `colossus relay` (issue 16): a node carrier between agents and the controller.
 *
 * Downstream it is a server of the framed protocol (docs/protocol.md) to agents and to lower
 * relays, which connect to it as they would to the controller; upstream it is one
 * cl_session_t (session.h) carrying every node of every agent connected to it, to the
 * controller or to a parent relay. What crosses it:
 *   up     each node's Register (the agent's own, with Register.via naming this relay after
 *          the relays below it), one Heartbeat frame a period listing the nodes whose agents
 *          it heard from within 1.5 periods (a stopped agent drops out, and the controller's
 *          dead-after judges it as it would a direct one) with their health reports, and
 *          Exited, Started, PowerApplied, LogData after checking that the agent sending it
 *          carries the nodes it names; Detach when an agent leaves.
 *   down   Registered (to the agent that asked, with its own handle), Launch and
 *          PowerLimit/PowerHold split by agent (one message per agent, Launch.more for its
 *          other nodes), and every message naming one node to that node's agent;
 *          HeartbeatAck: an agent's heartbeat seq S is acked once the controller acked a
 *          heartbeat of the relay's sent after S arrived, so that the agent's lease (which
 *          runs from S's send time) is never longer than a direct one.
 *   auth   agents prove the cluster key to the relay (which holds it, and uses it upstream).
 *
 * When its upstream is lost the relay closes its agents' connections (their nodes must
 * register again with what they run now) and refuses new ones: OVERLOADED for the first
 * RL_UPSTREAM_GRACE_MS (the agents retry this relay, whose upstream may be back in a moment:
 * a controller restart), SHUTTING_DOWN after (they go on to their next address: another relay
 * or the controller). */
#ifndef COLOSSUS_RELAY_RELAY_H
#define COLOSSUS_RELAY_RELAY_H

#define RL_UPSTREAM_GRACE_MS 2000

int cmd_relay(int argc, char **argv);

#endif
