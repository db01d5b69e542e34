/* ocinstall — see ocinstall.h. */
#include "daemon/ocinstall.h"

#include <stdlib.h>
#include <string.h>

#include "daemon/berthd.h"
#include "engine/app.h"
#include "lib/banned.h"
#include "lib/strvec.h"
#include "lib/xalloc.h"

#define NET_MAX 63 /* network_valid_name's limit */

int ocinstall_network(struct sbuf *out, const char *install, struct err *e)
{
	if (strlen(OCINSTALL_NET_PREFIX) + strlen(install) > NET_MAX) {
		return err_set(
		    e,
		    "appname '%s' is too long for the install's network " OCINSTALL_NET_PREFIX
		    "%s: at most %zu characters",
		    install, install, NET_MAX - strlen(OCINSTALL_NET_PREFIX));
	}
	sbuf_addf(out, OCINSTALL_NET_PREFIX "%s", install);
	return 0;
}

void ocinstall_aliases(struct sbuf *out, const char *app)
{
	sbuf_addf(out, "srv-captain--%s %s", app, app);
}

void ocinstall_volume(struct sbuf *out, const char *install, const char *vol)
{
	sbuf_addf(out, "%s_%s", install, vol);
}

void ocinstall_mount(struct sbuf *out, const char *install, const char *spec)
{
	const char *colon = strchr(spec, ':');
	size_t n = colon ? (size_t)(colon - spec) : strlen(spec);

	sbuf_addf(out, "%s_%.*s%s", install, (int)n, spec, colon ? colon : "");
}

static int check_app(const struct oneclick_app *a, struct err *e)
{
	struct strvec words = STRVEC_INIT;
	int r = -1;

	for (size_t i = 0; i < a->nenv; i++) {
		const char *k = a->env[i].key, *v = a->env[i].value.v;

		if (!config_valid_name(k, strlen(k))) {
			err_set(e,
				"service %s: environment key '%.64s' is not a config var name "
				"(letters, digits and '_', not starting with a digit)",
				a->name, k);
			goto out;
		}
		if (strchr(v, '\n')) {
			err_set(e,
				"service %s: the value of %s holds a newline, which an env file "
				"cannot carry",
				a->name, k);
			goto out;
		}
		if (strlen(v) > CONFIG_VALUE_MAX) {
			err_set(e,
				"service %s: the value of %s is too long (%zu bytes; at most %d)",
				a->name, k, strlen(v), CONFIG_VALUE_MAX);
			goto out;
		}
	}
	if (a->image.v && a->image.secret) {
		err_set(e,
			"service %s: its image holds a secret, which would be shown in the "
			"deploy's output",
			a->name);
		goto out;
	}
	for (size_t i = 0; i < a->ndockerfile; i++) {
		if (a->dockerfile[i].secret) {
			err_set(e,
				"service %s: dockerfile line %zu holds a secret, which would be in "
				"the image and the build's output; pass it in the environment",
				a->name, i + 1);
			goto out;
		}
	}
	if (a->command.v) {
		if (a->command.secret) {
			err_set(e,
				"service %s: its command holds a secret, which would be in a "
				"process's arguments; pass it in the environment (sh -c '... "
				"\"$VAR\"')",
				a->name);
			goto out;
		}
		if (app_split_words(a->command.v, &words, e) < 0) {
			err_prefix(e, "service %s: command", a->name);
			goto out;
		}
	}
	r = 0;
out:
	strvec_clear(&words);
	return r;
}

int ocinstall_check(const struct oneclick_plan *p, struct err *e)
{
	for (size_t i = 0; i < p->napps; i++) {
		if (check_app(&p->apps[i], e) < 0) {
			return -1;
		}
	}
	return 0;
}

/* The value of appname among vals (filled: it is there and valid). */
static const char *install_name(const struct oneclick_value *vals, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *id = vals[i].id;

		if (!strncmp(id, "$$cap_", 6)) {
			id += 6;
		}
		if (!strcmp(id, "appname")) {
			return vals[i].value;
		}
	}
	return NULL;
}

int ocinstall_prepare(struct ocinstall *in, struct store *s, const char *file, const char *text,
		      size_t len, const struct oneclick_value *vals, size_t nvals, struct err *e)
{
	char *domain = NULL;
	const char *name;
	int r = -1;

	if (oneclick_parse(&in->t, file, text, len, e) < 0 ||
	    store_setting_get(s, "global-domain", &domain, e) < 0 ||
	    oneclick_fill(&in->t, domain, vals, nvals, &in->p, e) < 0) {
		goto out;
	}
	name = install_name(vals, nvals);
	if (!name) {
		err_set(e, "appname: required");
		goto out;
	}
	in->install = xstrdup(name);
	if (ocinstall_network(&in->network, in->install, e) < 0 || ocinstall_check(&in->p, e) < 0) {
		goto out;
	}
	for (size_t i = 0; i < in->p.napps; i++) {
		if (store_app_exists(s, in->p.apps[i].name)) {
			err_set(e,
				"app %s exists already: a one-click install creates its apps "
				"(choose another appname)",
				in->p.apps[i].name);
			goto out;
		}
	}
	r = 0;
out:
	free(domain);
	return r;
}

void ocinstall_release(struct ocinstall *in)
{
	oneclick_release(&in->t);
	oneclick_plan_release(&in->p);
	free(in->install);
	sbuf_release(&in->network);
	memset(in, 0, sizeof(*in));
	in->t = (struct oneclick)ONECLICK_INIT;
	sbuf_init(&in->network, 0);
}
