#include "engine/erb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/run.h"

#include "unit.h"

static const char *const env_table[][2] = {
    {"HOST", "example.com"}, {"EMPTY", ""},	      {"PORT", "3000"}, {"LIST", "a,b,,c"},
    {"SPACED", "  x  \n"},   {"STAGE", "production"}, {"TRUE", "true"},
};

static const char *table_getenv(const char *name, void *data)
{
	size_t i;

	(void)data;
	for (i = 0; i < sizeof(env_table) / sizeof(env_table[0]); i++) {
		if (!strcmp(env_table[i][0], name)) {
			return env_table[i][1];
		}
	}
	return NULL;
}

static char tmpdir[64];

struct tcase {
	const char *src;
	const char *want; /* the output, when err is NULL */
	const char *err;  /* a part of the error message ("file:line: ..."), or NULL */
};

static int render(const char *src, const struct erb_ctx *ctx, struct sbuf *out, struct err *e)
{
	return erb_render("config/deploy.yml", src, strlen(src), ctx, out, e);
}

static void run_table(const struct tcase *cases, size_t n, const struct erb_ctx *ctx)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct sbuf out = SBUF_INIT;
		struct err e = ERR_INIT;
		int ret = render(cases[i].src, ctx, &out, &e);

		if (cases[i].err) {
			if (ret != -1 || !strstr(err_str(&e), cases[i].err)) {
				printf(
				    "#   case %zu: %s\n#     got:  %d \"%s\" / \"%s\"\n#     want "
				    "error containing: \"%s\"\n",
				    i, cases[i].src, ret, out.buf, err_isset(&e) ? err_str(&e) : "",
				    cases[i].err);
				unit_failures_in_test++;
			}
		} else if (ret != 0 || strcmp(out.buf, cases[i].want)) {
			printf("#   case %zu: %s\n#     got:  %d \"%s\" (%s)\n#     want: \"%s\"\n",
			       i, cases[i].src, ret, out.buf,
			       err_isset(&e) ? err_str(&e) : "no error", cases[i].want);
			unit_failures_in_test++;
		}
		sbuf_release(&out);
		err_release(&e);
	}
}

#define RUN_TABLE(cases, ctx) run_table((cases), sizeof(cases) / sizeof((cases)[0]), (ctx))

static const struct erb_ctx env_ctx = {.getenv = table_getenv, .no_commands = true};

static void test_tags(void)
{
	static const struct tcase cases[] = {
	    {"plain: text\n", "plain: text\n", NULL},
	    {"", "", NULL},
	    {"a<%= 1 %>b", "a1b", NULL},
	    {"a<%=1%>b<%= 2 %>", "a1b2", NULL},
	    {"<%# a comment %>x", "x", NULL},
	    {"<%# a\nlonger comment %>\nx", "\nx", NULL},
	    {"<%# trimmed -%>\nx", "x", NULL},
	    {"a: <%= \"x\" -%>\nb", "a: xb", NULL},
	    {"a: <%= \"x\" -%>\r\nb", "a: xb", NULL},
	    {"a: <%= \"x\" -%> b", "a: x b", NULL},
	    {"a: <%= \"x\" %>\nb", "a: x\nb", NULL},
	    {"a\n  <%- if true -%>\n  b\n  <%- end -%>\nc", "a\n  b\nc", NULL},
	    {"  <%- x = 1 if false -%>", NULL, "variables are not evaluated"},
	    {"k: v  <%- if true %>x<% end %>", "k: v  x", NULL},
	    {"  <%= 1 -%>\n", "  1", NULL},
	    {"<%% literal %%> <%%= x %>", "<% literal %%> <%= x %>", NULL},
	    {"<%= \"a%%>b\" %>", "a%>b", NULL},
	    {"<% if true %>\nx\n<% end %>\n", "\nx\n\n", NULL},
	    {"<%= %>x", "x", NULL},
	    {"<% %>x", "x", NULL},
	    {"# host: <%= ENV['HOST'] %>\nx: 1\n", "# host: example.com\nx: 1\n", NULL},
	    {"# <%= ENV.fetch('NOPE') %>\n", NULL,
	     "config/deploy.yml:1: ENV.fetch: environment variable 'NOPE' is not set"},
	    {"a\nb <%= 1", NULL, "config/deploy.yml:2: unterminated ERB tag"},
	    {"<%= 1 # a comment\n%>", "1", NULL},
	    {"<%\n  if true\n%>y<%\nend\n%>", "y", NULL},
	    {"<%= 1; 2 %>", NULL, "expected '%>' after the expression"},
	};
	RUN_TABLE(cases, &env_ctx);
}

static void test_env(void)
{
	static const struct tcase cases[] = {
	    {"<%= ENV[\"HOST\"] %>", "example.com", NULL},
	    {"<%= ENV['HOST'] %>", "example.com", NULL},
	    {"[<%= ENV[\"NOPE\"] %>]", "[]", NULL},
	    {"<%= ENV[\"NOPE\"].nil? %>", "true", NULL},
	    {"<%= ENV[\"HOST\"].nil? %>", "false", NULL},
	    {"<%= ENV.fetch(\"HOST\") %>", "example.com", NULL},
	    {"<%= ENV.fetch('PORT') %>", "3000", NULL},
	    {"a\nb\n  port: <%= ENV.fetch(\"NOPE\") %>", NULL,
	     "config/deploy.yml:3: ENV.fetch: environment variable 'NOPE' is not set; set it, or "
	     "give a default: ENV.fetch(\"NOPE\", \"value\")"},
	    {"<%= ENV.fetch(\"NOPE\", \"dflt\") %>", "dflt", NULL},
	    {"<%= ENV.fetch(\"NOPE\", 8080) %>", "8080", NULL},
	    {"<%= ENV.fetch(\"NOPE\", nil) %>", "", NULL},
	    {"<%= ENV.fetch(\"EMPTY\", \"dflt\") %>", "", NULL},
	    {"<%= ENV.fetch(\"NOPE\", ENV.fetch(\"NOPE2\", \"c\")) %>", "c", NULL},
	    {"<%= ENV.fetch(\"NOPE\", ENV.fetch(\"HOST\", \"c\")) %>", "example.com", NULL},
	    {"<%= ENV.fetch(\"A\", ENV.fetch(\"B\", ENV.fetch(\"PORT\", \"1\"))) %>", "3000", NULL},
	    /* Ruby evaluates a default argument even when the key is set */
	    {"<%= ENV.fetch(\"HOST\", ENV.fetch(\"NOPE\")) %>", NULL,
	     "environment variable 'NOPE' is not set"},
	    /* a block is only evaluated when needed */
	    {"<%= ENV.fetch(\"HOST\") { ENV.fetch(\"NOPE\") } %>", "example.com", NULL},
	    {"<%= ENV.fetch(\"NOPE\") { \"blk\" } %>", "blk", NULL},
	    {"<%= ENV.fetch \"NOPE\", \"x\" %>", "x", NULL},
	    {"<%= ENV.fetch(\n  \"NOPE\",\n  \"x\"\n) %>", "x", NULL},
	    {"<%= ENV.key?(\"HOST\") %>/<%= ENV.key?(\"NOPE\") %>", "true/false", NULL},
	    {"<%= ENV[\"HO\" + \"ST\"] %>", "example.com", NULL},
	    {"<%= ENV[\"#{'HO'}ST\"] %>", "example.com", NULL},
	    {"<%= ENV[1] %>", NULL, "ENV[]: no implicit conversion of Integer into String"},
	    {"<%= ENV.fetch(nil) %>", NULL, "no implicit conversion of nil into String"},
	    {"<%= ENV.fetch %>", NULL, "'fetch' takes 1 to 2 arguments, got 0"},
	    {"<%= ENV.to_h %>", NULL, "unsupported ERB: 'ENV.to_h'"},
	    {"<%= ENV %>", NULL, "unsupported ERB: 'ENV'"},
	};
	RUN_TABLE(cases, &env_ctx);
}

static void test_logic(void)
{
	static const struct tcase cases[] = {
	    {"<%= ENV[\"NOPE\"] || \"d\" %>", "d", NULL},
	    {"[<%= ENV[\"EMPTY\"] || \"d\" %>]", "[]", NULL}, /* "" is true in Ruby */
	    {"<%= false || nil || \"z\" %>", "z", NULL},
	    {"<%= ENV[\"HOST\"] && \"y\" %>", "y", NULL},
	    {"[<%= ENV[\"NOPE\"] && \"y\" %>]", "[]", NULL},
	    {"<%= nil && ENV.fetch(\"NOPE\") %>|<%= 1 || ENV.fetch(\"NOPE\") %>", "|1", NULL},
	    {"<%= !ENV[\"NOPE\"] %> <%= !!ENV[\"HOST\"] %> <%= !0 %>", "true true false", NULL},
	    {"<%= ENV[\"NOPE\"] || ENV[\"HOST\"] && \"and-first\" %>", "and-first", NULL},
	    {"<%= ENV[\"PORT\"] == \"3000\" %>", "true", NULL},
	    {"<%= ENV[\"PORT\"] == 3000 %>", "false", NULL},
	    {"<%= ENV[\"PORT\"].to_i == 3000 %>", "true", NULL},
	    {"<%= nil == nil %> <%= nil == false %> <%= \"a\" != \"b\" %>", "true false true",
	     NULL},
	    {"<%= ENV[\"STAGE\"] == \"production\" ? \"prod\" : \"dev\" %>", "prod", NULL},
	    {"<%= ENV[\"NOPE\"] ? \"a\" : ENV[\"X\"] ? \"b\" : \"c\" %>", "c", NULL},
	    {"<%= (ENV[\"NOPE\"] || \"x\").upcase %>", "X", NULL},
	    {"<%= ((((1)))) %>", "1", NULL},
	    {"<%= \"x\" if ENV[\"HOST\"] %>", "x", NULL},
	    {"[<%= \"x\" if ENV[\"NOPE\"] %>]", "[]", NULL},
	    {"<%= \"x\" unless ENV[\"NOPE\"] %>", "x", NULL},
	    {"[<%= ENV.fetch(\"NOPE\") if ENV[\"NOPE\"] %>]", "[]", NULL},
	    {"<%= 1 + 2 %> <%= \"a\" + \"b\" %>", "3 ab", NULL},
	    {"<%= \"a\" + nil %>", NULL, "no implicit conversion of nil into String"},
	    {"<%= 1 == 1 == true %>", NULL, "invalid ERB"},
	};
	RUN_TABLE(cases, &env_ctx);
}

static void test_literals(void)
{
	static const struct tcase cases[] = {
	    {"<%= \"a\\tb\\n\\\"q\\\"\\\\\" %>", "a\tb\n\"q\"\\", NULL},
	    {"<%= 'it\\'s \\n \\\\ x' %>", "it's \\n \\ x", NULL},
	    {"<%= 'a\"b' %>", "a\"b", NULL},
	    {"<%= \"h=#{ENV[\"HOST\"]}:#{ENV.fetch(\"PORT\")}\" %>", "h=example.com:3000", NULL},
	    {"<%= \"#{nil}|#{1}|#{true}|#{false}|#{}\" %>", "|1|true|false|", NULL},
	    {"<%= \"a#{\"b#{\"c\"}\"}\" %>", "abc", NULL},
	    {"<%= \"#{ENV.fetch(\"NOPE\") { 'x' }}\" %>", "x", NULL},
	    {"<%= \"# not #interp\" %>", "# not #interp", NULL},
	    {"<%= '#{ENV[\"HOST\"]}' %>", "#{ENV[\"HOST\"]}", NULL},
	    {"<%= \"\\u00e9\\x41\\101\\e\" %>",
	     "\xc3\xa9"
	     "AA\x1b",
	     NULL},
	    {"<%= %Q(a #{1} (b)) %>|<%= %q(c #{1}) %>|<%= %(d) %>", "a 1 (b)|c #{1}|d", NULL},
	    {"<%= 42 %> <%= -7 %> <%= 1_000 %> <%= 010 %>", "42 -7 1000 8", NULL},
	    {"<%= - 7 %>", "-7", NULL},
	    {"<%= nil %>|<%= true %>|<%= false %>", "|true|false", NULL},
	    {"<%= 99999999999999999999 %>", NULL, "integer literal too large"},
	    {"<%= 1.5 %>", NULL, "floating point"},
	    {"<%= 0x1f %>", NULL, "decimal"},
	    {"<%= \"abc %>", NULL, "unterminated string"},
	    {"<%= `echo #$HOME` %>", NULL, "interpolate Ruby variables"},
	    {"<%= \"#@x\" %>", NULL, "interpolate Ruby variables"},
	    {"<%= \"\\#$HOME #$ #@ a#b\" %>|<%= '#$x' %>", "#$HOME #$ #@ a#b|#$x", NULL},
	    {"<%= \"#{1\" %>", NULL, "invalid ERB"},
	};
	RUN_TABLE(cases, &env_ctx);
}

static void test_methods(void)
{
	static const struct tcase cases[] = {
	    {"[<%= \"  x \\n\".strip %>]", "[x]", NULL},
	    {"[<%= ENV[\"SPACED\"].strip %>]", "[x]", NULL},
	    {"[<%= ENV[\"SPACED\"].lstrip %>|<%= ENV[\"SPACED\"].rstrip %>]", "[x  \n|  x]", NULL},
	    {"[<%= \"a\\n\".chomp %>|<%= \"a\\r\\n\".chomp %>|<%= \"a\\n\\n\".chomp %>]",
	     "[a|a|a\n]", NULL},
	    {"<%= \"abc\".chomp(\"c\") %>|<%= \"abc\".chomp(\"x\") %>", "ab|abc", NULL},
	    {"<%= ENV[\"LIST\"].split(\",\") %>", "[\"a\", \"b\", \"\", \"c\"]", NULL},
	    {"<%= \"a,b,,\".split(\",\") %>", "[\"a\", \"b\"]", NULL},
	    {"<%= \"\".split(\",\") %>", "[]", NULL},
	    {"<%= \" a  b \\n\".split %>", "[\"a\", \"b\"]", NULL},
	    {"<%= \"a b\".split(\" \") %>", "[\"a\", \"b\"]", NULL},
	    {"<%= \"a\\\"b\".split(\",\") %>", "[\"a\\\"b\"]", NULL},
	    {"<%= ENV[\"LIST\"].split(\",\").first %>", "a", NULL},
	    {"<%= ENV[\"LIST\"].split(\",\").last %>", "c", NULL},
	    {"<%= ENV[\"LIST\"].split(\",\")[1] %>|<%= ENV[\"LIST\"].split(\",\")[-1] %>", "b|c",
	     NULL},
	    {"[<%= ENV[\"LIST\"].split(\",\")[9] %>]", "[]", NULL},
	    {"<%= \"a,b\".split(\",\").join(\"-\") %>|<%= \"a,b\".split(\",\").join %>", "a-b|ab",
	     NULL},
	    {"<%= \"a,b\".split(\",\").length %>", "2", NULL},
	    {"<%= \"3000\".to_i + 1 %>|<%= \" -12abc\".to_i %>|<%= \"x\".to_i %>|<%= nil.to_i %>",
	     "3001|-12|0|0", NULL},
	    {"<%= 5.to_s + \"!\" %>|<%= nil.to_s %>|<%= \"x\".to_s %>", "5!||x", NULL},
	    {"<%= \"Ab\".upcase %>|<%= \"Ab\".downcase %>", "AB|ab", NULL},
	    {"<%= \"\".empty? %>|<%= ENV[\"HOST\"].empty? %>|<%= ENV[\"EMPTY\"].empty? %>",
	     "true|false|true", NULL},
	    {"<%= \"h\xc3\xa9\".length %>", "2", NULL},
	    {"<%= ENV[\"HOST\"].end_with?(\".com\") %>|<%= ENV[\"HOST\"].start_with?(\"x\", "
	     "\"ex\") %>|<%= ENV[\"HOST\"].include?(\"mple\") %>",
	     "true|true|true", NULL},
	    {"[<%= ENV[\"NOPE\"]&.strip %>]", "[]", NULL},
	    {"<%= ENV[\"LIST\"]\n  .split(\",\")\n  .first %>", "a", NULL},
	    {"<%= ENV[\"NOPE\"].strip %>", NULL,
	     "config/deploy.yml:1: undefined method 'strip' for nil in 'ENV[\"NOPE\"].strip'"},
	    {"<%= 1.strip %>", NULL, "undefined method 'strip' for Integer"},
	    {"<%= ENV[\"HOST\"][0] %>", NULL, "undefined method '[]' for String"},
	    {"<%= ENV[\"HOST\"].present? %>", NULL, "present? is Rails, not Ruby"},
	    {"<%= ENV[\"HOST\"].blank? %>", NULL, "blank? is Rails, not Ruby"},
	    {"<%= ENV[\"HOST\"].gsub(\"a\", \"b\") %>", NULL,
	     "unsupported ERB: 'ENV[\"HOST\"].gsub(\"a\", \"b\")'"},
	    {"<%= \"a\".split(\",\", 2) %>", NULL, "'split' takes 0 to 1 arguments, got 2"},
	};
	RUN_TABLE(cases, &env_ctx);
}

static void test_control(void)
{
	static const char *tmpl = "service: app\n"
				  "<% if ENV[\"STAGE\"] == \"production\" %>\n"
				  "servers:\n"
				  "  - 10.0.0.1\n"
				  "  - 10.0.0.2\n"
				  "<% elsif ENV[\"STAGE\"] == \"staging\" -%>\n"
				  "servers:\n"
				  "  - 10.0.1.1\n"
				  "<% else -%>\n"
				  "servers: []\n"
				  "<% end -%>\n"
				  "end: true\n";
	static const struct tcase cases[] = {
	    {"<% if ENV[\"HOST\"] %>yes<% else %>no<% end %>", "yes", NULL},
	    {"<% if ENV[\"NOPE\"] %>yes<% else %>no<% end %>", "no", NULL},
	    {"<% if ENV[\"NOPE\"] %>a<% elsif ENV[\"PORT\"] == \"3000\" %>b<% else %>c<% end %>",
	     "b", NULL},
	    {"<% unless ENV[\"NOPE\"] %>u<% else %>e<% end %>", "u", NULL},
	    {"<% unless ENV[\"HOST\"] %>u<% else %>e<% end %>", "e", NULL},
	    {"<% unless ENV[\"HOST\"] %>u<% end %>", "", NULL},
	    {"<% if true %><% if false %>a<% else %>b<% end %>c<% end %>", "bc", NULL},
	    {"<% if ENV[\"HOST\"] == \"example.com\" && ENV[\"PORT\"] %>and<% end %>", "and", NULL},
	    {"<% if true then %>t<% end %>", "t", NULL},
	    {"<% if true; %>t<% end %>", "t", NULL},
	    /* the untaken branch is not evaluated */
	    {"<% if false %><%= ENV.fetch(\"NOPE\") %><% end %>ok", "ok", NULL},
	    /* but what berth cannot read is an error anywhere */
	    {"<% if false %><%= Rails.env %><% end %>", NULL, "unsupported ERB: 'Rails.env'"},
	    {"<% if true %>", NULL, "config/deploy.yml:1: 'if' without a matching '<% end %>'"},
	    {"a\n<% end %>", NULL, "config/deploy.yml:2: invalid ERB: 'end'"},
	    {"<% else %>", NULL, "without a matching if"},
	    {"<% unless true %>a<% elsif true %>b<% end %>", NULL, "expected 'end'"},
	    {"<% if true x %>", NULL, "expected the end of the condition"},
	};
	struct sbuf out = SBUF_INIT;
	struct err e = ERR_INIT;

	RUN_TABLE(cases, &env_ctx);

	CHECK_INT(render(tmpl, &env_ctx, &out, &e), 0);
	CHECK_STR(out.buf, "service: app\n\nservers:\n  - 10.0.0.1\n  - 10.0.0.2\nend: true\n");
	sbuf_release(&out);
}

static const char *staging_getenv(const char *name, void *data)
{
	(void)data;
	return !strcmp(name, "STAGE") ? "staging" : NULL;
}

static void test_control_branches(void)
{
	static const char *tmpl = "<% if ENV[\"STAGE\"] == \"production\" -%>\n"
				  "servers:\n"
				  "  - 10.0.0.1\n"
				  "<% elsif ENV[\"STAGE\"] == \"staging\" -%>\n"
				  "servers:\n"
				  "  - 10.0.1.1\n"
				  "<% else -%>\n"
				  "servers: []\n"
				  "<% end -%>\n";
	struct erb_ctx ctx = {.getenv = staging_getenv};
	struct sbuf out = SBUF_INIT;
	struct err e = ERR_INIT;

	CHECK_INT(render(tmpl, &ctx, &out, &e), 0);
	CHECK_STR(out.buf, "servers:\n  - 10.0.1.1\n");
	sbuf_reset(&out);
	ctx.getenv = NULL; /* the real environment, where STAGE is unset */
	unsetenv("STAGE");
	CHECK_INT(render(tmpl, &ctx, &out, &e), 0);
	CHECK_STR(out.buf, "servers: []\n");
	sbuf_reset(&out);
	setenv("STAGE", "production", 1);
	CHECK_INT(render(tmpl, NULL, &out, &e), 0);
	CHECK_STR(out.buf, "servers:\n  - 10.0.0.1\n");
	unsetenv("STAGE");
	sbuf_release(&out);
	err_release(&e);
}

static void test_unsupported(void)
{
	static const struct tcase cases[] = {
	    {"a: 1\n<%= Rails.env %>", NULL,
	     "config/deploy.yml:2: unsupported ERB: 'Rails.env' — Rails is not loaded; berth "
	     "evaluates ENV[...], ENV.fetch(...), literals, ||, &&, ==, if/unless, backticks and "
	     "File.read; write ENV[\"RAILS_ENV\"] instead"},
	    {"<% x = 1 %>", NULL, "variables are not evaluated"},
	    {"<% host = ENV[\"HOST\"] %>", NULL, "variables are not evaluated"},
	    {"<%= @x %>", NULL, "variables are not evaluated"},
	    {"<%= hostname %>", NULL, "unsupported ERB: 'hostname'"},
	    {"<% ENV[\"LIST\"].split(\",\").each do |h| %>- <%= h %>\n<% end %>", NULL,
	     "loops are not evaluated"},
	    {"<% [1, 2].each do |h| %><% end %>", NULL, "arrays, hashes and symbols"},
	    {"<% 3.times do %>x<% end %>", NULL, "loops are not evaluated"},
	    {"<% for h in [1] %><% end %>", NULL, "loops, case and definitions"},
	    {"<%= ENV.fetch(\"A\") { |k| k } %>", NULL, "block parameters"},
	    {"<%= ENV[\"HOST\"].split(/,/) %>", NULL, "unsupported ERB"},
	    {"<%= 1 * 2 %>", NULL, "the operator '*' is not evaluated"},
	    {"<%= 1 - 2 %>", NULL, "the operator '-' is not evaluated"},
	    {"<%= if true then 1 end %>", NULL, "cond ? a : b"},
	    {"<%= ENV[\"A\"] or \"b\" %>", NULL, "invalid ERB"},
	    {"<%= not true %>", NULL, "write !, && or ||"},
	    {"<%= YAML.load_file(\"x\") %>", NULL, "constants other than ENV and File"},
	    {"<%= File.write(\"x\", \"y\") %>", NULL, "File has no other methods"},
	    {"<%= `ls` %>", NULL, "config/deploy.yml:1: ERB command not run here: `ls`"},
	    {"a\nb\n<%=\n\n  ENV[\"HOST\"].frobnicate %>", NULL, "config/deploy.yml:5:"},
	    {"<%= \xff %>", NULL, "unsupported ERB"},
	    {"<%= ENV[\"A\"] %> <% end %>", NULL, "without a matching if"},
	};
	RUN_TABLE(cases, &env_ctx);
}

static void test_limits(void)
{
	struct sbuf src = SBUF_INIT, out = SBUF_INIT;
	struct err e = ERR_INIT;
	int i;

	sbuf_addstr(&src, "<%= ");
	for (i = 0; i < 500; i++) {
		sbuf_addch(&src, '(');
	}
	sbuf_addch(&src, '1');
	for (i = 0; i < 500; i++) {
		sbuf_addch(&src, ')');
	}
	sbuf_addstr(&src, " %>");
	CHECK_INT(erb_render("f", src.buf, src.len, &env_ctx, &out, &e), -1);
	CHECK(strstr(err_str(&e), "nested too deeply") != NULL);

	sbuf_reset(&src);
	sbuf_addstr(&src, "<%= 1");
	for (i = 0; i < 500; i++) {
		sbuf_addstr(&src, ".to_s");
	}
	sbuf_addstr(&src, " %>");
	CHECK_INT(erb_render("f", src.buf, src.len, &env_ctx, &out, &e), -1);
	CHECK(strstr(err_str(&e), "nested too deeply") != NULL);

	sbuf_reset(&src);
	for (i = 0; i < 500; i++) {
		sbuf_addstr(&src, "<% if true %>");
	}
	CHECK_INT(erb_render("f", src.buf, src.len, &env_ctx, &out, &e), -1);
	CHECK(strstr(err_str(&e), "nested too deeply") != NULL);

	/* a chain of 40 modest levels is fine */
	sbuf_reset(&src);
	sbuf_addstr(&src, "<%= ");
	for (i = 0; i < 40; i++) {
		sbuf_addstr(&src, "ENV.fetch(\"N\", ");
	}
	sbuf_addstr(&src, "\"deep\"");
	for (i = 0; i < 40; i++) {
		sbuf_addch(&src, ')');
	}
	sbuf_addstr(&src, " %>");
	sbuf_reset(&out);
	CHECK_INT(erb_render("f", src.buf, src.len, &env_ctx, &out, &e), 0);
	CHECK_STR(out.buf, "deep");

	sbuf_release(&src);
	sbuf_release(&out);
	err_release(&e);
}

static void write_file(const char *name, const char *data)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(data, f);
		fclose(f);
	}
}

static void test_files(void)
{
	static const struct tcase cases[] = {
	    {"key: <%= File.read(\"secret.txt\").strip %>", "key: s3cret", NULL},
	    {"<%= File.read \"secret.txt\" %>", "s3cret\n", NULL},
	    {"<%= File.read(\"sub/x.txt\") %>", "x", NULL},
	    {"<%= File.exist?(\"secret.txt\") %>|<%= File.exist?(\"missing\") %>", "true|false",
	     NULL},
	    {"a\n<%= File.read(\"missing.txt\") %>", NULL,
	     "config/deploy.yml:2: File.read: cannot read 'missing.txt': No such file or "
	     "directory"},
	    {"<%= File.read(\"sub\") %>", NULL, "cannot read 'sub': Is a directory"},
	    {"<%= File.read(\"/dev/zero\") %>", NULL, "'/dev/zero' is not a regular file"},
	    {"<%= File.read(nil) %>", NULL, "no implicit conversion of nil into String"},
	};
	struct erb_ctx ctx = {.dir = tmpdir, .getenv = table_getenv};
	char path[256];

	write_file("secret.txt", "s3cret\n");
	snprintf(path, sizeof(path), "%s/sub", tmpdir);
	CHECK_INT(mkdir(path, 0700), 0);
	write_file("sub/x.txt", "x");
	RUN_TABLE(cases, &ctx);
}

static void test_commands(void)
{
	static const struct tcase cases[] = {
	    {"<%= `echo hi` %>", "hi\n", NULL},
	    {"v: <%= `echo hello | tr a-z A-Z`.strip %>", "v: HELLO", NULL},
	    {"<%= `printf 'a\\nb\\n' | tail -n 1`.chomp %>", "b", NULL},
	    {"<%= `echo #{ENV[\"HOST\"]}:#{ENV.fetch(\"PORT\")}` %>", "example.com:3000\n", NULL},
	    {"<%= %x(echo a) %>|<%= %x{echo \"b\"} %>|<%= %x(echo '(n)') %>", "a\n|b\n|(n)\n",
	     NULL},
	    {"<%= `echo out; exit 3` %>", "out\n", NULL},
	    {"<%= `cat marker.txt` %>", "here", NULL},
	    {"[<%= `true` %>]", "[]", NULL},
	    {"<%= `git rev-parse --short HEAD 2>/dev/null || echo none`.strip.empty? %>", "false",
	     NULL},
	    {"<% if false %><%= `exit 1; echo never` %><% end %>ok", "ok", NULL},
	    {"<%= `sleep 30` %>", NULL, "config/deploy.yml:1: ERB command `sleep 30` timed out"},
	    {"<%= `yes` %>", NULL, "printed more than"},
	};
	struct erb_ctx ctx = {.dir = tmpdir, .getenv = table_getenv, .cmd_timeout_ms = 300};

	write_file("marker.txt", "here");
	RUN_TABLE(cases, &ctx);
}

static void test_appends_and_null_err(void)
{
	struct sbuf out = SBUF_INIT;

	sbuf_addstr(&out, "keep:");
	CHECK_INT(erb_render("f", "<%= 1 %>", 8, &env_ctx, &out, NULL), 0);
	CHECK_STR(out.buf, "keep:1");
	CHECK_INT(erb_render(NULL, "<%= Rails %>", 12, &env_ctx, &out, NULL), -1);
	CHECK_INT(erb_render("f", "a\0b<%= \"\\0\" %>", 14, &env_ctx, &out, NULL), 0);
	CHECK_INT(out.len, 6 + 4);
	sbuf_release(&out);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-erb-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	UNIT_RUN(test_tags);
	UNIT_RUN(test_env);
	UNIT_RUN(test_logic);
	UNIT_RUN(test_literals);
	UNIT_RUN(test_methods);
	UNIT_RUN(test_control);
	UNIT_RUN(test_control_branches);
	UNIT_RUN(test_unsupported);
	UNIT_RUN(test_limits);
	UNIT_RUN(test_files);
	UNIT_RUN(test_commands);
	UNIT_RUN(test_appends_and_null_err);
	{
		struct run_cmd c = RUN_CMD_INIT;
		strvec_pushv(&c.argv, (const char *[]){"rm", "-rf", tmpdir, NULL});
		if (run_one(&c) < 0) {
			printf("# could not remove %s\n", tmpdir);
		}
		run_cmd_release(&c);
	}
	return unit_done();
}
