#include "opt.h"

#include <stdlib.h>
#include <string.h>

#include "banned.h"
#include "sbuf.h"
#include "slice.h"

static const struct opt *find_long(const struct opt *const *tables, const char *name, size_t len,
				   bool *negated)
{
	const struct opt *const *t;
	const struct opt *o;

	*negated = false;
	for (t = tables; *t; t++) {
		for (o = *t; o->type != OPT_T_END; o++) {
			if (o->long_name && strlen(o->long_name) == len &&
			    !strncmp(o->long_name, name, len)) {
				return o;
			}
		}
	}
	if (len > 3 && !strncmp(name, "no-", 3)) {
		for (t = tables; *t; t++) {
			for (o = *t; o->type != OPT_T_END; o++) {
				if (o->type == OPT_T_BOOL && o->long_name &&
				    strlen(o->long_name) == len - 3 &&
				    !strncmp(o->long_name, name + 3, len - 3)) {
					*negated = true;
					return o;
				}
			}
		}
	}
	return NULL;
}

static const struct opt *find_short(const struct opt *const *tables, char c)
{
	const struct opt *const *t;
	const struct opt *o;

	for (t = tables; *t; t++) {
		for (o = *t; o->type != OPT_T_END; o++) {
			if (o->short_name == c) {
				return o;
			}
		}
	}
	return NULL;
}

static bool takes_value(const struct opt *o)
{
	return o->type == OPT_T_STRING || o->type == OPT_T_LIST || o->type == OPT_T_STRING_LIST ||
	       o->type == OPT_T_UINT || o->type == OPT_T_UINT_OPTIONAL;
}

static bool is_number(const char *s)
{
	uint64_t n;

	return s && slice_to_u64(slice_cstr(s), 0xffffffffu, &n);
}

static void name_of(const struct opt *o, struct sbuf *sb)
{
	if (o->long_name) {
		sbuf_addf(sb, "--%s", o->long_name);
	} else {
		sbuf_addf(sb, "-%c", o->short_name);
	}
}

static int set_value(const struct opt *o, const char *val, struct err *e)
{
	struct sbuf name = SBUF_INIT;
	struct slice rest, f;
	uint64_t n;
	int ret = 0;

	switch (o->type) {
	case OPT_T_STRING:
		*(const char **)o->value = val;
		break;
	case OPT_T_LIST:
		rest = slice_cstr(val);
		while (rest.ptr) {
			f = slice_trim(slice_next(&rest, ','));
			if (f.len) {
				char *s = slice_dup(f);
				strvec_push(o->value, s);
				free(s);
			}
		}
		break;
	case OPT_T_STRING_LIST:
		strvec_push(o->value, val);
		break;
	case OPT_T_UINT:
	case OPT_T_UINT_OPTIONAL:
		if (!slice_to_u64(slice_cstr(val), 0xffffffffu, &n)) {
			name_of(o, &name);
			ret = err_set(e, "option '%s' expects a number, got '%s'", name.buf, val);
			break;
		}
		*(unsigned *)o->value = (unsigned)n;
		break;
	default:
		break;
	}
	sbuf_release(&name);
	return ret;
}

int opt_parse(int argc, const char **argv, const struct opt *const *tables, unsigned flags,
	      struct err *e)
{
	int i, nops = 0;
	bool only_operands = false;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i];
		const struct opt *o;
		bool negated = false;

		if (only_operands || a[0] != '-' || !a[1]) {
			argv[nops++] = a;
			if (flags & OPT_F_STOP_AT_OPERAND) {
				only_operands = true;
			}
			continue;
		}
		if (!strcmp(a, "--")) {
			only_operands = true;
			if (flags & OPT_F_STOP_AT_OPERAND) {
				/* keep "--" out, but everything after it in */
			}
			continue;
		}
		if (a[1] == '-') {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);

			o = find_long(tables, name, len, &negated);
			if (!o) {
				return err_set(e, "unknown option '--%.*s'", (int)len, name);
			}
			if (!takes_value(o)) {
				if (eq && o->type == OPT_T_BOOL && !negated &&
				    (!strcmp(eq + 1, "true") || !strcmp(eq + 1, "false"))) {
					*(bool *)o->value = eq[1] == 't';
					continue;
				}
				if (eq) {
					return err_set(e, "option '--%.*s' takes no value",
						       (int)len, name);
				}
				if (o->type == OPT_T_BOOL) {
					*(bool *)o->value = !negated;
				} else {
					(*(int *)o->value)++;
				}
				continue;
			}
			if (o->type == OPT_T_UINT_OPTIONAL && !eq &&
			    (i + 1 >= argc || !is_number(argv[i + 1]))) {
				*(unsigned *)o->value = o->dflt;
				continue;
			}
			if (!eq && i + 1 >= argc) {
				return err_set(e, "option '--%s' needs a value (%s)", o->long_name,
					       o->arg_help ? o->arg_help : "VALUE");
			}
			if (set_value(o, eq ? eq + 1 : argv[++i], e) < 0) {
				return -1;
			}
			continue;
		}
		/* a cluster of short options: -vq, -dNAME, -d NAME */
		for (const char *p = a + 1; *p; p++) {
			o = find_short(tables, *p);
			if (!o) {
				return err_set(e, "unknown option '-%c'", *p);
			}
			if (!takes_value(o)) {
				if (o->type == OPT_T_BOOL) {
					*(bool *)o->value = true;
				} else {
					(*(int *)o->value)++;
				}
				continue;
			}
			if (o->type == OPT_T_UINT_OPTIONAL && !p[1] &&
			    (i + 1 >= argc || !is_number(argv[i + 1]))) {
				*(unsigned *)o->value = o->dflt;
				break;
			}
			if (p[1]) {
				if (set_value(o, p + 1, e) < 0) {
					return -1;
				}
			} else if (i + 1 < argc) {
				if (set_value(o, argv[++i], e) < 0) {
					return -1;
				}
			} else {
				return err_set(e, "option '-%c' needs a value (%s)", *p,
					       o->arg_help ? o->arg_help : "VALUE");
			}
			break;
		}
	}
	argv[nops] = NULL;
	return nops;
}

void opt_usage(FILE *out, const struct opt *const *tables)
{
	const struct opt *const *t;
	const struct opt *o;

	for (t = tables; *t; t++) {
		for (o = *t; o->type != OPT_T_END; o++) {
			struct sbuf sb = SBUF_INIT;
			if (o->short_name) {
				sbuf_addf(&sb, "-%c", o->short_name);
				if (o->long_name) {
					sbuf_addstr(&sb, ", ");
				}
			} else {
				sbuf_addstr(&sb, "    ");
			}
			if (o->long_name) {
				sbuf_addf(&sb, "--%s", o->long_name);
			}
			if (o->arg_help && o->type == OPT_T_UINT_OPTIONAL) {
				sbuf_addf(&sb, " [%s]", o->arg_help);
			} else if (o->arg_help) {
				sbuf_addf(&sb, " %s", o->arg_help);
			}
			fprintf(out, "    %-30s %s\n", sb.buf, o->help ? o->help : "");
			sbuf_release(&sb);
		}
	}
}
