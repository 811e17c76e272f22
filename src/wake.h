/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * wake.h: a worker's sleep: one blocking Redis connection waiting on the
 * wake markers of its queues (NS:{QUEUE}:wake), which enqueues, retries
 * and resumes set when work becomes due.
 */
#ifndef REDJOB_WAKE_H
#define REDJOB_WAKE_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct rconn;
struct rconn_opts;
struct wake;

/*
 * A marker of queue qi was taken, or the wait ended without one: qi is
 * WAKE_NONE when the keep-alive passed or an error was retried, and
 * WAKE_LOST when the connection came back, so a marker set meanwhile may
 * have been lost with the old one. Either way: look for work.
 */
#define WAKE_NONE ((size_t)-1)
#define WAKE_LOST ((size_t)-2)
typedef void wake_cb(size_t qi, void *arg);

struct wake	*wake_create(struct event_base *base,
		    const struct rconn_opts *o, const char *const *keys,
		    size_t n, wake_cb *cb, void *arg, char **cause);
void		 wake_free(struct wake *wk);
void		 wake_sleep(struct wake *wk);
void		 wake_give_back(struct rconn *cmd, const char *key);
void		 wake_close(struct wake *wk, struct rconn *cmd);
const char	*wake_key(const struct wake *wk, size_t qi);
const char	*wake_condition(const struct wake *wk, uint64_t *since);

#endif
