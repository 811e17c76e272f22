/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The Redis ACL rules each role of redjob needs (redjob acl, redjob(1)),
 * generated from the function library's own text, so that the recipe
 * cannot drift from the code.
 */
#ifndef REDJOB_ACL_H
#define REDJOB_ACL_H

#include <stddef.h>

enum acl_role {
	ACL_WORKER,		/* redjobd, redjob lock, redjob throttle */
	ACL_PRODUCER,		/* enqueue: redjob enqueue, libredjob */
	ACL_READER,		/* redjob stats, ls, show */
	ACL_ADMIN,		/* all of it, and loading the library */
};

/* A list of strings, each allocated. */
struct acl_list {
	char	**v;
	size_t	  n;
};

struct acl {
	enum acl_role	 role;
	char		*user;		/* "redjob-worker" */
	struct acl_list	 functions;	/* "fcall|redjob_claim", ... */
	struct acl_list	 commands;	/* "zadd", "client|setname", ... */
	struct acl_list	 keys;		/* "~redjob:{*", "%R~redjob:{*" */
	struct acl_list	 channels;	/* "&redjob:{*", or none */
	struct acl_list	 rules;		/* all of it, for ACL SETUSER */
};

int		 acl_role_parse(const char *name, enum acl_role *role);
const char	*acl_role_name(enum acl_role role);
struct acl	*acl_build(enum acl_role role, const char *ns, char *err,
		    size_t len);
void		 acl_free(struct acl *acl);

/* The library scan itself, for the tests. */
struct acl_lib;
struct acl_lib	*acl_lib_scan(const char *lua, size_t len, char *err,
		    size_t errlen);
void		 acl_lib_free(struct acl_lib *lib);
size_t		 acl_lib_nfunctions(const struct acl_lib *lib);
const char	*acl_lib_function(const struct acl_lib *lib, size_t i,
		    int *readonly);
int		 acl_lib_commands(const struct acl_lib *lib, const char *fn,
		    struct acl_list *out);
int		 acl_list_has(const struct acl_list *l, const char *s);
void		 acl_list_free(struct acl_list *l);

#endif
