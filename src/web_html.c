/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The dashboard's HTML writers. Everything that came from Redis or from
 * the request goes through html_text() or html_url(): html_raw() is for
 * the page's own markup, with numbers as its only arguments. html_text()
 * escapes the five characters that matter in text and in quoted
 * attributes alike, shows control characters as \xNN and invalid UTF-8
 * as U+FFFD, so a job's type, error or key renders as visible text
 * whatever bytes it holds; html_url() percent-encodes a path part.
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "cmd.h"
#include "web.h"

/* One small style sheet, served as /style.css (no inline style: CSP). */
const char html_css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;"
    "background:#fafafa}\n"
    "header{background:#7a1f1f;color:#fff;padding:.5em 1em}\n"
    "header a{color:#fff;margin-right:1.2em;text-decoration:none}\n"
    "header .ns{float:right;opacity:.8}\n"
    "main{padding:1em}\n"
    "h1{font-size:1.3em;margin:.2em 0 .6em}\n"
    "h2{font-size:1.1em;margin:1.2em 0 .4em}\n"
    "table{border-collapse:collapse;background:#fff}\n"
    "th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;"
    "vertical-align:top}\n"
    ".n{text-align:right;font-variant-numeric:tabular-nums}\n"
    "th{background:#f0f0f0}\n"
    "pre{background:#fff;border:1px solid #ddd;padding:.5em;"
    "white-space:pre-wrap;word-break:break-all;max-width:100em}\n"
    ".paused{color:#a60;font-weight:bold}\n"
    ".bad{color:#b00;font-weight:bold}\n"
    ".ok{background:#e6f4e6;border:1px solid #9c9;padding:.4em .8em}\n"
    ".note{color:#666}\n"
    ".tabs a{margin-right:1em}\n"
    ".tabs a.on{font-weight:bold;text-decoration:none;color:#222}\n"
    "form.inline{display:inline;margin:0 .3em 0 0}\n"
    ".actions{margin:.6em 0}\n"
    "button{cursor:pointer}\n"
    "button.danger{color:#b00}\n";

/* Append text made from fmt: markup and numbers only, never data. */
void
html_raw(struct evbuffer *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(b, fmt, ap);
	va_end(ap);
}

/*
 * Append len bytes of untrusted text, escaped for an element's text or a
 * quoted attribute value.
 */
void
html_text(struct evbuffer *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n, start = 0;

	while (i < len) {
		n = cmd_utf8_seq(s + i, len - i);
		if (n > 1 || (n == 1 && p[i] >= 0x20 && p[i] != 0x7f &&
		    strchr("&<>\"'", p[i]) == NULL) ||
		    (n == 1 && (p[i] == '\n' || p[i] == '\t'))) {
			i += n;
			continue;
		}
		evbuffer_add(b, s + start, i - start);
		if (n == 0)
			evbuffer_add(b, "\xef\xbf\xbd", 3);
		else if (p[i] == '&')
			evbuffer_add(b, "&amp;", 5);
		else if (p[i] == '<')
			evbuffer_add(b, "&lt;", 4);
		else if (p[i] == '>')
			evbuffer_add(b, "&gt;", 4);
		else if (p[i] == '"')
			evbuffer_add(b, "&quot;", 6);
		else if (p[i] == '\'')
			evbuffer_add(b, "&#39;", 5);
		else
			evbuffer_add_printf(b, "\\x%02x", p[i]);
		i++;
		start = i;
	}
	evbuffer_add(b, s + start, i - start);
}

void
html_str(struct evbuffer *b, const char *s)
{
	html_text(b, s, strlen(s));
}

/*
 * Append s percent-encoded as one path part or query value: only the
 * unreserved characters of RFC 3986 stay as they are, so the result is
 * also safe inside a quoted attribute.
 */
void
html_url(struct evbuffer *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL)
			evbuffer_add(b, p, 1);
		else
			evbuffer_add_printf(b, "%%%02X", *p);
	}
}

/* Append a time in Unix ms as "2026-11-25 12:00:00Z", or "-". */
void
html_time(struct evbuffer *b, long long ms)
{
	time_t secs;
	struct tm tm;
	char buf[64];

	secs = (time_t)(ms / 1000);
	if (ms < 0 || gmtime_r(&secs, &tm) == NULL ||
	    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm) == 0) {
		evbuffer_add(b, "-", 1);
		return;
	}
	evbuffer_add(b, buf, strlen(buf));
}

/* Append a duration in ms as "3 s", "4 min", "2 h", "5 d". */
void
html_ago(struct evbuffer *b, long long ms)
{
	if (ms < 0)
		ms = 0;
	if (ms < 1000)
		html_raw(b, "%lld ms", ms);
	else if (ms < 120000)
		html_raw(b, "%lld s", ms / 1000);
	else if (ms < 7200000)
		html_raw(b, "%lld min", ms / 60000);
	else if (ms < 172800000)
		html_raw(b, "%lld h", ms / 3600000);
	else
		html_raw(b, "%lld d", ms / 86400000);
}

/* The start of every page: head, navigation, title. */
void
html_begin(struct web_req *r, const char *title)
{
	struct evbuffer *b = r->out;

	html_raw(b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width\">"
	    "<link rel=\"stylesheet\" href=\"/style.css\"><title>");
	html_str(b, title);
	html_raw(b, " - redjob</title></head><body><header>"
	    "<a href=\"/\">Overview</a><a href=\"/dead\">Dead</a>"
	    "<a href=\"/workers\">Workers</a>"
	    "<a href=\"/schedules\">Schedules</a><span class=\"ns\">"
	    "namespace ");
	html_str(b, r->w->ns);
	html_raw(b, "</span></header><main><h1>");
	html_str(b, title);
	html_raw(b, "</h1>\n");
}

void
html_end(struct web_req *r)
{
	html_raw(r->out, "</main></body></html>\n");
}

/*
 * A one-button form that POSTs op to /action with field=value and the
 * CSRF token.
 */
void
html_form(struct web_req *r, const char *op, const char *field,
    const char *value, const char *label, const char *cls)
{
	struct evbuffer *b = r->out;

	html_raw(b, "<form class=\"inline\" method=\"post\" action=\"/action\">"
	    "<input type=\"hidden\" name=\"csrf\" value=\"");
	html_str(b, r->w->csrf);
	html_raw(b, "\"><input type=\"hidden\" name=\"op\" value=\"");
	html_str(b, op);
	html_raw(b, "\"><input type=\"hidden\" name=\"");
	html_str(b, field);
	html_raw(b, "\" value=\"");
	html_str(b, value);
	html_raw(b, "\"><button type=\"submit\" name=\"do\" value=\"");
	html_str(b, op);
	html_raw(b, "\"%s%s%s>", cls != NULL ? " class=\"" : "",
	    cls != NULL ? cls : "", cls != NULL ? "\"" : "");
	html_str(b, label);
	html_raw(b, "</button></form>");
}

/*
 * Is a payload printable text: UTF-8 with no control character but
 * newline, carriage return and tab? Returns 1 or 0.
 */
int
html_is_text(const char *s, size_t len)
{
	size_t i;
	unsigned char ch;

	for (i = 0; i < len; i++) {
		ch = (unsigned char)s[i];
		if ((ch < 0x20 && ch != '\n' && ch != '\t' && ch != '\r') ||
		    ch == 0x7f)
			return 0;
	}
	return cmd_utf8_valid(s, len);
}

/* A hex dump of len bytes: offset, 16 bytes, their ASCII. */
static void
html_hexdump(struct evbuffer *b, const unsigned char *p, size_t len)
{
	size_t i, j;

	for (i = 0; i < len; i += 16) {
		html_raw(b, "%08zx ", i);
		for (j = i; j < i + 16; j++) {
			if (j == i + 8)
				evbuffer_add(b, " ", 1);
			if (j < len)
				html_raw(b, " %02x", p[j]);
			else
				evbuffer_add(b, "   ", 3);
		}
		evbuffer_add(b, "  |", 3);
		for (j = i; j < i + 16 && j < len; j++) {
			if (p[j] == '&')
				evbuffer_add(b, "&amp;", 5);
			else if (p[j] == '<')
				evbuffer_add(b, "&lt;", 4);
			else if (p[j] == '>')
				evbuffer_add(b, "&gt;", 4);
			else if (p[j] == '"')
				evbuffer_add(b, "&quot;", 6);
			else if (p[j] == '\'')
				evbuffer_add(b, "&#39;", 5);
			else if (p[j] >= 0x20 && p[j] < 0x7f)
				evbuffer_add(b, p + j, 1);
			else
				evbuffer_add(b, ".", 1);
		}
		evbuffer_add(b, "|\n", 2);
	}
}

/*
 * The payload preview: printable text as text, anything else as a hex
 * dump, either cut at WEB_PREVIEW bytes (text at a character boundary)
 * with a note saying so.
 */
void
html_payload(struct evbuffer *b, const char *p, size_t len)
{
	html_bytes(b, "payload", p, len);
}

/*
 * The preview of bytes of a job (its payload, its result) as above, in
 * <pre id="NAME"> with a <p id="NAME-note">.
 */
void
html_bytes(struct evbuffer *b, const char *name, const char *p, size_t len)
{
	size_t show = len < WEB_PREVIEW ? len : WEB_PREVIEW;
	int text = html_is_text(p, len);

	if (len == 0) {
		html_raw(b, "<p class=\"note\">(empty)</p>\n");
		return;
	}
	if (text) {
		/* Back up to the start of a character. */
		while (show < len && show > 0 &&
		    ((unsigned char)p[show] & 0xc0) == 0x80)
			show--;
		html_raw(b, "<p class=\"note\" id=\"%s-note\">%zu bytes, "
		    "text", name, len);
	} else
		html_raw(b, "<p class=\"note\" id=\"%s-note\">%zu "
		    "bytes, not printable "
		    "text: shown as hex", name, len);
	if (show < len)
		html_raw(b, "; the first %zu bytes are shown", show);
	html_raw(b, "</p>\n<pre id=\"%s\">", name);
	if (text)
		html_text(b, p, show);
	else
		html_hexdump(b, (const unsigned char *)p, show);
	html_raw(b, "</pre>\n");
}
