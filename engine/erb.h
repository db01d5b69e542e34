/*
 * erb — renders config/deploy.yml as Kamal renders it: with Ruby's ERB
 * (trim_mode "-"), before the YAML is parsed.
 *
 * Files in the wild read the environment, run small commands, loop over
 * hosts and load .env, YAML and JSON files. erb_render() evaluates the Ruby
 * they use itself, with Ruby's semantics; a file that needs more is rendered
 * by the system's ruby (see "Ruby" below).
 *
 * Tags
 *	<%= expr %>	output expr.to_s
 *	<% code %>	code; a block, if, case or begin may span several tags and the
 *			text between them (<% hosts.each do |h| %>- <%= h %><% end %>)
 *	<%# text %>	comment
 *	<%%		a literal "<%" in the text; "%%>" inside a tag is a literal "%>"
 *	-%>		also removes the newline right after the tag
 *	<%-		a code tag; when only blanks come before it on its line, they
 *			are removed too (as Ruby's trim_mode "-")
 * A tag ends at the first "%>", wherever it is (as in Ruby, which does not
 * read the code to find its end). YAML comments are text like any other.
 *
 * Statements
 *	x = v, x ||= v, x += v		local variables, scoped as Ruby's parser
 *					scopes them (a block's parameters and new
 *					variables are its own)
 *	if/elsif/else/end, unless, case/when/else/end (also as values),
 *	begin/rescue [Class, ... => e]/else/end, x rescue y
 *					every error of the code is rescued (not
 *					berth's limits); e holds the message
 *	expr if cond, expr unless cond, and, or, not
 *	require "dotenv" / "dotenv/load" / "json" / "yaml" / "erb" / "psych" / "set"
 *	raise "message"
 *
 * Expressions (Ruby precedence)
 *	c ? a : b, ||, &&, ==, !=, < > <= >=, + - * / % (Integer, Float; String +,
 *	String * n, String % args), !, unary -
 *	literals: "double #{interpolated} \n", 'single', %w(a b), 42, 1.5, nil,
 *	true, false, :sym, [a, b], { "k" => v, k: v }
 *	x.m(args), x.m args (a string or symbol first), x&.m, x[i], h[k]
 *	blocks: x.m { |a, b| ... }, x.m do |(k, v), i| ... end, x.m(&:name);
 *	one Array given to a block of several parameters is taken apart
 *	ENV["X"], ENV.fetch("X" [, default]) [{ |name| default }], ENV.key?("X"),
 *	ENV["X"] = v, ENV["X"] ||= v (the template's ENV, not berth's)
 *	`command #{x}`, %x(command)			sh -c, in ctx->dir, stdout
 *	File.read, File.exist?, File.file?, File.directory?, File.join
 *	YAML.load_file(path [, symbolize_names: true]), YAML.load(text), and the
 *	safe_/unsafe_ forms; JSON.parse(text [, symbolize_names: true])
 *	Dotenv.load(files...), Dotenv.overload(files...) (".env" without files;
 *	missing files are skipped, the "!" forms fail): read with secrets.h's
 *	dotenv reader into the template's ENV (load keeps names already set)
 *	format(fmt, args...), sprintf: %s %p %d %i %u %x %X %o %b %f %e %g %c
 *	with flags, width and precision
 * Methods
 *	String: strip lstrip rstrip chomp split lines chars to_s to_i to_f to_sym upcase downcase
 *		capitalize empty? length size start_with? end_with? include? gsub sub
 *		(with a String pattern) delete_prefix delete_suffix
 *	Array: each each_with_index (with or without a block) map collect
 *		flat_map select filter reject filter_map find detect sort_by any?
 *		all? none? count first last take drop join compact uniq sort reverse
 *		flatten include? min max sum to_a to_h fetch dig empty? length size
 *	Hash: each each_pair map select reject keys values fetch dig key?
 *		include? merge to_a to_h transform_values any? empty? size ...
 *	Integer: times (with or without a block) zero? to_s to_i
 *	all: to_s inspect nil? freeze dup, and ActiveSupport's present? blank?
 *		presence squish, which Kamal loads
 * Values print as Ruby 3.1 prints them ([1, "a"], {"k"=>1, :s=>nil}, 1.0e+20).
 *
 * Environment
 * The template sees the environment through ctx->getenv, with
 * KAMAL_DESTINATION and BERTH_DESTINATION set to ctx->destination (unset
 * when it is NULL: Kamal sets ENV["KAMAL_DESTINATION"] = destination before
 * it reads anything), what earlier files of ctx->env set, and what this
 * one sets (Dotenv.load, ENV["X"] = v), which goes back into ctx->env.
 * Commands get the same variables in their environment. Nothing is written
 * to berth's own environment. (A file rendered by ruby sees ctx->env, but
 * what it sets stays in its ruby.)
 *
 * Commands run through lib/run.h as `sh -c CMD`: their stdout is the value
 * (a non-zero exit is not an error, as in Ruby); stderr goes to berth's
 * stderr. Nothing runs before the whole template has parsed.
 *
 * Ruby
 * Ruby that berth does not evaluate (other methods and constants, regular
 * expressions, def, while, ranges...) is found when the file is parsed, or
 * when a value lacks a method Ruby may have. erb_render() then renders the
 * whole file again with the system's ruby (ERB.new(src, trim_mode:
 * "-").result, as Kamal runs it, with dotenv and ActiveSupport loaded when
 * they are installed), in ctx->dir, with the same destination variables; its
 * output replaces berth's (commands run before the fallback ran twice). The
 * ruby is BERTH_RUBY from the template's environment, else `ruby` on PATH.
 * Without one, the error quotes the file, the line and the expression and
 * says that installing ruby makes it work. ctx->no_ruby and no_commands
 * never run ruby. Errors that Ruby would raise too (ENV.fetch of an unset
 * name, nil.strip, a missing file) are berth's own errors, not a fallback.
 */
#ifndef ERB_H
#define ERB_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"
#include "lib/sbuf.h"

/* Limits: past them rendering fails with an error that names the limit. */
#define ERB_MAX_INPUT	   (4u << 20)  /* template size */
#define ERB_MAX_OUTPUT	   (16u << 20) /* rendered text, and any one string value */
#define ERB_MAX_CMD_OUTPUT (1u << 20)  /* stdout of one command */
#define ERB_MAX_FILE	   (1u << 20)  /* one File.read */
#define ERB_MAX_DEPTH	   64	       /* nesting of expressions and if blocks */
#define ERB_MAX_STEPS	   5000000u    /* expressions evaluated (loops end) */
#define ERB_MAX_ITEMS	   (1u << 20)  /* elements of one Array or Hash */

struct erb_ctx {
	/* project directory: where commands run and File.read paths are relative to; NULL = cwd */
	const char *dir;
	/* looks up an environment variable; NULL = unset. When the callback is NULL, getenv() is
	 * used. The returned string must stay valid until erb_render() returns. */
	const char *(*getenv)(const char *name, void *data);
	void *data;
	unsigned cmd_timeout_ms; /* for commands; 0 = 30000 */
	bool no_commands;	 /* commands are an error (for fuzzing and dry runs); no ruby */
	bool no_ruby;		 /* never render with ruby: berth's evaluator only */
	/* KAMAL_DESTINATION and BERTH_DESTINATION, in ENV and for commands; NULL unsets them */
	const char *destination;
	/*
	 * What earlier templates set in ENV, and where this one's changes go (the
	 * files of one config share it, as they share Kamal's process); NULL:
	 * nothing carries over.
	 */
	struct erb_env *env;
};

/* Variables templates set (Dotenv.load, ENV["X"] = v), over the environment. */
struct erb_env;
struct erb_env *erb_env_new(void);
void erb_env_free(struct erb_env *env);

/*
 * Renders src (len bytes, from file, which is used in errors) into out,
 * appending. ctx may be NULL (getenv(), the current directory). Returns 0, or
 * -1 with e set to "file:line: message"; out then holds whatever was rendered
 * before the error and should not be used.
 */
int erb_render(const char *file, const char *src, size_t len, const struct erb_ctx *ctx,
	       struct sbuf *out, struct err *e);

/*
 * Renders src with Ruby's ERB only (what erb_render() falls back to), with
 * the same directory, destination and BERTH_RUBY. Returns 0, or -1 with e
 * set ("ruby is not installed", or Ruby's own message).
 */
int erb_render_ruby(const char *file, const char *src, size_t len, const struct erb_ctx *ctx,
		    struct sbuf *out, struct err *e);

#endif
