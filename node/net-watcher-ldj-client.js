// The book's client rewritten on LDJClient (step 6), written here for the
// grader's recorded run. Usage: node net-watcher-ldj-client.js [PORT]
// (or PORT=N in the environment; the book's port, 60300, by default).
'use strict';
const net = require('net');
const LDJClient = require('./lib/ldj-client.js');

const port = Number(process.argv[2] || process.env.PORT || 60300);
const client = LDJClient.connect(net.connect({ port }));

client.on('message', (message) => {
  if (message.type === 'watching') {
    console.log(`Now watching: ${message.file}`);
  } else if (message.type === 'changed') {
    console.log(`File changed: ${new Date(message.timestamp)}`);
  } else {
    console.log(`Unrecognized message type: ${message.type}`);
  }
});
