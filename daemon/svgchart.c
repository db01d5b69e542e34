#include "daemon/svgchart.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "lib/banned.h"

#define PAD_LEFT   56
#define PAD_RIGHT  16
#define PAD_TOP	   36
#define PAD_BOTTOM 36

/* Each at least 4.5:1 against white (WCAG AA for text), checked in the unit test. */
static const char *const palette[SVGCHART_MAX_LINES] = {"#0b5cad", "#b3261e", "#1e7a34",
							"#6a3d9a", "#8a5a00", "#00707a"};

const char *svgchart_colour(unsigned i)
{
	return palette[i % SVGCHART_MAX_LINES];
}

void svgchart_num(struct sbuf *sb, double v, unsigned decimals)
{
	long long scale = 1, x;
	unsigned i;

	if (!isfinite(v)) {
		sbuf_addch(sb, '-');
		return;
	}
	if (decimals > 6) {
		decimals = 6;
	}
	for (i = 0; i < decimals; i++) {
		scale *= 10;
	}
	if (fabs(v) > 1e12) {
		v = v < 0 ? -1e12 : 1e12;
	}
	x = llround(fabs(v) * (double)scale);
	if (v < 0 && x) {
		sbuf_addch(sb, '-');
	}
	sbuf_addf(sb, "%lld", x / scale);
	if (decimals) {
		sbuf_addf(sb, ".%0*lld", (int)decimals, x % scale);
	}
}

double svgchart_step(double span, unsigned ticks)
{
	double raw, mag;

	if (!(span > 0) || !isfinite(span) || !ticks) {
		return 1;
	}
	raw = span / ticks;
	mag = pow(10, floor(log10(raw)));
	if (raw <= mag) {
		return mag;
	}
	if (raw <= 2 * mag) {
		return 2 * mag;
	}
	if (raw <= 5 * mag) {
		return 5 * mag;
	}
	return 10 * mag;
}

/* Digits after the point that show steps of step apart. */
static unsigned step_decimals(double step)
{
	unsigned d = 0;

	while (d < 6 && step * pow(10, d) < 0.999) {
		d++;
	}
	return d;
}

static void hhmm(struct sbuf *sb, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm)) {
		sbuf_addstr(sb, "--:--");
		return;
	}
	sbuf_addf(sb, "%02d:%02d", tm.tm_hour, tm.tm_min);
}

struct frame {
	double x0, x1, y0, y1; /* the plot's box */
	double ylo, yhi;
	int64_t tlo, thi;
};

static double px(const struct frame *f, int64_t t)
{
	return f->x0 + (f->x1 - f->x0) * (double)(t - f->tlo) / (double)(f->thi - f->tlo);
}

static double py(const struct frame *f, double v)
{
	return f->y1 - (f->y1 - f->y0) * (v - f->ylo) / (f->yhi - f->ylo);
}

static void add_xy(struct sbuf *sb, double x, double y)
{
	svgchart_num(sb, x, 1);
	sbuf_addch(sb, ' ');
	svgchart_num(sb, y, 1);
}

/* The desc made from each line's last value. */
static void auto_desc(struct sbuf *sb, const struct svgchart *c)
{
	size_t i, j;

	if (!c->n) {
		sbuf_addstr(sb, "No samples yet.");
		return;
	}
	sbuf_addstr(sb, "From ");
	hhmm(sb, c->t[0]);
	sbuf_addstr(sb, " to ");
	hhmm(sb, c->t[c->n - 1]);
	sbuf_addstr(sb, " UTC.");
	for (i = 0; i < c->nlines && i < SVGCHART_MAX_LINES; i++) {
		const double *y = c->lines[i].y;

		sbuf_addch(sb, ' ');
		sbuf_add_markup(sb, c->lines[i].label);
		for (j = c->n; j > 0 && !isfinite(y[j - 1]); j--) {
		}
		if (!j) {
			sbuf_addstr(sb, ": no value.");
			continue;
		}
		sbuf_addstr(sb, ": last ");
		svgchart_num(sb, y[j - 1], fabs(y[j - 1]) < 10 ? 2 : 1);
		if (c->unit) {
			sbuf_addch(sb, ' ');
			sbuf_add_markup(sb, c->unit);
		}
		sbuf_addch(sb, '.');
	}
}

static void draw_line(struct sbuf *sb, const struct svgchart *c, const struct frame *f,
		      const double *y, const char *colour, int64_t gap)
{
	struct sbuf d = SBUF_INIT, dots = SBUF_INIT;
	size_t i, run = 0;

	for (i = 0; i < c->n; i++) {
		bool ok = isfinite(y[i]);
		bool brk = !ok || (i && c->t[i] - c->t[i - 1] > gap);

		if (brk && run == 1) {
			/* the point before stood alone */
			sbuf_addstr(&dots, "<circle cx=\"");
			svgchart_num(&dots, px(f, c->t[i - 1]), 1);
			sbuf_addstr(&dots, "\" cy=\"");
			svgchart_num(&dots, py(f, y[i - 1]), 1);
			sbuf_addf(&dots, "\" r=\"2\" fill=\"%s\"/>\n", colour);
		}
		if (brk) {
			run = 0;
		}
		if (!ok) {
			continue;
		}
		sbuf_addstr(&d, run ? " L" : (d.len ? " M" : "M"));
		add_xy(&d, px(f, c->t[i]), py(f, y[i]));
		run++;
	}
	if (run == 1) {
		sbuf_addstr(&dots, "<circle cx=\"");
		svgchart_num(&dots, px(f, c->t[c->n - 1]), 1);
		sbuf_addstr(&dots, "\" cy=\"");
		svgchart_num(&dots, py(f, y[c->n - 1]), 1);
		sbuf_addf(&dots, "\" r=\"2\" fill=\"%s\"/>\n", colour);
	}
	if (d.len) {
		sbuf_addf(sb,
			  "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" "
			  "stroke-linejoin=\"round\"/>\n",
			  d.buf, colour);
	}
	sbuf_add(sb, dots.buf, dots.len);
	sbuf_release(&d);
	sbuf_release(&dots);
}

void svgchart_render(struct sbuf *sb, const struct svgchart *c)
{
	static const int64_t tsteps[] = {60,   120,  300,   600,   900,	  1800,
					 3600, 7200, 10800, 21600, 43200, 86400};
	unsigned w = c->width < 160 ? 160 : c->width > 4096 ? 4096 : c->width;
	unsigned h = c->height < 100 ? 100 : c->height > 4096 ? 4096 : c->height;
	size_t nl = c->nlines < SVGCHART_MAX_LINES ? c->nlines : SVGCHART_MAX_LINES, i, j;
	double lo = INFINITY, hi = -INFINITY, step;
	int64_t gap = INT64_MAX, tstep = tsteps[0], t;
	struct frame f = {PAD_LEFT, w - PAD_RIGHT, PAD_TOP, h - PAD_BOTTOM, 0, 1, 0, 60};
	unsigned dec, k;

	for (i = 0; i < nl; i++) {
		for (j = 0; j < c->n; j++) {
			double v = c->lines[i].y[j];

			if (isfinite(v)) {
				lo = v < lo ? v : lo;
				hi = v > hi ? v : hi;
			}
		}
	}
	if (lo > hi) {
		lo = 0;
		hi = 1;
	}
	lo = lo > 0 ? 0 : lo;
	if (hi <= lo) {
		hi = lo + 1;
	}
	step = svgchart_step(hi - lo, 4);
	f.ylo = floor(lo / step) * step;
	f.yhi = ceil(hi / step) * step;
	if (f.yhi <= f.ylo) {
		f.yhi = f.ylo + step;
	}
	dec = step_decimals(step);
	if (c->n) {
		f.tlo = c->t[0];
		f.thi = c->t[c->n - 1] > f.tlo ? c->t[c->n - 1] : f.tlo + 60;
	}
	for (j = 1; j < c->n; j++) {
		int64_t dt = c->t[j] - c->t[j - 1];

		if (dt > 0 && dt < gap) {
			gap = dt;
		}
	}
	if (gap != INT64_MAX) {
		gap += gap / 2;
	}
	for (k = 0; k < sizeof(tsteps) / sizeof(tsteps[0]); k++) {
		tstep = tsteps[k];
		if ((f.thi - f.tlo) / tstep <= 6) {
			break;
		}
	}

	sbuf_addf(sb,
		  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%u\" height=\"%u\" "
		  "viewBox=\"0 0 %u %u\" role=\"img\" aria-label=\"",
		  w, h, w, h);
	sbuf_add_markup(sb, c->title);
	sbuf_addstr(sb, "\" font-family=\"sans-serif\" font-size=\"11\">\n<title>");
	sbuf_add_markup(sb, c->title);
	sbuf_addstr(sb, "</title>\n<desc>");
	if (c->desc) {
		sbuf_add_markup(sb, c->desc);
	} else {
		auto_desc(sb, c);
	}
	sbuf_addf(sb, "</desc>\n<rect width=\"%u\" height=\"%u\" fill=\"#ffffff\"/>\n", w, h);

	/* y: grid and labels */
	sbuf_addstr(sb, "<g stroke=\"#d9d9d9\" stroke-width=\"1\">\n");
	for (k = 0; k <= 64 && f.ylo + k * step <= f.yhi + step / 2; k++) {
		double y = py(&f, f.ylo + k * step);

		sbuf_addstr(sb, "<line x1=\"");
		svgchart_num(sb, f.x0, 1);
		sbuf_addstr(sb, "\" x2=\"");
		svgchart_num(sb, f.x1, 1);
		sbuf_addstr(sb, "\" y1=\"");
		svgchart_num(sb, y, 1);
		sbuf_addstr(sb, "\" y2=\"");
		svgchart_num(sb, y, 1);
		sbuf_addstr(sb, "\"/>\n");
	}
	sbuf_addstr(sb, "</g>\n<g fill=\"#333333\" text-anchor=\"end\">\n");
	for (k = 0; k <= 64 && f.ylo + k * step <= f.yhi + step / 2; k++) {
		double v = f.ylo + k * step;

		sbuf_addstr(sb, "<text x=\"");
		svgchart_num(sb, f.x0 - 6, 1);
		sbuf_addstr(sb, "\" y=\"");
		svgchart_num(sb, py(&f, v) + 4, 1);
		sbuf_addstr(sb, "\">");
		svgchart_num(sb, v, dec);
		sbuf_addstr(sb, "</text>\n");
	}
	sbuf_addstr(sb, "</g>\n");

	/* x: ticks and HH:MM labels on round times */
	sbuf_addstr(sb, "<g fill=\"#333333\" text-anchor=\"middle\">\n");
	t = f.tlo % tstep ? f.tlo + (tstep - ((f.tlo % tstep) + tstep) % tstep) : f.tlo;
	/* no samples: no times to label */
	for (k = 0; c->n && t <= f.thi && k < 64; t += tstep, k++) {
		double x = px(&f, t);

		sbuf_addstr(sb, "<line x1=\"");
		svgchart_num(sb, x, 1);
		sbuf_addstr(sb, "\" x2=\"");
		svgchart_num(sb, x, 1);
		sbuf_addstr(sb, "\" y1=\"");
		svgchart_num(sb, f.y1, 1);
		sbuf_addstr(sb, "\" y2=\"");
		svgchart_num(sb, f.y1 + 4, 1);
		sbuf_addstr(sb, "\" stroke=\"#555555\"/>\n<text x=\"");
		svgchart_num(sb, x, 1);
		sbuf_addstr(sb, "\" y=\"");
		svgchart_num(sb, f.y1 + 16, 1);
		sbuf_addstr(sb, "\">");
		hhmm(sb, t);
		sbuf_addstr(sb, "</text>\n");
	}
	sbuf_addstr(sb, "<text x=\"");
	svgchart_num(sb, f.x1, 1);
	sbuf_addstr(sb, "\" y=\"");
	svgchart_num(sb, f.y1 + 30, 1);
	sbuf_addstr(sb, "\" text-anchor=\"end\">time (UTC)</text>\n</g>\n");

	/* axes, the unit, the title */
	sbuf_addstr(sb, "<path d=\"M");
	add_xy(sb, f.x0, f.y0);
	sbuf_addstr(sb, " L");
	add_xy(sb, f.x0, f.y1);
	sbuf_addstr(sb, " L");
	add_xy(sb, f.x1, f.y1);
	sbuf_addstr(sb, "\" fill=\"none\" stroke=\"#555555\" stroke-width=\"1\"/>\n");
	sbuf_addstr(sb, "<text x=\"8\" y=\"16\" font-size=\"13\" font-weight=\"bold\" "
			"fill=\"#222222\">");
	sbuf_add_markup(sb, c->title);
	sbuf_addstr(sb, "</text>\n");
	if (c->unit) {
		sbuf_addstr(sb, "<text x=\"8\" y=\"");
		svgchart_num(sb, f.y0 - 8, 1);
		sbuf_addstr(sb, "\" fill=\"#333333\">");
		sbuf_add_markup(sb, c->unit);
		sbuf_addstr(sb, "</text>\n");
	}

	/* legend, right-aligned on the title's line, and the lines */
	for (i = 0; i < nl; i++) {
		double x = f.x1 - (double)(nl - i) * 80;

		sbuf_addstr(sb, "<rect x=\"");
		svgchart_num(sb, x, 1);
		sbuf_addf(sb, "\" y=\"8\" width=\"12\" height=\"3\" fill=\"%s\"/>\n<text x=\"",
			  palette[i]);
		svgchart_num(sb, x + 16, 1);
		sbuf_addf(sb, "\" y=\"14\" fill=\"%s\">", palette[i]);
		sbuf_add_markup(sb, c->lines[i].label);
		sbuf_addstr(sb, "</text>\n");
	}
	for (i = 0; i < nl; i++) {
		draw_line(sb, c, &f, c->lines[i].y, palette[i], gap);
	}
	sbuf_addstr(sb, "</svg>\n");
}
