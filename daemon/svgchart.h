/*
 * svgchart — a line chart drawn as SVG text, for the panel: no chart
 * library, no JavaScript, the same bytes for the same input.
 *
 *	struct svgchart_line l[] = {{"p50", p50}, {"p99", p99}};
 *	struct svgchart c = {.width = 640, .height = 240, .title = "Latency",
 *			     .unit = "ms", .t = t, .n = n, .lines = l, .nlines = 2};
 *	svgchart_render(&sb, &c);
 *
 * What is drawn:
 *	- an <svg> with role="img" and an aria-label (the title), a <title>
 *	  and a <desc> (the caller's, or one made from the lines' last values)
 *	- a y axis from 0 (or the smallest value, when below 0) to a round
 *	  top, ticks on 1-2-5 steps, labelled with the unit ("req/s", "ms", "%")
 *	- an x axis of times, ticks on round minutes, labelled HH:MM (UTC);
 *	  "UTC" under the axis
 *	- each line in its own colour from a palette that keeps a contrast of
 *	  at least 4.5:1 on the white background, with a legend
 *	- gaps: a NaN value, or two points further apart than 1.5 times the
 *	  smallest step between times, break the line; a point alone is a dot
 * Numbers are written without the C library's locale (always '.'), and
 * all text is XML-escaped. At most SVGCHART_MAX_LINES lines; sizes are
 * clamped to [160, 4096] by [100, 4096].
 */
#ifndef SVGCHART_H
#define SVGCHART_H

#include <stddef.h>
#include <stdint.h>

#include "lib/sbuf.h"

#define SVGCHART_MAX_LINES 6

struct svgchart_line {
	const char *label;
	const double *y; /* n values (struct svgchart's n); NaN: no value */
};

struct svgchart {
	unsigned width, height;
	const char *title; /* required */
	const char *desc;  /* NULL: made from the lines' last values */
	const char *unit;  /* after the values: "req/s", "ms", "%"; NULL: none */
	const int64_t *t;  /* n times, Unix seconds, ascending */
	size_t n;
	const struct svgchart_line *lines;
	size_t nlines;
};

/* Appends the chart to sb. */
void svgchart_render(struct sbuf *sb, const struct svgchart *c);

/*
 * The step of ticks for values up to span, about `ticks` of them: 1, 2 or
 * 5 times a power of ten.
 */
double svgchart_step(double span, unsigned ticks);

/* Line i's colour ("#rrggbb"), for a legend drawn elsewhere. */
const char *svgchart_colour(unsigned i);

/* Appends v with `decimals` digits after a '.' (never a locale's comma), "-" for NaN. */
void svgchart_num(struct sbuf *sb, double v, unsigned decimals);

#endif
