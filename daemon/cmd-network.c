/*
 * network:* — Docker networks for apps, in Dokku's names, as far as berth's
 * engine can honour them.
 *
 * A network is a bridge network berthd creates on this host, labelled
 * berthd.network=1; destroy refuses one that is not berthd's, one an app
 * attaches to, and one any container is still on. An app's
 * attach-post-deploy networks (app property "network.attach-post-deploy",
 * space-separated) are joined by its running containers after every deploy
 * and rollback (`docker network connect`), each with the alias APP.TYPE
 * (APP.TYPE.TLD with network:set tld), as Dokku names them; other
 * containers on that network reach the app by that name. The app property
 * "network.aliases" (space-separated; set by oneclick:deploy, e.g.
 * "srv-captain--APP APP", CapRover's names of a service) adds aliases on
 * those networks (and appdeploy gives them on the network berth from each
 * container's start).
 *
 * What berth refuses, and why: attach-post-create (the engine starts a
 * container with `docker run --network berth`, and the host's Docker 20.10
 * joins one network at creation; attach-post-deploy joins right after),
 * initial-network (every app container starts on the network berth, where
 * berth-proxy reaches it), bind-all-interfaces (no app container listens on
 * a host port: berth-proxy reaches web over the network berth).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/appdeploy.h"
#include "daemon/berthd.h"
#include "lib/banned.h"
#include "lib/opt.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "lib/slice.h"
#include "lib/xalloc.h"

#define NET_LABEL    "berthd.network"
#define NET_NAME_MAX 63
#define PROP_ATTACH  "network.attach-post-deploy"
#define PROP_TLD     "network.tld"
#define PROP_ALIASES "network.aliases"
#define NETS_MAX     8

bool network_valid_name(const char *s)
{
	static const char *const reserved[] = {"berth", "kamal", "bridge", "host", "none"};
	size_t n = s ? strlen(s) : 0;

	if (!n || n > NET_NAME_MAX ||
	    !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9'))) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.')) {
			return false;
		}
	}
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		if (!strcmp(s, reserved[i])) {
			return false;
		}
	}
	return true;
}

/* A top-level domain for network aliases: DNS labels, lowercase. */
bool network_valid_tld(const char *s)
{
	size_t n = s ? strlen(s) : 0, label = 0;

	if (!n || n > 63 || s[0] == '.' || s[0] == '-' || s[n - 1] == '.' || s[n - 1] == '-') {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (!label || s[i - 1] == '-') {
				return false;
			}
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
			return false;
		}
		label++;
	}
	return true;
}

/* Runs docker with argv (NULL-terminated); out: its stdout, trimmed. 0, or -1 with its stderr in
 * err. */
static int docker(const char *const *argv, struct sbuf *out, struct sbuf *errout)
{
	struct run_cmd c = RUN_CMD_INIT;
	int r;

	strvec_push(&c.argv, "docker");
	strvec_pushv(&c.argv, argv);
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_CAPTURE;
	r = run_one(&c);
	if (out) {
		sbuf_add(out, c.outbuf.buf ? c.outbuf.buf : "", c.outbuf.len);
		sbuf_trim(out);
	}
	if (errout) {
		sbuf_add(errout, c.errbuf.buf ? c.errbuf.buf : "", c.errbuf.len);
		sbuf_trim(errout);
		if (r < 0 && !errout->len) {
			sbuf_addstr(errout, "docker failed");
		}
	}
	run_cmd_release(&c);
	return r < 0 ? -1 : 0;
}

int network_kind(const char *name)
{
	struct sbuf out = SBUF_INIT;
	int r = docker((const char *[]){"network", "inspect", "--format",
					"{{index .Labels \"" NET_LABEL "\"}}", "--", name, NULL},
		       &out, NULL);
	int kind = r < 0 ? 0 : !strcmp(out.buf ? out.buf : "", "1") ? 1 : 2;

	sbuf_release(&out);
	return kind;
}

/* The apps whose attach-post-deploy names net, into apps. */
static int apps_attaching(struct bd *bd, const char *net, struct strvec *apps, struct err *e)
{
	struct strvec all = STRVEC_INIT;

	if (store_app_list(&bd->store, &all, e) < 0) {
		return -1;
	}
	for (size_t i = 0; i < all.nr; i++) {
		char *v = NULL;

		if (store_prop_get(&bd->store, all.v[i], PROP_ATTACH, &v, NULL) == 1) {
			struct slice rest = slice_make(v, strlen(v));

			while (rest.ptr) {
				struct slice w = slice_next(&rest, ' ');
				if (w.len == strlen(net) && !memcmp(w.ptr, net, w.len)) {
					strvec_push(apps, all.v[i]);
					break;
				}
			}
		}
		free(v);
	}
	strvec_clear(&all);
	return 0;
}

int cmd_network_create(struct bd *bd, int argc, const char **argv)
{
	struct sbuf err = SBUF_INIT;
	int rc = 1;

	if (argc != 2) {
		return bd_usage("network:create NAME");
	}
	if (!network_valid_name(argv[1])) {
		return bd_fail("invalid network name '%s' (lowercase letters, digits, '-', '_' and "
			       "'.', at most %d; not berth, kamal, bridge, host or none)",
			       argv[1], NET_NAME_MAX);
	}
	if (network_kind(argv[1])) {
		return bd_fail("network %s exists already", argv[1]);
	}
	bd_step(bd, "Creating network %s", argv[1]);
	if (docker((const char *[]){"network", "create", "--driver", "bridge", "--attachable",
				    "--label", NET_LABEL "=1", "--", argv[1], NULL},
		   NULL, &err) < 0) {
		rc = bd_fail("cannot create network %s: %s", argv[1], err.buf);
		goto out;
	}
	bd_event(bd, NULL, "network:create", argv[1]);
	rc = 0;
out:
	sbuf_release(&err);
	return rc;
}

int cmd_network_destroy(struct bd *bd, int argc, const char **argv)
{
	bool force = false;
	struct opt opts[] = {
	    OPT_BOOL(0, "force", &force, "do not ask for the network's name"),
	    OPT_END(),
	};
	static const char usage[] = "network:destroy NAME [--force]";
	struct strvec apps = STRVEC_INIT;
	struct sbuf out = SBUF_INIT, err = SBUF_INIT, answer = SBUF_INIT;
	struct err e = ERR_INIT;
	int n = bd_opts(argc - 1, argv + 1, opts, usage), rc = 1, kind;
	const char *name = argv[1];

	if (n < 0) {
		goto out;
	}
	if (n != 1) {
		rc = bd_usage(usage);
		goto out;
	}
	if (!network_valid_name(name)) {
		rc = bd_fail("network %s is not one of berthd's (network:list)", name);
		goto out;
	}
	kind = network_kind(name);
	if (kind != 1) {
		rc = bd_fail(kind ? "network %s is not one of berthd's: not destroying it"
				  : "network %s does not exist",
			     name);
		goto out;
	}
	if (apps_attaching(bd, name, &apps, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (apps.nr) {
		rc = bd_fail("network %s is in use: %s attaches to it (network:set %s "
			     "attach-post-deploy without it first)",
			     name, apps.v[0], apps.v[0]);
		goto out;
	}
	if (docker((const char *[]){"network", "inspect", "--format", "{{len .Containers}}", "--",
				    name, NULL},
		   &out, &err) < 0) {
		rc = bd_fail("cannot inspect network %s: %s", name, err.buf);
		goto out;
	}
	if (strcmp(out.buf ? out.buf : "", "0")) {
		rc = bd_fail("network %s is in use: %s container(s) are on it", name, out.buf);
		goto out;
	}
	if (!force) {
		char buf[256];
		fprintf(stderr,
			" !     WARNING: Potentially Destructive Action\n"
			" !     This command will destroy network %s.\n"
			" !     To proceed, type \"%s\"\n\n> ",
			name, name);
		fflush(stderr);
		if (fgets(buf, sizeof(buf), stdin)) {
			sbuf_addstr(&answer, buf);
		}
		sbuf_trim(&answer);
		if (strcmp(answer.buf ? answer.buf : "", name)) {
			rc = bd_fail("Confirmation did not match %s. Aborted.", name);
			goto out;
		}
	}
	bd_step(bd, "Destroying network %s", name);
	sbuf_reset(&err);
	if (docker((const char *[]){"network", "rm", "--", name, NULL}, NULL, &err) < 0) {
		rc = bd_fail("cannot destroy network %s: %s", name, err.buf);
		goto out;
	}
	bd_event(bd, NULL, "network:destroy", name);
	rc = 0;
out:
	strvec_clear(&apps);
	sbuf_release(&out);
	sbuf_release(&err);
	sbuf_release(&answer);
	err_release(&e);
	return rc;
}

int cmd_network_exists(struct bd *bd, int argc, const char **argv)
{
	(void)bd;
	if (argc != 2) {
		return bd_usage("network:exists NAME");
	}
	if (network_valid_name(argv[1]) && network_kind(argv[1]) == 1) {
		printf("Network %s exists\n", argv[1]);
		return 0;
	}
	return bd_fail("Network %s does not exist", argv[1]);
}

int cmd_network_list(struct bd *bd, int argc, const char **argv)
{
	const char *format = NULL;
	struct opt opts[] = {
	    OPT_STRING(0, "format", &format, "FORMAT", "json or text"),
	    OPT_END(),
	};
	static const char usage[] = "network:list [--format json]";
	struct sbuf out = SBUF_INIT, err = SBUF_INIT;
	struct slice rest;
	bool json = bd->json, first = true;
	int n = bd_opts(argc - 1, argv + 1, opts, usage), rc = 1;

	if (n < 0) {
		return 1;
	}
	if (n != 0) {
		return bd_usage(usage);
	}
	if (format && strcmp(format, "json") && strcmp(format, "text")) {
		return bd_fail("unknown format '%s' (json or text)", format);
	}
	if (format) {
		json = !strcmp(format, "json");
	}
	if (docker((const char *[]){"network", "ls", "--filter", "label=" NET_LABEL "=1",
				    "--format", "{{.Name}}", NULL},
		   &out, &err) < 0) {
		rc = bd_fail("cannot list networks: %s", err.buf);
		goto out;
	}
	if (json) {
		printf("[");
	} else {
		printf("=====> Networks\n");
	}
	rest = slice_make(out.buf ? out.buf : "", out.len);
	while (rest.ptr) {
		struct slice l = slice_trim(slice_next(&rest, '\n'));
		if (!l.len) {
			continue;
		}
		/* docker's names of berthd's networks: network_valid_name's characters */
		if (json) {
			printf("%s\"%.*s\"", first ? "" : ",", (int)l.len, l.ptr);
		} else {
			printf("%.*s\n", (int)l.len, l.ptr);
		}
		first = false;
	}
	if (json) {
		printf("]\n");
	}
	rc = 0;
out:
	sbuf_release(&out);
	sbuf_release(&err);
	return rc;
}

int cmd_network_info(struct bd *bd, int argc, const char **argv)
{
	struct strvec apps = STRVEC_INIT;
	struct sbuf out = SBUF_INIT, err = SBUF_INIT;
	struct err e = ERR_INIT;
	int rc = 1;

	if (argc != 2) {
		return bd_usage("network:info NAME");
	}
	if (!network_valid_name(argv[1]) || network_kind(argv[1]) != 1) {
		return bd_fail("Network %s does not exist (network:list)", argv[1]);
	}
	if (docker((const char *[]){"network", "inspect", "--format",
				    "{{.Driver}}|{{range .Containers}}{{.Name}} {{end}}", "--",
				    argv[1], NULL},
		   &out, &err) < 0) {
		rc = bd_fail("cannot inspect network %s: %s", argv[1], err.buf);
		goto out;
	}
	if (apps_attaching(bd, argv[1], &apps, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	{
		const char *bar = strchr(out.buf ? out.buf : "", '|');
		printf("=====> %s network information\n", argv[1]);
		printf("       Driver:                        %.*s\n",
		       bar ? (int)(bar - out.buf) : 0, out.buf ? out.buf : "");
		printf("       Containers:                    %s\n", bar ? bar + 1 : "");
		printf("       Attached by apps:              ");
		for (size_t i = 0; i < apps.nr; i++) {
			printf("%s%s", i ? " " : "", apps.v[i]);
		}
		printf("\n");
	}
	rc = 0;
out:
	strvec_clear(&apps);
	sbuf_release(&out);
	sbuf_release(&err);
	err_release(&e);
	return rc;
}

int cmd_network_report(struct bd *bd, int argc, const char **argv)
{
	const char *format = NULL;
	struct opt opts[] = {
	    OPT_STRING(0, "format", &format, "FORMAT", "json or text"),
	    OPT_END(),
	};
	static const char usage[] = "network:report APP [--format json]";
	struct err e = ERR_INIT;
	char *attach = NULL, *tld = NULL;
	bool json = bd->json;
	int n = bd_opts(argc - 1, argv + 1, opts, usage), rc = 1;

	if (n < 0) {
		return 1;
	}
	if (n != 1) {
		return bd_usage(usage);
	}
	if (format && strcmp(format, "json") && strcmp(format, "text")) {
		return bd_fail("unknown format '%s' (json or text)", format);
	}
	if (format) {
		json = !strcmp(format, "json");
	}
	if (store_prop_get(&bd->store, argv[1], PROP_ATTACH, &attach, &e) < 0 ||
	    store_prop_get(&bd->store, argv[1], PROP_TLD, &tld, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	/* both were checked when set: network and domain characters only */
	if (json) {
		printf(
		    "{\"network-attach-post-create\":\"\",\"network-attach-post-deploy\":\"%s\","
		    "\"network-bind-all-interfaces\":false,\"network-initial-network\":\"berth\","
		    "\"network-tld\":\"%s\"}\n",
		    attach ? attach : "", tld ? tld : "");
	} else {
		printf("=====> %s network information\n", argv[1]);
		printf("       Network attach post create:    (not supported by berth)\n");
		printf("       Network attach post deploy:    %s\n", attach ? attach : "");
		printf("       Network bind all interfaces:   false\n");
		printf("       Network initial network:       berth (fixed)\n");
		printf("       Network tld:                   %s\n", tld ? tld : "");
	}
	rc = 0;
out:
	free(attach);
	free(tld);
	err_release(&e);
	return rc;
}

int cmd_network_set(struct bd *bd, int argc, const char **argv)
{
	static const char usage[] = "network:set APP attach-post-deploy|tld [VALUE...]";
	struct sbuf v = SBUF_INIT;
	struct err e = ERR_INIT;
	const char *app = argv[1], *prop = argc > 2 ? argv[2] : NULL;
	char *attach = NULL;
	int rc = 1;

	if (argc < 3) {
		return bd_usage(usage);
	}
	if (!strcmp(prop, "attach-post-create")) {
		return bd_fail("attach-post-create is not supported: berth starts an app's "
			       "containers with docker run on the network berth, and this host's "
			       "Docker joins one network at creation; use attach-post-deploy, "
			       "which connects them right after each deploy");
	}
	if (!strcmp(prop, "initial-network")) {
		return bd_fail("initial-network is not supported: every app container starts on "
			       "the network berth, where berth-proxy reaches it; use "
			       "attach-post-deploy to join more networks");
	}
	if (!strcmp(prop, "bind-all-interfaces")) {
		return bd_fail("bind-all-interfaces is not supported: no app container listens on "
			       "a host port, berth-proxy reaches web over the network berth "
			       "(ports:set picks the container port)");
	}
	if (!strcmp(prop, "attach-post-deploy")) {
		if (argc - 3 > NETS_MAX) {
			return bd_fail("too many networks (at most %d)", NETS_MAX);
		}
		for (int i = 3; i < argc; i++) {
			if (!network_valid_name(argv[i])) {
				rc = bd_fail("invalid network name '%s'", argv[i]);
				goto out;
			}
			for (int j = 3; j < i; j++) {
				if (!strcmp(argv[i], argv[j])) {
					rc = bd_fail("network %s is named twice", argv[i]);
					goto out;
				}
			}
			if (network_kind(argv[i]) != 1) {
				rc = bd_fail("network %s does not exist (network:create %s)",
					     argv[i], argv[i]);
				goto out;
			}
			sbuf_addf(&v, "%s%s", i > 3 ? " " : "", argv[i]);
		}
		if (store_prop_set(&bd->store, app, PROP_ATTACH, v.len ? v.buf : NULL, &e) < 0) {
			rc = bd_fail_err(&e);
			goto out;
		}
		if (v.len) {
			bd_step(bd, "Setting attach-post-deploy of %s to %s", app, v.buf);
		} else {
			bd_step(bd, "Unsetting attach-post-deploy of %s", app);
			/* the tld names the app on these networks alone */
			store_prop_set(&bd->store, app, PROP_TLD, NULL, NULL);
		}
	} else if (!strcmp(prop, "tld")) {
		if (argc > 4) {
			rc = bd_usage("network:set APP tld [TLD]");
			goto out;
		}
		if (argc == 4 && !network_valid_tld(argv[3])) {
			rc = bd_fail("invalid tld '%s' (a domain such as svc.local)", argv[3]);
			goto out;
		}
		if (argc == 4 && store_prop_get(&bd->store, app, PROP_ATTACH, &attach, &e) != 1) {
			rc = err_isset(&e) ? bd_fail_err(&e)
					   : bd_fail("the tld names %s on its attach-post-deploy "
						     "networks, and it has none: network:set %s "
						     "attach-post-deploy NETWORK first",
						     app, app);
			goto out;
		}
		if (store_prop_set(&bd->store, app, PROP_TLD, argc == 4 ? argv[3] : NULL, &e) < 0) {
			rc = bd_fail_err(&e);
			goto out;
		}
		bd_step(bd, argc == 4 ? "Setting tld of %s to %s" : "Unsetting tld of %s%s", app,
			argc == 4 ? argv[3] : "");
	} else {
		rc = bd_fail("unknown network property '%s' (attach-post-deploy, tld; "
			     "attach-post-create, initial-network and bind-all-interfaces are not "
			     "supported)",
			     prop);
		goto out;
	}
	bd_info(bd, "takes effect at the next deploy (ps:restart %s)", app);
	bd_event(bd, app, "network:set", prop);
	rc = 0;
out:
	free(attach);
	sbuf_release(&v);
	err_release(&e);
	return rc;
}

/*
 * Adds to sb the process type of a container whose role is the len bytes at
 * role: the role itself, or the type an instance role (TYPE-N) belongs to,
 * so that every instance of a type answers to one alias.
 */
static void add_process_type(struct sbuf *sb, const struct strvec *types,
			     const struct strvec *counts, const char *role, size_t len)
{
	char *r = xstrndup(role, len);
	const char *type = r;
	size_t i;

	for (i = 0; i < types->nr && i < counts->nr; i++) {
		if (strcmp(types->v[i], r) && strcmp(counts->v[i], "0") &&
		    strcmp(counts->v[i], "1") && release_role_is(r, types->v[i])) {
			type = types->v[i];
			break;
		}
	}
	sbuf_addstr(sb, type);
	free(r);
}

void appdeploy_attach_networks(struct bd *bd, const char *app)
{
	struct strvec types = STRVEC_INIT, counts = STRVEC_INIT;
	struct sbuf filter = SBUF_INIT, out = SBUF_INIT;
	char *attach = NULL, *tld = NULL, *aliases = NULL;
	struct slice rest;

	if (store_prop_get(&bd->store, app, PROP_ATTACH, &attach, NULL) != 1) {
		goto out;
	}
	store_prop_get(&bd->store, app, PROP_TLD, &tld, NULL);
	store_prop_get(&bd->store, app, PROP_ALIASES, &aliases, NULL);
	if (store_scale_list(&bd->store, app, &types, &counts, NULL) < 0) {
		strvec_clear(&types);
		strvec_clear(&counts);
	}
	sbuf_addf(&filter, "label=service=%s", app);
	if (docker((const char *[]){"ps", "--filter", filter.buf, "--format",
				    "{{.Names}} {{.Label \"role\"}}", NULL},
		   &out, NULL) < 0) {
		bd_info(bd, "cannot list the containers of %s: networks not attached", app);
		goto out;
	}
	rest = slice_make(out.buf ? out.buf : "", out.len);
	while (rest.ptr) {
		struct slice l = slice_trim(slice_next(&rest, '\n'));
		const char *sp;
		struct sbuf name = SBUF_INIT, alias = SBUF_INIT;
		struct slice nets;

		if (!l.len || !(sp = memchr(l.ptr, ' ', l.len))) {
			continue;
		}
		sbuf_add(&name, l.ptr, (size_t)(sp - l.ptr));
		sbuf_addf(&alias, "%s.", app);
		add_process_type(&alias, &types, &counts, sp + 1, l.len - (size_t)(sp - l.ptr) - 1);
		if (tld) {
			sbuf_addf(&alias, ".%s", tld);
		}
		nets = slice_make(attach, strlen(attach));
		while (nets.ptr) {
			struct slice w = slice_next(&nets, ' ');
			struct sbuf net = SBUF_INIT, err = SBUF_INIT;
			struct strvec argv = STRVEC_INIT;
			struct slice more =
			    slice_make(aliases ? aliases : "", aliases ? strlen(aliases) : 0);

			if (!w.len) {
				continue;
			}
			sbuf_add(&net, w.ptr, w.len);
			strvec_pushv(&argv, (const char *[]){"network", "connect", "--alias",
							     alias.buf, NULL});
			while (more.ptr) {
				struct slice a = slice_next(&more, ' ');
				if (a.len) {
					strvec_push(&argv, "--alias");
					strvec_pushf(&argv, "%.*s", (int)a.len, a.ptr);
				}
			}
			strvec_pushv(&argv, (const char *[]){"--", net.buf, name.buf, NULL});
			if (docker((const char *const *)argv.v, NULL, &err) == 0) {
				bd_info(bd, "%s joined network %s as %s", name.buf, net.buf,
					alias.buf);
			} else if (!strstr(err.buf, "already exists")) {
				bd_info(bd, "cannot attach %s to network %s: %s", name.buf, net.buf,
					err.buf);
			}
			strvec_clear(&argv);
			sbuf_release(&net);
			sbuf_release(&err);
		}
		sbuf_release(&name);
		sbuf_release(&alias);
	}
out:
	free(attach);
	free(tld);
	free(aliases);
	strvec_clear(&types);
	strvec_clear(&counts);
	sbuf_release(&filter);
	sbuf_release(&out);
}
