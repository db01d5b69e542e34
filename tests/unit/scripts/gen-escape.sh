#!/bin/sh
# gen-escape.sh: bytes that need escaping in C, kept as they are.
#
# (this header and the blank line after it are left out)

a="quoted \"inner\" 'single'"
b=\\ c=\\\\ d=\n e=\"
printf '%s %d %% %%s\\n' "$a" 1
echo "$HOME ${x:-y} $(date) `id` $1 $@ $?"
echo "??) ??( ??/ ??= trigraphs stay"

# a comment in the body stays
tab	here cr bell del utf8 Ã© high ÿ

