'use strict';
// Preload: node -r corral/register app.js
require('./lib/register').installPreload();
// Invisible until used: the preload leaves nothing of corral's in require.cache (what the
// program later uses of corral is loaded, and cached, then).
for (const file of [require.resolve('./lib/register'), __filename]) {
  delete require.cache[file];
}
