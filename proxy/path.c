/*
 * path — one forward pass, segment by segment: each segment is decoded into
 * the output, then dropped if it is ".", or dropped with the segment before
 * it if it is "..". The write position never passes the read position (a
 * byte or an escape in gives at most as many bytes out), which is what lets
 * a caller normalize in place.
 */
#include "proxy/path.h"

#include <stdint.h>
#include <string.h>

#include "lib/banned.h"

static int hex_digit(uint8_t c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	c |= 0x20;
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	return -1;
}

static bool unreserved(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* Whether p[i] (just after a '/') starts a "." or ".." segment, or an empty one. */
static bool odd_segment(const char *p, size_t len, size_t i)
{
	if (i == len) {
		return false; /* a final empty segment: "/a/" is normal */
	}
	if (p[i] == '/') {
		return true;
	}
	if (p[i] != '.') {
		return false;
	}
	if (i + 1 == len || p[i + 1] == '/') {
		return true;
	}
	return p[i + 1] == '.' && (i + 2 == len || p[i + 2] == '/');
}

bool path_is_normal(const char *p, size_t len)
{
	const char *s = p, *end = p + len;

	if (memchr(p, '%', len)) {
		return false;
	}
	while ((s = memchr(s, '/', (size_t)(end - s)))) {
		s++;
		if (odd_segment(p, len, (size_t)(s - p))) {
			return false;
		}
	}
	return true;
}

int path_normalize(const char *in, size_t len, char *out, size_t *out_len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i = 1, o = 1, seg;

	if (!len || in[0] != '/') {
		return -1;
	}
	out[0] = '/';
	for (;;) {
		/* at the start of a segment, out[o - 1] == '/': empty segments merge */
		while (i < len && in[i] == '/') {
			i++;
		}
		if (i == len) {
			break;
		}
		seg = o;
		while (i < len && in[i] != '/') {
			uint8_t c = (uint8_t)in[i];

			if (c == '%') {
				int hi, lo;

				if (len - i < 3 || (hi = hex_digit((uint8_t)in[i + 1])) < 0 ||
				    (lo = hex_digit((uint8_t)in[i + 2])) < 0) {
					return -1;
				}
				c = (uint8_t)(hi << 4 | lo);
				i += 3;
				if (unreserved(c)) {
					out[o++] = (char)c;
				} else {
					out[o++] = '%';
					out[o++] = hex[hi];
					out[o++] = hex[lo];
				}
				continue;
			}
			out[o++] = (char)c;
			i++;
		}
		if (o - seg == 1 && out[seg] == '.') {
			o = seg; /* "/a/." is "/a/" */
		} else if (o - seg == 2 && out[seg] == '.' && out[seg + 1] == '.') {
			if (seg == 1) {
				return -1; /* above the root */
			}
			/* drop the segment before: back to the '/' that starts it */
			o = seg - 1;
			while (out[o - 1] != '/') {
				o--;
			}
		} else if (i < len) {
			out[o++] = '/';
			i++;
		}
	}
	*out_len = o;
	return 0;
}
