# gen-empty.sh: a header and nothing else.
