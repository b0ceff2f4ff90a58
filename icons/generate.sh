#!/bin/sh
# Renders the app icons from icon.svg (needs rsvg-convert, Debian's librsvg2-bin). The PNGs are
# checked in, so builds do not need it; run this again after editing the SVG.
set -eu
cd "$(dirname "$0")"
rsvg-convert -w 32 -h 32 icon.svg -o 32x32.png
rsvg-convert -w 128 -h 128 icon.svg -o 128x128.png
rsvg-convert -w 256 -h 256 icon.svg -o 128x128@2x.png
rsvg-convert -w 512 -h 512 icon.svg -o icon.png
