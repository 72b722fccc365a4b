'use strict';
// worker.performance.eventLoopUtilization(): the worker's loop, seen from the parent.
const { describe, it } = require('node:test');
const assert = require('node:assert');
const { fixture, runBoth } = require('./helpers');

describe('worker.performance', () => {
  it('eventLoopUtilization tells idle from busy periods like node:worker_threads', async () => {
    const { node, corral } = await runBoth(fixture('event-loop-utilization.js'));
    assert.strictEqual(corral.stdout, node.stdout);
    assert.match(corral.stdout, /busy period: utilization > 0.7 true active > 250ms true/);
    assert.doesNotMatch(corral.stdout, /false/);
  });
});
