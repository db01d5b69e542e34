/*
 * capdef — CapRover's `captain-definition`: what an uploaded app is built
 * from, read into "build this directory with this Dockerfile" or "deploy
 * this image".
 *
 * The file is JSON with schemaVersion 2 and exactly one of:
 *   dockerfilePath   a Dockerfile inside the upload (relative, no "..");
 *                    the build context is still the upload's root
 *   dockerfileLines  the Dockerfile's lines (strings), joined with "\n"
 *   imageName        an image to deploy as it is
 *   templateId       "LANGUAGE/VERSION", one of CapRover's language
 *                    templates: "node/VERSION" becomes the Dockerfile
 *                    CapRover documents as its equivalent (node:VERSION-alpine,
 *                    `npm install`, `npm start` on port 80); the others
 *                    (php, python-django, ruby-rack) are refused with a
 *                    message saying to write dockerfileLines instead
 * Keys CapRover does not define are ignored, as CapRover does; a defined
 * key of the wrong type, schemaVersion other than 2, none or several of
 * the four, and values that cannot be safe (a path leaving the upload, an
 * image name that is not one) are errors naming the key.
 *
 * An upload without a captain-definition but with a Dockerfile at its root
 * is built from that Dockerfile (capdef_load).
 */
#ifndef CAPDEF_H
#define CAPDEF_H

#include <stddef.h>

#include "lib/err.h"

#define CAPDEF_FILE	  "captain-definition"
#define CAPDEF_DOCKERFILE ".berth.Dockerfile" /* where capdef_load writes dockerfileLines */
#define CAPDEF_SIZE_MAX	  (256 * 1024)

enum capdef_kind {
	CAPDEF_NONE = 0,
	CAPDEF_BUILD, /* docker build the directory with dockerfile */
	CAPDEF_IMAGE, /* deploy image as it is */
};

struct capdef {
	enum capdef_kind kind;
	char *dockerfile;      /* BUILD: the Dockerfile's path, relative to the directory */
	char *dockerfile_text; /* BUILD from lines or a template: the Dockerfile itself */
	char *image;	       /* IMAGE: the image's name */
};

#define CAPDEF_INIT                                                                                \
	{                                                                                          \
		CAPDEF_NONE, NULL, NULL, NULL                                                      \
	}

/*
 * Parses a captain-definition's text (a file's, or the API's
 * captainDefinitionContent). For dockerfileLines and templateId, d->dockerfile
 * is CAPDEF_DOCKERFILE and d->dockerfile_text what to write there; for
 * dockerfilePath, d->dockerfile is the path normalised ("./a//Dockerfile"
 * gives "a/Dockerfile") and d->dockerfile_text NULL. 0, or -1 with e set
 * (d then empty).
 */
int capdef_parse(const char *text, size_t len, struct capdef *d, struct err *e);

/*
 * Reads what to do with an extracted upload in dir: its definition file
 * (defpath relative to dir, NULL for CAPDEF_FILE) or, when there is none,
 * the Dockerfile at its root. A dockerfileLines or templateId Dockerfile is
 * written into dir as CAPDEF_DOCKERFILE (0644, replacing what is there); a
 * dockerfilePath must name a regular file in dir. 0, or -1 with e set.
 */
int capdef_load(const char *dir, const char *defpath, struct capdef *d, struct err *e);

void capdef_release(struct capdef *d);

#endif
