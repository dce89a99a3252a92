// The book's step-5 test service: one "changed" message, split across two
// writes 100 ms apart, then the connection ends.
// Usage: node test-json-service.js   (PORT=N in the environment, else 60300)
'use strict';
const server = require('net').createServer((connection) => {
  console.log('Subscriber connected.');
  // Two message chunks that together make a whole message.
  const firstChunk = '{"type":"changed","timesta';
  const secondChunk = 'mp":1450694370094}\n';
  // The first part at once...
  connection.write(firstChunk);
  // ...and the rest after a short delay.
  const timer = setTimeout(() => {
    connection.write(secondChunk);
    connection.end();
  }, 100);
  // No second part for a subscriber that has gone.
  connection.on('end', () => {
    clearTimeout(timer);
    console.log('Subscriber disconnected.');
  });
});
server.listen(process.env.PORT || 60300, () => {
  console.log('Test server listening for subscribers...');
});
