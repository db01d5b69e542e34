/* ports — see ports.h. */
#include "daemon/ports.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "lib/banned.h"

/* A port number: 1-65535, digits only, no leading zero. 0: invalid. */
static unsigned port_number(const char *s, size_t n)
{
	unsigned v = 0;

	if (!n || n > 5 || s[0] == '0') {
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return 0;
		}
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	return v <= 65535 ? v : 0;
}

int ports_parse(const char *s, struct port_map *m, struct err *e)
{
	const char *c1 = strchr(s, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	size_t sl;

	memset(m, 0, sizeof(*m));
	if (!c1 || !c2 || strchr(c2 + 1, ':')) {
		err_set(e,
			"invalid port mapping '%s': expected SCHEME:HOST:CONTAINER (http:80:5000)",
			s);
		return -1;
	}
	sl = (size_t)(c1 - s);
	if (!sl || sl >= sizeof(m->scheme)) {
		err_set(e, "invalid port mapping '%s': no scheme such as http", s);
		return -1;
	}
	for (size_t i = 0; i < sl; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9'))) {
			err_set(e, "invalid port mapping '%s': the scheme is lowercase letters", s);
			return -1;
		}
	}
	memcpy(m->scheme, s, sl);
	m->host = port_number(c1 + 1, (size_t)(c2 - c1 - 1));
	m->container = port_number(c2 + 1, strlen(c2 + 1));
	if (!m->host || !m->container) {
		err_set(e, "invalid port mapping '%s': ports are numbers from 1 to 65535", s);
		memset(m, 0, sizeof(*m));
		return -1;
	}
	return 0;
}

int ports_check(const struct port_map *m, size_t n, struct err *e)
{
	if (n > PORTS_MAX) {
		err_set(e, "too many port mappings (at most %d)", PORTS_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		bool http = !strcmp(m[i].scheme, "http"), https = !strcmp(m[i].scheme, "https");

		if (!(http && m[i].host == 80) && !(https && m[i].host == 443)) {
			err_set(e,
				"cannot map %s:%u:%u: berth-proxy serves ports 80 (http) and 443 "
				"(https) only; use http:80:%u or https:443:%u",
				m[i].scheme, m[i].host, m[i].container, m[i].container,
				m[i].container);
			return -1;
		}
		if (m[i].container != m[0].container) {
			err_set(
			    e,
			    "http and https go to one container port (berth-proxy routes an app "
			    "to one port): %u and %u given",
			    m[0].container, m[i].container);
			return -1;
		}
		for (size_t j = 0; j < i; j++) {
			if (m[j].host == m[i].host) {
				err_set(e, "host port %u is mapped twice", m[i].host);
				return -1;
			}
		}
	}
	return 0;
}

int ports_read(const char *stored, struct port_map *m, size_t max, size_t *n, struct err *e)
{
	const char *p = stored;

	*n = 0;
	while (p && *p) {
		const char *sp = strchr(p, ' ');
		size_t len = sp ? (size_t)(sp - p) : strlen(p);
		char word[64];

		if (len) {
			if (*n >= max || len >= sizeof(word)) {
				err_set(e, "too many port mappings (at most %zu)", max);
				return -1;
			}
			memcpy(word, p, len);
			word[len] = '\0';
			if (ports_parse(word, &m[*n], e) < 0) {
				return -1;
			}
			(*n)++;
		}
		p = sp ? sp + 1 : NULL;
	}
	return 0;
}

void ports_format(struct sbuf *out, const struct port_map *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		sbuf_addf(out, "%s%s:%u:%u", i ? " " : "", m[i].scheme, m[i].host, m[i].container);
	}
}

unsigned ports_container(const struct port_map *m, size_t n)
{
	return n ? m[0].container : 0;
}

unsigned ports_from_exposed(const char *json, size_t len, size_t *ntcp)
{
	json_t *root = json_loadb(json, len, 0, NULL);
	unsigned first = 0, eighty = 0;
	const char *key, *first_key = NULL;
	json_t *v;

	*ntcp = 0;
	if (!json_is_object(root)) {
		json_decref(root);
		return 0;
	}
	/* Dokku's first: the first key in docker's (Go's) sorted order, "10000/tcp" < "3000/tcp" */
	json_object_foreach(root, key, v)
	{
		const char *slash = strchr(key, '/');
		unsigned p = port_number(key, slash ? (size_t)(slash - key) : strlen(key));

		(void)v;
		if (!p || (slash && strcmp(slash, "/tcp"))) {
			continue;
		}
		(*ntcp)++;
		if (!first_key || strcmp(key, first_key) < 0) {
			first_key = key;
			first = p;
		}
		if (p == 80) {
			eighty = p;
		}
	}
	json_decref(root);
	return eighty ? eighty : first;
}
