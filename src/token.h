/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * token.h: fresh random tokens: 128 bits from getrandom(2) in hex, for
 * claims and locks. A token proves who holds a job or a lock, so it must
 * not be guessable or repeat.
 */
#ifndef REDJOB_TOKEN_H
#define REDJOB_TOKEN_H

#define TOKEN_LEN 33		/* 32 hex digits and the NUL */

void	token_make(char buf[TOKEN_LEN]);

#endif
