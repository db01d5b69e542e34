/*
 * dur — durations as kamal-proxy's flags write them: "500ms", "1s", "2m",
 * "1h", "1m30s", or a bare number of seconds ("30").
 */
#ifndef DUR_H
#define DUR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses s into milliseconds. Returns false on anything else, or above a day. */
bool dur_parse(const char *s, uint64_t *ms);
/* Writes ms as "1.5s", "500ms", "2m" into buf (at least 32 bytes). Returns buf. */
const char *dur_format(uint64_t ms, char *buf, size_t len);

#endif
