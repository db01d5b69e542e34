/*
 * The panel renders the form of any template an admin pastes: parse it,
 * render its form as HTML and as JSON, and check that no text of it
 * opens an element (every '<' of the page is one of the form's own tags)
 * and that a pattern attribute is anchored, has no alternation and no
 * markup character, and comes of a regex berthd reads as case-sensitive
 * too. The input is also read as a validRegex literal on its own.
 */
#include <jansson.h>
#include <regex.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/oneclick.h"
#include "daemon/paneloneclick.h"
#include "lib/sbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The tags paneloneclick_form_html writes. */
static const char *const tags[] = {
    "<section ", "</section>", "<h2 ",	  "</h2>",   "<p>",	 "<p ",	     "</p>",	"<code>",
    "</code>",	 "<ul ",       "</ul>",	  "<li>",    "</li>",	 "<form ",   "</form>", "<label ",
    "</label>",	 "<span ",     "</span>", "<input ", "<button ", "</button>"};

static void check_html(const char *html)
{
	for (const char *p = strchr(html, '<'); p; p = strchr(p + 1, '<')) {
		size_t i;

		for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
			if (!strncmp(p, tags[i], strlen(tags[i]))) {
				break;
			}
		}
		if (i == sizeof(tags) / sizeof(tags[0])) {
			__builtin_trap();
		}
	}
}

static void check_pattern(const char *js)
{
	char *pat = paneloneclick_pattern(js), *ere;
	struct err e = ERR_INIT;
	bool icase;
	regex_t re;

	if (!pat) {
		return;
	}
	if (pat[0] != '^' || pat[strlen(pat) - 1] != '$' || strpbrk(pat, "|<>\"'&")) {
		__builtin_trap();
	}
	/* berthd reads it the same way: no flag, and (when it translates: a template whose
	 * regex does not is refused whole) a regex regcomp takes */
	ere = oneclick_regex_translate(js, &icase, &e);
	if (ere && (icase || regcomp(&re, ere, REG_EXTENDED | REG_NOSUB) != 0)) {
		__builtin_trap();
	}
	if (ere) {
		regfree(&re);
	}
	free(ere);
	free(pat);
	err_release(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oneclick t = ONECLICK_INIT;
	struct err e = ERR_INIT;
	char *s;

	if (size > ONECLICK_MAX_SIZE + 1) {
		return 0;
	}
	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = 0;
	if (strlen(s) == size && size <= ONECLICK_MAX_REGEX) {
		check_pattern(s);
	}
	if (oneclick_parse(&t, "fuzz", s, size, &e) == 0) {
		struct sbuf html = SBUF_INIT;
		json_t *j = paneloneclick_form_json(&t);

		if (!j || json_array_size(json_object_get(j, "variables")) != t.nvars) {
			__builtin_trap();
		}
		json_decref(j);
		paneloneclick_form_html(&html, &t, size & 1 ? "x" : NULL);
		check_html(html.buf);
		for (size_t i = 0; i < t.nvars; i++) {
			check_pattern(t.vars[i].regex);
		}
		sbuf_release(&html);
	}
	oneclick_release(&t);
	err_release(&e);
	free(s);
	return 0;
}
