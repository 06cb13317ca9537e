#!/usr/bin/env node
/**
 * ONE-OFF codemod (issue 21, the store split): rewrites calls of the store port's former flat
 * methods to their sub-ports, e.g. `store.getCertificate(s)` → `store.certificates.getCertificate(s)`,
 * `tx.lockLog()` → `tx.log.lockLog()`, `store.insertAcmeNonces(…)` → `store.acme.insertAcmeNonces(…)`.
 * Kept so that branches written against the flat port can be brought over after they merge; delete it
 * once no such branch is left.
 *
 * It is type-directed: an access is rewritten only when its receiver's type is the store port (`Store`,
 * `StoreTx` or `KyselyStore` declared under src/store, also through `Pick<…>`, `Partial<…>`, unions,
 * intersections and type parameters constrained by them), so a method of the same name on anything
 * else (an ACME client's `revokeCertificate`, say) is left alone. It also rewrites the type forms
 * `Store['getCertificate']` → `Store['certificates']['getCertificate']` and
 * `Pick<StoreTx, 'getCertificate' | 'gateways'>` → `Pick<StoreTx, 'certificates' | 'gateways'>`.
 * Idempotent: `store.certificates.getCertificate` has a receiver of type CertificateStore and is left
 * as it is, so running it twice changes nothing the second time.
 *
 * Code held in strings (a snippet a child process runs) is rewritten by name where it reads
 * `store.<method>` or `tx.<method>`, and reported. What it cannot rewrite it reports as `review:`
 * lines (a Proxy around the store that intercepts a method by name, destructuring a method off the
 * store); those need a hand.
 *
 * Usage (from the repository root; the tree need not compile, but receivers' types must resolve):
 *   node scripts/codemods/store-subports.mjs [--dry-run] [--project tsconfig.json] [file or directory …]
 * With no paths it visits src, test and bench. Directories are searched for .ts/.mts files.
 */
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';

/** Former flat method → the sub-port that holds it now. */
const SUBPORT_OF = {
  certificates: [
    'blockKeys',
    'getBlockedKey',
    'findBlockedKeys',
    'insertPendingCertificate',
    'markCertificateIssued',
    'insertPendingCertificates',
    'markCertificatesIssued',
    'getCertificate',
    'listCertificates',
    'abandonPendingCertificates',
    'revokeCertificate',
    'listRevoked',
    'listRevokedSince',
    'nextCrlNumber',
    'setRenewalWindows',
    'getRenewalWindow',
  ],
  log: [
    'lockLog',
    'logSize',
    'getLogNodes',
    'appendLog',
    'getLogEntries',
    'getLogLeaves',
    'findLogEntryByHash',
    'findIssuanceLogEntry',
    'setCertificateLogIndexes',
    'insertCheckpoint',
    'latestCheckpoint',
    'indexLogHashes',
  ],
  acme: [
    'insertAcmeNonces',
    'consumeAcmeNonces',
    'deleteExpiredAcmeNonces',
    'insertAcmeAccount',
    'getAcmeAccount',
    'findAcmeAccountByThumbprint',
    'updateAcmeAccount',
    'changeAcmeAccountKey',
    'insertAcmeOrder',
    'getAcmeOrder',
    'getAcmeAuthorization',
    'updateAcmeOrder',
    'saveAcmeAuthorization',
    'findAcmeOrderByAuthorization',
    'findAcmeOrderByCertificate',
    'listAcmeOrderIds',
    'insertAcmeEabKey',
    'getAcmeEabKey',
    'bindAcmeEabKey',
    'deleteAcmeEabKey',
    'invalidateAcmeAccountOrders',
    'hitRateCounters',
    'readRateCounters',
    'findAcmeOrderReplacing',
    'listAuthorizedIdentifiers',
  ],
  tokens: ['insertApiToken', 'findApiTokenByHash'],
};
const SUBPORT = new Map(Object.entries(SUBPORT_OF).flatMap(([subport, methods]) => methods.map((m) => [m, subport])));

/** `store.getCertificate` / `tx.lockLog` in code held in a string, where no type can tell. */
const CODE_IN_STRING = new RegExp(`(\\b(?:store|tx)\\s*\\.\\s*)(${[...SUBPORT.keys()].join('|')})\\b`, 'g');

const STORE_TYPE_NAMES = new Set(['Store', 'StoreTx', 'KyselyStore']);
const WRAPPER_ALIASES = new Set(['Pick', 'Partial', 'Readonly', 'Required']);

function parseArgs(argv) {
  const args = { dryRun: false, project: 'tsconfig.json', paths: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--dry-run') args.dryRun = true;
    else if (arg === '--project') args.project = argv[++i];
    else if (arg === '--help' || arg === '-h') {
      console.log('node scripts/codemods/store-subports.mjs [--dry-run] [--project tsconfig.json] [file or directory …]');
      process.exit(0);
    } else args.paths.push(arg);
  }
  if (args.paths.length === 0) args.paths = ['src', 'test', 'bench'].filter((p) => existsSync(p));
  return args;
}

function collectFiles(path) {
  if (!existsSync(path)) throw new Error(`no such file or directory: ${path}`);
  if (!statSync(path).isDirectory()) return [resolve(path)];
  const found = [];
  for (const name of readdirSync(path)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const child = join(path, name);
    if (statSync(child).isDirectory()) found.push(...collectFiles(child));
    else if (/\.m?ts$/.test(name) && !name.endsWith('.d.ts')) found.push(resolve(child));
  }
  return found;
}

function loadProgram(project, files) {
  const config = ts.readConfigFile(project, ts.sys.readFile);
  if (config.error) throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, resolve(project, '..'));
  const rootNames = [...new Set([...parsed.fileNames.map((f) => resolve(f)), ...files])];
  return ts.createProgram({ rootNames, options: { ...parsed.options, noEmit: true } });
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const files = [...new Set(args.paths.flatMap(collectFiles))];
  const program = loadProgram(args.project, files);
  const checker = program.getTypeChecker();

  const declaredInStorePort = (symbol) => (symbol.declarations ?? []).some((d) => /[\\/]src[\\/]store[\\/]/.test(d.getSourceFile().fileName));

  function isStoreType(type, depth = 0) {
    if (!type || depth > 6) return false;
    if (type.isUnion() || type.isIntersection()) return type.types.some((t) => isStoreType(t, depth + 1));
    const alias = type.aliasSymbol;
    if (alias && WRAPPER_ALIASES.has(alias.getName()) && type.aliasTypeArguments?.length) return isStoreType(type.aliasTypeArguments[0], depth + 1);
    if (type.flags & ts.TypeFlags.TypeParameter) {
      const constraint = checker.getBaseConstraintOfType(type);
      return constraint !== undefined && constraint !== type && isStoreType(constraint, depth + 1);
    }
    const symbol = type.getSymbol();
    return symbol !== undefined && STORE_TYPE_NAMES.has(symbol.getName()) && declaredInStorePort(symbol);
  }

  const isStoreExpression = (node) => isStoreType(checker.getTypeAtLocation(node));
  const isStoreTypeNode = (node) => isStoreType(checker.getTypeFromTypeNode(node));
  const literalName = (node) => (ts.isLiteralTypeNode(node) && ts.isStringLiteral(node.literal) ? node.literal.text : undefined);

  let changedFiles = 0;
  let totalEdits = 0;
  for (const fileName of files) {
    const source = program.getSourceFile(fileName);
    if (!source) {
      console.warn(`skipped (not in the program): ${relative(process.cwd(), fileName)}`);
      continue;
    }
    /** Insertions and replacements as { start, end, text }; applied from the end. */
    const edits = [];
    const review = [];
    const where = (node) => {
      const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
      return `${relative(process.cwd(), fileName)}:${line + 1}`;
    };

    const visit = (node) => {
      // store.getCertificate / tx?.lockLog → store.certificates.getCertificate / tx?.log.lockLog
      if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.name) && SUBPORT.has(node.name.text) && isStoreExpression(node.expression)) {
        const at = node.name.getStart(source);
        edits.push({ start: at, end: at, text: `${SUBPORT.get(node.name.text)}.` });
      }
      // store['getCertificate'] → store.certificates['getCertificate']
      else if (
        ts.isElementAccessExpression(node) &&
        ts.isStringLiteralLike(node.argumentExpression) &&
        SUBPORT.has(node.argumentExpression.text) &&
        isStoreExpression(node.expression)
      ) {
        const at = node.expression.getEnd();
        edits.push({ start: at, end: at, text: `.${SUBPORT.get(node.argumentExpression.text)}` });
      }
      // Store['insertPendingCertificates'] → Store['certificates']['insertPendingCertificates']
      else if (
        ts.isIndexedAccessTypeNode(node) &&
        SUBPORT.has(literalName(node.indexType)) &&
        ts.isTypeReferenceNode(node.objectType) &&
        isStoreTypeNode(node.objectType)
      ) {
        const at = node.objectType.getEnd();
        edits.push({ start: at, end: at, text: `['${SUBPORT.get(literalName(node.indexType))}']` });
      }
      // Pick<StoreTx, 'getCertificate' | 'gateways'> → Pick<StoreTx, 'certificates' | 'gateways'>
      else if (
        ts.isTypeReferenceNode(node) &&
        ts.isIdentifier(node.typeName) &&
        node.typeName.text === 'Pick' &&
        node.typeArguments?.length === 2 &&
        isStoreTypeNode(node.typeArguments[0])
      ) {
        const keys = node.typeArguments[1];
        const members = ts.isUnionTypeNode(keys) ? keys.types : [keys];
        const names = members.map(literalName);
        if (names.every((n) => n !== undefined) && names.some((n) => SUBPORT.has(n))) {
          const renamed = [...new Set(names.map((n) => SUBPORT.get(n) ?? n))];
          edits.push({ start: keys.getStart(source), end: keys.getEnd(), text: renamed.map((n) => `'${n}'`).join(' | ') });
          return; // the literals inside were handled here
        }
      }
      // new Proxy(store, { get(…) { if (property === 'getCertificate') … } }): intercepts a method that moved.
      else if (
        ts.isNewExpression(node) &&
        ts.isIdentifier(node.expression) &&
        node.expression.text === 'Proxy' &&
        node.arguments?.[0] &&
        isStoreExpression(node.arguments[0])
      ) {
        const handler = node.arguments[1];
        const findNames = (n) => {
          // A Proxy nested in the handler (around a sub-port, say) is judged on its own.
          if (ts.isNewExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 'Proxy') return;
          if (ts.isStringLiteralLike(n) && SUBPORT.has(n.text))
            review.push(`${where(n)}: a Proxy around the store intercepts '${n.text}', now on store.${SUBPORT.get(n.text)}: wrap that sub-port instead`);
          ts.forEachChild(n, findNames);
        };
        if (handler) findNames(handler);
      }
      // Code in a string, run elsewhere (a child process's snippet): `store.nextCrlNumber(…)` by name.
      else if (
        ts.isStringLiteral(node) ||
        ts.isNoSubstitutionTemplateLiteral(node) ||
        ts.isTemplateHead(node) ||
        ts.isTemplateMiddle(node) ||
        ts.isTemplateTail(node)
      ) {
        const start = node.getStart(source);
        const raw = source.text.slice(start, node.getEnd());
        for (const match of raw.matchAll(CODE_IN_STRING)) {
          const at = start + match.index + match[1].length;
          edits.push({ start: at, end: at, text: `${SUBPORT.get(match[2])}.` });
          review.push(`${where(node)}: rewrote store.${match[2]} inside a string (code run elsewhere): check it`);
        }
      }
      // const { getCertificate } = store
      else if (ts.isVariableDeclaration(node) && ts.isObjectBindingPattern(node.name) && node.initializer && isStoreExpression(node.initializer)) {
        for (const element of node.name.elements) {
          const name = (element.propertyName ?? element.name).getText(source);
          if (SUBPORT.has(name)) review.push(`${where(element)}: '${name}' is destructured off the store; it is on store.${SUBPORT.get(name)} now`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);

    for (const line of new Set(review)) console.log(`review: ${line}`);
    if (edits.length === 0) continue;
    edits.sort((a, b) => b.start - a.start);
    let text = readFileSync(fileName, 'utf8');
    if (text !== source.getFullText()) throw new Error(`${fileName} changed on disk while it was being read`);
    for (const edit of edits) text = text.slice(0, edit.start) + edit.text + text.slice(edit.end);
    if (!args.dryRun) writeFileSync(fileName, text);
    changedFiles++;
    totalEdits += edits.length;
    console.log(`${args.dryRun ? 'would rewrite' : 'rewrote'} ${relative(process.cwd(), fileName)}: ${edits.length}`);
  }
  console.log(`${totalEdits} rewrites in ${changedFiles} files (${files.length} visited)${args.dryRun ? ', dry run: nothing written' : ''}`);
}

main();
