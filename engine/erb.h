/*
 * erb — renders the part of Ruby's ERB that Kamal's config/deploy.yml uses.
 *
 * Kamal runs the whole of deploy.yml through ERB before it parses the YAML,
 * so files in the wild read the environment, run small shell commands and
 * switch blocks of YAML on and off. erb_render() evaluates that subset, with
 * Ruby's semantics, without Ruby:
 *
 * Tags
 *	<%= expr %>	output expr.to_s
 *	<% code %>	code: if/elsif/else/end, unless/else/end, or an expression
 *	<%# text %>	comment
 *	<%%		a literal "<%" in the text; "%%>" inside a tag is a literal "%>"
 *	-%>		also removes the newline right after the tag
 *	<%-		a code tag; when only blanks come before it on its line, they
 *			are removed too (as Ruby's trim_mode "-")
 * A tag ends at the first "%>", wherever it is (as in Ruby, which does not
 * read the code to find its end). YAML comments are text like any other.
 *
 * Expressions (Ruby precedence, lowest first)
 *	expr if cond, expr unless cond	(modifiers)
 *	c ? a : b
 *	a || b, a && b			nil and false are false; "" and 0 are true
 *	a == b, a != b
 *	a + b				String + String, Integer + Integer
 *	!a, -1
 *	x.m, x.m(args), x[i]
 *	literals: "double #{interpolated} \n\t\"\\", 'single \' \\', 42, nil,
 *	true, false, (expr)
 *	ENV["X"], ENV.fetch("X"), ENV.fetch("X", default), ENV.fetch("X") { default },
 *	ENV.key?("X")
 *	`command #{x}`, %x(command), %x{command}	sh -c, in ctx->dir, stdout
 *	File.read("path"), File.exist?("path")		path relative to ctx->dir
 *	String: strip lstrip rstrip chomp chomp(s) split split(s) to_s to_i upcase
 *		downcase empty? nil? length size start_with?(s) end_with?(s) include?(s)
 *	Array (from split): first last [i] join join(s) empty? length size to_s
 *	nil: to_s to_i nil?; Integer: to_s to_i nil?
 * Method calls may leave out the parentheses when the first argument is a
 * string literal (ENV.fetch "X", "y").
 *
 * Anything else (assignments, loops, other methods or constants, Rails'
 * present?/blank?) is an error that quotes the expression and says what to
 * write instead. Calling a method on a value that does not have it (nil.strip)
 * is an error only when that code runs, as in Ruby; syntax that berth does not
 * evaluate is an error wherever it is, also in a branch that is not taken.
 *
 * Commands run through lib/run.h as `sh -c CMD`: their stdout is the value
 * (a non-zero exit is not an error, as in Ruby); stderr goes to berth's
 * stderr. Nothing runs before the whole template has parsed.
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

struct erb_ctx {
	/* project directory: where commands run and File.read paths are relative to; NULL = cwd */
	const char *dir;
	/* looks up an environment variable; NULL = unset. When the callback is NULL, getenv() is
	 * used. The returned string must stay valid until erb_render() returns. */
	const char *(*getenv)(const char *name, void *data);
	void *data;
	unsigned cmd_timeout_ms; /* for commands; 0 = 30000 */
	bool no_commands;	 /* commands are an error (for fuzzing and dry runs) */
};

/*
 * Renders src (len bytes, from file, which is used in errors) into out,
 * appending. ctx may be NULL (getenv(), the current directory). Returns 0, or
 * -1 with e set to "file:line: message"; out then holds whatever was rendered
 * before the error and should not be used.
 */
int erb_render(const char *file, const char *src, size_t len, const struct erb_ctx *ctx,
	       struct sbuf *out, struct err *e);

#endif
