#!/usr/bin/env bash
# Make sure the Debian packages the playbook needs are present:
#   chromium        prints the leadership PDFs (headless, offline)
#   fonts-noto-cjk  Chinese labels in charts and PDFs (Noto Sans CJK SC)
#   poppler-utils   pdfinfo / pdftotext / pdfimages, used by the tests
#   default-jre-headless  Java 17+ for the Spark engine (params engine: spark; PySpark runs on it)
# Installs them with apt-get when running as root; otherwise prints the exact command.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
# grep reads all of fc-list (no -q): quitting early would kill fc-list with SIGPIPE, and pipefail
# would then count the font as missing although it is installed
fc-list 2>/dev/null | grep "Noto Sans CJK" >/dev/null || missing+=(fonts-noto-cjk)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
# Spark 4 needs Java 17 or later: `java -version` prints e.g. 'openjdk version "17.0.15"'.
java_major=$(java -version 2>&1 | sed -nE 's/.*version "([0-9]+).*/\1/p' | head -1 || true)
[ "${java_major:-0}" -ge 17 ] 2>/dev/null || missing+=(default-jre-headless)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" fontconfig >/dev/null
  fc-cache -f >/dev/null 2>&1 || true
else
  echo "missing Debian packages: ${missing[*]}" >&2
  echo "install them with:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
