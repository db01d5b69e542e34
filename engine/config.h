/*
 * config — the app spec read from a Kamal-compatible config/deploy.yml.
 *
 * config_load() reads the file the way Kamal does: the bytes are rendered
 * as ERB (engine/erb.h), parsed as YAML 1.1 (lib/yaml.h), the destination
 * file config/deploy.DEST.yml (also ERB) is deep-merged over it, and the
 * tree is validated against keyword tables — one table of {key, parser}
 * per section, next to its parsers in config.c, so adding a key touches one
 * table. Keys starting with "x-" are ignored anywhere; an unknown key is an
 * error that suggests the nearest known one. Every error reads
 *
 *	config/deploy.yml:12:5: proxy.healthcheck.interval: expected an integer (seconds), found a
 *string "fast"
 *
 * with the location of the node at fault (for a value that came from a
 * destination file, that file's location).
 *
 * Ownership: every string and vector in struct config is owned by it and
 * freed by config_release(). Unset optional strings are NULL; unset
 * optional numbers are -1; unset tri-state flags are -1 (0 false, 1 true).
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The Kamal release whose config berth reads as Kamal does: minimum_version
 * (a Kamal version in Kamal's configs) is checked against it.
 */
#define CONFIG_KAMAL_VERSION "2.12.0"

#include <jansson.h>

#include "engine/secrets.h"
#include "lib/err.h"
#include "lib/strvec.h"

struct exec;
struct yaml_node;

/* An ordered string map (docker options, labels, build args, clear env). */
struct config_pair {
	char *key;
	char *value; /* NULL: a flag without a value (an option set to true) */
};
struct config_map {
	struct config_pair *v;
	size_t nr, alloc;
};

/* Sets key to value (a copy; value may be NULL), replacing an earlier value. */
void config_map_set(struct config_map *m, const char *key, const char *value);
/* Appends key=value even when key is there already (repeated docker options). */
void config_map_add(struct config_map *m, const char *key, const char *value);
const char *config_map_get(const struct config_map *m, const char *key);
void config_map_clear(struct config_map *m);

/*
 * Environment: clear values, and the names of secret ones. A secret entry
 * "NAME:ALIAS" sets NAME in the container to the value of secret ALIAS;
 * secret_names holds NAME and secret_keys the secret to read (ALIAS, or
 * NAME when there is no alias).
 */
struct config_env {
	struct config_map clear;
	struct strvec secret_names, secret_keys;
};
struct config_env_tag {
	char *name;
	struct config_env env;
};

/*
 * The defaults of config/deploy.yml, Kamal's: config_init sets them, and
 * code that meets a value left unset or zero falls back to the same names.
 */
#define CONFIG_DEFAULT_RETAIN_CONTAINERS    5
#define CONFIG_DEFAULT_READINESS_DELAY	    7  /* seconds */
#define CONFIG_DEFAULT_DEPLOY_TIMEOUT	    30 /* seconds */
#define CONFIG_DEFAULT_DRAIN_TIMEOUT	    30 /* seconds */
#define CONFIG_DEFAULT_RESPONSE_TIMEOUT	    30 /* seconds */
#define CONFIG_DEFAULT_HEALTHCHECK_PATH	    "/up"
#define CONFIG_DEFAULT_HEALTHCHECK_INTERVAL 1 /* seconds */
#define CONFIG_DEFAULT_HEALTHCHECK_TIMEOUT  5 /* seconds */
/* stop_timeout stays unset (-1) in the config: docker stop's own grace time then */
#define CONFIG_DEFAULT_STOP_TIMEOUT 10 /* seconds */

struct config_proxy {
	bool enabled;
	struct strvec hosts;	     /* host (split on ",") or hosts */
	long long app_port;	     /* 80 */
	struct strvec path_prefixes; /* path_prefixes, else path_prefix split on ',' */
	int strip_path_prefix;	     /* tri-state; kamal-proxy strips by default */
	bool ssl;		     /* ssl: true, or a certificate map */
	char *ssl_certificate_pem;   /* secret names, when ssl is a map */
	char *ssl_private_key_pem;
	int ssl_redirect;		       /* tri-state */
	int forward_headers;		       /* tri-state: defaults to !ssl in the proxy */
	long long response_timeout;	       /* seconds; 30 */
	char *healthcheck_path;		       /* "/up" */
	long long healthcheck_interval;	       /* seconds; 1 */
	long long healthcheck_timeout;	       /* seconds; 5 */
	int buffer_requests, buffer_responses; /* tri-state; default on */
	long long max_request_body, max_response_body, buffer_memory; /* bytes; -1 unset */
	struct strvec log_request_headers; /* default Cache-Control, Last-Modified, User-Agent */
	struct strvec log_response_headers;
};

/* proxy.run: how the proxy container itself is started (root config only). */
struct config_proxy_run {
	int debug, publish;		 /* tri-state; publish defaults to on */
	long long http_port, https_port; /* 80, 443 */
	long long metrics_port;		 /* -1 unset */
	struct strvec bind_ips;
	char *log_max_size; /* "10m" */
	char *version, *registry, *repository;
	struct config_map options;
};

/* dst (uninitialised) becomes a copy of src; config_proxy_run_release frees it. */
void config_proxy_run_copy(struct config_proxy_run *dst, const struct config_proxy_run *src);
void config_proxy_run_release(struct config_proxy_run *r);

struct config_logging {
	char *driver;
	struct config_map options;
};

struct config_host {
	char *name;
	struct strvec tags;
};

struct config_role {
	char *name;
	struct config_host *hosts;
	size_t nr_hosts, alloc_hosts;
	char *cmd;
	struct config_map options, labels;
	struct config_env env;	   /* the root env with the role's merged over it */
	struct config_proxy proxy; /* enabled: primary role by default, `proxy: true` or a map */
	struct config_logging logging; /* the root logging with the role's merged over it */
	/* "PATH[:OPTIONS]", the role's or else the root's; NULL or "": none (engine/app.h) */
	char *asset_path;
	long long stop_timeout; /* seconds; -1 unset */
	/*
	 * instances (berth's, not Kamal's key): how many containers of the role
	 * run on each of its hosts, 1 to CONFIG_INSTANCES_MAX; 1 when unset.
	 * Behind the proxy they share the role's service: all of a new version
	 * boot, pass the health check, and take the traffic in one switch
	 * (engine/deploy.h; engine/app.h names them).
	 */
	long long instances;
};

#define CONFIG_INSTANCES_MAX 100

struct config_registry {
	char *server;
	char *username, *password;
	bool username_secret, password_secret; /* the value is a secret's name */
};

struct config_builder {
	struct strvec arch;
	char *remote; /* NULL: none (also `remote: false`) */
	int local;    /* tri-state; default true */
	char *context, *dockerfile, *target;
	struct config_map args; /* a NULL value: "FOO:" (--build-arg FOO, as "FOO: \"\"") */
	struct strvec secrets;
	char *cache_type, *cache_options, *cache_image;
	char *driver, *ssh, *provenance, *sbom;
	bool no_cache; /* set by the command line (deploy --no-cache), never by the file */
};

/*
 * An accessory's file or directory: "local:remote[:options]", or Kamal's map
 * form {local, remote, mode, owner, options}, or `local: remote`. remote is
 * the path in the container. For a file, local is the file here (relative
 * to the project); for a directory, the directory on the host (relative to
 * the accessory's directory there, or absolute).
 */
struct config_accessory_path {
	char *local, *remote;
	char *options;	    /* docker's volume options ("ro", "z"); NULL: none */
	char *mode, *owner; /* octal digits ("0600"), "user[:group]"; NULL: the default */
};
struct config_accessory_paths {
	struct config_accessory_path *v;
	size_t nr, alloc;
};

/*
 * An accessory's backup: (or x-backup:, which Kamal skips) section. kind is
 * "volume" (the accessory's directories and volumes, taken while it is
 * paused) or a database's consistent dump made with its own tools in its
 * container: "postgres", "mysql" (MySQL or MariaDB), "redis" (engine/backup.h
 * says how each is made and verified); schedule is cron's five fields, read in UTC; keep_* are
 * restic's
 * --keep-daily/weekly/monthly (0: none of that kind kept; all 0: nothing is
 * forgotten); password is the name of the secret that holds the
 * repository's key, never the key.
 *
 * to is where the repository lives, as written, one of:
 *	/DIR                              a directory on the accessory's host
 *	ssh://[USER@]HOST[:PORT]/PATH     the absolute PATH on another host, over
 *	                                  SFTP (USER root, PORT 22 unless given;
 *	                                  HOST a name, an IPv4 or a [IPv6] address)
 *	s3://BUCKET[/PREFIX]              S3, or the S3-compatible service at
 *	                                  endpoint (http(s)://HOST[:PORT])
 * and target, user, host, port, path, bucket and prefix are its parts. The
 * credentials are secrets' names too: ssh_key (an SSH target's private
 * key; required), access_key_id and secret_access_key (S3's;
 * AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY unless given).
 */
enum config_backup_target {
	CONFIG_BACKUP_DIR = 0,
	CONFIG_BACKUP_SSH = 1,
	CONFIG_BACKUP_S3 = 2,
};

enum config_backup_kind {
	CONFIG_BACKUP_VOLUME = 0,
	CONFIG_BACKUP_POSTGRES = 1,
	CONFIG_BACKUP_MYSQL = 2,
	CONFIG_BACKUP_REDIS = 3,
};

/* The kind named s ("volume", "postgres", "mysql", "redis"), or -1. */
int config_backup_kind_parse(const char *s);

struct config_backup {
	char *kind; /* "volume", "postgres", "mysql", "redis" */
	enum config_backup_kind kind_id;
	char *schedule; /* NULL: run only by hand */
	long long keep_daily, keep_weekly, keep_monthly;
	char *to;
	enum config_backup_target target;
	char *user, *host, *path; /* SSH: host without brackets; path absolute */
	long long port;		  /* SSH */
	char *bucket, *prefix;	  /* S3: prefix "" when none, without slashes at its ends */
	char *endpoint;		  /* S3: NULL for AWS, else "http(s)://HOST[:PORT]" */
	char *password;
	char *ssh_key;
	char *access_key_id, *secret_access_key;
};

struct config_accessory {
	char *name;
	char *service, *image;
	struct config_registry registry;
	bool has_registry;
	/*
	 * Where it runs: host or hosts as given, or the hosts of role or roles,
	 * or the hosts of servers: that carry tag or one of tags, each once
	 * (roles and tags keep the names).
	 */
	struct strvec hosts, roles, tags;
	char *port; /* docker's --publish: a bare "3000" is made "3000:3000", as Kamal does */
	char *cmd, *network;
	struct config_env env;
	struct strvec volumes;
	struct config_accessory_paths files, directories;
	struct config_map options, labels;
	struct config_proxy proxy;
	struct config_backup backup;
	bool has_backup;
};

struct config_ssh {
	char *user;	/* "root" */
	long long port; /* -1: ssh's own */
	char *proxy, *proxy_command;
	struct strvec keys;
	bool keys_only;
	bool use_config;       /* ssh.config: true (default) or false */
	struct strvec configs; /* ssh.config as path(s) */
	char *log_level;
	/*
	 * ssh.key_data: private keys from secrets, by the secret's name (an
	 * entry that is no secret's name is the key itself, as Kamal still
	 * takes). Handed to an ssh-agent on its stdin, never to a file.
	 */
	struct strvec key_data;
	bool forward_agent; /* ForwardAgent yes on the connections (exec_ssh.forward_agent) */
};

struct config {
	char *file;	   /* the config file, relative to the project: "config/deploy.yml" */
	char *destination; /* -d; NULL: none */
	char *service, *image;
	struct config_role *roles;
	size_t nr_roles, alloc_roles;
	char *primary_role; /* "web" */
	bool allow_empty_roles;
	struct config_proxy proxy; /* the root proxy section */
	struct config_proxy_run proxy_run;
	struct config_registry registry;
	struct config_builder builder;
	struct config_env env;
	struct config_env_tag *env_tags;
	size_t nr_env_tags, alloc_env_tags;
	struct config_accessory *accessories;
	size_t nr_accessories, alloc_accessories;
	struct strvec volumes;
	struct config_map labels, aliases;
	struct config_logging logging;
	struct config_ssh ssh;
	char *asset_path, *hooks_path, *secrets_path, *error_pages_path, *run_directory;
	long long retain_containers; /* 5 */
	long long readiness_delay;   /* 7 */
	long long deploy_timeout;    /* 30 */
	long long drain_timeout;     /* 30 */
	long long boot_limit;	     /* -1: all at once */
	bool boot_limit_percent;     /* boot_limit is a percentage of the hosts */
	long long boot_wait;	     /* seconds; -1 unset */
	bool boot_parallel_roles;
	bool require_destination;
	char *minimum_version;	/* older berths refuse the config */
	char *release_command;	/* run once per deploy in the new image before traffic moves */
	long long stop_timeout; /* seconds; the roles' default; -1 unset */
	/* hooks_output: hook name ("*": every hook) to "quiet" or "verbose" */
	struct config_map hooks_output;
	/* keys berth reads but does not act on: one message each, for the command to show */
	struct strvec warnings;
};

struct config_opts {
	const char *project_dir; /* NULL: "." */
	const char *config_file; /* relative to project_dir; NULL: config/deploy.yml */
	const char *destination; /* NULL: none */
	/* the environment ERB and secrets see; NULL: getenv(3) */
	const char *(*getenv)(const char *name, void *data);
	void *getenv_data;
	bool load_secrets; /* read the secrets files and check that named secrets exist */
	bool no_commands;  /* ERB may not run commands (backticks, %x) */
};

void config_init(struct config *cfg);
void config_release(struct config *cfg);

/*
 * Reads, renders, merges and validates the config. When o->load_secrets,
 * the secrets files are read into *sec (may be NULL otherwise; the caller
 * initializes and releases it) and every secret the config names must be
 * set. Returns 0, or -1 with e set (cfg is then released and re-initialized).
 */
int config_load(struct config *cfg, const struct config_opts *o, struct secrets *sec,
		struct err *e);

/*
 * Validates an already merged tree and fills cfg: the part of config_load
 * after YAML. sec may be NULL (no secret checks); destination may be NULL.
 * project_dir decides the .berth/.kamal defaults (NULL: ".").
 */
int config_from_yaml(struct config *cfg, const struct yaml_node *root, const char *file,
		     const char *project_dir, const char *destination, const struct secrets *sec,
		     struct err *e);

/* The role named name, or NULL. */
const struct config_role *config_role(const struct config *cfg, const char *name);
/* The accessory named name, or NULL. */
const struct config_accessory *config_accessory(const struct config *cfg, const char *name);
/* Whether s matches pattern, where "*" matches any run of characters. */
bool config_match(const char *pattern, const char *s);
/* Whether s matches one of filters (-r, -h), or filters is NULL or empty. */
bool config_match_any(const struct strvec *filters, const char *s);
/*
 * Appends to out, without duplicates, the hosts of the roles that match one
 * of role_filters (all roles when it is NULL or empty) and that match one
 * of host_filters (all when NULL or empty). Returns the number appended.
 */
size_t config_role_hosts(const struct config *cfg, const struct strvec *role_filters,
			 const struct strvec *host_filters, struct strvec *out);

/* Sets ex->ssh from the ssh section (ex already exec_init'ed). */
void config_exec_setup(const struct config *cfg, struct exec *ex);

/*
 * The resolved config as JSON (a new reference), with no secret value in it:
 * secret env entries are listed by name, registry credentials and
 * certificates that come from secrets by the secret's name, and the registry
 * password is "[REDACTED]". The other fields are shown as they are, even when
 * a secret happens to have the same value (a port, the service's name): they
 * are not secret.
 */
json_t *config_to_json(const struct config *cfg);

/* Appends j as YAML text (block style; strings quoted when they would resolve otherwise). */
void config_json_to_yaml(struct sbuf *out, const json_t *j);

/*
 * The keys berth reads, by section (Kamal's `kamal docs` names: configuration,
 * role, env, proxy, builder, ssh, accessory, ...; "proxy" also gives proxy.ssl,
 * proxy.run, ...), from the keyword tables themselves: appends
 * "SECTION  # what it is" and one "  key" line per key, for section (every
 * section when NULL). Keys starting with "x-" are ignored anywhere. Returns
 * 0, or -1 when no section has that name.
 */
int config_docs(struct sbuf *out, const char *section);
/* Appends the section names, comma-separated. */
void config_docs_sections(struct sbuf *out);

/* The known key nearest to key among keys (NULL-terminated), or NULL when none is close. */
const char *config_suggest(const char *key, const char *const *keys);

#endif
