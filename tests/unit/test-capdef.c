/*
 * daemon/capdef: captain-definition files as CapRover's users write them
 * (a Dockerfile path, lines, an image, a template), the ones refused and
 * why, and capdef_load on an extracted upload: the definition, a bare
 * Dockerfile, the Dockerfile written from lines.
 */
#include "daemon/capdef.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/file.h"
#include "lib/sbuf.h"
#include "unit.h"

static char dir[64];

static int parse(const char *json, struct capdef *d, struct err *e)
{
	return capdef_parse(json, strlen(json), d, e);
}

static void test_accepted(void)
{
	struct capdef d = CAPDEF_INIT;
	struct err e = ERR_INIT;

	CHECK_INT(parse("{\"schemaVersion\": 2, \"dockerfilePath\": \"./Dockerfile\"}", &d, &e), 0);
	CHECK_INT(d.kind, CAPDEF_BUILD);
	CHECK_STR(d.dockerfile, "Dockerfile");
	CHECK(d.dockerfile_text == NULL && d.image == NULL);
	capdef_release(&d);

	CHECK_INT(parse("{\"schemaVersion\":2,\"dockerfilePath\":\"docker//./web.Dockerfile\","
			"\"imageName\":null,\"notes\":[1,2]}",
			&d, &e),
		  0);
	CHECK_STR(d.dockerfile, "docker/web.Dockerfile");
	capdef_release(&d);

	CHECK_INT(parse("{\"schemaVersion\":2,\"dockerfileLines\":[\"FROM busybox\","
			"\"CMD [\\\"httpd\\\", \\\"-f\\\"]\"]}",
			&d, &e),
		  0);
	CHECK_INT(d.kind, CAPDEF_BUILD);
	CHECK_STR(d.dockerfile, CAPDEF_DOCKERFILE);
	CHECK_STR(d.dockerfile_text, "FROM busybox\nCMD [\"httpd\", \"-f\"]\n");
	capdef_release(&d);

	CHECK_INT(parse("{\"schemaVersion\":2,\"imageName\":\"nginx:stable-alpine\"}", &d, &e), 0);
	CHECK_INT(d.kind, CAPDEF_IMAGE);
	CHECK_STR(d.image, "nginx:stable-alpine");
	CHECK(d.dockerfile == NULL);
	capdef_release(&d);

	CHECK_INT(parse("{\"schemaVersion\":2,\"imageName\":\"registry.test:5000/a/b@sha256:"
			"0123456789abcdef\"}",
			&d, &e),
		  0);
	capdef_release(&d);

	CHECK_INT(parse("{\"schemaVersion\":2,\"templateId\":\"node/18\"}", &d, &e), 0);
	CHECK_INT(d.kind, CAPDEF_BUILD);
	CHECK_STR(d.dockerfile, CAPDEF_DOCKERFILE);
	CHECK(d.dockerfile_text && !strncmp(d.dockerfile_text, "FROM node:18-alpine\n", 20));
	CHECK(d.dockerfile_text && strstr(d.dockerfile_text, "CMD [ \"npm\", \"start\" ]\n"));
	capdef_release(&d);
	err_release(&e);
}

static void refused(const char *json, const char *want)
{
	struct capdef d = CAPDEF_INIT;
	struct err e = ERR_INIT;

	CHECK_INT(parse(json, &d, &e), -1);
	CHECK(d.kind == CAPDEF_NONE && !d.dockerfile && !d.dockerfile_text && !d.image);
	if (!strstr(err_str(&e), want)) {
		printf("#   %s\n#   got:  %s\n#   want: %s\n", json, err_str(&e), want);
		CHECK(0);
	}
	err_release(&e);
}

static void test_refused(void)
{
	refused("", "captain-definition: not valid JSON");
	refused("{\"schemaVersion\":2,", "not valid JSON");
	refused("[2]", "expected a JSON object");
	refused("{\"dockerfilePath\":\"Dockerfile\"}", "schemaVersion is missing (expected 2)");
	refused("{\"schemaVersion\":1,\"templateId\":\"node/8.7.0\"}",
		"schemaVersion 1 is not supported: expected 2");
	refused("{\"schemaVersion\":\"2\",\"imageName\":\"a\"}",
		"schemaVersion: expected the number 2");
	refused("{\"schemaVersion\":2}",
		"expected one of dockerfilePath, dockerfileLines, imageName, "
		"templateId");
	refused("{\"schemaVersion\":2,\"dockerfilePath\":\"Dockerfile\",\"imageName\":\"a\"}",
		"both dockerfilePath and imageName are set: expected exactly one");
	refused("{\"schemaVersion\":2,\"dockerfileLines\":[\"FROM a\"],\"templateId\":\"node/1\"}",
		"both dockerfileLines and templateId");
	refused("{\"schemaVersion\":2,\"dockerfilePath\":\"../Dockerfile\"}",
		"dockerfilePath '../Dockerfile': expected a path inside the upload");
	refused("{\"schemaVersion\":2,\"dockerfilePath\":\"/etc/Dockerfile\"}",
		"inside the upload");
	refused("{\"schemaVersion\":2,\"dockerfilePath\":\"./\"}", "inside the upload");
	refused("{\"schemaVersion\":2,\"dockerfilePath\":7}", "dockerfilePath: expected a string");
	refused("{\"schemaVersion\":2,\"dockerfileLines\":\"FROM a\"}",
		"dockerfileLines: expected an array of strings");
	refused("{\"schemaVersion\":2,\"dockerfileLines\":[]}", "expected a non-empty array");
	refused("{\"schemaVersion\":2,\"dockerfileLines\":[\"FROM a\",3]}",
		"dockerfileLines[1]: expected a string");
	refused("{\"schemaVersion\":2,\"dockerfileLines\":[\"FROM a\\u0000b\"]}", "NUL");
	refused("{\"schemaVersion\":2,\"imageName\":\"--privileged\"}",
		"imageName '--privileged': expected an image name");
	refused("{\"schemaVersion\":2,\"imageName\":\"a b\"}", "expected an image name");
	refused("{\"schemaVersion\":2,\"imageName\":\"\"}", "expected an image name");
	refused("{\"schemaVersion\":2,\"templateId\":\"php/8.2\"}",
		"templateId 'php/8.2': berth does not build from CapRover's language templates");
	refused("{\"schemaVersion\":2,\"templateId\":\"python-django/3\"}", "dockerfileLines");
	refused("{\"schemaVersion\":2,\"templateId\":\"node\"}",
		"templateId: expected LANGUAGE/VERSION");
	refused("{\"schemaVersion\":2,\"templateId\":\"node/18\\nRUN evil\"}",
		"expected LANGUAGE/VERSION");
	refused("{\"schemaVersion\":2,\"schemaVersion\":2,\"imageName\":\"a\"}", "not valid JSON");
}

static void put(const char *rel, const char *text)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

static void fresh(void)
{
	struct err e = ERR_INIT;

	CHECK_INT(file_remove_tree(dir, &e), 0);
	CHECK_INT(mkdir(dir, 0700), 0);
	err_release(&e);
}

static void test_load(void)
{
	struct capdef d = CAPDEF_INIT;
	struct err e = ERR_INIT;
	struct sbuf sb = SBUF_INIT;
	char path[128];
	struct stat st;

	/* neither file */
	fresh();
	CHECK_INT(capdef_load(dir, NULL, &d, &e), -1);
	CHECK_STR(err_str(&e), "the upload holds neither a captain-definition nor a Dockerfile at "
			       "its root");
	/* a bare Dockerfile */
	put("Dockerfile", "FROM scratch\n");
	CHECK_INT(capdef_load(dir, NULL, &d, &e), 0);
	CHECK_INT(d.kind, CAPDEF_BUILD);
	CHECK_STR(d.dockerfile, "Dockerfile");
	capdef_release(&d);
	/* a definition pointing at a file that is not there */
	put("captain-definition", "{\"schemaVersion\":2,\"dockerfilePath\":\"./web/Dockerfile\"}");
	CHECK_INT(capdef_load(dir, NULL, &d, &e), -1);
	CHECK(strstr(err_str(&e), "dockerfilePath 'web/Dockerfile' names no file in the upload"));
	snprintf(path, sizeof(path), "%s/web", dir);
	CHECK_INT(mkdir(path, 0755), 0);
	put("web/Dockerfile", "FROM scratch\n");
	CHECK_INT(capdef_load(dir, NULL, &d, &e), 0);
	CHECK_STR(d.dockerfile, "web/Dockerfile");
	capdef_release(&d);
	/* lines: written into the directory, replacing what was there */
	put(CAPDEF_DOCKERFILE, "old");
	put("captain-definition",
	    "{\"schemaVersion\":2,\"dockerfileLines\":[\"FROM a\",\"EXPOSE 80\"]}");
	CHECK_INT(capdef_load(dir, NULL, &d, &e), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, CAPDEF_DOCKERFILE);
	CHECK_INT(sbuf_read_file(&sb, path), 0);
	CHECK_STR(sb.buf, "FROM a\nEXPOSE 80\n");
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0644);
	capdef_release(&d);
	/* another definition file; a link as the definition is refused */
	put("captain-definition-web", "{\"schemaVersion\":2,\"imageName\":\"web:1\"}");
	CHECK_INT(capdef_load(dir, "./captain-definition-web", &d, &e), 0);
	CHECK_STR(d.image, "web:1");
	capdef_release(&d);
	CHECK_INT(capdef_load(dir, "../captain-definition", &d, &e), -1);
	CHECK(strstr(err_str(&e), "must name a file at the upload's root"));
	snprintf(path, sizeof(path), "%s/captain-definition", dir);
	unlink(path);
	CHECK_INT(symlink("/etc/hostname", path), 0);
	CHECK_INT(capdef_load(dir, NULL, &d, &e), -1);
	CHECK(strstr(err_str(&e), "cannot open 'captain-definition'"));
	unlink(path);
	put("captain-definition", "{\"schemaVersion\":1,\"templateId\":\"node/8\"}");
	CHECK_INT(capdef_load(dir, NULL, &d, &e), -1);
	CHECK(strstr(err_str(&e), "captain-definition: schemaVersion 1"));
	CHECK(d.kind == CAPDEF_NONE);
	sbuf_release(&sb);
	err_release(&e);
}

int main(void)
{
	struct err e = ERR_INIT;

	snprintf(dir, sizeof(dir), "/tmp/berth-capdef-XXXXXX");
	if (!mkdtemp(dir)) {
		return 1;
	}
	UNIT_RUN(test_accepted);
	UNIT_RUN(test_refused);
	UNIT_RUN(test_load);
	file_remove_tree(dir, &e);
	err_release(&e);
	return unit_done();
}
