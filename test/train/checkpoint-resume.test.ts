/**
 * Training checkpoints: stop after k steps, reload into freshly built (differently seeded) objects, continue:
 * the losses equal the uninterrupted run's exactly (modules, optimiser, scheduler and RNG all restored), and
 * the checkpoint is a PyTorch-style file with the encoder under 'state_dict'. Run folders prune old epochs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { F, nn, optim } from '../../src/torch/index.js';
import {
  gradScalerExtra,
  loadTrainingCheckpoint,
  restoreGradScaler,
  saveTrainingCheckpoint,
} from '../../src/train/training-checkpoint.js';
import { libtorchMajor } from '../../src/torch/libtorch.js';
import { RunDir } from '../../src/train/run-dir.js';
import { hasTorchPython, NO_TORCH_REASON, PYTHON, PYTHON_ENV } from '../helpers/python.js';

function build(seed: number) {
  torch.manualSeed(seed);
  const encoder = new nn.Sequential(
    new nn.Conv3d(1, 4, 3, { padding: 1 }),
    new nn.BatchNorm3d(4),
    new nn.ReLU(),
    new nn.AdaptiveAvgPool3d(1),
    new nn.Flatten(),
  );
  const head = new nn.Linear(4, 3);
  const opt = new optim.SGD([...encoder.parameters(), ...head.parameters()], {
    lr: 0.1,
    momentum: 0.9,
    nesterov: true,
    weightDecay: 5e-5,
  });
  const sched = new optim.LinearWarmupCosine(opt, { warmupSteps: 2, totalSteps: 6, startFactor: 0.1, etaMin: 1e-3 });
  return {
    encoder,
    head,
    opt,
    sched,
    dispose: () => {
      encoder.dispose();
      head.dispose();
      opt.dispose();
    },
  };
}

function trainStep(m: ReturnType<typeof build>): number {
  return torch.tidy(() => {
    const x = torch.randn([3, 1, 4, 6, 6]);
    const loss = F.crossEntropy(m.head.forward(m.encoder.forward(x)), torch.randint(0, 3, [3]));
    loss.backward();
    m.opt.step();
    m.opt.zeroGrad();
    m.sched.step();
    return loss.item();
  });
}

describe('training checkpoints', () => {
  it('resume reproduces the uninterrupted losses exactly', async () => {
    const full = build(1);
    torch.manualSeed(100);
    const expected = Array.from({ length: 6 }, () => trainStep(full));
    full.dispose();

    const first = build(1);
    torch.manualSeed(100);
    const got = Array.from({ length: 3 }, () => trainStep(first));
    const path = join(mkdtempSync(join(tmpdir(), 'inkwell-resume-')), 'epoch_0003.pth');
    await saveTrainingCheckpoint(path, {
      epoch: 3,
      step: 3,
      modules: { encoder: first.encoder, head: first.head },
      optimizer: first.opt,
      scheduler: first.sched,
      config: { lr: 0.1 },
    });
    first.dispose();

    const second = build(999);
    torch.manualSeed(12345); // disturb the generator: the checkpoint must restore it
    const restored = await loadTrainingCheckpoint(path, {
      modules: { encoder: second.encoder, head: second.head },
      optimizer: second.opt,
      scheduler: second.sched,
    });
    assert.equal(restored.epoch, 3);
    assert.deepEqual(restored.config, { lr: 0.1 });
    for (let i = 0; i < 3; i++) got.push(trainStep(second));
    second.dispose();
    assert.deepEqual(got, expected);

    const sd = await torch.readStateDict(path);
    assert.deepEqual([...sd.keys()].slice(0, 2), ['0.weight', '0.bias']);
  });

  it('a checkpoint of another architecture is refused naming the module and keys', async () => {
    const a = build(1);
    const path = join(mkdtempSync(join(tmpdir(), 'inkwell-resume-')), 'x.pth');
    await saveTrainingCheckpoint(path, {
      epoch: 1,
      step: 1,
      modules: { encoder: a.encoder, head: a.head },
      config: {},
    });
    const other = new nn.Linear(4, 5);
    await assert.rejects(
      loadTrainingCheckpoint(path, { modules: { head: other } }),
      /module 'head': loadStateDict: .*weight: expected \[5,4\], got \[3,4\]/,
    );
    await assert.rejects(
      loadTrainingCheckpoint(path, { modules: { projector: other } }),
      /no weights for module 'projector' \(has: encoder, head\)/,
    );
    other.dispose();
    a.dispose();
  });
});

/** Scaled steps of `m` with real gradients; `overflow` puts an inf into one gradient first (an fp16 overflow). */
function scaledSteps(m: ReturnType<typeof build>, scaler: torch.amp.GradScaler, overflow: boolean[]): boolean[] {
  return overflow.map((inf) =>
    torch.tidy(() => {
      const x = torch.randn([3, 1, 4, 6, 6]);
      const loss = F.crossEntropy(m.head.forward(m.encoder.forward(x)), torch.randint(0, 3, [3]));
      scaler.scale(loss).backward();
      if (inf) torch.noGrad(() => m.head.weight.grad!.fill_(Number.POSITIVE_INFINITY));
      const stepped = scaler.step(m.opt);
      scaler.update();
      m.opt.zeroGrad();
      return stepped;
    }),
  );
}

/** A checkpoint written after an overflow and two clean steps (growth interval 3), with its scaler. */
async function scalerCheckpoint(): Promise<{ path: string; scaler: torch.amp.GradScaler }> {
  const m = build(2);
  const scaler = new torch.amp.GradScaler({ growthInterval: 3 });
  // An overflow halves 2^16; two clean steps leave the tracker at 2 of 3.
  assert.deepEqual(scaledSteps(m, scaler, [true, false, false]), [false, true, true]);
  assert.deepEqual([scaler.scaleValue, scaler.stateDict()._growth_tracker], [2 ** 15, 2]);
  const path = join(mkdtempSync(join(tmpdir(), 'inkwell-scaler-')), 'epoch_0001.pth');
  await saveTrainingCheckpoint(path, {
    epoch: 1,
    step: 3,
    modules: { encoder: m.encoder, head: m.head },
    optimizer: m.opt,
    config: { amp: 'fp16' },
    extra: { ...gradScalerExtra(scaler), batch_step: 3 },
  });
  m.dispose();
  return { path, scaler };
}

describe("fp16's gradient scaler in training checkpoints", () => {
  it('the scale and growth tracker survive a checkpoint and a resume', async () => {
    const { path, scaler } = await scalerCheckpoint();
    const resumed = new torch.amp.GradScaler({ growthInterval: 3 });
    const again = build(3);
    await loadTrainingCheckpoint(path, {
      modules: { encoder: again.encoder, head: again.head },
      optimizer: again.opt,
      onExtra: (extra) => restoreGradScaler(extra, resumed, path),
    });
    assert.deepEqual(resumed.stateDict(), scaler.stateDict());
    // The resumed scaler continues the count: one more clean step reaches the growth interval and doubles.
    assert.deepEqual(scaledSteps(again, resumed, [false]), [true]);
    assert.equal(resumed.scaleValue, 2 ** 16);

    // Without fp16 nothing is written, and a run without a scaler ignores a saved one.
    assert.deepEqual(gradScalerExtra(null), {});
    await loadTrainingCheckpoint(path, {
      modules: { head: again.head },
      onExtra: (extra) => restoreGradScaler(extra, null, path),
    });
    again.dispose();
  });

  it("PyTorch's GradScaler loads the saved state as it was", {
    // PyTorch 1.13 has only torch.cuda.amp.GradScaler, which disables itself (and loads nothing) without a GPU.
    skip: !hasTorchPython()
      ? NO_TORCH_REASON
      : libtorchMajor() < 2
        ? "PyTorch 1.13's GradScaler needs a GPU; torch.amp.GradScaler('cpu') is PyTorch >= 2.3"
        : false,
  }, async () => {
    const { path, scaler } = await scalerCheckpoint();
    const py = spawnSync(
      PYTHON,
      [
        '-c',
        [
          'import json, sys, torch',
          "s = torch.amp.GradScaler('cpu')",
          "s.load_state_dict(torch.load(sys.argv[1], weights_only=True)['extra']['grad_scaler'])",
          'print(json.dumps(s.state_dict()))',
        ].join('\n'),
        path,
      ],
      { encoding: 'utf8', env: PYTHON_ENV },
    );
    assert.equal(py.status, 0, py.stderr);
    assert.deepEqual(JSON.parse(py.stdout), scaler.stateDict());
  });

  it('a broken scaler entry is refused naming the checkpoint', () => {
    const scaler = new torch.amp.GradScaler();
    assert.throws(
      () => restoreGradScaler(new Map([['grad_scaler', new Map([['scale', -1]])]]), scaler, 'x.pth'),
      /^Error: loadTrainingCheckpoint\(x\.pth\): 'extra\.grad_scaler': GradScaler\.loadStateDict: 'scale' must be a positive number, got -1/,
    );
    assert.throws(
      () => restoreGradScaler(new Map([['grad_scaler', 65536]]), scaler, 'x.pth'),
      /'extra\.grad_scaler' is not a dict \(got number\)/,
    );
  });
});

describe('run folders', () => {
  it('keeps the last N checkpoints and every K-th; refuses to clobber a run unless resuming', () => {
    const root = mkdtempSync(join(tmpdir(), 'inkwell-runs-'));
    const run = RunDir.open(root, 'r1');
    for (let e = 1; e <= 7; e++) writeFileSync(run.checkpointPath(e), 'x');
    run.prune(2, 3);
    assert.deepEqual(
      run.checkpoints().map((c) => c.epoch),
      [3, 6, 7],
    );
    assert.equal(run.latestCheckpoint()!.epoch, 7);
    run.log('train', 5, { loss: 1.5, note: 'ok' });
    run.close();
    assert.ok(readdirSync(run.dir).some((f) => f.startsWith('events.out.tfevents.')));
    assert.throws(() => RunDir.open(root, 'r1'), /already has checkpoints: pass --resume/);
    assert.equal(RunDir.open(root, 'r1', { resume: true }).latestCheckpoint()!.epoch, 7);
  });
});
