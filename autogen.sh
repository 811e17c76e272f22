#!/bin/sh
# autogen.sh [--deps]: generate configure. With --deps, first install every
# Debian package that the build, the tests and the demo need (nodejs runs
# docs/protocol.md's Node recipe; prometheus gives the tests promtool,
# which checks the /metrics text; chromium, chromium-driver and
# python3-selenium let the dashboard's tests drive a headless browser;
# tzdata gives schedules their time zones, and check_cron its cases),
# make fuzz (clang, and libclang-rt-14-dev: libFuzzer and the sanitizers'
# runtimes, which clang's packages only recommend) and the Debian
# packages (debhelper, dpkg-dev, lintian: debian/, .ci/debian).
set -e
cd "$(dirname "$0")"
DEPS="build-essential autoconf automake libtool pkg-config \
libhiredis-dev libevent-dev libyaml-dev libsystemd-dev libjansson-dev check \
redis-server redis-tools python3 python3-redis nodejs git tzdata \
clang libclang-rt-14-dev prometheus \
chromium chromium-driver python3-selenium \
debhelper dpkg-dev lintian"
if [ "$1" = "--deps" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			SUDO=sudo
		else
			echo "autogen.sh: --deps installs Debian packages and must run as root (or with sudo)" >&2
			exit 1
		fi
	fi
	echo "autogen.sh: installing: $DEPS"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $DEPS >/dev/null
	shift
fi
mkdir -p m4 build-aux
autoreconf -fi
# automake installs test-driver by itself but not the TAP driver we use.
cp -f "$(automake --print-libdir)/tap-driver.sh" build-aux/tap-driver.sh
