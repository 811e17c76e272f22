/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * template.h: key templates such as "email:{key}", used by lock keys and
 * limiter keys in redjob.yml. A template is literal text with the
 * placeholders {key} (given at enqueue), {type}, {queue} and {id}; it may
 * hold no other '{' or '}'.
 *
 * Rendering escapes every substituted value, so text chosen by whoever
 * enqueued the job can never add a brace (and so never open a Redis
 * Cluster hash tag) nor fake a placeholder: '%' becomes "%25", '{'
 * becomes "%7B" and '}' becomes "%7D". Literal text of the template is
 * copied as it is, since template_check() has already refused braces in
 * it. The mapping is one-to-one, so two different values never render to
 * the same key.
 */
#ifndef REDJOB_TEMPLATE_H
#define REDJOB_TEMPLATE_H

struct template_vars {
	const char	*key;	/* NULL renders as "" */
	const char	*type;
	const char	*queue;
	const char	*id;
};

int	 template_check(const char *tpl, char **cause);
char	*template_render(const char *tpl, const struct template_vars *v);

#endif
