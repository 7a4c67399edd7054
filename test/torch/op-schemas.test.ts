/**
 * Every ATen operator the TypeScript layer calls by name exists in the loaded libtorch's dispatcher, with the
 * overload it names: a libtorch upgrade that renames or drops a schema fails here, not in the middle of a run.
 * Names come from the sources (src/**.ts): literal `'aten::x', 'overload'` pairs, where the overload may be a
 * conditional over literals; the few names built from templates are listed below with every value they take.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { native } from '../../src/torch/native.js';
import { REPO_ROOT } from '../../src/torch/build.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : name.endsWith('.ts') ? [p] : [];
  });
}

// Template-built names (src/torch/ops/functional.ts): each template and the operators it can produce.
const TEMPLATES: Record<string, string[]> = {
  'aten::${op}': [
    'conv1d',
    'conv2d',
    'conv3d',
    'conv_transpose1d',
    'conv_transpose2d.input',
    'conv_transpose3d.input',
    'max_pool2d',
    'max_pool3d',
    'avg_pool2d',
    'avg_pool3d',
  ].map((n) => `aten::${n}`),
  'aten::${fn}': ['aten::adaptive_avg_pool1d', 'aten::adaptive_avg_pool2d', 'aten::adaptive_avg_pool3d'],
  'aten::upsample_nearest${spatial}d': [
    'aten::upsample_nearest1d.vec',
    'aten::upsample_nearest2d.vec',
    'aten::upsample_nearest3d.vec',
  ],
  'aten::upsample_${mode}${spatial}d': [
    'aten::upsample_linear1d.vec',
    'aten::upsample_bilinear2d.vec',
    'aten::upsample_trilinear3d.vec',
  ],
};

/** "aten::name.overload" for every operator named in the sources, and the templates met on the way. */
function usedOps(): { ops: Set<string>; templates: Set<string> } {
  const ops = new Set<string>();
  const templates = new Set<string>();
  for (const file of sources(join(REPO_ROOT, 'src'))) {
    const text = readFileSync(file, 'utf8');
    // 'aten::name', <overload expression up to the next comma or bracket>
    for (const m of text.matchAll(/'(aten::\w+)'(?:\s*,\s*([^,\]\n]*))?/g)) {
      // The overload literals, leaving out the type tests of a conditional (typeof x === 'number' ? ...).
      const expr = (m[2] ?? '').replace(/typeof\s+\w+\s*[!=]==?\s*'\w+'/g, '');
      const overloads = [...expr.matchAll(/'(\w*)'/g)].map((o) => o[1]!);
      if (overloads.length === 0) overloads.push('');
      for (const o of overloads) ops.add(o ? `${m[1]}.${o}` : m[1]!);
    }
    for (const m of text.matchAll(/`(aten::[^`]*\$\{[^`]*)`/g)) templates.add(m[1]!);
  }
  return { ops, templates };
}

test('every aten:: operator named in src/ has a schema in the loaded libtorch', () => {
  const { ops, templates } = usedOps();
  assert.deepEqual(
    [...templates].sort(),
    Object.keys(TEMPLATES).sort(),
    'a template-built operator name was added or removed in src/: list what it can produce in TEMPLATES',
  );
  for (const names of Object.values(TEMPLATES)) for (const n of names) ops.add(n);
  assert.ok(ops.size > 100, `expected the op layer's ~130 operators, found ${ops.size}`);
  const known = new Set(native.schemas('aten::').map((s) => (s.overload ? `${s.name}.${s.overload}` : s.name)));
  const missing = [...ops].filter((op) => !known.has(op)).sort();
  assert.deepEqual(missing, [], `libtorch ${torch.buildInfo().torchVersion} has no schema for: ${missing.join(', ')}`);
});

test('the schema listing names real overloads and a lookup of a missing one fails with the known ones', () => {
  const add = native.schemas('aten::add').filter((s) => s.name === 'aten::add');
  assert.ok(
    add.some((s) => s.overload === 'Tensor' && s.schema.startsWith('aten::add.Tensor(Tensor self, Tensor other')),
  );
  assert.throws(
    () => native.call('aten::add', 'NoSuchOverload', []),
    /no overload 'NoSuchOverload' of aten::add \(known overloads: .*'Tensor'/,
  );
  assert.throws(() => native.call('aten::no_such_op', '', []), /unknown operator \(no schema named aten::no_such_op\)/);
});
