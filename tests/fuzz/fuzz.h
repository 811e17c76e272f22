/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz.h: what the fuzz harnesses of tests/fuzz share. Each harness is one
 * LLVMFuzzerTestOneInput(); make fuzz links it with libFuzzer, and
 * tests/fuzz/replay.c runs it on its committed corpus under make check.
 * A harness checks what the code promises, not only that it does not
 * crash: a broken promise is reported with fuzz_fail(), which aborts so
 * that libFuzzer keeps the input.
 */
#ifndef REDJOB_FUZZ_H
#define REDJOB_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int	 LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a C string (up to its first NUL). Caller frees. */
char	*fuzz_str(const uint8_t *data, size_t size);
__attribute__((noreturn, format(printf, 1, 2)))
void	 fuzz_fail(const char *fmt, ...);

#endif
