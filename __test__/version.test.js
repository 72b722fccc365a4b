'use strict';
// A build for one Node major refuses to load on another, with an error naming both versions.
const { describe, it } = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { root } = require('./helpers');

describe('Node line guard', () => {
  it('names both versions when only another major was built', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-version-'));
    fs.mkdirSync(path.join(dir, 'lib'));
    fs.mkdirSync(path.join(dir, 'build'));
    fs.copyFileSync(path.join(root, 'lib', 'binding.js'), path.join(dir, 'lib', 'binding.js'));
    fs.writeFileSync(path.join(dir, 'build', 'corral-node99.json'), JSON.stringify({ node: '99.1.0' }));
    try {
      assert.throws(() => require(path.join(dir, 'lib', 'binding.js')), (err) =>
        err.code === 'ERR_CORRAL_NODE_VERSION' && err.message.includes('v99.1.0') &&
        err.message.includes(process.version));
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });

  it('the loaded addon was built for this major', () => {
    const addon = require('../lib/binding');
    assert.strictEqual(addon.NODE_MAJOR, Number(process.versions.node.split('.')[0]));
  });
});
