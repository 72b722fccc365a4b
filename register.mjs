// Preload for ESM programs: node --import corral/register app.mjs
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
require('./lib/register.js').installPreload();
delete require.cache[require.resolve('./lib/register.js')];
