'use strict';
// A CPU task for examples/pool: the SHA-256 of a string, hashed `rounds` times.
const { createHash } = require('crypto');

module.exports = ({ text, rounds }) => {
  let digest = text;
  for (let i = 0; i < rounds; i++) digest = createHash('sha256').update(digest).digest('hex');
  return digest;
};
