/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * compat.h: attributes and small portability fallbacks shared by every
 * module. Nothing else belongs here.
 */
#ifndef REDJOB_COMPAT_H
#define REDJOB_COMPAT_H

#include <sys/queue.h>

#define printflike(a, b) __attribute__((format(printf, (a), (b))))
#define __dead __attribute__((noreturn))
#define UNUSED __attribute__((unused))

#ifndef nitems
#define nitems(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* glibc's <sys/queue.h> lacks the _SAFE iterators. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)                     \
	for ((var) = TAILQ_FIRST(head);                                \
	    (var) && ((tvar) = TAILQ_NEXT(var, field), 1); (var) = (tvar))
#endif
#ifndef LIST_FOREACH_SAFE
#define LIST_FOREACH_SAFE(var, head, field, tvar)                      \
	for ((var) = LIST_FIRST(head);                                 \
	    (var) && ((tvar) = LIST_NEXT(var, field), 1); (var) = (tvar))
#endif

#endif
