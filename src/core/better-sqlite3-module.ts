/**
 * Which build of better-sqlite3 this Node.js can run. 12.x (node::ObjectWrap) is the last that
 * supports Node 20, but on Node 24.19+ its Statement destructor trips Node's cleanup-hook check
 * and aborts the process during garbage collection (nodejs/node#65446); 13.x (Node-API) fixes
 * that but needs Node 22+. Both are dependencies (13.x under the alias better-sqlite3-napi, with
 * in-package prebuilds) and the runtime picks one; their JavaScript APIs are the same.
 */
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

const require = createRequire(import.meta.url);
const nodeMajor = Number(process.versions.node.split('.')[0]);

export const Database = (nodeMajor >= 22 ? require('better-sqlite3-napi') : require('better-sqlite3')) as typeof BetterSqlite3;
export type Database = BetterSqlite3.Database;
