/*
 * jtext — text for JSON output that may hold any bytes.
 *
 * JSON strings must be valid UTF-8, and jansson refuses anything else; but
 * what berth reports often quotes what a host or a user said. jtext_string
 * keeps valid UTF-8 as it is and turns every non-ASCII byte of invalid text
 * into '?', so a report is never lost to one bad byte.
 */
#ifndef JTEXT_H
#define JTEXT_H

#include <jansson.h>

/* A new JSON string for s (JSON null for NULL). */
json_t *jtext_string(const char *s);

#endif
