#!/usr/bin/env node
'use strict';
// What "naive" means in the load benchmark: the server a Node developer writes in an afternoon
// around onnxruntime-node. N sessions (round robin), the request body is the input tensor's raw
// float32 bytes, the answer is the first output's raw bytes. No admission, no queue cap, no worker
// threads: onnxruntime-node runs each inference on the event loop's thread.
//
//   node bench/baselines/naive-ort-server.js --model m.onnx --shape 1,3,640,640 [--sessions 2] [--port 0]
// Prints one line {"port": N} when it listens.
const http = require('node:http');
const ort = require('onnxruntime-node');

const arg = (k, d) => (process.argv.includes(k) ? process.argv[process.argv.indexOf(k) + 1] : d);
const shape = arg('--shape').split(',').map(Number);

async function main() {
  const sessions = [];
  for (let i = 0; i < Number(arg('--sessions', 2)); i++)
    sessions.push(await ort.InferenceSession.create(arg('--model'), { graphOptimizationLevel: 'all' }));
  let next = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      try {
        const body = Buffer.concat(chunks);
        const input = new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.length));
        const session = sessions[next++ % sessions.length];
        const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input, shape) });
        const data = out[session.outputNames[0]].data;
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      } catch (e) {
        res.writeHead(500);
        res.end(String(e.message));
      }
    });
  });
  server.listen(Number(arg('--port', 0)), '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
main().catch((e) => {
  process.stderr.write(`${e.stack}\n`);
  process.exit(1);
});
