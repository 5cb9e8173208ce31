#!/bin/sh
# Prints the image's greeting, then GNU hello's.
echo "$GREETING"
exec hello
