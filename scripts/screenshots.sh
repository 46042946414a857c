#!/usr/bin/env bash
# Screenshots of every panel of the real window under Xvfb, at the sizes and in the themes given (defaults:
# 800x600 and 1366x800, light and dark), into target/screenshots/<size>-<theme>-<panel>.png. The window runs on a
# fresh BACKSTOP_HOME with the demo profile (`backstop demo`: a sample database, a files folder and one backup),
# or on BACKSTOP_HOME when set. Needs Xvfb, xdotool and ImageMagick's import; run `cargo build` first (or set
# BACKSTOP_BIN).
#
#   scripts/screenshots.sh                  # every size, both themes
#   SIZES="1366x800" THEMES="dark" scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN="${BACKSTOP_BIN:-target/debug/backstop}"
SIZES="${SIZES:-800x600 1366x800}"
THEMES="${THEMES:-light dark}"
OUT="${OUT:-target/screenshots}"
DISPLAY_NUM="${DISPLAY_NUM:-:77}"
PANELS=(settings statistics actions history)

[[ -x "$BIN" ]] || { echo "no $BIN: run cargo build first" >&2; exit 1; }
mkdir -p "$OUT"
home="${BACKSTOP_HOME:-}"
if [[ -z "$home" ]]; then
    home="$(mktemp -d)"
    trap 'rm -rf "$home"' EXIT
    BACKSTOP_HOME="$home" "$BIN" demo >/dev/null
fi

for size in $SIZES; do
    Xvfb "$DISPLAY_NUM" -screen 0 "${size}x24" -nolisten tcp >/dev/null 2>&1 &
    xvfb=$!
    sleep 1
    for theme in $THEMES; do
        DISPLAY="$DISPLAY_NUM" BACKSTOP_HOME="$home" BACKSTOP_THEME="$theme" "$BIN" >/dev/null 2>&1 &
        app=$!
        window=""
        for _ in $(seq 1 100); do
            window="$(DISPLAY="$DISPLAY_NUM" xdotool search --name '^Backstop$' 2>/dev/null | head -1 || true)"
            [[ -n "$window" ]] && break
            sleep 0.2
        done
        [[ -n "$window" ]] || { echo "the window did not appear" >&2; kill "$app" "$xvfb"; exit 1; }
        width="${size%x*}"
        height="${size#*x}"
        DISPLAY="$DISPLAY_NUM" xdotool windowsize "$window" "$width" "$height" windowmove "$window" 0 0 \
            windowfocus "$window" 2>/dev/null || true
        # The first launch of a home catches up its automatic backups: let it settle.
        sleep 4
        for i in "${!PANELS[@]}"; do
            # Through the focused window (without a window manager, synthetic events sent to a window are ignored).
            DISPLAY="$DISPLAY_NUM" xdotool mousemove 400 300 key "ctrl+$((i + 1))"
            sleep 1.5
            DISPLAY="$DISPLAY_NUM" import -window root "$OUT/${size}-${theme}-${PANELS[$i]}.png"
            echo "$OUT/${size}-${theme}-${PANELS[$i]}.png"
        done
        kill "$app" 2>/dev/null || true
        wait "$app" 2>/dev/null || true
    done
    kill "$xvfb" 2>/dev/null || true
    wait "$xvfb" 2>/dev/null || true
done
