#include "jtext.h"

#include <stdlib.h>

#include "xalloc.h"
#include "banned.h"

json_t *jtext_string(const char *s)
{
	json_t *j;
	char *copy;
	size_t i;

	if (!s) {
		return json_null();
	}
	j = json_string(s);
	if (j) {
		return j;
	}
	copy = xstrdup(s);
	for (i = 0; copy[i]; i++) {
		if ((unsigned char)copy[i] >= 0x80) {
			copy[i] = '?';
		}
	}
	j = json_string(copy);
	free(copy);
	return j ? j : json_null();
}
