// The baseline for the benchmarks: the book's step-3 server (LDJ over TCP),
// written here in the same shape: one fs.watch per connection, one
// JSON.stringify per subscriber and change. Usage: node net-watcher-json.js FILE [PORT]
'use strict';
const fs = require('fs');
const net = require('net');

const filename = process.argv[2];
if (!filename) {
  throw Error('No filename specified.');
}
const port = Number(process.argv[3] || 60300);

const server = net.createServer((connection) => {
  connection.write(JSON.stringify({ type: 'watching', file: filename }) + '\n');
  const watcher = fs.watch(filename, () => {
    connection.write(JSON.stringify({ type: 'changed', timestamp: Date.now() }) + '\n');
  });
  connection.on('error', () => {});
  connection.on('close', () => watcher.close());
});
server.listen(port, '127.0.0.1', () => {
  console.log(`Listening for subscribers on 127.0.0.1:${server.address().port}...`);
});
process.on('SIGTERM', () => process.exit(0));
