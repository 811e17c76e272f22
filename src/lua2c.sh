#!/bin/sh
# lua2c.sh [-t] MAIN.lua [MORE.lua...]: print a C file that embeds the
# function library (the files concatenated, MAIN first: it holds the
# #!lua line and the versions) as a string, so the daemon, the CLI and
# libredjob load byte-identical code.
#
# -t prints the tests' copy instead, rfunc_lua_test: the same code with
# G_TEST_CLOCK true, so that the guards take a "now MS" clock override
# (src/lua/guards.lua). Only the tests link it.
set -e
test=
if [ "$1" = -t ]; then
	test=1
	shift
fi
in="$1"
lib=$(sed -n 's/^local LIB_VERSION = \([0-9][0-9]*\).*/\1/p' "$in")
schema=$(sed -n 's/^local SCHEMA = \([0-9][0-9]*\).*/\1/p' "$in")
[ -n "$lib" ] && [ -n "$schema" ] || { echo "lua2c.sh: no versions in $in" >&2; exit 1; }
on='s/^local G_TEST_CLOCK = false$/local G_TEST_CLOCK = true/'
if [ -n "$test" ]; then
	cat "$@" | grep -q '^local G_TEST_CLOCK = false$' ||
	    { echo "lua2c.sh: no G_TEST_CLOCK line to turn on" >&2; exit 1; }
	name=rfunc_lua_test
else
	on=
	name=rfunc_lua
fi
echo "/* Generated from $(basename "$in") by lua2c.sh; do not edit. */"
echo "#include <stddef.h>"
if [ -n "$test" ]; then
	echo "extern const char $name[];"
	echo "extern const size_t ${name}_len;"
else
	echo "#include \"rfunc.h\""
	echo "const int rfunc_lib_version = $lib;"
	echo "const int rfunc_schema_version = $schema;"
fi
echo "const char $name[] ="
cat "$@" | sed -e "$on" -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$/\\n"/'
echo ";"
echo "const size_t ${name}_len = sizeof $name - 1;"
