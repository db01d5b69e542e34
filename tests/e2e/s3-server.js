// s3-server.js: a real S3 endpoint for the backup tests, s3rver with the
// payload encoding S3 clients use over plain HTTP (aws-chunked: signed
// chunks) decoded before s3rver stores an object, as S3 and MinIO do;
// s3rver would store the chunk framing as the object's bytes.
//
//   NODE_PATH=DIR/node_modules node s3-server.js ADDRESS PORT DATA_DIR
//
// Prints "listening PORT" once it serves (PORT 0: a free port); the access
// key and secret are s3rver's: S3RVER and S3RVER.
'use strict';
const { Readable } = require('stream');
const S3rver = require('s3rver');

const [address, port, directory] = process.argv.slice(2);

// "HEX;chunk-signature=SIG\r\nDATA\r\n" ... "0;chunk-signature=SIG\r\n\r\n"
function decodeChunked(buf) {
  const parts = [];
  let i = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', i);
    if (eol < 0) {
      throw new Error('aws-chunked: no chunk header');
    }
    const n = parseInt(buf.subarray(i, eol).toString().split(';')[0], 16);
    i = eol + 2;
    if (!(n > 0)) {
      return Buffer.concat(parts);
    }
    parts.push(buf.subarray(i, i + n));
    i += n + 2;
  }
}

const server = new S3rver({ address, port: Number(port), directory, silent: true });
server.middleware.unshift(async (ctx, next) => {
  if (ctx.get('x-amz-content-sha256') === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD') {
    const chunks = [];
    for await (const c of ctx.req) {
      chunks.push(c);
    }
    const body = decodeChunked(Buffer.concat(chunks));
    ctx.req.headers['content-length'] = String(body.length);
    ctx.req.pipe = (dest, opts) => Readable.from([body]).pipe(dest, opts);
  }
  await next();
});
server.run((err, { port: p } = {}) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
  console.log(`listening ${p}`);
});
