/**
 * Bad input never crashes the process: hundreds of invalid calls with random shapes and arguments each
 * come back as a JS Error that names the operation. (A native abort would take this whole test file down.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { F, type Tensor } from '../../src/torch/index.js';
import { callOp } from '../../src/torch/tensor.js';

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('invalid calls become errors naming the op', () => {
  it('random shapes and arguments across ops (400 calls)', () => {
    const rnd = mulberry32(42);
    const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
    const shape = () => Array.from({ length: int(0, 6) }, () => int(0, 5));
    const anyTensor = (): Tensor => {
      const r = rnd();
      const dtype = r < 0.7 ? 'float32' : r < 0.85 ? 'int64' : 'bool';
      return torch.zeros(shape(), { dtype });
    };
    const junk = (): unknown =>
      [() => -1, () => 2.5, () => 'x', () => null, () => [1, -2], () => [], () => ({}), () => anyTensor()][
        int(0, 7)
      ]!();
    // Each entry: the op name the error must contain, and a call with random (mostly wrong) inputs.
    const calls: [RegExp, () => unknown][] = [
      [/conv3d/, () => F.conv3d(anyTensor(), anyTensor(), null, { stride: junk() as number, padding: int(-1, 3) })],
      [/conv2d/, () => F.conv2d(anyTensor(), anyTensor())],
      [/conv_transpose3d/, () => F.convTranspose3d(anyTensor(), anyTensor())],
      [/batchNorm|batch_norm/, () => F.batchNorm(anyTensor(), anyTensor(), anyTensor(), { training: rnd() < 0.5 })],
      [/max_pool3d/, () => F.maxPool3d(anyTensor(), junk() as number)],
      [/cat/, () => torch.cat([anyTensor(), anyTensor()], int(-3, 6))],
      [/stack/, () => torch.stack([anyTensor(), anyTensor()])],
      [/reshape/, () => anyTensor().reshape(shape().map((d) => d + 1))],
      [/matmul/, () => anyTensor().matmul(anyTensor())],
      [/linear/, () => F.linear(anyTensor(), anyTensor())],
      [
        /interpolate|upsample/,
        () =>
          F.interpolate(anyTensor(), {
            size: shape(),
            mode: ['nearest', 'bilinear', 'trilinear', 'area'][int(0, 3)] as 'nearest',
          }),
      ],
      [/gridSample|grid_sampler/, () => F.gridSample(anyTensor(), anyTensor())],
      [/crossEntropy|cross_entropy/, () => F.crossEntropy(anyTensor(), anyTensor())],
      [/permute/, () => anyTensor().permute(shape())],
      [/index_select|indexSelect/, () => torch.indexSelect(anyTensor(), int(-2, 4), anyTensor())],
      [/zeros/, () => torch.zeros(junk() as number[])],
      [/aten::add/, () => callOp('aten::add', 'Tensor', [anyTensor(), junk(), junk()])],
      [/aten::no_such_op/, () => callOp('aten::no_such_op', '', [anyTensor()])],
      [/aten::sum.dim_IntList/, () => callOp('aten::sum', 'dim_IntList', [anyTensor(), junk()], { bogus: 1 })],
      [/aten::_to_copy|to/, () => anyTensor().to('cuda:0')],
    ];
    let errors = 0;
    torch.tidy(() => {
      for (let i = 0; i < 400; i++) {
        const [name, call] = calls[int(0, calls.length - 1)]!;
        try {
          torch.tidy(() => {
            call();
          });
        } catch (err) {
          assert.ok(err instanceof Error, `call ${i} threw a non-Error: ${String(err)}`);
          assert.match(err.message, name, `call ${i}: error does not name the op: ${err.message}`);
          errors++;
        }
      }
    });
    assert.ok(errors > 300, `expected most random calls to be invalid, got ${errors} errors`);
  });

  it('messages give the shapes involved', () => {
    torch.tidy(() => {
      assert.throws(
        () => F.conv3d(torch.zeros([2, 64, 64]), torch.zeros([4, 64, 3, 3, 3])),
        /conv3d: input must be rank 5 \[N,C,D,H,W\], got \[2,64,64\]/,
      );
      assert.throws(
        () => F.conv3d(torch.zeros([2, 3, 6, 8, 8]), torch.zeros([4, 5, 3, 3, 3])),
        /conv3d: input \[2,3,6,8,8\] has 3 channels, weight \[4,5,3,3,3\] with groups=1 expects 5/,
      );
      assert.throws(
        () => torch.ones([2, 3]).add(torch.ones([4])),
        /aten::add\.Tensor: The size of tensor a \(3\) must match .*\(self=\[2,3\] float32, other=\[4\] float32\)/,
      );
      assert.throws(() => callOp('aten::add', 'Foo', []), /no overload 'Foo' of aten::add \(known overloads: /);
      assert.throws(
        () => callOp('aten::sum', 'dim_IntList', [torch.ones([2]), [0]], { bogus: 1 }),
        /unknown keyword argument 'bogus'/,
      );
      assert.throws(
        () => callOp('aten::sum', 'dim_IntList', [torch.ones([2]), [0.5]]),
        /argument 'dim'\[0\]: expected an integer, got number 0.5/,
      );
    });
  });
});
