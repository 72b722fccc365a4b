// A forked child that echoes each IPC message.
process.on('message', (m) => process.send(m));
process.send('ready');
