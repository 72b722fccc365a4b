// Preload for ESM programs: node --import corral/register app.mjs
import { createRequire } from 'node:module';

createRequire(import.meta.url)('./lib/register.js').installPreload();
