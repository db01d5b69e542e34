/*
 * oneclick — CapRover's v4 one-click app templates: parse, the form, fill
 * (daemon/oneclick.h).
 */
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/types.h>

#include "daemon/oneclick.h"
#include "daemon/sshcmd.h"
#include "engine/scripts.h"
#include "lib/banned.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"
#include "lib/yamldoc.h"

#define PREFIX	    "$$cap_"
#define PREFIX_LEN  (sizeof(PREFIX) - 1)
#define RANDOM_HEX  "$$cap_gen_random_hex("
#define ROOT_DOMAIN "$$cap_root_domain"
/* limits of a validRegex, so that regcomp stays small */
#define REGEX_MAX_DEPTH	 16
#define REGEX_MAX_COPIES 2000

extern const struct script_file oneclick_template_files[];

/* ---- regex translation ---- */

static bool is_class_escape(char d)
{
	return d == 'd' || d == 'w' || d == 's';
}

/* Reads a JavaScript [...] class at body[*i] (the '['); appends its POSIX form. */
static int translate_class(const char *js, const char *body, size_t len, size_t *i,
			   struct sbuf *out, struct err *e)
{
	struct sbuf cls = SBUF_INIT;
	bool neg = false, dash = false, rbr = false, caret = false, prev_class = false;
	size_t k = *i + 1;
	int rc = -1;

	if (k < len && body[k] == '^') {
		neg = true;
		k++;
	}
	for (;;) {
		char c;

		if (k >= len) {
			err_set(e, "regex %s: unterminated [", js);
			goto out;
		}
		c = body[k];
		if (c == ']') {
			break;
		}
		if (c == '\\') {
			char d = ++k < len ? body[k] : '\0';

			if (is_class_escape(d)) {
				sbuf_addstr(&cls, d == 'd'   ? "0-9"
						  : d == 'w' ? "A-Za-z0-9_"
							     : "[:space:]");
				prev_class = true;
				k++;
				continue;
			}
			if (d == '-') {
				dash = true;
			} else if (d == ']') {
				rbr = true;
			} else if (d == '^') {
				caret = true;
			} else if (d == 't' || d == 'n' || d == 'r') {
				sbuf_addch(&cls, d == 't' ? '\t' : d == 'n' ? '\n' : '\r');
			} else if (d && (ispunct((unsigned char)d) || d == ' ')) {
				sbuf_addch(&cls, d);
			} else {
				err_set(e, "regex %s: \\%c in [...] has no POSIX equivalent", js,
					d);
				goto out;
			}
			prev_class = false;
			k++;
			continue;
		}
		if (c == '-') {
			bool first = !cls.len && !rbr && !caret;
			bool last = k + 1 < len && body[k + 1] == ']';
			bool next_class =
			    k + 2 < len && body[k + 1] == '\\' && is_class_escape(body[k + 2]);

			if (first || last || prev_class || next_class) {
				dash = true;
			} else {
				sbuf_addch(&cls, '-');
			}
		} else if (c == '[' && k + 1 < len && strchr(":.=", body[k + 1])) {
			err_set(e, "regex %s: [%c inside [...] has no JavaScript meaning to keep",
				js, body[k + 1]);
			goto out;
		} else if (c == '^' && !cls.len) {
			caret = true;
		} else {
			sbuf_addch(&cls, c);
		}
		prev_class = false;
		k++;
	}
	if (!cls.len && !rbr && !dash && !caret) {
		err_set(e, "regex %s: an empty [] or [^] has no POSIX equivalent", js);
		goto out;
	}
	if (!cls.len && !rbr && !dash && caret && !neg) {
		sbuf_addstr(out, "\\^");
	} else {
		sbuf_addf(out, "[%s%s%s%s%s]", neg ? "^" : "", rbr ? "]" : "", cls.buf,
			  caret ? "^" : "", dash ? "-" : "");
	}
	*i = k;
	rc = 0;
out:
	sbuf_release(&cls);
	return rc;
}

/*
 * Whether body[i] starts a {n}, {n,} or {n,m} bound: its length in *n, the
 * larger of n and m in *count.
 */
static bool is_bound(const char *body, size_t len, size_t i, size_t *n, unsigned long *count)
{
	size_t k = i + 1, digits = 0;

	*count = 0;
	while (k < len && isdigit((unsigned char)body[k]) && digits < 5) {
		*count = *count * 10 + (unsigned long)(body[k] - '0');
		k++, digits++;
	}
	if (!digits || digits > 4) {
		return false;
	}
	if (k < len && body[k] == ',') {
		unsigned long m = 0;

		k++;
		digits = 0;
		while (k < len && isdigit((unsigned char)body[k]) && digits < 5) {
			m = m * 10 + (unsigned long)(body[k] - '0');
			k++, digits++;
		}
		if (digits > 4) {
			return false;
		}
		*count = m > *count ? m : *count;
	}
	if (k >= len || body[k] != '}') {
		return false;
	}
	*n = k + 1 - i;
	return true;
}

char *oneclick_regex_translate(const char *js, bool *icase, struct err *e)
{
	struct sbuf out = SBUF_INIT;
	const char *last, *body, *f;
	/*
	 * What JavaScript refuses and glibc would take and expand without end:
	 * a quantifier with nothing to repeat (a++, (*a)); a counted repetition
	 * of a group that holds one, and more counted copies in all than
	 * REGEX_MAX_COPIES.
	 */
	bool can_repeat = false, group_bound[REGEX_MAX_DEPTH + 1] = {false},
	     last_group_bound = false;
	unsigned long copies = 0;
	size_t len, i, depth = 0;
	regex_t re;
	int r;

	*icase = false;
	if (strlen(js) > ONECLICK_MAX_REGEX) {
		err_set(e, "regex of %zu bytes: at most %u", strlen(js), ONECLICK_MAX_REGEX);
		goto fail;
	}
	last = strrchr(js, '/');
	if (js[0] != '/' || last == js) {
		err_set(e, "regex %s: expected a JavaScript regex literal like /^[a-z]+$/", js);
		goto fail;
	}
	for (f = last + 1; *f; f++) {
		if (*f == 'i') {
			*icase = true;
		} else if (*f != 'g') {
			err_set(e, "regex %s: the flag '%c' is not supported (only i and g)", js,
				*f);
			goto fail;
		}
	}
	body = js + 1;
	len = (size_t)(last - body);
	for (i = 0; i < len; i++) {
		char c = body[i];
		unsigned long count = 0;
		bool after_group = last_group_bound;
		size_t n;

		last_group_bound = false;
		if (c == '*' || c == '+' || c == '?' ||
		    (c == '{' && is_bound(body, len, i, &n, &count))) {
			if (!can_repeat) {
				err_set(e, "regex %s: a quantifier with nothing to repeat", js);
				goto fail;
			}
			if (c == '{') {
				copies += count;
				if ((after_group && body[i - 1] == ')') ||
				    copies > REGEX_MAX_COPIES) {
					err_set(e,
						"regex %s: counted repetitions too large or nested",
						js);
					goto fail;
				}
				group_bound[depth] = true;
				sbuf_add(&out, body + i, n);
				i += n - 1;
			} else {
				sbuf_addch(&out, c);
			}
			if (i + 1 < len && body[i + 1] == '?') {
				err_set(e, "regex %s: lazy quantifiers have no POSIX equivalent",
					js);
				goto fail;
			}
			can_repeat = false;
			continue;
		}
		can_repeat = true;
		if (c == '\\') {
			char d = i + 1 < len ? body[++i] : '\0';

			if (d == 'd' || d == 'D') {
				sbuf_addstr(&out, d == 'd' ? "[0-9]" : "[^0-9]");
			} else if (d == 'w' || d == 'W') {
				sbuf_addstr(&out, d == 'w' ? "[A-Za-z0-9_]" : "[^A-Za-z0-9_]");
			} else if (d == 's' || d == 'S') {
				sbuf_addstr(&out, d == 's' ? "[[:space:]]" : "[^[:space:]]");
			} else if (d == 't' || d == 'n' || d == 'r') {
				sbuf_addch(&out, d == 't' ? '\t' : d == 'n' ? '\n' : '\r');
			} else if (d && strchr(".[](){}*+?|^$\\", d)) {
				sbuf_addch(&out, '\\');
				sbuf_addch(&out, d);
			} else if (d && (ispunct((unsigned char)d) || d == ' ')) {
				sbuf_addch(&out, d);
			} else {
				err_set(e, "regex %s: \\%c has no POSIX equivalent", js,
					d ? d : ' ');
				goto fail;
			}
		} else if (c == '[') {
			if (translate_class(js, body, len, &i, &out, e) < 0) {
				goto fail;
			}
		} else if (c == '(') {
			if (i + 1 < len && body[i + 1] == '?') {
				if (i + 2 >= len || body[i + 2] != ':') {
					err_set(
					    e,
					    "regex %s: lookarounds and named groups have no POSIX "
					    "equivalent",
					    js);
					goto fail;
				}
				i += 2;
			}
			if (depth == REGEX_MAX_DEPTH) {
				err_set(e, "regex %s: groups nested deeper than %d", js,
					REGEX_MAX_DEPTH);
				goto fail;
			}
			group_bound[++depth] = false;
			sbuf_addch(&out, '(');
			can_repeat = false;
		} else if (c == ')') {
			if (depth) {
				last_group_bound = group_bound[depth];
				depth--;
				group_bound[depth] |= last_group_bound;
			}
			sbuf_addch(&out, ')');
		} else if (c == '|' || c == '^') {
			sbuf_addch(&out, c);
			can_repeat = false;
		} else if (c == '{' || c == '}') {
			sbuf_addch(&out, '\\');
			sbuf_addch(&out, c);
		} else {
			sbuf_addch(&out, c);
		}
	}
	r = regcomp(&re, out.buf, REG_EXTENDED | REG_NOSUB | (*icase ? REG_ICASE : 0));
	if (r) {
		char msg[128];

		regerror(r, &re, msg, sizeof(msg));
		err_set(e, "regex %s: cannot be translated to POSIX: %s", js, msg);
		goto fail;
	}
	regfree(&re);
	return sbuf_detach(&out, NULL);
fail:
	sbuf_release(&out);
	return NULL;
}

/* ---- parsing ---- */

static const char *const top_keys[] = {"captainVersion", "services", "caproverOneClickApp", NULL};
static const char *const service_keys[] = {"image",	    "environment", "volumes", "ports",
					   "depends_on",    "restart",	   "command", "hostname",
					   "caproverExtra", NULL};
static const char *const extra_keys[] = {"containerHttpPort", "notExposeAsWebApp",
					 "dockerfileLines", "websocketSupport", NULL};
static const char *const app_keys[] = {"variables",  "instructions",  "displayName", "description",
				       "isOfficial", "documentation", NULL};
static const char *const var_keys[] = {"id",	      "label",	    "defaultValue",
				       "description", "validRegex", NULL};
static const char *const instr_keys[] = {"start", "end", NULL};

static int fail_at(struct err *e, const struct yaml_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(struct err *e, const struct yaml_node *n, const char *fmt, ...)
{
	struct sbuf sb = SBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	sbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	err_setat(e, n ? n->file : NULL, n ? n->line : 0, n ? n->col : 0, "%s", sb.buf);
	sbuf_release(&sb);
	return -1;
}

static bool is_scalar(const struct yaml_node *n)
{
	return n && n->kind != YAML_SEQ && n->kind != YAML_MAP;
}

/*
 * Checks that map is a mapping of known keys (NULL-terminated) with scalar
 * keys. 0, or -1 with e set at the offending key.
 */
static int check_keys(const struct yaml_node *map, const char *what, const char *const *keys,
		      struct err *e)
{
	if (!map || map->kind != YAML_MAP) {
		return fail_at(e, map, "%s: expected a mapping, got %s", what,
			       map ? yaml_kind_name(map->kind) : "nothing");
	}
	for (size_t i = 0; i < map->nr_pairs; i++) {
		const struct yaml_node *k = map->pairs[i].key;
		const char *name = is_scalar(k) ? yaml_text(k) : NULL;
		size_t j;

		if (!name) {
			return fail_at(e, k, "%s: keys must be strings", what);
		}
		for (j = 0; keys[j] && strcmp(keys[j], name); j++) {
		}
		if (!keys[j]) {
			struct sbuf sb = SBUF_INIT;

			for (j = 0; keys[j]; j++) {
				sbuf_addf(&sb, "%s%s", j ? ", " : "", keys[j]);
			}
			fail_at(e, k, "%s: unknown key '%s' (expected one of: %s)", what, name,
				sb.buf);
			sbuf_release(&sb);
			return -1;
		}
	}
	return 0;
}

/*
 * A scalar's text as written (a copy): CapRover reads templates as YAML 1.2,
 * where 1.10 and 0755 are not the numbers YAML 1.1 makes of them, and a
 * version or a port is meant as written. NULL node or null value: *out stays
 * NULL.
 */
static int get_str(const struct yaml_node *n, const char *what, char **out, struct err *e)
{
	if (!n || n->kind == YAML_NULL) {
		return 0;
	}
	if (!is_scalar(n)) {
		return fail_at(e, n, "%s: expected a string, got %s", what,
			       yaml_kind_name(n->kind));
	}
	if (!n->str || strlen(n->str) != n->len) {
		return fail_at(e, n, "%s: a NUL byte is not allowed", what);
	}
	*out = xstrdup(n->str);
	return 0;
}

static int get_bool(const struct yaml_node *n, const char *what, bool *out, struct err *e)
{
	char *s = NULL;
	int rc = get_str(n, what, &s, e);

	if (rc < 0 || !s) {
		return rc;
	}
	if (!strcasecmp(s, "true") || !strcasecmp(s, "false")) {
		*out = !strcasecmp(s, "true");
	} else {
		rc = fail_at(e, n, "%s: expected true or false, got '%s'", what, s);
	}
	free(s);
	return rc;
}

/* A list of strings into sv. */
static int get_list(const struct yaml_node *n, const char *what, struct strvec *sv, struct err *e)
{
	if (!n || n->kind == YAML_NULL) {
		return 0;
	}
	if (n->kind != YAML_SEQ) {
		return fail_at(e, n, "%s: expected a list, got %s", what, yaml_kind_name(n->kind));
	}
	for (size_t i = 0; i < n->nr_items; i++) {
		char *s = NULL;

		if (get_str(n->items[i], what, &s, e) < 0) {
			return -1;
		}
		if (!s) {
			return fail_at(e, n->items[i], "%s: expected a string, got null", what);
		}
		strvec_push(sv, s);
		free(s);
	}
	return 0;
}

/* get_str, get_bool and get_list of map's key, errors naming WHAT.KEY. */
#define FIELD(kind, type)                                                                          \
	static int field_##kind(const struct yaml_node *map, const char *key, const char *what,    \
				type out, struct err *e)                                           \
	{                                                                                          \
		struct sbuf w = SBUF_INIT;                                                         \
		int rc;                                                                            \
                                                                                                   \
		sbuf_addf(&w, "%s.%s", what, key);                                                 \
		rc = get_##kind(yaml_get(map, key), w.buf, out, e);                                \
		sbuf_release(&w);                                                                  \
		return rc;                                                                         \
	}
FIELD(str, char **)
FIELD(bool, bool *)
FIELD(list, struct strvec *)

static bool looks_secret(const char *name)
{
	static const char *const words[] = {"PASS", "SECRET", "TOKEN", "KEY"};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t n = strlen(words[i]);

		for (const char *p = name; *p; p++) {
			if (!strncasecmp(p, words[i], n)) {
				return true;
			}
		}
	}
	return false;
}

static bool valid_var_id(const char *id)
{
	if (strncmp(id, PREFIX, PREFIX_LEN) || !id[PREFIX_LEN]) {
		return false;
	}
	for (const char *p = id + PREFIX_LEN; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '_') {
			return false;
		}
	}
	return strlen(id) <= 128;
}

static int parse_var(struct oneclick *t, const struct yaml_node *n, size_t idx, struct err *e)
{
	struct oneclick_var *v = &t->vars[t->nvars];
	char what[64];

	snprintf(what, sizeof(what), "caproverOneClickApp.variables[%zu]", idx);
	memset(v, 0, sizeof(*v));
	v->line = n->line;
	t->nvars++; /* released with t from here on */
	if (check_keys(n, what, var_keys, e) < 0 || field_str(n, "id", what, &v->id, e) < 0 ||
	    field_str(n, "label", what, &v->label, e) < 0 ||
	    field_str(n, "defaultValue", what, &v->def, e) < 0 ||
	    field_str(n, "description", what, &v->description, e) < 0 ||
	    field_str(n, "validRegex", what, &v->regex, e) < 0) {
		return -1;
	}
	if (!v->id || !valid_var_id(v->id)) {
		return fail_at(e, yaml_get(n, "id") ? yaml_get(n, "id") : n,
			       "%s.id: expected $$cap_ and a name of letters, digits and _, got "
			       "'%s'",
			       what, v->id ? v->id : "");
	}
	if (!strcmp(v->id, ONECLICK_APPNAME) || !strcmp(v->id, ROOT_DOMAIN) ||
	    !strncmp(v->id, "$$cap_gen_random_hex", 20)) {
		return fail_at(e, yaml_get(n, "id"), "%s.id: %s is built in, not a variable", what,
			       v->id);
	}
	for (size_t i = 0; i + 1 < t->nvars; i++) {
		if (!strcmp(t->vars[i].id, v->id)) {
			return fail_at(e, yaml_get(n, "id"), "%s.id: %s is defined twice", what,
				       v->id);
		}
	}
	if (!v->label) {
		v->label = xstrdup(v->id + PREFIX_LEN);
	}
	if (v->regex) {
		struct err re = ERR_INIT;

		v->ere = oneclick_regex_translate(v->regex, &v->icase, &re);
		if (!v->ere) {
			fail_at(e, yaml_get(n, "validRegex"), "%s.validRegex: %s", what,
				err_str(&re));
			err_release(&re);
			return -1;
		}
	}
	v->secret = looks_secret(v->id) || (v->def && strstr(v->def, RANDOM_HEX));
	return 0;
}

static int parse_app(struct oneclick *t, const struct yaml_node *n, struct err *e)
{
	const struct yaml_node *vars = yaml_get(n, "variables"), *ins = yaml_get(n, "instructions");

	if (check_keys(n, "caproverOneClickApp", app_keys, e) < 0 ||
	    field_str(n, "displayName", "caproverOneClickApp", &t->display_name, e) < 0 ||
	    field_str(n, "description", "caproverOneClickApp", &t->description, e) < 0 ||
	    field_str(n, "documentation", "caproverOneClickApp", &t->documentation, e) < 0 ||
	    field_bool(n, "isOfficial", "caproverOneClickApp", &t->official, e) < 0) {
		return -1;
	}
	if (ins && ins->kind != YAML_NULL &&
	    (check_keys(ins, "caproverOneClickApp.instructions", instr_keys, e) < 0 ||
	     field_str(ins, "start", "caproverOneClickApp.instructions", &t->start, e) < 0 ||
	     field_str(ins, "end", "caproverOneClickApp.instructions", &t->end, e) < 0)) {
		return -1;
	}
	if (!vars || vars->kind == YAML_NULL) {
		return 0;
	}
	if (vars->kind != YAML_SEQ) {
		return fail_at(e, vars, "caproverOneClickApp.variables: expected a list, got %s",
			       yaml_kind_name(vars->kind));
	}
	if (vars->nr_items >= ONECLICK_MAX_VARS) {
		return fail_at(e, vars, "caproverOneClickApp.variables: more than %d",
			       ONECLICK_MAX_VARS);
	}
	t->vars = xrealloc(t->vars, (vars->nr_items + 1) * sizeof(*t->vars));
	for (size_t i = 0; i < vars->nr_items; i++) {
		if (parse_var(t, vars->items[i], i, e) < 0) {
			return -1;
		}
	}
	return 0;
}

/* "NAME:/PATH": a named volume, never a host path. */
static int check_volume(const char *v, const struct yaml_node *n, const char *what, struct err *e)
{
	const char *colon = strchr(v, ':');

	if (v[0] == '/' || v[0] == '.' || v[0] == '~') {
		return fail_at(
		    e, n,
		    "%s.volumes: '%s' mounts a host path: only named volumes (NAME:/PATH) "
		    "are supported",
		    what, v);
	}
	if (!colon || colon == v || colon[1] != '/' || strchr(colon + 1, ':')) {
		return fail_at(e, n, "%s.volumes: expected a named volume NAME:/PATH, got '%s'",
			       what, v);
	}
	return 0;
}

static int parse_service(struct oneclick *t, const struct yaml_pair *pair, struct err *e)
{
	struct oneclick_service *s = &t->services[t->nservices];
	const struct yaml_node *n = pair->value, *env, *ports, *extra;
	struct sbuf what = SBUF_INIT;
	int rc = -1;

	memset(s, 0, sizeof(*s));
	s->line = pair->key->line;
	t->nservices++;
	if (get_str(pair->key, "services", &s->name, e) < 0) {
		goto out;
	}
	if (!s->name || !*s->name) {
		fail_at(e, pair->key, "services: a service needs a name");
		goto out;
	}
	sbuf_addf(&what, "services.%s", s->name);
	if (check_keys(n, what.buf, service_keys, e) < 0 ||
	    field_str(n, "image", what.buf, &s->image, e) < 0 ||
	    field_str(n, "restart", what.buf, &s->restart, e) < 0 ||
	    field_str(n, "command", what.buf, &s->command, e) < 0 ||
	    field_str(n, "hostname", what.buf, &s->hostname, e) < 0 ||
	    field_list(n, "volumes", what.buf, &s->volumes, e) < 0 ||
	    field_list(n, "depends_on", what.buf, &s->depends_on, e) < 0) {
		goto out;
	}
	for (size_t i = 0; i < s->volumes.nr; i++) {
		if (check_volume(s->volumes.v[i], yaml_get(n, "volumes")->items[i], what.buf, e) <
		    0) {
			goto out;
		}
	}
	env = yaml_get(n, "environment");
	if (env && env->kind != YAML_NULL) {
		if (env->kind != YAML_MAP) {
			fail_at(e, env, "%s.environment: expected a mapping KEY: VALUE, got %s",
				what.buf, yaml_kind_name(env->kind));
			goto out;
		}
		size_t base = what.len;

		sbuf_addstr(&what, ".environment");
		for (size_t i = 0; i < env->nr_pairs; i++) {
			char *k = NULL, *v = NULL;

			if (get_str(env->pairs[i].key, what.buf, &k, e) < 0 ||
			    get_str(env->pairs[i].value, what.buf, &v, e) < 0) {
				free(k);
				goto out;
			}
			if (!k || !*k) {
				fail_at(e, env->pairs[i].key, "%s: a variable needs a name",
					what.buf);
				free(k);
				free(v);
				goto out;
			}
			strvec_push(&s->env_keys, k);
			strvec_push(&s->env_values, v ? v : "");
			free(k);
			free(v);
		}
		sbuf_setlen(&what, base);
	}
	ports = yaml_get(n, "ports");
	if (ports) {
		strvec_pushf(&t->warnings,
			     "%u: %s.ports ignored: berth-proxy serves 80 and 443 and routes to "
			     "caproverExtra.containerHttpPort",
			     ports->line, what.buf);
	}
	extra = yaml_get(n, "caproverExtra");
	if (extra && extra->kind != YAML_NULL) {
		sbuf_addstr(&what, ".caproverExtra");
		if (check_keys(extra, what.buf, extra_keys, e) < 0 ||
		    field_str(extra, "containerHttpPort", what.buf, &s->http_port, e) < 0 ||
		    field_bool(extra, "notExposeAsWebApp", what.buf, &s->not_exposed, e) < 0 ||
		    field_bool(extra, "websocketSupport", what.buf, &s->websocket, e) < 0 ||
		    field_list(extra, "dockerfileLines", what.buf, &s->dockerfile_lines, e) < 0) {
			goto out;
		}
	}
	if (!s->image == !s->dockerfile_lines.nr) {
		fail_at(e, pair->key, "services.%s: %s", s->name,
			s->image ? "give image or caproverExtra.dockerfileLines, not both"
				 : "expected an image or caproverExtra.dockerfileLines");
		goto out;
	}
	rc = 0;
out:
	sbuf_release(&what);
	return rc;
}

static ssize_t service_index(const struct oneclick *t, const char *name)
{
	for (size_t i = 0; i < t->nservices; i++) {
		if (!strcmp(t->services[i].name, name)) {
			return (ssize_t)i;
		}
	}
	return -1;
}

/*
 * The services in depends_on order (dependencies first, else in the
 * template's order) into order[], or -1 with e set on a cycle.
 */
static int service_order(const struct oneclick *t, size_t *order, struct err *e)
{
	bool *placed = xcalloc(t->nservices + 1, sizeof(*placed));
	size_t done = 0;
	int rc = 0;

	while (done < t->nservices) {
		size_t i;

		for (i = 0; i < t->nservices; i++) {
			const struct oneclick_service *s = &t->services[i];
			size_t d;

			if (placed[i]) {
				continue;
			}
			for (d = 0; d < s->depends_on.nr; d++) {
				if (!placed[service_index(t, s->depends_on.v[d])]) {
					break;
				}
			}
			if (d == s->depends_on.nr) {
				break;
			}
		}
		if (i == t->nservices) {
			struct sbuf sb = SBUF_INIT;

			for (i = 0; i < t->nservices; i++) {
				if (!placed[i]) {
					sbuf_addf(&sb, "%s%s", sb.len ? ", " : "",
						  t->services[i].name);
				}
			}
			rc = err_set(e, "services: depends_on makes a cycle among %s", sb.buf);
			sbuf_release(&sb);
			break;
		}
		placed[i] = true;
		order[done++] = i;
	}
	free(placed);
	return rc;
}

int oneclick_parse(struct oneclick *t, const char *file, const char *buf, size_t len, struct err *e)
{
	struct yaml_node *root = NULL;
	const struct yaml_node *ver, *svcs, *app;
	size_t *order = NULL;
	int rc = -1;

	memset(t, 0, sizeof(*t));
	t->warnings = (struct strvec)STRVEC_INIT;
	if (len > ONECLICK_MAX_SIZE) {
		err_set(e, "%s: a template of %zu bytes: at most %u", file ? file : "template", len,
			ONECLICK_MAX_SIZE);
		goto out;
	}
	if (yaml_load(file, buf, len, &root, e) < 0 ||
	    check_keys(root, "template", top_keys, e) < 0) {
		goto out;
	}
	ver = yaml_get(root, "captainVersion");
	if (!ver || !is_scalar(ver) || strcmp(yaml_text(ver), "4")) {
		fail_at(e, ver ? ver : root,
			"captainVersion: expected 4 (CapRover's v4 one-click app format), got %s",
			ver && is_scalar(ver) ? yaml_text(ver) : "nothing");
		goto out;
	}
	/* vars[0]: the app's name, asked first */
	t->vars = xcalloc(1, sizeof(*t->vars));
	t->vars[0].id = xstrdup(ONECLICK_APPNAME);
	t->vars[0].label = xstrdup("App name");
	t->vars[0].description =
	    xstrdup("The name of the app (lowercase letters, digits and '-', starting with a "
		    "letter); other services are named after it");
	t->nvars = 1;
	app = yaml_get(root, "caproverOneClickApp");
	if (app && parse_app(t, app, e) < 0) {
		goto out;
	}
	svcs = yaml_get(root, "services");
	if (!svcs || svcs->kind != YAML_MAP || !svcs->nr_pairs) {
		fail_at(e, svcs ? svcs : root,
			"services: expected a mapping of at least one service");
		goto out;
	}
	if (svcs->nr_pairs > ONECLICK_MAX_SERVICES) {
		fail_at(e, svcs, "services: more than %d", ONECLICK_MAX_SERVICES);
		goto out;
	}
	t->services = xcalloc(svcs->nr_pairs, sizeof(*t->services));
	for (size_t i = 0; i < svcs->nr_pairs; i++) {
		if (parse_service(t, &svcs->pairs[i], e) < 0) {
			goto out;
		}
		if (service_index(t, t->services[i].name) != (ssize_t)i) {
			fail_at(e, svcs->pairs[i].key, "services: %s is defined twice",
				t->services[i].name);
			goto out;
		}
	}
	for (size_t i = 0; i < t->nservices; i++) {
		const struct oneclick_service *s = &t->services[i];

		for (size_t d = 0; d < s->depends_on.nr; d++) {
			const char *dep = s->depends_on.v[d];

			if (service_index(t, dep) < 0 || !strcmp(dep, s->name)) {
				err_setat(e, file, s->line, 0,
					  "services.%s.depends_on: '%s' is not another service of "
					  "the template",
					  s->name, dep);
				goto out;
			}
		}
	}
	/* a variable given to a password-like environment key is a secret too */
	for (size_t i = 0; i < t->nservices; i++) {
		const struct oneclick_service *s = &t->services[i];

		for (size_t k = 0; k < s->env_keys.nr; k++) {
			for (size_t v = 1; v < t->nvars && looks_secret(s->env_keys.v[k]); v++) {
				t->vars[v].secret |= !!strstr(s->env_values.v[k], t->vars[v].id);
			}
		}
	}
	order = xcalloc(t->nservices, sizeof(*order));
	if (service_order(t, order, e) < 0) {
		goto out;
	}
	rc = 0;
out:
	free(order);
	yaml_node_free(root);
	if (rc < 0) {
		oneclick_release(t);
	}
	return rc;
}

void oneclick_release(struct oneclick *t)
{
	for (size_t i = 0; i < t->nvars; i++) {
		struct oneclick_var *v = &t->vars[i];

		free(v->id);
		free(v->label);
		free(v->def);
		free(v->description);
		free(v->regex);
		free(v->ere);
	}
	for (size_t i = 0; i < t->nservices; i++) {
		struct oneclick_service *s = &t->services[i];

		free(s->name);
		free(s->image);
		strvec_clear(&s->dockerfile_lines);
		strvec_clear(&s->env_keys);
		strvec_clear(&s->env_values);
		strvec_clear(&s->volumes);
		strvec_clear(&s->depends_on);
		free(s->restart);
		free(s->command);
		free(s->hostname);
		free(s->http_port);
	}
	free(t->vars);
	free(t->services);
	free(t->display_name);
	free(t->description);
	free(t->documentation);
	free(t->start);
	free(t->end);
	strvec_clear(&t->warnings);
	memset(t, 0, sizeof(*t));
	t->warnings = (struct strvec)STRVEC_INIT;
}

/* ---- filling ---- */

struct fill {
	const struct oneclick *t;
	const char *root_domain;
	char **values;	    /* per variable; NULL while not yet known */
	bool *secrets;	    /* per variable */
	bool only_builtins; /* filling a default: no variable of the form */
	size_t total;	    /* bytes filled so far, at most ONECLICK_MAX_PLAN */
};

static int random_hex(size_t n, struct sbuf *out, struct err *e)
{
	unsigned char buf[ONECLICK_MAX_HEX / 2 + 1];
	size_t want = (n + 1) / 2, got = 0;

	while (got < want) {
		ssize_t r = getrandom(buf + got, want - got, 0);

		if (r < 0) {
			if (errno == EINTR) {
				continue;
			}
			return err_set(e, "cannot get random bytes: %s", strerror(errno));
		}
		got += (size_t)r;
	}
	for (size_t i = 0; i < n; i++) {
		sbuf_addch(out, "0123456789abcdef"[(buf[i / 2] >> (i % 2 ? 0 : 4)) & 15]);
	}
	return 0;
}

static void str_release(struct oneclick_str *s)
{
	free(s->v);
	free(s->shown);
	memset(s, 0, sizeof(*s));
}

/*
 * Replaces the variables of in (see oneclick.h) into out; what names the
 * string in errors. 0, or -1 with e set.
 */
static int subst(struct fill *f, const char *in, const char *what, struct oneclick_str *out,
		 struct err *e)
{
	struct sbuf v = SBUF_INIT, shown = SBUF_INIT;
	const char *p = in, *at;
	bool secret = false;
	int rc = -1;

	while ((at = strstr(p, PREFIX))) {
		size_t best = 0, best_len = 0;
		bool found = false;

		sbuf_add(&v, p, (size_t)(at - p));
		sbuf_add(&shown, p, (size_t)(at - p));
		if (!strncmp(at, RANDOM_HEX, strlen(RANDOM_HEX))) {
			const char *d = at + strlen(RANDOM_HEX);
			char *end;
			unsigned long n = isdigit((unsigned char)*d) ? strtoul(d, &end, 10) : 0;

			if (!n || n > ONECLICK_MAX_HEX || *end != ')') {
				err_set(e,
					"%s: expected $$cap_gen_random_hex(N) with N from 1 to %d",
					what, ONECLICK_MAX_HEX);
				goto out;
			}
			if (random_hex(n, &v, e) < 0) {
				goto out;
			}
			sbuf_addstr(&shown, "***");
			secret = true;
			p = end + 1;
			continue;
		}
		if (!strncmp(at, ROOT_DOMAIN, strlen(ROOT_DOMAIN))) {
			found = true;
			best = (size_t)-1;
			best_len = strlen(ROOT_DOMAIN);
		}
		for (size_t i = 0; i < f->t->nvars; i++) {
			size_t n = strlen(f->t->vars[i].id);

			if (f->only_builtins && i) {
				break;
			}
			if (n > best_len && !strncmp(at, f->t->vars[i].id, n)) {
				found = true;
				best = i;
				best_len = n;
			}
		}
		if (!found) {
			size_t n = PREFIX_LEN;

			while (isalnum((unsigned char)at[n]) || at[n] == '_') {
				n++;
			}
			err_set(e, "%s: %.*s is not a variable of the template", what, (int)n, at);
			goto out;
		}
		if (best == (size_t)-1) {
			if (!f->root_domain) {
				err_set(e,
					"%s: uses $$cap_root_domain, but no global domain is set "
					"(domains:set-global DOMAIN)",
					what);
				goto out;
			}
			sbuf_addstr(&v, f->root_domain);
			sbuf_addstr(&shown, f->root_domain);
		} else {
			if (!f->values[best]) {
				err_set(e, "%s: %s has no value yet", what, f->t->vars[best].id);
				goto out;
			}
			sbuf_addstr(&v, f->values[best]);
			sbuf_addstr(&shown, f->secrets[best] ? "***" : f->values[best]);
			secret |= f->secrets[best];
		}
		p = at + best_len;
		if (v.len > ONECLICK_MAX_VALUE * 4) {
			break;
		}
	}
	sbuf_addstr(&v, p);
	sbuf_addstr(&shown, p);
	if (v.len > ONECLICK_MAX_VALUE * 4) {
		err_set(e, "%s: longer than %u bytes once filled", what, ONECLICK_MAX_VALUE * 4);
		goto out;
	}
	f->total += v.len;
	if (f->total > ONECLICK_MAX_PLAN) {
		err_set(e, "%s: the filled template grows past %u bytes", what, ONECLICK_MAX_PLAN);
		goto out;
	}
	out->v = sbuf_detach(&v, NULL);
	out->shown = sbuf_detach(&shown, NULL);
	out->secret = secret;
	rc = 0;
out:
	sbuf_release(&v);
	sbuf_release(&shown);
	return rc;
}

/* subst to a plain string (names, volumes, ports...), which is shown as it is: no secret in it. */
static int subst_plain(struct fill *f, const char *in, const char *what, char **out, struct err *e)
{
	struct oneclick_str s = {0};

	if (subst(f, in, what, &s, e) < 0) {
		return -1;
	}
	free(s.shown);
	if (s.secret) {
		free(s.v);
		return err_set(e,
			       "%s: a secret (a random value or a password-like variable) cannot "
			       "go into a name, a volume, a port or a restart policy",
			       what);
	}
	*out = s.v;
	return 0;
}

static bool valid_value(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			return false;
		}
	}
	return strlen(s) <= ONECLICK_MAX_VALUE;
}

/* Whether the variable's value matches its validRegex (none: anything). */
static bool value_matches(const struct oneclick_var *v, const char *value)
{
	regex_t re;
	bool ok;

	if (!v->ere) {
		return true;
	}
	if (regcomp(&re, v->ere, REG_EXTENDED | REG_NOSUB | (v->icase ? REG_ICASE : 0))) {
		return false;
	}
	ok = !regexec(&re, value, 0, NULL, 0);
	regfree(&re);
	return ok;
}

static const char *var_name(const struct oneclick_var *v)
{
	return v->id + PREFIX_LEN;
}

/* Each variable's value: given, else its default; checked. */
static int fill_values(struct fill *f, const struct oneclick_value *values, size_t nvalues,
		       struct err *e)
{
	const struct oneclick *t = f->t;
	const char **given = xcalloc(t->nvars, sizeof(*given));
	int rc = -1;

	for (size_t i = 0; i < nvalues; i++) {
		const char *id = values[i].id;
		size_t j;

		if (!strncmp(id, PREFIX, PREFIX_LEN)) {
			id += PREFIX_LEN;
		}
		for (j = 0; j < t->nvars && strcmp(var_name(&t->vars[j]), id); j++) {
		}
		if (j == t->nvars) {
			struct sbuf sb = SBUF_INIT;

			for (j = 0; j < t->nvars; j++) {
				sbuf_addf(&sb, "%s%s", j ? ", " : "", var_name(&t->vars[j]));
			}
			err_set(e, "'%s' is not a variable of the template (its variables: %s)", id,
				sb.buf);
			sbuf_release(&sb);
			goto out;
		}
		if (given[j]) {
			err_set(e, "%s is given twice", id);
			goto out;
		}
		given[j] = values[i].value;
	}
	for (size_t i = 0; i < t->nvars; i++) {
		const struct oneclick_var *v = &t->vars[i];
		char *value = NULL;

		f->secrets[i] = v->secret;
		if (given[i]) {
			value = xstrdup(given[i]);
		} else if (v->def && i) {
			struct oneclick_str d = {0};
			char what[160];

			snprintf(what, sizeof(what), "%s's default", var_name(v));
			f->only_builtins = true;
			rc = subst(f, v->def, what, &d, e);
			f->only_builtins = false;
			if (rc < 0) {
				goto out;
			}
			rc = -1;
			value = d.v;
			f->secrets[i] |= d.secret;
			free(d.shown);
		} else if (!i) {
			err_set(e, "appname is required: the name of the app");
			goto out;
		} else {
			value = xstrdup("");
		}
		f->values[i] = value;
		if (!valid_value(value)) {
			err_set(e, "%s (%s): expected one line of at most %u bytes", var_name(v),
				v->label, ONECLICK_MAX_VALUE);
			goto out;
		}
		if (!i && !sshcmd_valid_app(value)) {
			err_set(e,
				"appname: invalid app name '%s' (lowercase letters, digits and "
				"'-', starting with a letter)",
				value);
			goto out;
		}
		if (!value_matches(v, value)) {
			if (f->secrets[i]) {
				err_set(e, "%s (%s): the value given does not match %s",
					var_name(v), v->label, v->regex);
			} else {
				err_set(e, "%s (%s): '%s' does not match %s", var_name(v), v->label,
					value, v->regex);
			}
			goto out;
		}
	}
	rc = 0;
out:
	free(given);
	return rc;
}

static bool valid_env_key(const char *k)
{
	if (!*k || isdigit((unsigned char)*k)) {
		return false;
	}
	for (; *k; k++) {
		if (!isalnum((unsigned char)*k) && *k != '_') {
			return false;
		}
	}
	return true;
}

static bool valid_volume_name(const char *s, size_t n)
{
	if (!n || n > 128 || !isalnum((unsigned char)s[0])) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i])) {
			return false;
		}
	}
	return true;
}

static bool valid_restart(const char *r)
{
	static const char *const ok[] = {"no", "always", "unless-stopped", "on-failure"};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (!strcmp(r, ok[i])) {
			return true;
		}
	}
	if (!strncmp(r, "on-failure:", 11) && r[11]) {
		for (const char *p = r + 11; *p; p++) {
			if (!isdigit((unsigned char)*p)) {
				return false;
			}
		}
		return strlen(r + 11) <= 4;
	}
	return false;
}

static int fill_app(struct fill *f, const struct oneclick_service *s, char **names,
		    struct oneclick_app *a, struct err *e)
{
	struct sbuf what = SBUF_INIT;
	char *port = NULL;
	int rc = -1;

	sbuf_addf(&what, "services.%s", s->name);
	a->volumes = (struct strvec)STRVEC_INIT;
	a->depends_on = (struct strvec)STRVEC_INIT;
	a->name = xstrdup(names[s - f->t->services]);
	a->web = !s->not_exposed;
	a->websocket = s->websocket;
	if (s->image && subst(f, s->image, what.buf, &a->image, e) < 0) {
		goto out;
	}
	if (a->image.v && (!*a->image.v || strpbrk(a->image.v, " \t"))) {
		err_set(e, "%s.image: expected an image name, got '%s'", what.buf, a->image.shown);
		goto out;
	}
	a->dockerfile = xcalloc(s->dockerfile_lines.nr + 1, sizeof(*a->dockerfile));
	for (size_t i = 0; i < s->dockerfile_lines.nr; i++) {
		if (subst(f, s->dockerfile_lines.v[i], what.buf, &a->dockerfile[i], e) < 0) {
			goto out;
		}
		a->ndockerfile++;
	}
	a->env = xcalloc(s->env_keys.nr + 1, sizeof(*a->env));
	for (size_t i = 0; i < s->env_keys.nr; i++) {
		struct oneclick_env *env = &a->env[i];

		if (subst_plain(f, s->env_keys.v[i], what.buf, &env->key, e) < 0) {
			goto out;
		}
		a->nenv++;
		if (!valid_env_key(env->key)) {
			err_set(
			    e,
			    "%s.environment: '%s' is not a variable name ([A-Za-z_][A-Za-z0-9_]*)",
			    what.buf, env->key);
			goto out;
		}
		if (subst(f, s->env_values.v[i], what.buf, &env->value, e) < 0) {
			goto out;
		}
		if (looks_secret(env->key) && !env->value.secret) {
			env->value.secret = true;
			free(env->value.shown);
			env->value.shown = xstrdup("***");
		}
	}
	for (size_t i = 0; i < s->volumes.nr; i++) {
		char *vol = NULL;
		const char *colon;

		if (subst_plain(f, s->volumes.v[i], what.buf, &vol, e) < 0) {
			goto out;
		}
		colon = strchr(vol, ':');
		if (!colon || !valid_volume_name(vol, (size_t)(colon - vol)) || colon[1] != '/' ||
		    strchr(colon + 1, ':') || strpbrk(colon, " \t,")) {
			err_set(e, "%s.volumes: expected a named volume NAME:/PATH, got '%s'",
				what.buf, vol);
			free(vol);
			goto out;
		}
		strvec_push(&a->volumes, vol);
		free(vol);
	}
	for (size_t i = 0; i < s->depends_on.nr; i++) {
		strvec_push(&a->depends_on, names[service_index(f->t, s->depends_on.v[i])]);
	}
	if (s->restart) {
		if (subst_plain(f, s->restart, what.buf, &a->restart, e) < 0) {
			goto out;
		}
		if (!valid_restart(a->restart)) {
			err_set(e,
				"%s.restart: expected no, always, unless-stopped or "
				"on-failure[:N], got '%s'",
				what.buf, a->restart);
			goto out;
		}
	}
	if (s->hostname) {
		if (subst_plain(f, s->hostname, what.buf, &a->hostname, e) < 0) {
			goto out;
		}
		if (!sshcmd_valid_app(a->hostname)) {
			err_set(e, "%s.hostname: invalid host name '%s'", what.buf, a->hostname);
			goto out;
		}
	}
	if (s->command && subst(f, s->command, what.buf, &a->command, e) < 0) {
		goto out;
	}
	a->http_port = 80;
	if (s->http_port) {
		char *end;
		unsigned long n;

		if (subst_plain(f, s->http_port, what.buf, &port, e) < 0) {
			goto out;
		}
		n = isdigit((unsigned char)port[0]) ? strtoul(port, &end, 10) : 0;
		if (!n || n > 65535 || *end) {
			err_set(e,
				"%s.caproverExtra.containerHttpPort: expected a port from 1 to "
				"65535, got '%s'",
				what.buf, port);
			goto out;
		}
		a->http_port = (unsigned)n;
	}
	rc = 0;
out:
	free(port);
	sbuf_release(&what);
	return rc;
}

static void app_release(struct oneclick_app *a)
{
	free(a->name);
	str_release(&a->image);
	for (size_t i = 0; i < a->ndockerfile; i++) {
		str_release(&a->dockerfile[i]);
	}
	free(a->dockerfile);
	for (size_t i = 0; i < a->nenv; i++) {
		free(a->env[i].key);
		str_release(&a->env[i].value);
	}
	free(a->env);
	strvec_clear(&a->volumes);
	strvec_clear(&a->depends_on);
	free(a->restart);
	free(a->hostname);
	str_release(&a->command);
}

int oneclick_fill(const struct oneclick *t, const char *root_domain,
		  const struct oneclick_value *values, size_t nvalues, struct oneclick_plan *p,
		  struct err *e)
{
	struct fill f = {t, root_domain, NULL, NULL, false, 0};
	char **names = xcalloc(t->nservices + 1, sizeof(*names));
	size_t *order = xcalloc(t->nservices + 1, sizeof(*order));
	int rc = -1;

	memset(p, 0, sizeof(*p));
	f.values = xcalloc(t->nvars + 1, sizeof(*f.values));
	f.secrets = xcalloc(t->nvars + 1, sizeof(*f.secrets));
	if (!t->nvars || !t->nservices) {
		err_set(e, "not a parsed template");
		goto out;
	}
	if (fill_values(&f, values, nvalues, e) < 0 || service_order(t, order, e) < 0) {
		goto out;
	}
	for (size_t i = 0; i < t->nservices; i++) {
		char what[160];

		snprintf(what, sizeof(what), "services: the name %.100s", t->services[i].name);
		if (subst_plain(&f, t->services[i].name, what, &names[i], e) < 0) {
			goto out;
		}
		if (!sshcmd_valid_app(names[i])) {
			err_set(e, "services: '%s' (from %s) is not a valid app name", names[i],
				t->services[i].name);
			goto out;
		}
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(names[i], names[j])) {
				err_set(e, "services: %s and %s are both named '%s'",
					t->services[j].name, t->services[i].name, names[i]);
				goto out;
			}
		}
	}
	p->apps = xcalloc(t->nservices, sizeof(*p->apps));
	for (size_t i = 0; i < t->nservices; i++) {
		p->napps++;
		if (fill_app(&f, &t->services[order[i]], names, &p->apps[i], e) < 0) {
			goto out;
		}
	}
	if ((t->start && subst(&f, t->start, "instructions.start", &p->start, e) < 0) ||
	    (t->end && subst(&f, t->end, "instructions.end", &p->end, e) < 0)) {
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < t->nservices; i++) {
		free(names[i]);
	}
	for (size_t i = 0; i < t->nvars; i++) {
		free(f.values[i]);
	}
	free(names);
	free(order);
	free(f.values);
	free(f.secrets);
	if (rc < 0) {
		oneclick_plan_release(p);
	}
	return rc;
}

void oneclick_plan_release(struct oneclick_plan *p)
{
	for (size_t i = 0; i < p->napps; i++) {
		app_release(&p->apps[i]);
	}
	free(p->apps);
	str_release(&p->start);
	str_release(&p->end);
	memset(p, 0, sizeof(*p));
}

/* ---- the shipped templates ---- */

const struct script_file *oneclick_builtins(void)
{
	return oneclick_template_files;
}

const char *oneclick_builtin(const char *name)
{
	for (const struct script_file *f = oneclick_template_files; f->name; f++) {
		if (!strcmp(f->name, name)) {
			return f->text;
		}
	}
	return NULL;
}
