# gen-no-newline.sh: a last line without a newline.
exit 0