'use strict';
// corral/supervisor: runs an unmodified server program as N cluster workers on corral, restarts
// what crashes (with backoff, stopping a crash loop), reloads with no failed request (a
// replacement listens before its predecessor drains), stops gracefully, and reports status:
// over a control socket served in Rust (src/control) and, if asked, Prometheus' /metrics.
// One supervisor per process: it owns the process's cluster settings.
const EventEmitter = require('events');
const os = require('os');
const path = require('path');
const { RestartPolicy } = require('./restart-policy');
const control = require('./control');
const report = require('./report');

const register = path.join(__dirname, '..', '..', 'register.js');

function validate(options) {
  const fail = (message) => { throw Object.assign(new TypeError(message), { code: 'ERR_INVALID_ARG_VALUE' }); };
  if (options === null || typeof options !== 'object') fail('options must be an object');
  const { script, instances = os.availableParallelism?.() ?? os.cpus().length, name } = options;
  if (typeof script !== 'string' || script === '') fail('options.script must be a path');
  if (!Number.isInteger(instances) || instances < 1) fail(`instances must be a whole number of 1 or more (got ${instances})`);
  if (name !== undefined && !control.NAME.test(name)) fail(`name "${name}" may have letters, digits, '.', '_' and '-' (64 at most)`);
}

// How long a worker may stay alive once it has disconnected (its servers closed, its connections
// ended) before it is sent SIGTERM: time for its own 'disconnect' handlers (PM2 waits 1.6 s
// between SIGINT and SIGKILL).
const kLingerMs = 2000;

class Supervisor extends EventEmitter {
  constructor(options) {
    super();
    validate(options);
    this.script = path.resolve(options.script);
    this.args = options.args ?? [];
    this.instances = options.instances ?? os.availableParallelism?.() ?? os.cpus().length;
    this.name = options.name ?? path.basename(this.script).replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9._-]/g, '_');
    this.execArgv = options.execArgv ?? [];
    this.env = options.env ?? {};
    this.drainTimeoutMs = options.drainTimeoutMs ?? 10000;
    this.readyTimeoutMs = options.readyTimeoutMs ?? 10000;
    this.maxMemoryBytes = options.maxMemoryMB ? options.maxMemoryMB * 1024 * 1024 : 0;
    this.restart = options.restart ?? {};
    this.silent = options.silent ?? false;
    this.controlSocket = options.control ?? true;
    this.metrics = options.metrics;  // "host:port"
    this.slots = [];
    this.state = 'new';
    this.startedAt = 0;
    this.reloading = null;
    this.usage = new Map();  // pid -> { cpu, rss }
  }

  async start() {
    if (this.state !== 'new') throw new Error('already started');
    this.state = 'starting';
    this.startedAt = Date.now();
    this.cluster = require('../../cluster');
    if (!this.cluster.isPrimary) throw new Error('corral/supervisor runs in a primary process');
    this.cluster.setupPrimary({
      exec: this.script,
      args: this.args,
      execArgv: [...this.execArgv, '-r', register],
      silent: this.silent,
    });
    if (this.controlSocket) this.#listenControl();
    for (let i = 0; i < this.instances; i++) {
      this.slots.push({ index: i, worker: null, restarts: 0, startedAt: 0, state: 'starting', policy: new RestartPolicy(this.restart) });
    }
    this.sampler = setInterval(() => this.#sample(), 1000).unref();
    await Promise.all(this.slots.map((slot) => this.#startIn(slot).catch(() => {})));
    this.state = 'running';
    this.emit('started');
    return this;
  }

  #listenControl() {
    const binding = require('../binding');
    const dir = control.ensureSocketDir();
    let host;
    let port;
    if (this.metrics) {
      const at = this.metrics.lastIndexOf(':');
      host = this.metrics.slice(0, at) || '127.0.0.1';
      port = Number(this.metrics.slice(at + 1));
      if (at < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
        throw Object.assign(new TypeError(`--metrics wants HOST:PORT (got ${this.metrics})`), { code: 'ERR_INVALID_ARG_VALUE' });
      }
    }
    try {
      this.metricsPort = binding.controlStart(path.join(dir, `${this.name}.sock`), host, port,
        (id, kind, text) => this.#answer(id, kind, text));
    } catch (err) {
      const why = err.message === 'EADDRINUSE' ? `an app named "${this.name}" is already running` :
        `cannot serve the control socket${this.metrics ? ` or ${this.metrics}` : ''}: ${err.message}`;
      throw Object.assign(new Error(why), { code: err.message });
    }
    this.socketPath = path.join(dir, `${this.name}.sock`);
  }

  async #answer(id, kind, text) {
    const binding = require('../binding');
    let answer;
    try {
      if (kind === 'metrics') {
        answer = report.prometheus(this.name, await this.status());
      } else {
        const message = JSON.parse(text);
        if (message.cmd === 'status') answer = { ok: true, ...(await this.status()) };
        else if (message.cmd === 'reload') answer = { ok: true, ...(await this.reload()) };
        else if (message.cmd === 'stop') {
          binding.controlReply(id, JSON.stringify({ ok: true, stopping: this.name }));
          this.stop().then(() => this.emit('stopped-by-request'));
          return;
        } else answer = { ok: false, error: `unknown command ${JSON.stringify(message.cmd)}` };
        answer = JSON.stringify(answer);
      }
    } catch (err) {
      answer = kind === 'metrics' ? `# error ${err.message}\n` : JSON.stringify({ ok: false, error: err.message });
    }
    binding.controlReply(id, answer);
  }

  // Forks a worker into `slot`; resolves once it listens (or rejects if it exits first, or
  // does not listen within readyTimeoutMs).
  // `replacement` (a reload's, --max-memory's): until it listens, its exit is the caller's to
  // handle (the old worker goes on serving), not a crash of the slot to restart.
  #startIn(slot, replacement = false) {
    const worker = this.cluster.fork({ ...this.env, CORRAL_SUPERVISED: '1' });
    const pending = { replacement };
    slot.worker = worker;
    slot.state = 'starting';
    slot.startedAt = Date.now();
    if (this.silent) {
      // Piped output nobody reads would fill its pipe and stall the worker: dropped then.
      if (this.listenerCount('worker-output') > 0) this.emit('worker-output', slot, worker);
      else for (const stream of [worker.process.stdout, worker.process.stderr]) stream?.resume();
    }
    worker.on('exit', (code, signal) => this.#onExit(slot, worker, code, signal, pending));
    // (Also when it listens only after readyTimeoutMs: it is online then.)
    worker.once('listening', () => { if (slot.worker === worker && slot.state === 'starting') slot.state = 'online'; });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { cleanup(); reject(new Error(`worker ${worker.id} did not listen within ${this.readyTimeoutMs} ms`)); }, this.readyTimeoutMs);
      const onListening = () => {
        pending.replacement = false;
        cleanup();
        if (slot.worker === worker) slot.state = 'online';
        this.emit('worker-listening', slot, worker);
        resolve(worker);
      };
      const onExit = (code, signal) => { cleanup(); reject(new Error(`worker ${worker.id} exited (${signal ?? code}) before it listened`)); };
      const cleanup = () => { clearTimeout(timer); worker.off('listening', onListening); worker.off('exit', onExit); };
      worker.once('listening', onListening);
      worker.once('exit', onExit);
    });
  }

  #onExit(slot, worker, code, signal, pending) {
    this.emit('worker-exit', slot, worker, code, signal);
    if (pending.replacement) return;
    if (slot.worker !== worker || worker.exitedAfterDisconnect || this.state === 'stopping' || this.state === 'stopped') return;
    const verdict = slot.policy.onExit(Date.now() - slot.startedAt);
    if (verdict.crashLoop) {
      slot.state = 'crash-loop';
      slot.worker = null;
      this.emit('crash-loop', slot);
      if (this.slots.every((s) => s.state === 'crash-loop')) this.emit('all-crashed');
      return;
    }
    slot.state = 'restarting';
    slot.worker = null;
    const timer = setTimeout(() => {
      if (this.state !== 'running' && this.state !== 'starting') return;
      slot.restarts++;
      this.emit('restart', slot, verdict.delayMs);
      this.#startIn(slot).catch(() => {});
    }, verdict.delayMs);
    slot.restartTimer = timer;
  }

  // Ends `worker` gracefully: keep-alive connections close between requests, in-flight ones
  // finish, the worker's servers close and it disconnects. A worker still alive 2 s after that
  // (a timer or another handle of its own keeps it) gets SIGTERM, so that its own shutdown
  // handlers run, as a process manager's stop does; after drainTimeoutMs it is killed.
  #retire(worker) {
    return new Promise((resolve) => {
      if (worker.isDead()) return resolve();
      let term = null;
      const timer = setTimeout(() => {
        this.emit('worker-killed', worker, this.drainTimeoutMs);
        worker.process.kill('SIGKILL');
      }, this.drainTimeoutMs);
      worker.once('disconnect', () => {
        term = setTimeout(() => {
          if (worker.isDead()) return;
          this.emit('worker-lingering', worker, kLingerMs);
          worker.process.kill('SIGTERM');
        }, kLingerMs);
      });
      worker.once('exit', () => { clearTimeout(timer); clearTimeout(term); resolve(); });
      if (worker.isConnected()) {
        require('../cluster/utils').sendHelper(worker.process, { act: 'corral:drain' }, null);
        worker.disconnect();
      } else {
        worker.process.kill('SIGTERM');
      }
    });
  }

  // Replaces each worker in turn: the new one listens before the old one stops taking
  // connections and drains. Resolves with what was done; a replacement that fails leaves its
  // predecessor serving and ends the reload with an error.
  reload() {
    if (this.reloading) return this.reloading;
    this.reloading = (async () => {
      const replaced = [];
      try {
        for (const slot of this.slots) {
          if (this.state !== 'running') break;
          const old = slot.worker;
          if (old === null) {  // crashed or waiting to restart: start afresh
            clearTimeout(slot.restartTimer);
            slot.policy = new RestartPolicy(this.restart);
            await this.#startIn(slot);
            continue;
          }
          slot.worker = null;  // the old one's exit is expected now
          const startedAt = slot.startedAt;
          try {
            await this.#startIn(slot, true);
          } catch (err) {
            if (slot.worker && !slot.worker.isDead()) slot.worker.process.kill('SIGKILL');
            slot.worker = old;
            slot.state = 'online';
            slot.startedAt = startedAt;
            throw err;
          }
          slot.restarts++;
          await this.#retire(old);
          replaced.push([old.id, slot.worker.id]);
        }
        this.emit('reload', replaced);
        return { reloaded: replaced.length };
      } catch (err) {
        this.emit('reload-failed', err);
        throw err;
      } finally {
        this.reloading = null;
      }
    })();
    return this.reloading;
  }

  async stop() {
    if (this.stopping) return this.stopping;
    this.state = 'stopping';
    this.stopping = (async () => {
      if (this.reloading) await this.reloading.catch(() => {});
      for (const slot of this.slots) clearTimeout(slot.restartTimer);
      const workers = Object.values(this.cluster?.workers ?? {});
      await Promise.all(workers.map((w) => this.#retire(w)));
      clearInterval(this.sampler);
      if (this.socketPath) require('../binding').controlStop();
      this.state = 'stopped';
      this.emit('stop');
    })();
    return this.stopping;
  }

  #sample() {
    const pids = this.slots.map((s) => s.worker?.process.pid).filter((p) => p > 0);
    if (pids.length === 0) return;
    const figures = require('../binding').processUsage(pids);
    this.usage.clear();
    pids.forEach((pid, i) => {
      if (figures[2 * i] >= 0) this.usage.set(pid, { cpu: figures[2 * i], rss: figures[2 * i + 1] });
    });
    if (this.maxMemoryBytes > 0 && this.state === 'running' && !this.reloading) {
      for (const slot of this.slots) {
        const rss = this.usage.get(slot.worker?.process.pid)?.rss ?? 0;
        if (rss > this.maxMemoryBytes && slot.state === 'online') this.#replace(slot, rss);
      }
    }
  }

  // A worker over --max-memory: replaced as in a reload, on its own.
  async #replace(slot, rss) {
    const old = slot.worker;
    const startedAt = slot.startedAt;
    slot.state = 'replacing';
    this.emit('max-memory', slot, rss);
    slot.worker = null;
    try {
      await this.#startIn(slot, true);
    } catch {
      if (slot.worker && !slot.worker.isDead()) slot.worker.process.kill('SIGKILL');
      slot.worker = old;
      slot.state = 'online';
      slot.startedAt = startedAt;
      return;
    }
    slot.restarts++;
    await this.#retire(old);
  }

  // Per worker: figures from the kernel (CPU, RSS) and from the worker (connections).
  async status() {
    const stats = await Promise.all(this.slots.map((slot) => askStats(slot.worker)));
    const now = Date.now();
    return {
      name: this.name,
      pid: process.pid,
      script: this.script,
      state: this.state,
      uptimeMs: now - this.startedAt,
      metricsPort: this.metricsPort ?? null,
      workers: this.slots.map((slot, i) => {
        const pid = slot.worker?.process.pid ?? null;
        const usage = this.usage.get(pid);
        return {
          slot: slot.index,
          id: slot.worker?.id ?? null,
          pid,
          state: slot.state,
          uptimeMs: slot.worker ? now - slot.startedAt : 0,
          restarts: slot.restarts,
          cpuPercent: usage ? Math.round(usage.cpu * 10) / 10 : null,
          rssBytes: usage?.rss ?? null,
          connectionsOpen: stats[i]?.open ?? null,
          connectionsServed: stats[i]?.taken ?? null,
        };
      }),
    };
  }
}

// A worker's own figures, or null if it does not answer within a second.
function askStats(worker) {
  if (!worker || !worker.isConnected()) return Promise.resolve(null);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), 1000);
    require('../cluster/utils').sendHelper(worker.process, { act: 'corral:stats' }, null, (reply) => {
      clearTimeout(timer);
      resolve({ open: reply.open, taken: reply.taken });
    });
  });
}

function start(options) {
  return new Supervisor(options).start();
}

module.exports = { Supervisor, start, socketPath: control.socketPath, request: control.request };
