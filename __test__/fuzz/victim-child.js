'use strict';
// A child whose parent writes bytes of its own into the channel (ipc-fuzz.js): corral's end of
// the channel must report them and close, never crash; 'survived' says the child ended by itself.
process.on('warning', () => {});
process.on('disconnect', () => console.log('survived'));
process.on('message', () => {});
process.send('ready');
