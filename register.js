'use strict';
// Preload: node -r corral/register app.js
require('./lib/register').installPreload();
