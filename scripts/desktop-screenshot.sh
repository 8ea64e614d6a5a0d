#!/usr/bin/env bash
# Needs Debian xvfb and imagemagick (import), and Mesa (libgl1-mesa-dri). Example:
#   scripts/desktop-screenshot.sh docs/images/desktop-pop-zh.png --preview --lang zh-CN
# Takes one screenshot of the desktop preview under Xvfb: shoot.sh OUT.png ARGS...
set -u
out=$1; shift
Xvfb :99 -screen 0 1280x800x24 >/dev/null 2>&1 &
xpid=$!
sleep 1.5
DISPLAY=:99 LIBGL_ALWAYS_SOFTWARE=1 "${HOTLINE_DESKTOP:-target/release/hotline-desktop}" --prefs "${TMPDIR:-/tmp}/hotline-shot-prefs.json" "$@" >"${TMPDIR:-/tmp}/hotline-shot.log" 2>&1 &
dpid=$!
sleep 6
DISPLAY=:99 import -window root "$out"
kill $dpid; wait $dpid 2>/dev/null
kill $xpid; wait $xpid 2>/dev/null
