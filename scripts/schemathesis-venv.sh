#!/usr/bin/env bash
# Installs schemathesis (PyPI, pinned) into a venv cached under EO_CACHE_DIR, once, and prints the path of its
# `st` command. Used by test/api/schemathesis.test.ts; needs python3 with venv (.ci/run installs python3-venv).
set -euo pipefail
version=4.32.5
cache="${EO_CACHE_DIR:-$HOME/.cache/execution-orchestrator}"
venv="$cache/schemathesis-$version"
# A venv's scripts name their interpreter by absolute path, so it is built in place; the marker, written last,
# says the install finished (an interrupted one is removed and done again).
if [ ! -f "$venv/.installed" ]; then
  echo "installing schemathesis $version into $venv (once, about a minute)" >&2
  rm -rf "$venv"
  mkdir -p "$cache"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version" >&2
  touch "$venv/.installed"
fi
echo "$venv/bin/st"
