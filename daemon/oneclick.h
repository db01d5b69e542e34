/*
 * oneclick — CapRover's one-click app templates (format v4): read one,
 * list the form a user fills, and fill it into a plan of apps. Pure: no
 * I/O but getrandom(2); deploying a plan is someone else's work.
 *
 * A template is YAML (read with lib/yamldoc.h, so every error names its
 * line):
 *
 *	captainVersion: 4				(required, and 4)
 *	services:					(required, at least one)
 *	  NAME:						(may hold variables: $$cap_appname-db)
 *	    image: IMAGE				(or caproverExtra.dockerfileLines)
 *	    environment: {KEY: VALUE, ...}		(a mapping)
 *	    volumes: [NAME:/PATH, ...]			(named volumes; host paths refused)
 *	    ports: [...]				(ignored with a warning: berth-proxy
 *							 serves 80/443 and routes to
 *							 containerHttpPort)
 *	    depends_on: [SERVICE, ...]
 *	    restart: POLICY   command: COMMAND   hostname: NAME
 *	    caproverExtra: {containerHttpPort, notExposeAsWebApp,
 *	                    dockerfileLines, websocketSupport}
 *	caproverOneClickApp:
 *	  variables: [{id, label, defaultValue, description, validRegex}]
 *	  instructions: {start, end}
 *	  displayName, description, isOfficial, documentation
 *
 * Any other key is an error naming the key and its line. Scalars are taken
 * as written (CapRover reads YAML 1.2: a tag 1.10 stays "1.10"). A variable's id
 * is "$$cap_" and a name of [A-Za-z0-9_]; validRegex is a JavaScript regex
 * literal ("/^([^\s^\/])+$/", "/.{1,}/i") translated to POSIX extended
 * syntax (oneclick_regex_translate); a template whose regex does not
 * translate is refused with the regex's text.
 *
 * Filling (oneclick_fill), as CapRover's panel does: each variable takes
 * the user's value, else its default, and must match its validRegex; a
 * default's $$cap_gen_random_hex(N) is made once, when the form is filled
 * (a default may also use $$cap_appname and $$cap_root_domain).
 * Then in every string the plan keeps (service names, image, environment
 * keys and values, volumes, depends_on, restart, command, hostname,
 * containerHttpPort, dockerfileLines, the instructions), $$cap_appname,
 * $$cap_root_domain, $$cap_ID (the longest id that matches) and
 * $$cap_gen_random_hex(N) (1 <= N <= 256: N hex digits, a fresh value at
 * each occurrence, as CapRover does) are replaced. A value given by the user
 * is taken as it is (not scanned for variables). A "$$cap_" left over is an
 * error. Each service becomes an app whose name is the filled service name
 * (berth's app name rules, sshcmd_valid_app), in depends_on order. A secret
 * (a random value, a password-like variable) is refused in the strings
 * shown as they are: names, volumes, ports, restart, hostname. CapRover's
 * service host names (srv-captain--NAME) are left as written: the deploy
 * decides how apps reach each other.
 */
#ifndef ONECLICK_H
#define ONECLICK_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"
#include "lib/strvec.h"

#define ONECLICK_MAX_SIZE     (256u * 1024) /* bytes of a template */
#define ONECLICK_MAX_SERVICES 32
#define ONECLICK_MAX_VARS     128
#define ONECLICK_MAX_REGEX    1024	   /* bytes of a validRegex */
#define ONECLICK_MAX_HEX      256	   /* N of $$cap_gen_random_hex(N) */
#define ONECLICK_MAX_VALUE    (16u * 1024) /* bytes of a value (of a filled string: 4 times) */
#define ONECLICK_MAX_PLAN     (4u << 20)   /* bytes of all the strings of a plan */
#define ONECLICK_APPNAME      "$$cap_appname"

/* A variable of the form. */
struct oneclick_var {
	char *id;	   /* "$$cap_NAME" */
	char *label;	   /* never NULL */
	char *def;	   /* defaultValue as written, or NULL */
	char *description; /* or NULL */
	char *regex;	   /* validRegex as written (the JavaScript literal), or NULL */
	char *ere;	   /* its POSIX extended translation, or NULL */
	bool icase;	   /* the literal's "i" flag */
	/* a password: a random default, PASS/SECRET/TOKEN/KEY in the id, or given to such an
	 * environment key */
	bool secret;
	unsigned line;
};

/* A service as written (strings unfilled). */
struct oneclick_service {
	char *name;
	char *image; /* or NULL: dockerfile_lines */
	struct strvec dockerfile_lines;
	struct strvec env_keys;	  /* environment, in order */
	struct strvec env_values; /* same length */
	struct strvec volumes;	  /* "NAME:/PATH" */
	struct strvec depends_on;
	char *restart, *command, *hostname; /* or NULL */
	char *http_port;		    /* containerHttpPort as written, or NULL (80) */
	bool not_exposed;		    /* notExposeAsWebApp */
	bool websocket;			    /* websocketSupport */
	unsigned line;
};

struct oneclick {
	char *display_name, *description, *documentation; /* or NULL */
	char *start, *end;				  /* instructions, or NULL */
	bool official;
	/* the form: vars[0] is always $$cap_appname (berth's app name rules) */
	struct oneclick_var *vars;
	size_t nvars;
	struct oneclick_service *services;
	size_t nservices;
	struct strvec warnings; /* "LINE: what was ignored and why" */
};

#define ONECLICK_INIT                                                                              \
	{                                                                                          \
		0                                                                                  \
	}

/*
 * Parses a template (len bytes of buf; file names it in errors). 0, or -1
 * with e set ("FILE:LINE:COL: services.web.volumes: ...") and t left empty.
 */
int oneclick_parse(struct oneclick *t, const char *file, const char *buf, size_t len,
		   struct err *e);
void oneclick_release(struct oneclick *t);

/*
 * Translates a JavaScript regex literal (/BODY/FLAGS, flags among "g" and
 * "i") into POSIX extended syntax for regcomp(REG_EXTENDED): \d \D \w \W \s
 * \S (also inside [...], but for the negated ones), escaped punctuation,
 * groups ((?: ) too), alternation, anchors, greedy quantifiers. Refused:
 * lookarounds, backreferences, lazy quantifiers, \b, \x, \u, and anything
 * regcomp then refuses. Returns a malloc'd string and sets *icase, or NULL
 * with e set, naming the regex.
 */
char *oneclick_regex_translate(const char *js, bool *icase, struct err *e);

/* A string of the plan: v is what to deploy; shown has every secret in it as "***". */
struct oneclick_str {
	char *v;
	char *shown;
	bool secret; /* v holds a secret: a secret variable or a random hex went into it */
};

struct oneclick_env {
	char *key;
	struct oneclick_str value; /* secret also when the key looks like a password's */
};

/* One app of a plan. */
struct oneclick_app {
	char *name;	    /* a valid app name */
	bool web;	    /* behind berth-proxy (not notExposeAsWebApp) */
	unsigned http_port; /* web: the container's HTTP port (default 80) */
	bool websocket;
	struct oneclick_str image; /* v NULL when built from dockerfile lines */
	struct oneclick_str *dockerfile;
	size_t ndockerfile;
	struct oneclick_env *env;
	size_t nenv;
	struct strvec volumes;	     /* "NAME:/PATH", NAME a valid volume name */
	struct strvec depends_on;    /* app names, each earlier in the plan */
	char *restart, *hostname;    /* or NULL */
	struct oneclick_str command; /* v NULL: the image's */
};

struct oneclick_plan {
	struct oneclick_app *apps; /* in depends_on order: dependencies first */
	size_t napps;
	struct oneclick_str start, end; /* instructions (v NULL when none) */
};

/* A value of the form: id with or without its "$$cap_" ("db_user" or "$$cap_db_user"). */
struct oneclick_value {
	const char *id;
	const char *value;
};

/*
 * Fills t with values (every id must be a variable of t, once; $$cap_appname
 * is required, the others take their defaults) and root_domain (NULL: none
 * set, an error only when the template uses $$cap_root_domain) into p. 0, or
 * -1 with e set, naming the variable, the service or the string, and p left
 * empty. Values are one line of at most ONECLICK_MAX_VALUE bytes.
 */
int oneclick_fill(const struct oneclick *t, const char *root_domain,
		  const struct oneclick_value *values, size_t nvalues, struct oneclick_plan *p,
		  struct err *e);
void oneclick_plan_release(struct oneclick_plan *p);

/*
 * The templates shipped with berthd (daemon/templates/NAME.yml, embedded at
 * build time), name being NAME; the list ends with {NULL, NULL}.
 */
struct script_file;
const struct script_file *oneclick_builtins(void);
/* The text of the shipped template of that name, or NULL. */
const char *oneclick_builtin(const char *name);

#endif
