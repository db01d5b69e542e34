#include "lib/log.h"

#include <stdlib.h>
#include <unistd.h>

#include "lib/sbuf.h"
#include "unit.h"

static void capture(FILE *f, struct sbuf *out)
{
	long n;

	fflush(f);
	n = ftell(f);
	rewind(f);
	sbuf_reset(out);
	sbuf_grow(out, (size_t)n);
	sbuf_setlen(out, fread(out->buf, 1, (size_t)n, f));
	rewind(f);
	CHECK(ftruncate(fileno(f), 0) == 0);
}

static void test_text_levels(void)
{
	FILE *f = tmpfile();
	struct sbuf got = SBUF_INIT;

	log_setup(LOG_INFO, 0, f);
	log_error("cannot open '%s': %s", "x", "No such file");
	log_info("plain");
	log_debug("hidden");
	capture(f, &got);
	/* a file is no terminal: no colour codes */
	CHECK_STR(got.buf, "error: cannot open 'x': No such file\nplain\n");
	fclose(f);
	sbuf_release(&got);
}

static void test_json_lines(void)
{
	FILE *f = tmpfile();
	struct sbuf got = SBUF_INIT;

	log_setup(LOG_INFO, LOG_F_JSON, f);
	log_warn("quote \" and\nnewline");
	log_event(LOG_INFO, "step", "host", "h1", "step", "pull", NULL);
	capture(f, &got);
	CHECK(strstr(got.buf, "\"level\":\"warning\",\"msg\":\"quote \\\" and\\nnewline\"}\n") !=
	      NULL);
	CHECK(strstr(got.buf, "\"event\":\"step\",\"host\":\"h1\",\"step\":\"pull\"}\n") != NULL);
	CHECK(strncmp(got.buf, "{\"time\":\"20", 11) == 0);
	CHECK(!log_color_for(f));
	fclose(f);
	sbuf_release(&got);
}

static void test_no_color_env(void)
{
	setenv("NO_COLOR", "1", 1);
	log_setup(LOG_INFO, 0, stderr);
	CHECK(!log_color_for(stderr));
	CHECK_STR(log_color(stderr, "\033[1m"), "");
	unsetenv("NO_COLOR");
}

int main(void)
{
	UNIT_RUN(test_text_levels);
	UNIT_RUN(test_json_lines);
	UNIT_RUN(test_no_color_env);
	log_setup(LOG_INFO, 0, NULL);
	return unit_done();
}
