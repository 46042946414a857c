#!/usr/bin/env bash
# Regenerates the app icon's PNGs in assets/ from its SVG sources:
#   assets/backstop.svg     → icon-32.png … icon-512.png (and the window's icon-256.png)
#   assets/backstop-16.svg  → icon-16.png (the same picture drawn on the 16 px grid, so it stays sharp)
# Needs rsvg-convert (Debian: apt install librsvg2-bin). Run from anywhere; commit the PNGs it writes.
set -euo pipefail

assets="$(cd "$(dirname "${BASH_SOURCE[0]}")/../assets" && pwd)"
command -v rsvg-convert >/dev/null 2>&1 || {
    echo "packaging/icons.sh: rsvg-convert not found (apt install librsvg2-bin)" >&2
    exit 1
}

render() {
    local svg="$1" size="$2" out="$assets/icon-$2.png"
    rsvg-convert --width "$size" --height "$size" --format png --output "$out.tmp" "$assets/$svg"
    mv "$out.tmp" "$out"
    echo "$out"
}

render backstop-16.svg 16
for size in 32 48 64 128 256 512; do
    render backstop.svg "$size"
done
