/**
 * The unpickler never runs code from a file: globals outside the allow-list (os.system, and the protocol-2
 * spellings posix.system / __builtin__.eval that defeat deny-lists) are refused by name, through GLOBAL and
 * STACK_GLOBAL, inside a .pth and in a plain pickle; object-building opcodes are refused; lengths that would
 * make it allocate absurd amounts are errors, not allocations.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  encodePth,
  loadCheckpointFile,
  pickle,
  PyGlobalRef,
  readCheckpointBytes,
  unpickle,
} from '../../src/torch/serialization/index.js';
import { zipStoredAligned } from '../../src/torch/serialization/zip.js';
import { hasTorchPython, NO_TORCH_REASON } from '../helpers/python.js';
import { torchFixtures } from './describe.js';

/** Pickle bytes from latin-1 text and byte arrays. */
function p(...parts: (string | number[])[]): Uint8Array {
  const out: number[] = [];
  for (const part of parts) {
    if (typeof part === 'string') for (const c of part) out.push(c.charCodeAt(0));
    else out.push(...part);
  }
  return Uint8Array.from(out);
}

/** `<module>.<name>('echo pwned',)` as protocol 2 and as protocol 4 would write it. */
function callGlobal(module: string, name: string): Uint8Array[] {
  const arg = 'echo pwned';
  return [
    p([0x80, 2], `c${module}\n${name}\n`, 'X', [arg.length, 0, 0, 0], arg, [0x85], 'R.'),
    p(
      [0x80, 4, 0x95],
      [0, 0, 0, 0, 0, 0, 0, 0],
      [0x8c, module.length],
      module,
      [0x8c, name.length],
      name,
      [0x93],
      [0x8c, arg.length],
      arg,
      [0x85],
      'R.',
    ),
  ];
}

const REFUSED = [
  'os.system',
  'posix.system',
  'nt.system',
  'builtins.eval',
  '__builtin__.eval',
  'builtins.exec',
  '__builtin__.exec',
  'builtins.getattr',
  'builtins.__import__',
  'builtins.open',
  'subprocess.Popen',
  'subprocess.check_output',
  'torch.load',
  'torch.serialization.load',
  'copyreg._reconstructor',
  'numpy.core.multiarray._reconstruct',
  'collections.defaultdict',
  'torch.nn.modules.conv.Conv3d',
  'webbrowser.open',
];

test('globals outside the allow-list are refused by name (GLOBAL and STACK_GLOBAL)', () => {
  for (const qualified of REFUSED) {
    const dot = qualified.lastIndexOf('.');
    for (const bytes of callGlobal(qualified.slice(0, dot), qualified.slice(dot + 1))) {
      assert.throws(
        () => unpickle(bytes, { where: 'evil.pkl' }),
        (e: Error) =>
          e.message ===
          `unpickle(evil.pkl): refusing global '${qualified}' (not in the allow-list of torch checkpoint types)`,
        qualified,
      );
    }
  }
});

test('a .pth whose data.pkl calls posix.system is refused with the file named, and nothing runs', () => {
  const [bytes] = callGlobal('posix', 'system');
  const zip = Buffer.concat(
    zipStoredAligned([
      { name: 'evil/data.pkl', data: bytes! },
      { name: 'evil/version', data: p('3\n') },
    ]),
  );
  assert.throws(
    () => readCheckpointBytes(zip, 'evil.pth'),
    /unpickle\(evil\.pth:evil\/data\.pkl\): refusing global 'posix\.system'/,
  );
});

test("pickles made by Python's own pickle with os.system inside are refused, nothing runs", {
  skip: hasTorchPython() ? false : NO_TORCH_REASON,
}, async () => {
  const fx = torchFixtures()!;
  await assert.rejects(
    loadCheckpointFile(join(fx.dir, 'evil.pth')),
    (e: Error) => /refusing global '(posix|os)\.system'/.test(e.message) && e.message.includes('evil.pth'),
  );
  assert.throws(
    () => unpickle(new Uint8Array(readFileSync(join(fx.dir, 'evil_p4.pkl'))), { where: 'evil_p4.pkl' }),
    /refusing global '(posix|os)\.system'/,
  );
  assert.equal(existsSync(join(fx.dir, 'pwned')), false);
});

test('object-building and out-of-band opcodes are refused', () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['INST', p([0x80, 2], '(iposix\nsystem\n.'), /unsupported opcode INST/],
    ['OBJ', p([0x80, 2], '(o.'), /unsupported opcode OBJ/],
    ['EXT1', p([0x80, 2, 0x82, 1], '.'), /unsupported opcode EXT1/],
    ['NEXT_BUFFER', p([0x80, 5, 0x97], '.'), /unsupported opcode NEXT_BUFFER/],
    ['STRING', p("S'x'\n."), /unsupported opcode STRING/],
    ['unknown opcode', p([0x80, 2, 0xff]), /unsupported opcode 0xff/],
    ['protocol 6', p([0x80, 6], 'N.'), /unsupported pickle protocol 6/],
    ['call a tuple', p([0x80, 2], '))R.'), /REDUCE: cannot call tuple/],
    ['call a dtype', p([0x80, 2], 'ctorch\nfloat32\n)R.'), /REDUCE: cannot call torch\.dtype/],
    ['persistent id without storage', p([0x80, 2], 'N', [0x51], '.'), /persistent id found/],
    ['BUILD on a list', p([0x80, 2], ']}b.'), /BUILD: cannot set state dict on list/],
    ['SETITEM on a list', p([0x80, 2], ']NNs.'), /target is list, not a dict/],
    ['memo miss', p([0x80, 2, 0x68, 7], '.'), /memo entry 7 was never stored/],
    ['stack underflow', p([0x80, 2], 't.'), /no MARK/],
    ['empty STOP', p([0x80, 2], '.'), /stack underflow/],
    [
      'rebuild on a non-storage',
      p([0x80, 2], 'ctorch._utils\n_rebuild_tensor_v2\n(NK\x00)))\x89tR.'),
      /first argument must be a storage, got None/,
    ],
  ];
  for (const [what, bytes, re] of cases) assert.throws(() => unpickle(bytes, { where: 'x.pkl' }), re, what);
});

test('absurd lengths are reported, not allocated', () => {
  const big8 = [0, 0, 0, 0, 0, 0, 0, 0x10]; // 2^60
  assert.throws(() => unpickle(p([0x80, 4, 0x8d], big8, '.')), /impossible|truncated/);
  assert.throws(
    () => unpickle(p([0x80, 4, 0x95], [0, 0, 0, 1, 0, 0, 0, 0], 'N.')),
    /FRAME at byte 2 announces 16777216 bytes/,
  );
  assert.throws(
    () => unpickle(p([0x80, 2, 0x8b], [0xff, 0xff, 0xff, 0x7f], '.')),
    /truncated at byte 7: LONG4 needs 2147483647 bytes/,
  );
  assert.throws(() => unpickle(p([0x80, 2], 'X', [0xff, 0xff, 0xff, 0xff], '.')), /BINUNICODE needs 4294967295 bytes/);
});

test('legacy checkpoints that pickle whole modules (persistent id kind "module") are refused', () => {
  // Magic, protocol 1001, sys_info {}, then an object whose persistent id is ('module', ...).
  const bytes = p(
    [0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19],
    '.',
    [0x80, 2],
    'M',
    [0xe9, 0x03],
    '.',
    [0x80, 2],
    '}.',
    [0x80, 2],
    '(X',
    [6, 0, 0, 0],
    'module',
    'NNNt',
    [0x51],
    '.',
    [0x80, 2],
    '].',
  );
  assert.throws(
    () => readCheckpointBytes(bytes, 'old.pt'),
    /kind 'module' \(only 'storage'; whole-module pickles are not supported\)/,
  );
});

test('the writer refuses globals the reader would refuse, and self-containing tuples', () => {
  assert.throws(() => pickle(new PyGlobalRef('posix', 'system')), /refusing to write global 'posix\.system'/);
  assert.throws(() => encodePth({ f: (() => 1) as never }), /cannot pickle a JS function at f/);
  assert.throws(
    () => pickle({ t: { dtype: 'float32', shape: [1], data: new Uint8Array(4) } }),
    /tensors can only be written inside a checkpoint/,
  );
});
