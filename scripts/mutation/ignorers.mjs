/**
 * Stryker ignore-plugins for `npm run mutate`:
 * - hearth-log-messages: calls of a logger's level methods (`logger.warn(...)`, `this.warn(...)`):
 *   what a log line says is not a trust decision, and no test should pin its wording.
 * - hearth-equivalent: the expressions a group lists as equivalent mutants (scripts/mutation/groups.mjs),
 *   passed in HEARTH_MUTATE_EQUIVALENT as [{ file, line, column, node, why }]: the syntax node of
 *   that type starting at that line and column (1-based, as the report shows them), with
 *   everything inside it. Several nodes can start at one place (`a === b || c` and `a === b`), so
 *   the node type is required: an entry never silences more than the expression it names.
 */
import { relative } from 'node:path';
import { PluginKind, declareValuePlugin } from '@stryker-mutator/api/plugin';

const LOG_METHODS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'log']);

const logMessages = {
  shouldIgnore(path) {
    const node = path.node;
    if (node.type !== 'CallExpression' && node.type !== 'OptionalCallExpression') return undefined;
    const callee = node.callee;
    if (
      (callee.type === 'MemberExpression' || callee.type === 'OptionalMemberExpression') &&
      callee.property.type === 'Identifier' &&
      LOG_METHODS.has(callee.property.name)
    ) {
      return 'a log message';
    }
    return undefined;
  },
};

/**
 * The entries of the group being run. Read from the environment at each call, not once at import:
 * `npm run mutate -- --changed` runs several groups in one process, and this module is imported
 * only once, for the first of them.
 */
let entriesSource;
let entries = [];
function equivalentEntries() {
  const source = process.env.HEARTH_MUTATE_EQUIVALENT ?? '[]';
  if (source !== entriesSource) {
    entriesSource = source;
    entries = JSON.parse(source);
  }
  return entries;
}

const equivalent = {
  shouldIgnore(path) {
    const equivalentLines = equivalentEntries();
    if (equivalentLines.length === 0 || !path.node.loc) return undefined;
    const file = relative(process.cwd(), path.hub?.file?.opts?.filename ?? '');
    const { line, column } = path.node.loc.start;
    const entry = equivalentLines.find((e) => file.endsWith(e.file) && e.line === line && e.column === column + 1 && e.node === path.node.type);
    return entry ? `equivalent: ${entry.why}` : undefined;
  },
};

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, 'hearth-log-messages', logMessages),
  declareValuePlugin(PluginKind.Ignore, 'hearth-equivalent', equivalent),
];
