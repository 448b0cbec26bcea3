#!/usr/bin/env bash
# Makes the PNG icons of the web app manifest from the SVGs (rsvg-convert, Debian's
# librsvg2-bin; the glyph 結 needs a Japanese font, e.g. fonts-ipafont-gothic). The PNGs are
# committed: run this only when an SVG changes.
#   icon-192.png, icon-512.png   purpose "any": favicon.svg as it is (rounded corners)
#   maskable-512.png             purpose "maskable": full bleed, the glyph inside the safe zone
#                                (the centred circle of 80 % of the width)
#   apple-touch-icon.png         iOS home screen (180 px, opaque; iOS rounds the corners)
set -euo pipefail
cd "$(dirname "$0")"
rsvg-convert -w 192 -h 192 ../favicon.svg -o icon-192.png
rsvg-convert -w 512 -h 512 ../favicon.svg -o icon-512.png
rsvg-convert -w 512 -h 512 maskable.svg -o maskable-512.png
rsvg-convert -w 192 -h 192 maskable.svg -o maskable-192.png
rsvg-convert -w 180 -h 180 apple-touch-icon.svg -o apple-touch-icon.png
