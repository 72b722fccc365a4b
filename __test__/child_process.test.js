'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const { run, fixture, root } = require('./process-helpers');
const corral = require(`${root}/child_process.js`);
const builtin = require('child_process');

test('fork event order and exit codes match node (exit, kill, disconnect, spawn failure, silent)', async () => {
  for (const mode of ['selfexit', 'kill', 'disconnect', 'exit', 'badexec', 'silent']) {
    let [a, b] = await Promise.all([
      run(fixture('cp-events.js'), [mode]),
      run(fixture('cp-events.js'), [mode], { mode: 'corral' }),
    ]);
    // Each process's lines keep their order; how the child's lines interleave with the
    // parent's in the shared pipe is a race between two processes (it flips under load, for
    // node too), so they are compared apart.
    const byProcess = (out) => {
      const lines = out.split('\n');
      return [lines.filter((l) => !l.startsWith('child:')), lines.filter((l) => l.startsWith('child:'))];
    };
    // Under heavy load node itself sometimes orders a killed child's 'disconnect' and 'exit'
    // differently: a mismatch must then also be a mismatch with a second node run.
    if (JSON.stringify(byProcess(b.stdout)) !== JSON.stringify(byProcess(a.stdout))) {
      a = await run(fixture('cp-events.js'), [mode]);
    }
    assert.deepStrictEqual(byProcess(b.stdout), byProcess(a.stdout), `mode ${mode}`);
    assert.ok(a.stdout.includes('parent:'), `mode ${mode} printed events`);
  }
});

test('a fork whose spawn fails has the stdio sockets it asked for, as in node', async () => {
  const [a, b] = await Promise.all([
    run(fixture('cp-spawn-failure-stdio.js')),
    run(fixture('cp-spawn-failure-stdio.js'), [], { mode: 'register' }),
  ]);
  assert.strictEqual(a.code, 0, a.stderr);
  assert.strictEqual(b.stdout, a.stdout, b.stderr);
  assert.match(b.stdout, /\{"silent":true\} stdio Socket\(false,true,false\),Socket/);
});

test('send() callbacks run when node runs them, on both ends of the channel', async () => {
  const [a, b] = await Promise.all([
    run(fixture('cp-send-callback-order.js')),
    run(fixture('cp-send-callback-order.js'), [], { mode: 'register' }),
  ]);
  assert.strictEqual(a.code, 0, a.stderr);
  assert.strictEqual(b.stdout, a.stdout, b.stderr);
  assert.match(b.stdout, /parent cb-a cb-b tick cb-c micro/);
});

test('messages both ways, json and advanced serialization, match node', async () => {
  const [a, b] = await Promise.all([
    run(fixture('cp-echo.js')),
    run(fixture('cp-echo.js'), [], { mode: 'corral' }),
  ]);
  assert.strictEqual(a.code, 0, a.stderr);
  assert.strictEqual(b.stdout, a.stdout);
  assert.match(b.stdout, /advanced Map\(1\) \{ 1 => \{ x: 2 \} \}/);
  assert.match(b.stdout, /json 'ünïcödé ✓ \\n newline'/);
});

test('handle passing: net.Server and net.Socket to the child, a socket back', async () => {
  const [a, b] = await Promise.all([
    run(fixture('cp-handles.js')),
    run(fixture('cp-handles.js'), [], { mode: 'corral' }),
  ]);
  assert.strictEqual(a.code, 0, a.stderr);
  assert.strictEqual(b.stdout, a.stdout);
  assert.match(b.stdout, /via sent server: served by child/);
});

test('messages keep their order around a net.Server handle, both ways, as in node', async () => {
  const [a, b] = await Promise.all([
    run(fixture('cp-handle-order.js')),
    run(fixture('cp-handle-order.js'), [], { mode: 'register' }),
  ]);
  assert.strictEqual(a.code, 0, a.stderr);
  assert.strictEqual(b.stdout, a.stdout, b.stderr);
  assert.match(b.stdout, /child got \["a","b\+Server","c","d\+Server","e","end"\]\nparent got \["1","2\+Server","3","end"\]/);
});

test("a socket sent without keepOpen is left as node leaves it: handle gone, not destroyed, no 'close'", async () => {
  const [a, b] = await Promise.all([
    run(fixture('cp-socket-detach.js')),
    run(fixture('cp-socket-detach.js'), [], { mode: 'register' }),
  ]);
  assert.strictEqual(a.code, 0, a.stderr);
  assert.strictEqual(b.stdout, a.stdout, b.stderr);
  assert.match(b.stdout, /^after send: handle null destroyed false open connections 0\nlater: destroyed false open\n/);
  assert.doesNotMatch(b.stdout, /sender socket close event/);
});

test("a forked child's require.cache lists only its own modules, as with node", async () => {
  const [a, b] = await Promise.all([
    run(fixture('cp-require-cache.js')),
    run(fixture('cp-require-cache.js'), [], { mode: 'register' }),
  ]);
  assert.strictEqual(a.stdout, 'child lists ["cp-require-cache.js"]\n', a.stderr);
  assert.strictEqual(b.stdout, a.stdout, b.stderr);
});

test('send() callbacks run in sending order for bursts of any size, both ways, as in node', async () => {
  const [a, b] = await Promise.all([
    run(fixture('cp-send-callbacks.js')),
    run(fixture('cp-send-callbacks.js'), [], { mode: 'register' }),
  ]);
  const inOrder = 'parent to child in order [true,true,true,true,true]\nchild to parent in order [true,true,true,true,true]\n';
  // Node's own callbacks come in order too, but not always under load: once in a CI run on
  // Node 24.22.3, the child's 5,000-message burst had one out of order (not reproduced in 12
  // loaded runs after). So node's run only has to give both reports; corral's must be in order.
  assert.match(a.stdout, /^parent to child in order \[[a-z,]+\]\nchild to parent in order \[[a-z,]+\]\n$/, a.stderr);
  assert.strictEqual(b.stdout, inOrder, b.stderr);
});

test('send() behind an unacknowledged handle returns what node\'s does, callbacks in order, both ways', async () => {
  const [a, b] = await Promise.all([
    run(fixture('cp-send-held.js')),
    run(fixture('cp-send-held.js'), [], { mode: 'register' }),
  ]);
  assert.match(a.stdout, /parent send\(\) returned m0=true h1=true m2=true h3=false/, a.stderr);
  assert.strictEqual(b.stdout, a.stdout, b.stderr);
});

test('a child that disconnects right after a burst of sends has every send() callback called, as node\'s', async () => {
  const [a, b] = await Promise.all([
    run(fixture('cp-send-disconnect.js')),
    run(fixture('cp-send-disconnect.js'), [], { mode: 'register' }),
  ]);
  assert.match(a.stdout, /callbacks called: 20 \(ok\)/, a.stderr);
  assert.strictEqual(b.stdout, a.stdout, b.stderr);
});

test('a process that sends and then ends on its own (loop empty, exit in the callback, channel unref\'d) delivers all it sent, as node\'s', async () => {
  const a = await run(fixture('cp-send-then-end.js'), [], { timeout: 60000 });
  const b = await run(fixture('cp-send-then-end.js'), [], { mode: 'register', timeout: 60000 });
  assert.match(a.stdout, /natural 20000 100: 20000 messages/, a.stderr);
  assert.match(a.stdout, /unrefs its child and ends: got 5000000/, a.stderr);
  assert.strictEqual(b.stdout, a.stdout, b.stderr);
});

test('argument errors have node\'s classes and codes', () => {
  const cases = [
    () => [123],
    () => ['x', 'bad'],
    () => ['x', [], 'bad'],
    () => ['x', [], { serialization: 'xml' }],
    () => ['x', [], { stdio: ['pipe', 'pipe', 'pipe'] }],
    () => ['x', [], { cwd: 5 }],
    () => ['x', [], { uid: 'a' }],
    () => ['x', [], { uid: 1.5 }],
    () => ['x', [], { gid: 2 ** 31 }],
    () => ['x', [], { uid: NaN }],
    () => ['x', [], { detached: 'a' }],
    () => ['x', [], { timeout: -1 }],
    () => ['x', [], { timeout: 1.5 }],
    () => ['x', [], { timeout: 'x' }],
    () => ['x', [], { timeout: Infinity }],
    () => ['x', [], { signal: 1 }],
    () => ['x', [], { killSignal: 'SIGNOPE' }],
  ];
  const shape = (fn) => {
    try {
      fn();
      return 'no error';
    } catch (e) {
      return `${e.constructor.name} ${e.code} ${e.message}`;
    }
  };
  for (const c of cases) {
    assert.strictEqual(shape(() => corral.fork(...c())), shape(() => builtin.fork(...c())), JSON.stringify(c()));
  }
});

test('send/kill/disconnect errors match node', async () => {
  const shape = (fn) => {
    try {
      fn();
      return 'no error';
    } catch (e) {
      return `${e.constructor.name} ${e.code} ${e.message}`;
    }
  };
  for (const mod of [corral, builtin]) mod.label = mod === corral ? 'corral' : 'node';
  const results = {};
  for (const mod of [corral, builtin]) {
    const c = mod.fork(fixture('cp-child.js'), ['idle'], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    const r = [
      shape(() => c.kill('SIGFOO')),
      shape(() => c.send()),
      shape(() => c.send(Symbol('s'))),
      shape(() => c.send('x', 5)),
      shape(() => c.send('x', null, 'o')),
    ];
    const errors = [];
    c.on('error', (e) => errors.push(`${e.code} ${e.message}`));
    c.disconnect();
    c.disconnect();
    await new Promise((res) => c.send('late', (err) => { r.push(`${err.code} ${err.message}`); res(); }));
    c.kill();
    await new Promise((res) => c.on('exit', res));
    r.push(...errors, `killed=${c.killed} exitCode=${c.exitCode} signal=${c.signalCode}`, `kill after exit: ${c.kill()}`);
    results[mod.label] = r;
  }
  assert.deepStrictEqual(results.corral, results.node);
});

test('fork children get only stdio and the channel; exited children are reaped', async () => {
  // The parent holds sockets a child must not inherit: a listening server, another channel.
  const server = require('net').createServer().listen(0, '127.0.0.1');
  await new Promise((res) => server.on('listening', res));
  const other = corral.fork(fixture('cp-child.js'), ['idle']);
  for (const mod of [corral, builtin]) {
    for (const stdio of [undefined, ['pipe', 'pipe', 'pipe', 'ipc', 'pipe']]) {
      const c = mod.fork(fixture('cp-fds.js'), [], stdio && { stdio });
      const exited = new Promise((res) => c.on('exit', (code) => res(code)));
      const { fds, sockets, memfds, env, bellMapped } = await new Promise((res) => c.once('message', res));
      assert.strictEqual(await exited, 0);
      const expected = stdio ? ['0', '1', '2', '3', '4'] : ['0', '1', '2', '3'];
      for (const f of expected) assert.ok(fds.includes(f), `missing ${f} in ${fds}`);
      assert.strictEqual(c.stdio.length, expected.length);
      // Beyond the channel, a Node child has only its own epoll/eventfd/pipes: no sockets
      // (the extra 'pipe' is fd 4), no memfd (corral's doorbell page is mapped, its fd
      // closed), no variable of corral's or of Node's channel.
      assert.deepStrictEqual(sockets, stdio ? ['4'] : [], `leaked sockets: ${fds}`);
      assert.deepStrictEqual(memfds, [], `leaked memfds: ${fds}`);
      assert.deepStrictEqual(env, []);
      assert.strictEqual(bellMapped, mod === corral);
      assert.ok(!fs.existsSync(`/proc/${c.pid}`), 'child was reaped (no zombie)');
    }
  }
  other.kill();
  server.close();
});

test('timeout, AbortSignal and unref behave as in node', async () => {
  const c = corral.fork(fixture('cp-child.js'), ['idle'], { timeout: 100, killSignal: 'SIGINT' });
  const [code, signal] = await new Promise((res) => c.on('exit', (...a) => res(a)));
  assert.deepStrictEqual([code, signal, c.killed], [null, 'SIGINT', true]);

  const ac = new AbortController();
  const d = corral.fork(fixture('cp-child.js'), ['idle'], { signal: ac.signal });
  const err = new Promise((res) => d.on('error', res));
  setTimeout(() => ac.abort(), 50);
  assert.strictEqual((await err).name, 'AbortError');
  await new Promise((res) => d.on('exit', res));

  // A parent whose child is unref'ed and disconnected exits while the child still runs.
  const script = `const c = require(${JSON.stringify(`${root}/child_process.js`)}).fork(${JSON.stringify(fixture('cp-child.js'))}, ['idle']);
    c.on('message', () => { console.log(c.pid); c.unref(); c.disconnect(); });`;
  const r = await new Promise((res) => {
    const p = builtin.spawn(process.execPath, ['-e', script]);
    let out = '';
    p.stdout.on('data', (x) => (out += x));
    p.on('close', (code) => res({ code, out }));
  });
  assert.strictEqual(r.code, 0);
  const pid = Number(r.out.split('\n')[0]);
  assert.ok(pid > 0);
  try { process.kill(pid, 'SIGKILL'); } catch {}
});

test("the child's side (corral's channel in a child of the same node) behaves as node's", async () => {
  const [a, b] = await Promise.all([
    run(fixture('cp-child-side.js')),
    run(fixture('cp-child-side.js'), [], { mode: 'corral' }),
  ]);
  assert.strictEqual(a.code, 0, a.stderr);
  assert.strictEqual(b.stdout, a.stdout, b.stderr);
  assert.match(b.stdout, /"last words"\],"code":7/);
  assert.match(b.stdout, /unref exited by itself 0 true/);
  assert.match(b.stdout, /early \["early 1","early 2"\]\nesm \{"seen":\[\{"esm":"at once"\}\],"code":0/);
});

test("advanced IPC frames from the shim's serializer are the bytes Node's JS serializer writes", () => {
  const { advanced, advancedInJs } = require(`${root}/lib/child_process/serialization.js`);
  const { native } = require(`${root}/lib/binding.js`);
  const plain = ['str', 42, -0, 1.5, NaN, true, null, undefined, 10n, { a: [1, { b: 'c' }], u: undefined },
    new Map([[1, { x: 2 }]]), new Set(['a']), new Date(0), /re/g, 'ünïcödé ✓', [1, , 3], new Error('e')];
  for (const v of plain) {
    const ours = native.ipcEncode(v);
    assert.ok(ours instanceof Uint8Array, `native encodes ${String(v)}`);
    assert.ok(advancedInJs.encode(v).equals(ours), `same bytes for ${String(v)}`);
  }
  // Host objects (typed arrays, Buffers) go through JS, in order with native frames around them.
  const hosted = [Buffer.from('buf'), new Uint16Array([1, 2, 3]), { nested: new Float64Array([0.5]) }];
  for (const v of hosted) assert.strictEqual(native.ipcEncode(v), undefined);
  const values = ['first', ...hosted, { last: true }];
  const wire = Buffer.concat(values.map((v) => advanced.encode(v)));
  assert.deepStrictEqual(advanced.decode(wire), values);
  // As the read path hands frames over (src/ipc/js.rs): the values the shim decoded, then the
  // bytes from the first frame JS must read.
  const decoded = native.ipcDecode(wire, 0);
  assert.deepStrictEqual(advanced.decodeRead(decoded, wire.subarray(decoded[decoded.length - 1])), values);
  // What cannot be cloned fails as in Node's JS serializer (an Error, not a DataCloneError).
  assert.throws(() => advanced.encode({ f() {} }), { name: 'Error', message: /could not be cloned/ });
});

test("each end of a fork() channel has Node's 'internalMessage' listener, in Node's order", async () => {
  const a = await run(fixture('cp-internal-listeners.js'));
  const b = await run(fixture('cp-internal-listeners.js'), [], { mode: 'register' });
  assert.match(a.stdout, /parent end: \["internalMessage","newListener"\] 1/, a.stderr);
  assert.strictEqual(b.stdout, a.stdout, b.stderr);
});

test('send() followed by synchronous work delivers at once, both ways, as node does', async () => {
  const [a, b] = await Promise.all([
    run(fixture('cp-send-then-block.js')),
    run(fixture('cp-send-then-block.js'), [], { mode: 'corral' }),
  ]);
  assert.strictEqual(b.stdout, a.stdout, b.stderr);
  assert.match(b.stdout, /child: first message arrived before its busy work ended true\nparent: message arrived before its busy work ended true/);
});

test('a child that replaces globalThis.process can still send, as with node', async () => {
  const node = await run(fixture('cp-replaced-process.js'));
  const ours = await run(fixture('cp-replaced-process.js'), [], { mode: 'corral' });
  assert.strictEqual(ours.stdout, node.stdout, ours.stderr);
  assert.match(node.stdout, /parent got: sent after process was replaced\nexit 0/);
});

test("a child's send that finds the parent gone fails with EPIPE, as in node (callback, 'error' listener, uncaught)", async () => {
  for (const how of ['callback', 'listened', 'uncaught']) {
    const [a, b] = await Promise.all([
      run(fixture('cp-peer-gone.js'), [how]),
      run(fixture('cp-peer-gone.js'), [how], { mode: 'corral' }),
    ]);
    assert.strictEqual(a.code, 0, a.stderr);
    assert.strictEqual(b.stdout, a.stdout, how);
    assert.match(a.stdout, how === 'uncaught' ? /exited 1 null\nparent: uncaught EPIPE reported true/ : /EPIPE write/);
  }
});

test('fork spawn options: argv0 reaches the child, bad windowsHide/argv0 refused as in node', async () => {
  const [a, b] = await Promise.all([
    run(fixture('cp-spawn-options.js')),
    run(fixture('cp-spawn-options.js'), [], { mode: 'register' }),
  ]);
  assert.strictEqual(a.code, 0, a.stderr);
  assert.strictEqual(b.stdout, a.stdout, b.stderr);
  assert.match(b.stdout, /child argv0 custom-name true/);
  assert.match(b.stdout, /"options.windowsHide" property must be of type boolean/);
});

test('a worker thread that forked a child ends (terminate, process.exit): the child is disconnected and the process exits, as in node', async () => {
  for (const how of ['terminate', 'exit']) {
    const [a, b] = await Promise.all([
      run(fixture('cp-fork-in-worker.js'), [how]),
      run(fixture('cp-fork-in-worker.js'), [how], { mode: 'register' }),
    ]);
    // The child's line and the main thread's race each other in the shared pipe.
    const lines = (out) => out.trim().split('\n').sort();
    assert.strictEqual(a.code, 0, a.stderr);
    assert.strictEqual(b.code, a.code, b.stderr);
    assert.deepStrictEqual(lines(b.stdout), lines(a.stdout), how);
    assert.ok(a.stdout.includes('child: disconnect'), how);
  }
});
