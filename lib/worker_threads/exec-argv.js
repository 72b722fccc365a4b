'use strict';
// The checks Node makes on a worker's execArgv (and its env's NODE_OPTIONS) before it starts:
// ERR_WORKER_INVALID_EXEC_ARGV with Node's list of problems.
const path = require('path');
const { makeError, invalidArgType } = require('../errors');
const { major } = require('../node-line');

// The options this line's own workers refuse (the whole process's, V8's) and those that need a
// value, as probed from Node when corral was built (scripts/worker-exec-argv.js).
let execArgvRules;
function workerExecArgvRules() {
  if (execArgvRules !== undefined) return execArgvRules;
  execArgvRules = { rejected: new Set(), needsValue: new Set(), beyondEnv: new Set(), rejectedInEnv: new Set(),
    requires: {} };
  try {
    const { workerExecArgv } = require(path.join(__dirname, '..', '..', 'build', `corral-node${major}.json`));
    if (workerExecArgv) {
      execArgvRules = { rejected: new Set(workerExecArgv.rejected), needsValue: new Set(workerExecArgv.needsValue),
        beyondEnv: new Set(workerExecArgv.accepted ?? []),
        rejectedInEnv: new Set(workerExecArgv.rejectedInEnv ?? workerExecArgv.rejected),
        requires: workerExecArgv.requires ?? {} };
    }
  } catch {}
  return execArgvRules;
}

// Options Node takes only beside another (--cpu-prof-dir with --cpu-prof), in the order Node
// checks them: by companion, then name, dir, interval. An interval at its default is no error.
const companionOrder = ['-name', '-dir', '-interval'];
const defaultIntervals = { '--cpu-prof-interval': 1000, '--heap-prof-interval': 524288 };
function missingCompanions(given) {
  const { requires } = workerExecArgvRules();
  const rank = (flag) => companionOrder.findIndex((suffix) => flag.endsWith(suffix));
  return [...given.entries()]
    .filter(([flag, value]) => requires[flag] !== undefined && given.get(requires[flag]) !== true &&
      !(flag in defaultIntervals && Number(value) === defaultIntervals[flag]))
    .map(([flag]) => flag)
    .sort((a, b) => requires[a].localeCompare(requires[b]) || rank(a) - rank(b))
    .map((flag) => `${flag} must be used with ${requires[flag]}`);
}

// The problems Node reports for these arguments: unknown or refused options, or (reported
// instead, as Node's option parser does) missing values and missing companions. In a worker's
// NODE_OPTIONS (`forEnv`) all of them, in order.
function execArgvProblems(args, forEnv) {
  const { needsValue, beyondEnv } = workerExecArgvRules();
  const rejected = forEnv ? workerExecArgvRules().rejectedInEnv : workerExecArgvRules().rejected;
  const invalid = [];
  const errors = [];
  // Each option's last value (true for a switch, false for its --no- form).
  const given = new Map();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (typeof arg !== 'string' || !arg.startsWith('-')) continue;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    // (execArgv takes some options NODE_OPTIONS may not carry: --env-file, --eval, --test, ...)
    // (and, as Node's option parser, the --no- form of any of them that is a switch)
    const switchOff = flag.startsWith('--no-') ? `--${flag.slice(5)}` : null;
    const known = process.allowedNodeEnvironmentFlags.has(flag) || (!forEnv && (beyondEnv.has(flag) ||
      (switchOff !== null && beyondEnv.has(switchOff) && !needsValue.has(switchOff))));
    if (!known || rejected.has(flag)) {
      invalid.push(forEnv ? `${flag}${eq > 0 ? '=' : ''} is not allowed in NODE_OPTIONS` : arg);
    } else if (needsValue.has(flag) && eq < 0) {
      if (i + 1 < args.length) given.set(flag, args[++i]);
      else (forEnv ? invalid : errors).push(`${flag} requires an argument`);
    } else if (eq > 0) {
      given.set(flag, arg.slice(eq + 1));
    } else if (flag.startsWith('--no-')) {
      given.set(`--${flag.slice(5)}`, false);
    } else {
      given.set(flag, true);
    }
  }
  if (forEnv) return invalid;
  errors.push(...missingCompanions(given));
  return errors.length > 0 ? errors : invalid;
}

// As Node, first of all: a truthy execArgv must be an array (a falsy one means the parent's).
function checkExecArgvType(execArgv) {
  if (execArgv && !Array.isArray(execArgv)) throw invalidArgType('options.execArgv', ['Array'], execArgv);
}

// Node's checks of a worker's options for Node, once its other options have passed theirs: the
// NODE_OPTIONS of its own env object (see exec-options.js), then execArgv. Returns the
// worker's execArgv.
function validateExecArgv(execArgv, env) {
  if (env !== null && typeof env === 'object' && typeof env.NODE_OPTIONS === 'string') {
    const wrong = execArgvProblems(require('./exec-options').splitNodeOptions(env.NODE_OPTIONS), true);
    if (wrong.length) {
      throw makeError(Error, 'ERR_WORKER_INVALID_EXEC_ARGV',
        `Initiated Worker with invalid NODE_OPTIONS env variable: ${wrong.join(', ')}`);
    }
  }
  if (!Array.isArray(execArgv)) return process.execArgv;
  // As Node's option parser: nothing from a `--` on is an option of the worker's.
  if (execArgv.includes('--')) execArgv = execArgv.slice(0, execArgv.indexOf('--'));
  const invalid = execArgvProblems(execArgv, false);
  if (invalid.length) {
    throw makeError(Error, 'ERR_WORKER_INVALID_EXEC_ARGV',
      `Initiated Worker with invalid execArgv flags: ${invalid.join(', ')}`);
  }
  return execArgv.map(String);
}

module.exports = { checkExecArgvType, validateExecArgv };
