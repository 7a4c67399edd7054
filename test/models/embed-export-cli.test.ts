/**
 * `inkwell export` and `inkwell embed` end to end, as child processes: export a seeded encoder, have PyTorch load
 * it strictly and compute features, embed the same input in batches with --weights and compare; embed a stage;
 * embed with a 3-channel Kinetics checkpoint adapted to 1 channel; and the errors of a bad input and an unknown
 * architecture. Runs through `bin/inkwell` once the lead has registered the commands, else through a launcher
 * that registers them on a commander program the way src/cli/main.ts does.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ResNet3D } from '../../src/models/index.js';
import * as torch from '../../src/torch/index.js';
import { loadNpyTensor } from '../helpers/compare.js';
import { hasTorchPython, makeFixtures, NO_TORCH_REASON, runPython } from '../helpers/python.js';
import { assertRel } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const distCommands = join(here, '..', '..', 'src', 'cli', 'commands');

/** `node bin/inkwell <args>` if it knows embed and export, else the same commands on a fresh commander program. */
function cliRunner(): {
  how: string;
  run: (args: string[]) => { status: number | null; stdout: string; stderr: string };
} {
  const bin = join(root, 'bin', 'inkwell');
  const help = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' }).stdout ?? '';
  const registered = /^\s+embed\b/m.test(help) && /^\s+export\b/m.test(help);
  const env = { ...process.env, INKWELL_PROGRESS: '0' };
  if (registered)
    return {
      how: 'bin/inkwell',
      run: (args) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env }),
    };
  const launcher = `
    import { Command, CommanderError } from 'commander';
    const { registerEmbed } = await import(${JSON.stringify(pathToFileURL(join(distCommands, 'embed.js')).href)});
    const { registerExport } = await import(${JSON.stringify(pathToFileURL(join(distCommands, 'export.js')).href)});
    const program = new Command('inkwell').exitOverride();
    registerEmbed(program);
    registerExport(program);
    try { await program.parseAsync(process.argv.slice(1), { from: 'user' }); }
    catch (err) { if (!(err instanceof CommanderError)) process.stderr.write('inkwell: ' + err.message + '\\n'); process.exitCode = 1; }`;
  return {
    how: 'launcher (commands not yet registered in bin/inkwell)',
    run: (args) =>
      spawnSync(process.execPath, ['--input-type=module', '-e', launcher, '--', ...args], {
        encoding: 'utf8',
        env,
        cwd: root,
      }),
  };
}

describe('embed and export commands', { skip: hasTorchPython() ? false : NO_TORCH_REASON }, () => {
  let fx = '';
  let work = '';
  let cli: ReturnType<typeof cliRunner>;
  before(async () => {
    fx = makeFixtures('models_fixtures.py');
    work = mkdtempSync(join(tmpdir(), 'inkwell-embed-'));
    cli = cliRunner();
    torch.manualSeed(17);
    const x = torch.keep(torch.randn([3, 1, 10, 20, 20]));
    await torch.saveNpy(join(work, 'x.npy'), x);
    await torch.saveNpy(join(work, 'x4.npy'), x.squeeze(1));
    x.dispose();
  });
  after(() => {
    for (const d of [fx, work]) if (d) rmSync(d, { recursive: true, force: true });
  });

  function ok(args: string[]): string {
    const r = cli.run(args);
    assert.equal(r.status, 0, `inkwell ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
    return r.stdout;
  }

  it("export -> PyTorch strict load -> embed --weights in batches gives PyTorch's pooled features", (t) => {
    const model = join(work, 'r3d18.pth');
    const said = ok(['export', '--arch', 'resnet3d-18', '--widen-factor', '0.25', '--seed', '4', '--out', model]);
    assert.match(said, /wrote .*r3d18\.pth: resnet3d-18: BasicBlock x \[2,2,2,2\].*no head.*random init, seed 4/);
    const report = JSON.parse(
      runPython('models_fixtures.py', [
        '--check-export',
        model,
        JSON.stringify({ depth: 18, widenFactor: 0.25 }),
        join(work, 'x.npy'),
        join(work, 'torch.npy'),
      ]),
    ) as Record<string, unknown>;
    assert.equal(report['loaded'], true, String(report['error']));
    const out = join(work, 'f.npy');
    const line = ok([
      'embed',
      '--arch',
      'resnet3d-18',
      '--widen-factor',
      '0.25',
      '--weights',
      model,
      '--batch-size',
      '2',
      '--input',
      join(work, 'x.npy'),
      '--output',
      out,
    ]);
    assert.match(
      line,
      /wrote .*f\.npy \[3,128\]: resnet3d-18 pooled features of 3 sample\(s\) \(loaded 120 tensor\(s\) from .*r3d18\.pth; all keys matched/,
    );
    const err = torch.tidy(() =>
      assertRel(loadNpyTensor(out), loadNpyTensor(join(work, 'torch.npy')), 'embed vs PyTorch'),
    );
    t.diagnostic(`${cli.how}: embed (2 batches) vs PyTorch relative error ${err.toExponential(1)}`);
  });

  it('embed --stage 2 writes layer2 features [N,C,D,H,W] of the predicted size', () => {
    const out = join(work, 'l2.npy');
    ok([
      'embed',
      '--arch',
      'resnet3d-18-reference',
      '--widen-factor',
      '0.25',
      '--stage',
      '2',
      '--input',
      join(work, 'x.npy'),
      '--output',
      out,
    ]);
    const m = new ResNet3D({ depth: 18, widenFactor: 0.25, maxPool: 'reference' });
    try {
      torch.tidy(() =>
        assert.deepEqual(loadNpyTensor(out).shape, [3, m.channels.layer2, ...m.stageSizes([10, 20, 20]).layer2]),
      );
    } finally {
      m.dispose();
    }
  });

  it('embed with a 3-channel Kinetics checkpoint adapts conv1 to 1 channel (sum), matching PyTorch', (t) => {
    const out = join(work, 'k.npy');
    const line = ok([
      'embed',
      '--arch',
      'resnet3d-18',
      '--widen-factor',
      '0.25',
      '--weights',
      join(fx, 'kinetics.legacy.pth'),
      '--input',
      join(fx, 'kinetics.x1.npy'),
      '--output',
      out,
    ]);
    assert.match(line, /conv1\.weight adapted 3 -> 1 channel\(s\) \(sum\); dropped fc\.weight, fc\.bias/);
    const err = torch.tidy(() =>
      assertRel(loadNpyTensor(out), loadNpyTensor(join(fx, 'kinetics.pooled1.npy')), 'adapted embed'),
    );
    t.diagnostic(`adapted embed vs PyTorch relative error ${err.toExponential(1)}`);
  });

  it('bad inputs: a rank-4 batch, an unknown architecture, a checkpoint of another architecture, a bad --stage', () => {
    const cases: [string[], RegExp][] = [
      [
        ['embed', '--arch', 'resnet3d-18', '--input', join(work, 'x4.npy'), '--output', join(work, 'bad.npy')],
        /x4\.npy is \[3,10,20,20\]; expected a batch \[N,1,D,H,W\] \(rank 5\)/,
      ],
      [
        ['embed', '--arch', 'resnet3d-19', '--input', join(work, 'x.npy'), '--output', join(work, 'bad.npy')],
        /unknown architecture 'resnet3d-19'; known: resnet3d-10, resnet3d-10-reference, resnet3d-18/,
      ],
      [
        [
          'embed',
          '--arch',
          'resnet3d-34',
          '--weights',
          join(fx, 'kinetics.legacy.pth'),
          '--input',
          join(work, 'x.npy'),
          '--output',
          join(work, 'bad.npy'),
        ],
        /does not fit this model: .*missing key\(s\) \(layer1\.2\.conv1\.weight.*looks like resnet3d-18/,
      ],
      [
        [
          'embed',
          '--arch',
          'resnet3d-10',
          '--stage',
          '5',
          '--input',
          join(work, 'x.npy'),
          '--output',
          join(work, 'bad.npy'),
        ],
        /--stage must be pooled, stem or 1\.\.4, got '5'/,
      ],
      [
        ['export', '--arch', 'resnet3d-10', '--out', join(work, 'bad.onnx')],
        /--out must end in \.pth, \.pt or \.safetensors/,
      ],
    ];
    for (const [args, want] of cases) {
      const r = cli.run(args);
      assert.notEqual(r.status, 0, `inkwell ${args.join(' ')} should fail`);
      assert.match(r.stderr, want);
    }
  });
});
