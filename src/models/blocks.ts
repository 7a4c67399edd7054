/**
 * Residual blocks of the 3D ResNets, with the parameter names of kenshohara's `models/resnet.py`
 * (github.com/kenshohara/3D-ResNets-PyTorch): `conv1`, `bn1`, `conv2`, `bn2`, (`conv3`, `bn3`), `downsample.0`
 * (1x1x1 conv) and `downsample.1` (BatchNorm3d). Registration order matters twice: it is the state-dict order
 * and the order in which ResNet3D applies kaiming_normal_ (PyTorch's `self.modules()` order), so the
 * downsample branch is built first (as `_make_layer` does) but registered last (as the block's `__init__` does).
 */
import { F, nn, type Tensor, tidy } from '../torch/index.js';

/** 3x3x3 convolution, padding 1, no bias (kenshohara's `conv3x3x3`). */
export function conv3x3x3(inPlanes: number, outPlanes: number, stride: number = 1): nn.Conv3d {
  return new nn.Conv3d(inPlanes, outPlanes, 3, { stride, padding: 1, bias: false });
}

/** 1x1x1 convolution, no bias (kenshohara's `conv1x1x1`). */
export function conv1x1x1(inPlanes: number, outPlanes: number, stride: number = 1): nn.Conv3d {
  return new nn.Conv3d(inPlanes, outPlanes, 1, { stride, bias: false });
}

/**
 * Shortcut 'A' (He et al. 2016, option A): the identity, subsampled by `stride` and zero-padded to `planes`
 * channels; no parameters, so nothing in the state dict. kenshohara's `_downsample_basic_block` builds it with
 * `avg_pool3d(kernel 1, stride)` and concatenates zeros onto `out.data`, which cuts the gradient through the
 * shortcut (a side effect of `.data`, not part of option A); here the gradient flows, as in the paper.
 * Forward values are identical.
 */
export class ZeroPadShortcut {
  constructor(
    readonly planes: number,
    readonly stride: number,
  ) {}
  apply(x: Tensor): Tensor {
    return tidy(() => {
      const sub = this.stride === 1 ? x : F.avgPool3d(x, 1, { stride: this.stride });
      const extra = this.planes - sub.shape[1]!;
      if (extra < 0)
        throw new Error(`ZeroPadShortcut: input has ${sub.shape[1]} channels, more than the block's ${this.planes}`);
      // F.pad pads from the last dim backwards: (W, W, H, H, D, D, C_before, C_after).
      return extra === 0 ? sub.clone() : F.pad(sub, [0, 0, 0, 0, 0, 0, 0, extra]);
    });
  }
}

export type Shortcut = nn.Sequential | ZeroPadShortcut | null;
export type ShortcutType = 'A' | 'B';

/** A residual block: BasicBlock (expansion 1) or Bottleneck (expansion 4). */
export interface ResidualBlock extends nn.Module {
  readonly outPlanes: number;
  forward(x: Tensor): Tensor;
}

export interface BlockClass {
  readonly expansion: number;
  readonly blockName: 'BasicBlock' | 'Bottleneck';
  new (inPlanes: number, planes: number, stride: number, shortcut: Shortcut): ResidualBlock;
}

function residual(out: Tensor, x: Tensor, shortcut: Shortcut): Tensor {
  const identity =
    shortcut === null ? x : shortcut instanceof ZeroPadShortcut ? shortcut.apply(x) : shortcut.forward(x);
  return F.relu(out.add(identity));
}

/** Two 3x3x3 convolutions (ResNet-10/18/34); the stride sits on the first. */
export class BasicBlock extends nn.Module implements ResidualBlock {
  static readonly expansion = 1;
  static readonly blockName = 'BasicBlock';
  readonly conv1: nn.Conv3d;
  readonly bn1: nn.BatchNorm3d;
  readonly conv2: nn.Conv3d;
  readonly bn2: nn.BatchNorm3d;
  readonly shortcut: Shortcut;
  readonly outPlanes: number;

  constructor(inPlanes: number, planes: number, stride: number, shortcut: Shortcut) {
    super();
    this.conv1 = this.registerModule('conv1', conv3x3x3(inPlanes, planes, stride));
    this.bn1 = this.registerModule('bn1', new nn.BatchNorm3d(planes));
    this.conv2 = this.registerModule('conv2', conv3x3x3(planes, planes));
    this.bn2 = this.registerModule('bn2', new nn.BatchNorm3d(planes));
    if (shortcut instanceof nn.Sequential) this.registerModule('downsample', shortcut);
    this.shortcut = shortcut;
    this.outPlanes = planes;
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const a = F.relu(this.bn1.forward(this.conv1.forward(x)));
      return residual(this.bn2.forward(this.conv2.forward(a)), x, this.shortcut);
    });
  }
}

/** 1x1x1 reduce, 3x3x3 (carrying the stride), 1x1x1 expand x4 (ResNet-50/101/152/200). */
export class Bottleneck extends nn.Module implements ResidualBlock {
  static readonly expansion = 4;
  static readonly blockName = 'Bottleneck';
  readonly conv1: nn.Conv3d;
  readonly bn1: nn.BatchNorm3d;
  readonly conv2: nn.Conv3d;
  readonly bn2: nn.BatchNorm3d;
  readonly conv3: nn.Conv3d;
  readonly bn3: nn.BatchNorm3d;
  readonly shortcut: Shortcut;
  readonly outPlanes: number;

  constructor(inPlanes: number, planes: number, stride: number, shortcut: Shortcut) {
    super();
    this.conv1 = this.registerModule('conv1', conv1x1x1(inPlanes, planes));
    this.bn1 = this.registerModule('bn1', new nn.BatchNorm3d(planes));
    this.conv2 = this.registerModule('conv2', conv3x3x3(planes, planes, stride));
    this.bn2 = this.registerModule('bn2', new nn.BatchNorm3d(planes));
    this.conv3 = this.registerModule('conv3', conv1x1x1(planes, planes * Bottleneck.expansion));
    this.bn3 = this.registerModule('bn3', new nn.BatchNorm3d(planes * Bottleneck.expansion));
    if (shortcut instanceof nn.Sequential) this.registerModule('downsample', shortcut);
    this.shortcut = shortcut;
    this.outPlanes = planes * Bottleneck.expansion;
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const a = F.relu(this.bn1.forward(this.conv1.forward(x)));
      const b = F.relu(this.bn2.forward(this.conv2.forward(a)));
      return residual(this.bn3.forward(this.conv3.forward(b)), x, this.shortcut);
    });
  }
}

/**
 * One stage (`layerN`): blocks named '0', '1', ... . The first block gets the stride and, when the shape
 * changes, a shortcut of the chosen type (kenshohara's `_make_layer`).
 */
export function makeStage(
  block: BlockClass,
  inPlanes: number,
  planes: number,
  blocks: number,
  shortcutType: ShortcutType,
  stride: number,
): nn.Sequential {
  const outPlanes = planes * block.expansion;
  let shortcut: Shortcut = null;
  if (stride !== 1 || inPlanes !== outPlanes) {
    shortcut =
      shortcutType === 'A'
        ? new ZeroPadShortcut(outPlanes, stride)
        : new nn.Sequential(conv1x1x1(inPlanes, outPlanes, stride), new nn.BatchNorm3d(outPlanes));
  }
  const layers: nn.Module[] = [new block(inPlanes, planes, stride, shortcut)];
  for (let i = 1; i < blocks; i++) layers.push(new block(outPlanes, planes, 1, null));
  return new nn.Sequential(...layers);
}
