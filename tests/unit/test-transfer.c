#include "engine/transfer.h"

#include <stdlib.h>
#include <string.h>

#include "unit.h"

#define H1 "d674e4de3a5268c4ed9fde388510544cf4106627945d1823a9401beb1522d399"
#define H2 "54c4e6e09a5b9a305cf16cbb10f470ad6a15d719192b1981bbde3c848fc863c3"

static int parse_manifest(const char *json, struct transfer_manifest *m, struct err *e)
{
	return transfer_parse_manifest(json, strlen(json), m, e);
}

static void test_manifest_legacy(void)
{
	static const char json[] =
	    "[{\"Config\":\"5a5c3dc2.json\",\"RepoTags\":[\"berth-testapp:latest\"],"
	    "\"Layers\":[\"fc07e842/layer.tar\",\"0abc/layer.tar\"]}]";
	struct transfer_manifest m;
	struct err e = ERR_INIT;

	transfer_manifest_init(&m);
	CHECK_INT(parse_manifest(json, &m, &e), 0);
	CHECK_STR(m.config, "5a5c3dc2.json");
	CHECK_INT(m.tags.nr, 1);
	CHECK_STR(m.tags.v[0], "berth-testapp:latest");
	CHECK_INT(m.layers.nr, 2);
	CHECK_STR(m.layers.v[1], "0abc/layer.tar");
	transfer_manifest_release(&m);
	err_release(&e);
}

static void test_manifest_oci_and_untagged(void)
{
	static const char json[] = "[{\"Config\":\"blobs/sha256/" H1 "\",\"RepoTags\":null,"
				   "\"Layers\":[\"blobs/sha256/" H2 "\"],\"LayerSources\":{}}]";
	struct transfer_manifest m;
	struct err e = ERR_INIT;

	transfer_manifest_init(&m);
	CHECK_INT(parse_manifest(json, &m, &e), 0);
	CHECK_INT(m.tags.nr, 0);
	CHECK_STR(m.layers.v[0], "blobs/sha256/" H2);
	transfer_manifest_release(&m);
	err_release(&e);
}

static void check_manifest_error(const char *json, const char *want)
{
	struct transfer_manifest m;
	struct err e = ERR_INIT;

	transfer_manifest_init(&m);
	CHECK_INT(parse_manifest(json, &m, &e), -1);
	if (!strstr(err_str(&e), want)) {
		CHECK_STR(err_str(&e), want);
	}
	CHECK(m.config == NULL);
	CHECK_INT(m.layers.nr, 0);
	transfer_manifest_release(&m);
	err_release(&e);
}

static void test_manifest_errors(void)
{
	check_manifest_error("", "manifest.json:");
	check_manifest_error("{}", "expected an array, found an object");
	check_manifest_error("[]", "expected one image, found 0");
	check_manifest_error("[{\"Config\":\"a\",\"Layers\":[]},{}]",
			     "expected one image, found 2");
	check_manifest_error("[1]", "[0]: expected an object, found a number");
	check_manifest_error("[{\"Layers\":[]}]",
			     "Config: expected a relative path, found nothing");
	check_manifest_error("[{\"Config\":\"/etc/passwd\",\"Layers\":[]}]",
			     "Config: expected a relative path, found '/etc/passwd'");
	check_manifest_error("[{\"Config\":\"a/../../b\",\"Layers\":[]}]", "Config:");
	check_manifest_error("[{\"Config\":\"a//b\",\"Layers\":[]}]", "Config:");
	check_manifest_error("[{\"Config\":\"a/\",\"Layers\":[]}]", "Config:");
	check_manifest_error("[{\"Config\":\"a b\",\"Layers\":[]}]", "Config:");
	check_manifest_error("[{\"Config\":\"c\",\"Layers\":[\"x/layer.tar\",\"..\"]}]",
			     "Layers[1]: expected a relative path, found '..'");
	check_manifest_error("[{\"Config\":\"c\",\"Layers\":[7]}]",
			     "Layers[0]: expected a relative path, found a number");
	check_manifest_error("[{\"Config\":\"c\"}]", "Layers: expected a list");
	check_manifest_error("[{\"Config\":\"c\",\"RepoTags\":[\"-x\"],\"Layers\":[]}]",
			     "RepoTags[0]: expected an image tag, found '-x'");
	check_manifest_error("[{\"Config\":\"c\",\"RepoTags\":[\"a b\"],\"Layers\":[]}]",
			     "RepoTags[0]");
	check_manifest_error("[{\"Config\":\"c\",\"Config\":\"d\",\"Layers\":[]}]", "duplicate");
}

static void test_manifest_limits(void)
{
	struct sbuf sb = SBUF_INIT;
	struct transfer_manifest m;
	struct err e = ERR_INIT;
	int i;

	sbuf_addstr(&sb, "[{\"Config\":\"c\",\"Layers\":[");
	for (i = 0; i <= TRANSFER_MAX_LAYERS; i++) {
		sbuf_addf(&sb, "%s\"l%d\"", i ? "," : "", i);
	}
	sbuf_addstr(&sb, "]}]");
	transfer_manifest_init(&m);
	CHECK_INT(transfer_parse_manifest(sb.buf, sb.len, &m, &e), -1);
	CHECK(strstr(err_str(&e), "at most 256") != NULL);
	/* a long path */
	sbuf_reset(&sb);
	sbuf_addstr(&sb, "[{\"Config\":\"");
	for (i = 0; i <= TRANSFER_MAX_PATH; i++) {
		sbuf_addch(&sb, 'a');
	}
	sbuf_addstr(&sb, "\",\"Layers\":[]}]");
	CHECK_INT(transfer_parse_manifest(sb.buf, sb.len, &m, &e), -1);
	/* too large to read at all */
	CHECK_INT(transfer_parse_manifest(sb.buf, TRANSFER_MAX_MANIFEST + 1, &m, &e), -1);
	CHECK(strstr(err_str(&e), "too large") != NULL);
	transfer_manifest_release(&m);
	sbuf_release(&sb);
	err_release(&e);
}

static int parse_config(const char *json, struct strvec *ids, struct err *e)
{
	return transfer_parse_config(json, strlen(json), ids, e);
}

static void test_config(void)
{
	static const char ok[] = "{\"architecture\":\"amd64\",\"rootfs\":{\"type\":\"layers\","
				 "\"diff_ids\":[\"sha256:" H1 "\",\"sha256:" H2 "\"]}}";
	struct strvec ids = STRVEC_INIT;
	struct err e = ERR_INIT;

	CHECK_INT(transfer_parse_config(ok, strlen(ok), &ids, &e), 0);
	CHECK_INT(ids.nr, 2);
	CHECK_STR(ids.v[1], "sha256:" H2);
	strvec_clear(&ids);
	CHECK_INT(parse_config("{\"rootfs\":{\"diff_ids\":[\"sha256:abc\"]}}", &ids, &e), -1);
	CHECK(strstr(err_str(&e), "diff_ids[0]: expected a sha256 digest") != NULL);
	CHECK_INT(parse_config("{\"rootfs\":[]}", &ids, &e), -1);
	CHECK_INT(parse_config("[]", &ids, &e), -1);
	CHECK_INT(ids.nr, 0);
	strvec_clear(&ids);
	err_release(&e);
}

static void test_digest(void)
{
	CHECK(transfer_valid_digest(slice_cstr("sha256:" H1)));
	CHECK(!transfer_valid_digest(slice_cstr("sha256:" H1 "0")));
	CHECK(!transfer_valid_digest(slice_cstr("sha512:" H1)));
	CHECK(!transfer_valid_digest(
	    slice_cstr("sha256:D674e4de3a5268c4ed9fde388510544cf4106627945d1823a9401beb1522d399")));
}

static void test_inspect(void)
{
	struct transfer_image img;
	struct err e = ERR_INIT;

	transfer_image_init(&img);
	CHECK_INT(transfer_parse_inspect(
		      slice_cstr("sha256:" H1 " 898344 sha256:" H2 " sha256:" H1 "\n"), &img, &e),
		  0);
	CHECK_STR(img.id, "sha256:" H1);
	CHECK_INT(img.size, 898344);
	CHECK_INT(img.diff_ids.nr, 2);
	CHECK_STR(img.diff_ids.v[0], "sha256:" H2);
	transfer_image_release(&img);
	/* no layers at all (FROM scratch with only metadata) */
	CHECK_INT(transfer_parse_inspect(slice_cstr("sha256:" H1 " 0"), &img, &e), 0);
	CHECK_INT(img.diff_ids.nr, 0);
	transfer_image_release(&img);
	CHECK_INT(transfer_parse_inspect(slice_cstr("Error: no such image"), &img, &e), -1);
	CHECK_INT(transfer_parse_inspect(slice_cstr("sha256:" H1 " big"), &img, &e), -1);
	CHECK_INT(transfer_parse_inspect(slice_cstr("sha256:" H1 " 1 sha256:x"), &img, &e), -1);
	CHECK(img.id == NULL);
	err_release(&e);
}

static void test_probe(void)
{
	struct transfer_probe p;
	struct err e = ERR_INIT;

	transfer_probe_init(&p);
	CHECK_INT(transfer_parse_probe(slice_cstr("welcome!\ndir /var/lib/berth/layers\nlayer " H1
						  "\r\nlayer " H2 "\n"),
				       &p, &e),
		  0);
	CHECK_STR(p.dir, "/var/lib/berth/layers");
	CHECK(!p.tagged && !p.has_id);
	CHECK_INT(p.cached.nr, 2);
	CHECK_STR(p.cached.v[1], H2);
	transfer_probe_release(&p);

	CHECK_INT(transfer_parse_probe(slice_cstr("dir /c\ntagged\n"), &p, &e), 0);
	CHECK(p.tagged);
	transfer_probe_release(&p);
	CHECK_INT(transfer_parse_probe(slice_cstr("dir /c\nhas-id"), &p, &e), 0);
	CHECK(p.has_id);
	CHECK(!p.layers_unknown);
	transfer_probe_release(&p);
	/* asked of Docker only: the cache is to be looked at on the host */
	CHECK_INT(transfer_parse_probe(slice_cstr("dir /c\nlayers unknown\n"), &p, &e), 0);
	CHECK(p.layers_unknown && !p.tagged && !p.has_id && !p.cached.nr);
	transfer_probe_release(&p);

	/* a host with the image says where its cache is only when it lacks it */
	CHECK_INT(transfer_parse_probe(slice_cstr("tagged\n"), &p, &e), 0);
	CHECK(p.tagged && !p.dir);
	transfer_probe_release(&p);
	CHECK_INT(transfer_parse_probe(slice_cstr("layer " H1 "\n"), &p, &e), -1);
	CHECK(strstr(err_str(&e), "did not name the layer cache") != NULL);
	transfer_probe_release(&p);
	CHECK_INT(transfer_parse_probe(slice_cstr("dir relative\n"), &p, &e), -1);
	transfer_probe_release(&p);
	CHECK_INT(transfer_parse_probe(slice_cstr("dir /c\nlayer ../../x\n"), &p, &e), -1);
	transfer_probe_release(&p);
	err_release(&e);
}

static void test_human_size(void)
{
	struct sbuf sb = SBUF_INIT;

	transfer_human_size(&sb, 0);
	CHECK_STR(sb.buf, "0 B");
	sbuf_reset(&sb);
	transfer_human_size(&sb, 2048);
	CHECK_STR(sb.buf, "2.0 KiB");
	sbuf_reset(&sb);
	transfer_human_size(&sb, 12897280);
	CHECK_STR(sb.buf, "12.3 MiB");
	sbuf_release(&sb);
}

int main(void)
{
	UNIT_RUN(test_manifest_legacy);
	UNIT_RUN(test_manifest_oci_and_untagged);
	UNIT_RUN(test_manifest_errors);
	UNIT_RUN(test_manifest_limits);
	UNIT_RUN(test_config);
	UNIT_RUN(test_digest);
	UNIT_RUN(test_inspect);
	UNIT_RUN(test_probe);
	UNIT_RUN(test_human_size);
	return unit_done();
}
