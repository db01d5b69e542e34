/*
 * The sample app reads requests from anyone: any bytes sent to it must give
 * a well-formed answer (or none, when the head never ends), never a crash or
 * a read outside its buffer. The app is one file, included whole.
 */
#define HELLO_NO_MAIN
#include "examples/hello/hello.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[1024];
	struct request r;
	ssize_t n;
	int sv[2];

	/* the parser on exactly these bytes (ASan catches a read past them) */
	if (size) {
		char *copy = malloc(size);
		memcpy(copy, data, size);
		parse_request(copy, size, &r);
		free(copy);
	}
	/* the whole path: read from a socket, parse, answer */
	if (size > REQUEST_MAX + 16 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		return 0;
	}
	if (write(sv[0], data, size) != (ssize_t)size) {
		__builtin_trap();
	}
	shutdown(sv[0], SHUT_WR);
	serve(sv[1], "v1", 0);
	close(sv[1]);
	n = read(sv[0], out, sizeof(out) - 1);
	if (n > 0 && memcmp(out, "HTTP/1.1 ", 9)) {
		__builtin_trap();
	}
	close(sv[0]);
	return 0;
}
