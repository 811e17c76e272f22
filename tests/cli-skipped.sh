#!/bin/sh
# Run by make check in place of the CLI's tests when configure found no
# jansson and so built no redjob CLI: they show as skipped, not as passed.
echo "1..0 # SKIP the redjob CLI was not built (no jansson): check_cli, check_cli_guards and check_rfunc did not run"
