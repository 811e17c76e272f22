/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * yread.h: reading a YAML file into a libyaml document and its values
 * into C, with a diagnostic FILE:LINE:COL for every problem: syntax and
 * encoding errors, a second document, repeated keys, keys that are not
 * strings, unknown keys (with a suggestion), and values of the wrong
 * type or out of range. It knows nothing of redjob's settings; config.c
 * says which keys exist and what they mean.
 */
#ifndef REDJOB_YREAD_H
#define REDJOB_YREAD_H

#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "compat.h"

struct diags;
struct rate;

/* One file being read. */
struct yread {
	const char	*file;
	struct diags	*d;
	char		*buf;		/* the file's text */
	size_t		 len;
	yaml_parser_t	 parser;
	int		 parsing;	/* parser initialised */
	yaml_document_t	 doc;
	int		 loaded;	/* doc holds a document */
	int		 no_files;	/* yread_file: paths only, no stat */
	size_t		*pairbase;	/* by node: its first pair in dup */
	unsigned char	*dup;		/* by pair: repeats an earlier key */
};

/* One key of a mapping and its value. */
struct yread_pair {
	yaml_node_t	*key;
	yaml_node_t	*value;
};

yaml_node_t	*yread_open(struct yread *y, const char *file,
		    struct diags *d);
void		 yread_close(struct yread *y);

void		 yread_error(struct yread *y, const yaml_node_t *n,
		    const char *path, const char *fmt, ...) printflike(4, 5);
char		*yread_path(const char *parent, const char *key);
yaml_node_t	*yread_node(struct yread *y, int id);
const char	*yread_text(const yaml_node_t *n);
int		 yread_is_null(const yaml_node_t *n);
const char	*yread_what(const yaml_node_t *n, char *buf, size_t len);
const char	*yread_suggest(const char *word, const char *const *cands,
		    size_t n);
const char	*yread_list(const char *const *v, size_t n, const char *conj,
		    char *buf, size_t len);
const char	*yread_hint(const char *word, const char *const *cands,
		    size_t n, char *buf, size_t len);
size_t		 yread_npairs(const yaml_node_t *n);
const char	*yread_key(struct yread *y, yaml_node_t *map, size_t i,
		    const char *path, struct yread_pair *out);
int		 yread_fields(struct yread *y, yaml_node_t *n,
		    const char *path, const char *what,
		    const char *const *keys, size_t nkeys,
		    struct yread_pair *found);
const char	*yread_scalar(struct yread *y, yaml_node_t *n,
		    const char *path, const char *what);
int		 yread_string(struct yread *y, yaml_node_t *n,
		    const char *path, int empty_ok, char **out);
int		 yread_uint(struct yread *y, yaml_node_t *n, const char *path,
		    unsigned min, unsigned max, unsigned *out);
int		 yread_u64(struct yread *y, yaml_node_t *n, const char *path,
		    uint64_t min, uint64_t max, uint64_t *out);
int		 yread_duration(struct yread *y, yaml_node_t *n,
		    const char *path, uint64_t min_ms, uint64_t *out);
int		 yread_rate(struct yread *y, yaml_node_t *n, const char *path,
		    struct rate *out);
int		 yread_size(struct yread *y, yaml_node_t *n, const char *path,
		    uint64_t max, uint64_t *out);
int		 yread_fraction(struct yread *y, yaml_node_t *n,
		    const char *path, double *out);
int		 yread_enum(struct yread *y, yaml_node_t *n, const char *path,
		    const char *what, const char *const *names, size_t nnames,
		    int *out);
int		 yread_file(struct yread *y, yaml_node_t *n, const char *path,
		    const char *file, int kind);

#endif
