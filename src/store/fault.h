/* fault.h - a store that wraps another and fails or delays commits on cue, for tests of what
 * the controller does when its journal cannot be written (as SQLite's crash-simulating VFS is
 * for SQLite). Everything but commit passes straight through. Selected by a store URL
 * "fault:INNER-URL?..." (store.h) or made directly here. The controls are thread-safe: a test
 * on the loop thread holds or fails the commit running on the committer's worker. */
#ifndef COLOSSUS_STORE_FAULT_H
#define COLOSSUS_STORE_FAULT_H

#include "store/store.h"

/* Takes ownership of inner (closed with the wrapper). Nothing is armed. The controls below
 * take a store made here (any other store aborts: the test is wrong). Commits of an empty
 * batch never reach a backend (store.h), so they are not counted either. */
cl_store_t *cl_store_fault_wrap(cl_store_t *inner);

/* From the k-th commit on (counted from those that entered so far; 1 = the next one, 0 is
 * taken as 1), fail `count` commits (UINT32_MAX: all; 0 disarms) with err "store: injected
 * fault: <why>" (NULL: "as the test asks"), writing nothing of them. Replaces what was armed
 * before. */
void cl_store_fault_fail(cl_store_t *s, uint32_t k, uint32_t count, const char *why);
/* Sleep this long in every commit before writing (0: none). */
void cl_store_fault_delay(cl_store_t *s, uint32_t ms);
/* Hold: every commit blocks before writing until cl_store_fault_release(). */
void cl_store_fault_hold(cl_store_t *s);
void cl_store_fault_release(cl_store_t *s);
/* Commits that have entered commit() (so far), held ones included; and that wrote. */
uint64_t cl_store_fault_entered(cl_store_t *s);
uint64_t cl_store_fault_written(cl_store_t *s);
/* Block until `n` commits have entered commit() (for tests that hold one). 0, or -1 after
 * timeout_ms. */
int cl_store_fault_wait_entered(cl_store_t *s, uint64_t n, int timeout_ms);

#endif
