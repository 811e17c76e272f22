/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Key templates (src/template.c): the input is the template, then the
 * values of {key}, {type}, {queue} and {id}, separated by NUL bytes. A
 * refused template says why; whatever the template, its rendering holds
 * no brace; a template template_check() accepts renders to its literal
 * text with each placeholder replaced by its escaped value (template.h),
 * which this harness rebuilds on its own and compares.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "template.h"
#include "xmalloc.h"

/* Append s to the buffer at *out, escaped as template.h says. */
static void
fuzz_escape(char **out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '%' || *s == '{' || *s == '}') {
			memcpy(*out, *s == '%' ? "%25" : *s == '{' ? "%7B" :
			    "%7D", 3);
			*out += 3;
		} else
			*(*out)++ = *s;
	}
}

/* What the checked template tpl must render to. Caller frees. */
static char *
fuzz_expect(const char *tpl, const char *const vals[4])
{
	static const char *const names[] = { "{key}", "{type}", "{queue}",
	    "{id}" };
	size_t i, n = strlen(tpl) + 1;
	char *buf, *out;

	for (i = 0; i < 4; i++)
		n += 3 * strlen(vals[i]) * (strlen(tpl) / 4 + 1);
	out = buf = xmalloc(n);
	while (*tpl != '\0') {
		for (i = 0; i < 4; i++)
			if (strncmp(tpl, names[i], strlen(names[i])) == 0)
				break;
		if (i < 4) {
			fuzz_escape(&out, vals[i]);
			tpl += strlen(names[i]);
		} else
			*out++ = *tpl++;
	}
	*out = '\0';
	return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct template_vars v;
	const char *vals[4];
	char *buf, *p, *end, *tpl, *cause = NULL, *out, *want;
	size_t i;

	/* Split into five NUL-terminated strings, missing ones empty. */
	buf = xmalloc(size + 5);
	memcpy(buf, data, size);
	memset(buf + size, '\0', 5);
	end = buf + size;
	tpl = p = buf;
	for (i = 0; i < 4; i++) {
		p += strlen(p);
		if (p < end)
			p++;
		vals[i] = p;
	}
	v.key = vals[0];
	v.type = vals[1];
	v.queue = vals[2];
	v.id = vals[3];
	out = template_render(tpl, &v);
	if (strpbrk(out, "{}") != NULL)
		fuzz_fail("template \"%s\" renders with a brace: \"%s\"", tpl,
		    out);
	if (template_check(tpl, &cause) == 0) {
		if (cause != NULL)
			fuzz_fail("template \"%s\": accepted with a cause", tpl);
		want = fuzz_expect(tpl, vals);
		if (strcmp(out, want) != 0)
			fuzz_fail("template \"%s\" renders as \"%s\", not "
			    "\"%s\"", tpl, out, want);
		free(want);
	} else if (cause == NULL || *cause == '\0')
		fuzz_fail("template \"%s\": refused without a cause", tpl);
	free(cause);
	free(out);
	free(buf);
	return 0;
}
