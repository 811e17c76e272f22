/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Key templates: checking them when the configuration is loaded and
 * rendering them for one job. This module owns the placeholder syntax and
 * the escaping of substituted values (template.h); it knows nothing of
 * Redis key layout, which guard.c builds around the rendered text.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"
#include "xmalloc.h"

enum template_var {
	TEMPLATE_KEY,
	TEMPLATE_TYPE,
	TEMPLATE_QUEUE,
	TEMPLATE_ID,
	TEMPLATE_NONE,
};

static const char *const template_names[] = { "key", "type", "queue", "id" };

/*
 * Match the placeholder whose name starts at s (just after '{') and ends
 * at the next '}'. Returns its enum template_var and sets *len to the
 * length of the whole placeholder, braces included; returns TEMPLATE_NONE
 * if s does not start a known placeholder.
 */
static enum template_var
template_match(const char *s, size_t *len)
{
	size_t i, n;

	for (i = 0; i < nitems(template_names); i++) {
		n = strlen(template_names[i]);
		if (strncmp(s, template_names[i], n) == 0 && s[n] == '}') {
			*len = n + 2;
			return (enum template_var)i;
		}
	}
	return TEMPLATE_NONE;
}

/*
 * Check that tpl uses only known placeholders and no other braces.
 * Returns 0, or -1 with *cause set to an allocated message the caller
 * must free.
 */
int
template_check(const char *tpl, char **cause)
{
	const char *p, *end;
	size_t len;

	for (p = tpl; *p != '\0'; p++) {
		if (*p == '}') {
			xasprintf(cause, "unmatched \"}\" at position %zu of "
			    "\"%.64s\"", (size_t)(p - tpl) + 1, tpl);
			return -1;
		}
		if (*p != '{')
			continue;
		end = p + 1 + strcspn(p + 1, "{}");
		if (*end != '}') {
			xasprintf(cause, "unclosed \"{\" at position %zu of "
			    "\"%.64s\"", (size_t)(p - tpl) + 1, tpl);
			return -1;
		}
		if (template_match(p + 1, &len) == TEMPLATE_NONE) {
			xasprintf(cause, "unknown placeholder \"%.*s\" (use "
			    "{key}, {type}, {queue} or {id})",
			    (int)(end - p) + 1 > 64 ? 64 : (int)(end - p) + 1,
			    p);
			return -1;
		}
		p = end;
	}
	return 0;
}

/*
 * Append n bytes of s to out at *off, advancing *off; with out NULL only
 * count. Braces are always escaped; '%' only in a substituted value
 * (value set), since in literal text it stands for itself.
 */
static void
template_put(char *out, size_t *off, const char *s, size_t n, int value)
{
	size_t i;
	const char *hex;

	for (i = 0; i < n; i++) {
		switch (s[i]) {
		case '%':
			hex = "%25";
			break;
		case '{':
			hex = "%7B";
			break;
		case '}':
			hex = "%7D";
			break;
		default:
			hex = NULL;
			break;
		}
		if (hex != NULL && (value || s[i] != '%')) {
			if (out != NULL)
				memcpy(out + *off, hex, 3);
			*off += 3;
		} else {
			if (out != NULL)
				out[*off] = s[i];
			(*off)++;
		}
	}
}

/*
 * Expand tpl into out (or only measure it when out is NULL). Returns the
 * length of the result, not counting the terminating NUL.
 */
static size_t
template_expand(const char *tpl, const struct template_vars *v, char *out)
{
	const char *vals[nitems(template_names)], *p, *val;
	enum template_var var;
	size_t off = 0, len, lit;

	vals[TEMPLATE_KEY] = v->key;
	vals[TEMPLATE_TYPE] = v->type;
	vals[TEMPLATE_QUEUE] = v->queue;
	vals[TEMPLATE_ID] = v->id;
	for (p = tpl; *p != '\0';) {
		if (*p == '{' &&
		    (var = template_match(p + 1, &len)) != TEMPLATE_NONE) {
			val = vals[var] != NULL ? vals[var] : "";
			template_put(out, &off, val, strlen(val), 1);
			p += len;
			continue;
		}
		/*
		 * Literal text. A checked template has no brace here; an
		 * unchecked one gets its stray braces escaped too, so the
		 * result never holds a brace whatever the input.
		 */
		lit = strcspn(p + 1, "{") + 1;
		template_put(out, &off, p, lit, 0);
		p += lit;
	}
	if (out != NULL)
		out[off] = '\0';
	return off;
}

/*
 * Render tpl for one job, escaping each substituted value (template.h).
 * Returns a string allocated with xmalloc that the caller frees.
 */
char *
template_render(const char *tpl, const struct template_vars *v)
{
	char *out;

	out = xmalloc(template_expand(tpl, v, NULL) + 1);
	template_expand(tpl, v, out);
	return out;
}
