/*
 * A one-click app template comes from whoever pastes or uploads it: parse
 * it, fill it with an app name and the defaults, and check what came out
 * keeps the module's promises (the app name first in the form, apps named
 * validly in depends_on order, no "$$cap_" left, a secret never shown).
 * The input is also read as a validRegex literal: a translation regcomp
 * refuses is a bug.
 */
#include <regex.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/oneclick.h"
#include "daemon/sshcmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const struct oneclick_str *s)
{
	if (!s->v) {
		return;
	}
	if (!s->shown || (!s->secret && strcmp(s->v, s->shown))) {
		__builtin_trap();
	}
}

static void check_plan(const struct oneclick_plan *p)
{
	for (size_t i = 0; i < p->napps; i++) {
		const struct oneclick_app *a = &p->apps[i];

		if (!sshcmd_valid_app(a->name) ||
		    (a->web && (!a->http_port || a->http_port > 65535))) {
			__builtin_trap();
		}
		if (!a->image.v == !a->ndockerfile) {
			__builtin_trap();
		}
		for (size_t d = 0; d < a->depends_on.nr; d++) {
			size_t j;

			for (j = 0; j < i && strcmp(p->apps[j].name, a->depends_on.v[d]); j++) {
			}
			if (j == i) {
				__builtin_trap(); /* a dependency comes first */
			}
		}
		check_str(&a->image);
		check_str(&a->command);
		for (size_t k = 0; k < a->ndockerfile; k++) {
			check_str(&a->dockerfile[k]);
			if (strstr(a->dockerfile[k].v, "$$cap_")) {
				__builtin_trap();
			}
		}
		for (size_t k = 0; k < a->nenv; k++) {
			check_str(&a->env[k].value);
			if (strstr(a->env[k].value.v, "$$cap_") ||
			    strstr(a->env[k].key, "$$cap_")) {
				__builtin_trap();
			}
		}
		for (size_t k = 0; k < a->volumes.nr; k++) {
			if (a->volumes.v[k][0] == '/' || !strchr(a->volumes.v[k], ':')) {
				__builtin_trap();
			}
		}
	}
	check_str(&p->start);
	check_str(&p->end);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oneclick t = ONECLICK_INIT;
	struct oneclick_plan p = {0};
	struct oneclick_value v = {"appname", "app"};
	struct err e = ERR_INIT;
	int rc;

	rc = oneclick_parse(&t, "fuzz.yml", (const char *)data, size, &e);
	if ((rc < 0) != err_isset(&e)) {
		__builtin_trap();
	}
	if (rc < 0) {
		(void)err_str(&e);
		if (t.nvars || t.nservices || t.vars || t.services) {
			__builtin_trap(); /* nothing kept from a bad template */
		}
	} else {
		if (!t.nvars || strcmp(t.vars[0].id, ONECLICK_APPNAME) || !t.nservices) {
			__builtin_trap();
		}
		err_release(&e);
		rc = oneclick_fill(&t, "example.com", &v, 1, &p, &e);
		if ((rc < 0) != err_isset(&e) || (rc < 0 && (p.napps || p.apps))) {
			__builtin_trap();
		}
		if (!rc) {
			check_plan(&p);
		}
		oneclick_plan_release(&p);
	}
	oneclick_release(&t);
	err_release(&e);

	if (size <= ONECLICK_MAX_REGEX && !memchr(data, 0, size)) {
		char *js = strndup((const char *)data, size), *ere;
		bool icase;
		regex_t re;

		ere = oneclick_regex_translate(js, &icase, &e);
		if (ere) {
			if (regcomp(&re, ere, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0))) {
				__builtin_trap();
			}
			regfree(&re);
		} else if (!err_isset(&e)) {
			__builtin_trap();
		}
		free(ere);
		free(js);
		err_release(&e);
	}
	return 0;
}
