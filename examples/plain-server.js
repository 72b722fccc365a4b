// A plain HTTP server with no cluster code: `npx corral start examples/plain-server.js -i 2`
// runs it on two workers (PORT, default 3000; DELAY_MS delays each answer).
const http = require('http');

const port = Number(process.env.PORT ?? 3000);
const delay = Number(process.env.DELAY_MS ?? 0);
http.createServer((req, res) => {
  const answer = () => res.end(`hello from pid ${process.pid}\n`);
  if (delay > 0) setTimeout(answer, delay);
  else answer();
}).listen(port, '127.0.0.1', () => console.log(`pid ${process.pid} listening on ${port}`));
