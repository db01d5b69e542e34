#include "proxy/errpages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/sbuf.h"
#include "unit.h"

static char dir[] = "/tmp/test-errpages.XXXXXX";

static void put(const char *name, const char *text, size_t len)
{
	struct sbuf path = SBUF_INIT;
	FILE *f;

	sbuf_addf(&path, "%s/%s", dir, name);
	f = fopen(path.buf, "w");
	CHECK(f != NULL);
	if (f) {
		fwrite(text, 1, len, f);
		fclose(f);
	}
	sbuf_release(&path);
}

static void drop(const char *name)
{
	struct sbuf path = SBUF_INIT;

	sbuf_addf(&path, "%s/%s", dir, name);
	unlink(path.buf);
	sbuf_release(&path);
}

static void test_load_and_render(void)
{
	static const char t503[] = "<p>{{ .Message }}</p><i>{{.Message}}</i>{ {{ x }}";
	struct err e = ERR_INIT;
	struct errpages *p;
	const struct errpage *pg;
	size_t len = 0;
	char *r;

	put("503.html", t503, strlen(t503));
	put("502.html", "<b>bad</b>", 10);
	put("999.html", "no", 2);
	p = errpages_load(dir, &e);
	CHECK(p != NULL);
	if (!p) {
		return;
	}
	CHECK_INT(p->nr, 2);
	pg = errpages_find(p, 502);
	CHECK(pg && pg->len == 10 && !memcmp(pg->body, "<b>bad</b>", 10));
	CHECK(errpages_find(p, 504) == NULL);
	pg = errpages_find(p, 503);
	CHECK(pg != NULL);
	if (pg) {
		CHECK_STR(pg->body, "<p></p><i></i>{ {{ x }}");
	}
	r = errpages_render(p, 503, "a<b> & \"c\" 'd'", &len);
	CHECK_STR(r, "<p>a&lt;b&gt; &amp; &quot;c&quot; &#39;d&#39;</p>"
		     "<i>a&lt;b&gt; &amp; &quot;c&quot; &#39;d&#39;</i>{ {{ x }}");
	CHECK_INT(len, strlen(r));
	free(r);
	CHECK(errpages_render(p, 504, "x", &len) == NULL);
	CHECK(errpages_ref(p) == p);
	errpages_unref(p);
	errpages_unref(p);
	errpages_unref(NULL);
	CHECK(errpages_find(NULL, 503) == NULL);
	drop("503.html");
	drop("502.html");
	drop("999.html");
	err_release(&e);
}

static void test_errors(void)
{
	struct err e = ERR_INIT;
	char *big = calloc(1, ERRPAGES_MAX_SIZE + 1);
	struct errpages *p;

	CHECK(errpages_load("/nonexistent/errpages", &e) == NULL);
	CHECK(strstr(err_str(&e), "cannot read error pages in '/nonexistent/errpages'") != NULL);
	memset(big, 'x', ERRPAGES_MAX_SIZE);
	put("504.html", big, ERRPAGES_MAX_SIZE);
	p = errpages_load(dir, &e);
	CHECK(p && p->nr == 1 && errpages_find(p, 504)->len == ERRPAGES_MAX_SIZE);
	errpages_unref(p);
	put("504.html", big, ERRPAGES_MAX_SIZE + 1);
	CHECK(errpages_load(dir, &e) == NULL);
	CHECK(strstr(err_str(&e), "is larger than 256 KiB") != NULL);
	drop("504.html");
	p = errpages_load(dir, &e);
	CHECK(p && p->nr == 0);
	errpages_unref(p);
	free(big);
	err_release(&e);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	UNIT_RUN(test_load_and_render);
	UNIT_RUN(test_errors);
	rmdir(dir);
	return unit_done();
}
