#!/usr/bin/env node
'use strict';
// The load benchmark's measure of "the time to move the bytes": an HTTP server on loopback that
// reads the whole request body and answers a preallocated body of --bytes bytes, computing
// nothing. Its p50 at one user is what HTTP and the copies cost for that request and answer.
//   node scripts/lib/echo-server.js --bytes N   -> prints {"port": P}
const http = require('node:http');

const i = process.argv.indexOf('--bytes');
const answer = Buffer.alloc(Number(process.argv[i + 1] ?? 0), 1);
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    Buffer.concat(chunks); // the server holds the body as one buffer, as a real one does
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': answer.length });
    res.end(answer);
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
