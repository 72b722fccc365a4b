'use strict';
// Objects that transfer themselves (a fs.promises FileHandle, Node's JSTransferable protocol):
// moved between ports on one thread and to a worker, refused without a transfer list or while
// in use, forged transfers refused on receipt; output compared with node's built-ins.
const { describe, it } = require('node:test');
const assert = require('node:assert');
const { fixture, runBoth } = require('./helpers');

describe('FileHandle transfer', () => {
  it('moves, refuses and fails as node does', async () => {
    const { node, corral } = await runBoth(fixture('filehandle-transfer.js'));
    assert.strictEqual(node.code, 0, node.stderr);
    assert.strictEqual(corral.code, 0, corral.stderr);
    assert.match(corral.stdout, /worker read \{"type":"FileHandle","firstLine":"'use strict';"\}/);
    assert.strictEqual(corral.stdout, node.stdout);
    assert.strictEqual(corral.stderr, node.stderr);
  });
});
