#!/bin/sh
# lua2c.sh MAIN.lua [MORE.lua...]: print a C file that embeds the function
# library (the files concatenated, MAIN first: it holds the #!lua line and
# the versions) as a string, so the daemon, the CLI and libredjob load
# byte-identical code.
set -e
in="$1"
lib=$(sed -n 's/^local LIB_VERSION = \([0-9][0-9]*\).*/\1/p' "$in")
schema=$(sed -n 's/^local SCHEMA = \([0-9][0-9]*\).*/\1/p' "$in")
[ -n "$lib" ] && [ -n "$schema" ] || { echo "lua2c.sh: no versions in $in" >&2; exit 1; }
echo "/* Generated from $(basename "$in") by lua2c.sh; do not edit. */"
echo "#include <stddef.h>"
echo "#include \"rfunc.h\""
echo "const int rfunc_lib_version = $lib;"
echo "const int rfunc_schema_version = $schema;"
echo "const char rfunc_lua[] ="
cat "$@" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$/\\n"/'
echo ";"
echo "const size_t rfunc_lua_len = sizeof rfunc_lua - 1;"
