#!/bin/sh
# ranges2lua.sh RANGES.H: print the GUARD_* ranges of src/ranges.h as the
# Lua constants G_* that src/lua/guards.lua checks its arguments against,
# so the library and the configuration checker share one table. lua2c.sh
# embeds the output between redjob.lua and guards.lua.
set -e
in="$1"
want=$(grep -c '^#define GUARD_' "$in")
out=$(sed -n 's/^#define GUARD_\([A-Z_]*\)[[:space:]]*\([0-9][0-9]*\)$/local G_\1 = \2/p' "$in")
got=$(printf '%s\n' "$out" | grep -c '^local G_' || true)
if [ "$want" -eq 0 ] || [ "$want" != "$got" ]; then
	echo "ranges2lua.sh: $in: every #define GUARD_* must be a plain" \
	    "decimal ($got of $want are)" >&2
	exit 1
fi
echo "---------------------------------------------------------------------------"
echo "-- Generated from $(basename "$in") by ranges2lua.sh: the ranges of the"
echo "-- guard functions' arguments, shared with the configuration checker."
printf '%s\n' "$out"
