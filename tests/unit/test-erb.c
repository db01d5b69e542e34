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
	    {"  <%- x = 1 if false -%>\n<%= x.inspect %>", "nil", NULL},
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
	    {"<%= 1.5 %>|<%= 1e20 %>|<%= 2.0 %>|<%= 1.0e-5 %>|<%= -0.5 %>",
	     "1.5|1.0e+20|2.0|1.0e-05|-0.5", NULL},
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
	    {"<%= ENV[\"HOST\"].present? %>|<%= ENV[\"NOPE\"].present? %>", "true|false", NULL},
	    {"<%= ENV[\"EMPTY\"].blank? %>|<%= ENV[\"SPACED\"].blank? %>", "true|false", NULL},
	    {"<%= ENV[\"EMPTY\"].presence || \"d\" %>|<%= ENV[\"SPACED\"].squish %>", "d|x", NULL},
	    {"<%= ENV[\"HOST\"].gsub(\"e\", \"<\\\\0>\") %>", "<e>xampl<e>.com", NULL},
	    {"<%= ENV[\"HOST\"].gsub(/e/, \"x\") %>", NULL, "unsupported ERB"},
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
	     "evaluates ENV, literals, variables, arrays, hashes, blocks, if/unless/case, "
	     "begin/rescue, backticks, File, YAML, JSON and Dotenv; write ENV[\"RAILS_ENV\"] "
	     "instead"},
	    {"<%= @x %>", NULL, "instance and global variables are not evaluated"},
	    {"<%= hostname %>", NULL, "unsupported ERB: 'hostname'"},
	    {"<% 3.times do %>x<% end %>", "xxx", NULL},
	    {"<%= 1.upto(3) { |i| i } %>", NULL, "the method 'upto' is not evaluated"},
	    {"<% for h in [1] %><% end %>", NULL, "loops, jumps and definitions"},
	    {"<%= ENV.fetch(\"A\") { |k| k } %>", "A", NULL},
	    {"<% ENV[\"HOST\"] = 1 %>", NULL,
	     "ENV[]=: no implicit conversion of Integer into String"},
	    {"<% ENV[\"HOST\"] = nil %>[<%= ENV[\"HOST\"] %>]", "[]", NULL},
	    {"<%= \"%.2f\" % 2.345 %>", NULL, "unsupported ERB: %f of a Float that ends in 5"},
	    {"<%= \"%e\" % 2.5 %>", NULL, "unsupported ERB: %e of a Float"},
	    {"<%= [1].map do |x| x + 1 end %>", "[2]", NULL},
	    {"<%= require \"rails\" %>", NULL, "unsupported ERB: require \"rails\""},
	    {"<%= [1].each_slice(2) { |x| x } %>", NULL, "the method 'each_slice'"},
	    {"<%= \"%{a}\" % { a: 1 } %>", NULL, "unsupported ERB: the format directive '%{'"},
	    {"<%= 1.5.round %>", NULL, "the method 'round' is not evaluated"},
	    {"<%= ENV[\"HOST\"].split(/,/) %>", NULL, "unsupported ERB"},
	    {"<%= 1 ** 2 %>", NULL, "the operator '**' is not evaluated"},
	    {"<%= 1 << 2 %>", NULL, "the operator '<<' is not evaluated"},
	    {"<%= Socket.gethostname %>", NULL, "this constant is not evaluated"},
	    {"<%= File.write(\"x\", \"y\") %>", NULL, "File.write is not evaluated"},
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
	/* loops end: by the steps they take, and by what copying big values costs */
	static const struct tcase loops[] = {
	    {"<% a = (\"a,\" * 200000).split(\",\") %><% a.each { |x| a.size } %>", NULL,
	     "ERB evaluation took more than 5000000 steps"},
	    {"<% a = (\"a,\" * 3000).split(\",\") %><% a.each { |x| a.each { |y| y } } %>", NULL,
	     "ERB evaluation took more than 5000000 steps"},
	    {"<% begin %><% a = (\"a,\" * 3000).split(\",\") %><% a.each { |x| a.each { |y| y } "
	     "} %><% rescue %>rescued<% end %>",
	     NULL, "took more than"},
	    {"<%= \"ab\" * 20000000 %>", NULL, "ERB value larger than"},
	    {"<%= (\"a\" * 2000000).split(\"\").size %>", NULL,
	     "ERB Array or Hash of more than 1048576 elements"},
	    {"<%= (\"a\" * 20000).split(\"\").size %>", "20000", NULL},
	};

	RUN_TABLE(loops, &env_ctx);

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

/*
 * Templates that berth renders itself, each compared byte for byte with
 * what Ruby's ERB (Kamal's renderer) gives for it, in the same directory and
 * environment. Skipped when ruby is not installed.
 */
static const char *const ruby_cases[] = {
    /* locals, blocks, arrays, hashes */
    "<% ips = `echo 10.0.0.1,10.0.0.2`.strip.split(\",\") %>hosts:\n<% ips.each do |ip| %>  - "
    "<%= ip %>\n<% end %>",
    "<% ips = %w[a b c] -%>\n<% ips.each_with_index do |ip, i| -%>\n  - <%= ip %>-<%= i %>\n<% "
    "end -%>\n",
    "<% roles = { \"web\" => [\"1.1.1.1\", \"2.2.2.2\"], \"job\" => [\"3.3.3.3\"] } %>\n"
    "<% roles.each do |name, hosts| %><%= name %>:\n<% hosts.each { |h| %>  - <%= h %>\n<% } "
    "%><% end %>",
    "<%= [1, 2, 3].map { |x| x * 2 }.join(\",\") %>|<%= [3, nil, 1, 3].compact.uniq.sort "
    "%>|<%= %w[b a].sort.first %>",
    "<%= [1, 2, 3, 4].select { |x| x > 2 } %> <%= [1, 2, 3].reject(&:nil?) rescue 'x' %>",
    "<%= { a: 1, \"b\" => 2 } %> <%= { a: 1 }[:a] %> <%= { a: 1 }.fetch(:b, 3) %> <%= { a: 1 "
    "}.keys %> <%= { a: 1, b: nil }.values %>",
    "<% h = { \"x\" => 1, \"y\" => 2 } %><%= h.map { |k, v| \"#{k}=#{v}\" }.join(\"&\") %> "
    "<%= h.select { |k, v| v > 1 } %> <%= h.to_a %> <%= h.any? %> <%= h.empty? %> <%= h.size "
    "%>",
    "<%= [[\"a\", 1], [\"b\", 2]].to_h %> <%= [1, [2, [3]]].flatten %> <%= [1, 2].include?(2) "
    "%> <%= [].any? %> <%= [nil].any? %> <%= [1, 2].sum %> <%= [3, 1].max %> <%= [3, 1].min "
    "%>",
    "<%= %w[x y z].each_with_index.map { |s, i| \"#{i}:#{s}\" } %> <%= [1, 2, 3].first(2) %> "
    "<%= [1, 2, 3].last(2) %> <%= [1, 2, 3].reverse %> <%= [1, 2, 3].count { |x| x.to_i > 1 } "
    "%>",
    "<% x = nil %><% x ||= \"dflt\" %><%= x %> <% y = 1 %><% y += 2 %><%= y %> <% z = \"a\" "
    "%><% z ||= \"b\" %><%= z %>",
    "<% list = [] %><% list += [\"a\"] %><% list = list + [\"b\"] %><%= list.inspect %> <%= "
    "list.length %>",
    "<%= [\"a\", \"b\"].find { |s| s == \"b\" } %> <%= [\"a\"].find { |s| s == \"z\" }.inspect "
    "%> <%= [1, 2].all? { |x| x > 0 } %> <%= [1, 2].none? { |x| x > 1 } %>",
    "<%= {\"b\" => 2, \"a\" => 1}.sort_by { |k, v| v } %> <%= %w[bb a ccc].sort_by { |s| "
    "s.length } %> <%= {\"a\" => {\"b\" => [10, 20]}}.dig(\"a\", \"b\", 1) %>",
    "<%= {\"a\" => 1}.merge({\"b\" => 2}) %> <%= {\"a\" => 1}.transform_values { |v| v + 1 } "
    "%> <%= {\"a\" => 1}.key?(\"a\") %> <%= [[1, 2], [3, 4]].map { |(a, b)| a + b } %>",
    /* strings and formatting */
    "<%= \"%s:%d\" % [\"host\", 80] %> <%= format(\"%05.1f|%-4s|%3d|%x\", 3.14159, \"ab\", 7, "
    "255) %> <%= sprintf(\"%s\", nil.inspect) %> <%= \"%s\" % \"one\" %> <%= \"%%\" % [] %>",
    "<%= \"a-b-c\".gsub(\"-\", \"_\") %> <%= \"a-b-c\".sub(\"-\", \"\") %> <%= "
    "\"web.example.com\".delete_suffix(\".com\") %> <%= \"Hello\".capitalize %> <%= \"x\" * 3 "
    "%> <%= \"ab\".to_sym.inspect %> <%= :sym %> <%= \"a b\".split.inspect %>",
    "<%= 7 / 2 %> <%= -7 / 2 %> <%= -7 % 3 %> <%= 2 - 5 %> <%= 1.5 + 1 %> <%= 10 / 4.0 %> <%= "
    "3 > 2 %> <%= \"a\" < \"b\" %> <%= 2 <= 2 %> <%= 1e3.to_i rescue 'n' %>",
    "<%= \"%-10s|\" % \"left\" %> <%= \"%+d %+d\" % [5, -5] %> <%= \"%08.3f\" % -3.5 %> <%= "
    "\"%.3s\" % \"abcdef\" %> <%= \"%o %b %X\" % [8, 5, 255] %>",
    /* control */
    "<% begin %>a<% x = ENV.fetch(\"BERTH_TEST_UNSET_VAR\") %>b<% rescue %>c<% end %>",
    "<% begin; v = ENV.fetch(\"BERTH_TEST_UNSET_VAR\"); rescue KeyError => e; v = \"none\"; end "
    "%><%= v %> <%= (ENV.fetch(\"BERTH_TEST_UNSET_VAR\") rescue \"r\") %>",
    "<% v = ENV.fetch(\"BERTH_TEST_UNSET_VAR\") rescue \"fallback\" %><%= v %> <% begin %>ok<% "
    "rescue %>no<% else %>-else<% end %>",
    "<% case ENV.fetch(\"BERTH_TEST_STAGE\", \"prod\") -%>\n<% when \"staging\", \"dev\" -%>\n"
    "host: s\n<% when \"prod\" -%>\nhost: p\n<% else -%>\nhost: x\n<% end -%>\n",
    "<% case -%>\n<% when 1 > 2 -%>\na\n<% when true -%>\nb\n<% end -%>\n<% v = case 3 when 1 then "
    "\"one\" else \"many\" end %>",
    "<% unless ENV[\"BERTH_TEST_UNSET_VAR\"] %>unset<% end %> <%= \"x\" if true %> <%= not "
    "false %> <%= (nil or \"or\") %> <%= (1 and 2) %>",
    /* the files of a project */
    "<% require \"yaml\" %><% YAML.load_file(\"servers.yml\")[\"web\"].each do |h| %>- <%= "
    "h[\"ip\"] %>:<%= h[\"port\"] %> <%= h[\"tags\"].inspect %> <%= h[\"ratio\"] %> <%= "
    "h[\"on\"] %>\n<% end %>",
    "<% s = YAML.load_file(\"servers.yml\") %><%= s.keys %> <%= s[\"db\"] %> <%= "
    "s.dig(\"web\", 0, \"ip\") %> <%= YAML.load(\"a: [1, 2]\") %> <%= YAML.load_file("
    "\"servers.yml\", symbolize_names: true).keys %>",
    "<% require \"json\" %><% cfg = JSON.parse(File.read(\"hosts.json\")) %><%= "
    "cfg[\"hosts\"].join(\",\") %> <%= cfg[\"port\"] + 1 %> <%= cfg[\"ratio\"] %> <%= cfg "
    "%> <%= JSON.parse('{\"a\": 1}', symbolize_names: true) %>",
    "<% require \"dotenv\"; Dotenv.load(\".env\") %><%= ENV[\"ERB_DOTENV_A\"] %> <%= "
    "ENV.fetch(\"ERB_DOTENV_B\") %> <%= ENV[\"ERB_DOTENV_KEEP\"] %> <%= `echo "
    "$ERB_DOTENV_A` %>",
    "<% Dotenv.overload(\".env\", \".env.missing\") %><%= ENV[\"ERB_DOTENV_KEEP\"] %> <%= "
    "File.join(\"config\", \"deploy.yml\") %> <%= File.file?(\".env\") %> <%= "
    "File.directory?(\".env\") %>",
    "<%= ENV[\"KAMAL_DESTINATION\"].inspect %> <%= `echo \"[$KAMAL_DESTINATION]\"` %>",
    /* what a differential run against ruby found */
    "<%= [].first.inspect %> <%= [].sum %> <%= [].max.inspect %> <%= [].map { |x| x }.inspect "
    "%> <%= {}.select { |k, v| v } %> <%= {}.transform_values { |v| v } %>",
    "<% h = {} %><% h = h.merge(\"a\" => 1, :b => 2) %><%= h %> <%= case when false then 1 "
    "else 2 end %> <%= %i[a b].inspect %>",
    "<%= \"%.2f|%.1f|%.0f|%.3f|%.1f\" % [2.3449, 2.26, 2.51, 0.00051, 0.96] %> <%= \"%.2f\" % "
    "-1.2551 %> <%= \"%08.2f|%-8.1f|\" % [3.14159, -2.5] %> <%= \"%f\" % 1e20 %> <%= \"%.1f\" "
    "% 7 %>",
    "x  <%- 1 %>  <%- 2 %>y\n  <%= 1 %>  <%- 2 %>b\nx<%% \t<%- 1 %>y\na <%# c %> <%- 1 %>z",
    "a: <%= ENV.fetch(\"BERTH_TEST_UNSET_VAR\") { |k| \"d-#{k}\" } %> <%= "
    "ENV.fetch(\"BERTH_TEST_UNSET_VAR\") do |k| k.downcase end %>",
    "<% ENV[\"ERB_T_SET\"] = \"1\" %><%= ENV[\"ERB_T_SET\"] %> <% ENV[\"ERB_T_SET\"] ||= \"2\" "
    "%><%= ENV.fetch(\"ERB_T_SET\") %> <% ENV[\"ERB_T_OR\"] ||= \"3\" %><%= `echo $ERB_T_OR` "
    "%><% ENV[\"ERB_T_OR\"] = nil %>[<%= ENV[\"ERB_T_OR\"] %>]",
    "<% 3.times do |i| -%>\n  - 10.0.0.<%= i + 1 %>\n<% end -%>\n<%= 2.times.map { |i| i * 10 } "
    "%> <%= 0.times.to_a %> <%= 2.times { } %>",
    "<%= \"a\\nb\\n\\nc\".lines.inspect %> <%= \"h\u00e9\".chars %> <%= [\"1.5kg\", \"  -2e3\", "
    "\"1_000.25\", \"0x1A\", \".5\", \"5.\", \"1e\"].map(&:to_f) %> <%= 3.to_f %> <%= "
    "File.read(\"hosts.json\").lines.size %>",
    /* ActiveSupport, which Kamal loads: compared when ruby has it */
    "<%= [nil, false, \"\", \" \\t\\u00a0\\u3000\", [], {}, 0, \"x\", :a].map { |v| "
    "v.blank? } %> <%= \"\".presence.inspect %> <%= \" a \".presence %> <%= [1].present? %> "
    "<%= \"  a \\n\\u2003 b  \".squish %> <%= (ENV[\"BERTH_TEST_UNSET_VAR\"].presence || "
    "\"dflt\") %>",
};

static void test_vs_ruby(void)
{
	struct erb_ctx native = {.dir = tmpdir, .no_ruby = true};
	bool has_as;
	struct sbuf probe = SBUF_INIT;
	struct err pe = ERR_INIT;
	size_t i;

	if (erb_render_ruby("probe", "<% require \"dotenv\" %>", 22, &native, &probe, &pe) < 0) {
		printf("# skipped: ruby with the dotenv gem is needed: %s\n", err_str(&pe));
		err_release(&pe);
		sbuf_release(&probe);
		return;
	}
	if (erb_render_ruby("probe", "<%= \"\".blank? %>", 16, &native, &probe, &pe) < 0) {
		printf("# skipped: %s\n", err_str(&pe));
		err_release(&pe);
		sbuf_release(&probe);
		return;
	}
	/* without ActiveSupport, ruby has no blank?: leave out the last case */
	has_as = !strcmp(probe.buf, "true");
	sbuf_release(&probe);
	write_file("servers.yml", "web:\n  - ip: 10.0.0.1\n    port: 22\n    tags: [a, b]\n    "
				  "ratio: 1.5\n    on: yes\n  - ip: \"10.0.0.2\"\n    port: 0x10\n "
				  "   tags: []\n    ratio: 2e+3\n    on: ~\ndb: null\n");
	write_file("hosts.json", "{\"hosts\": [\"a\", \"b\"], \"port\": 8080, \"ratio\": 0.25, "
				 "\"n\": null, \"t\": true}");
	write_file(".env", "ERB_DOTENV_A=from-dotenv\nexport ERB_DOTENV_B='quoted # x'\n"
			   "ERB_DOTENV_KEEP=file\n");
	setenv("ERB_DOTENV_KEEP", "env", 1);
	setenv("KAMAL_DESTINATION", "leaks-in-if-not-unset", 1);
	for (i = 0; i < sizeof(ruby_cases) / sizeof(ruby_cases[0]) - !has_as; i++) {
		struct sbuf got = SBUF_INIT, want = SBUF_INIT;
		struct err e = ERR_INIT, re = ERR_INIT;
		const char *src = ruby_cases[i];
		int r1 = erb_render("config/deploy.yml", src, strlen(src), &native, &got, &e);
		int r2 =
		    erb_render_ruby("config/deploy.yml", src, strlen(src), &native, &want, &re);

		if (r1 < 0 || r2 < 0 || strcmp(got.buf, want.buf)) {
			printf(
			    "#   case %zu: %s\n#     berth: %d \"%s\" %s\n#     ruby:  %d \"%s\" "
			    "%s\n",
			    i, src, r1, got.buf, err_isset(&e) ? err_str(&e) : "", r2, want.buf,
			    err_isset(&re) ? err_str(&re) : "");
			unit_failures_in_test++;
		}
		sbuf_release(&got);
		sbuf_release(&want);
		err_release(&e);
		err_release(&re);
	}
	unsetenv("ERB_DOTENV_KEEP");
	unsetenv("KAMAL_DESTINATION");
	unsetenv("ERB_DOTENV_A");
	unsetenv("ERB_DOTENV_B");
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
	UNIT_RUN(test_vs_ruby);
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
